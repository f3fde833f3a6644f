using System.Globalization;
using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Processes;

namespace E2E.Core.Backfill;

/// <summary>
/// Where a Geneva backfill runs: a local Ray (Geneva starts it), an existing Ray cluster (ray://...), a KubeRay cluster
/// that Geneva provisions in a Kubernetes cluster (an E2E cluster's own kubeconfig, whose current context is that cluster), or a cluster already
/// defined in the Geneva connection, by name.
/// </summary>
public sealed record GenevaCluster(string Kind, string Name)
{
    public string? Address { get; init; }

    public string? Namespace { get; init; }

    public string? Image { get; init; }

    /// <summary>The kubeconfig the bridge runs with (KUBECONFIG): its current context is the Kubernetes cluster Geneva provisions Ray in.</summary>
    public string? Kubeconfig { get; init; }

    public static GenevaCluster Local(string name) => new("local", name);

    public static GenevaCluster External(string name, string address) => new("external", name) { Address = address };

    public static GenevaCluster Defined(string name) => new("defined", name);

    public static GenevaCluster KubeRay(string name, string? kubeconfig, string? @namespace, string? image) =>
        new("kuberay", name) { Kubeconfig = kubeconfig, Namespace = @namespace, Image = image };
}

/// <summary>A UDF to add as a column before the backfill (Table.add_columns), imported from a module on <see cref="Paths"/>.</summary>
public sealed record GenevaUdfColumn(string Column, string Module, string Udf, IReadOnlyList<string> Paths);

public sealed record GenevaBackfillRequest
{
    /// <summary>The Geneva database: file://, s3:// or gs://.</summary>
    public required string Uri { get; init; }

    public required string Table { get; init; }

    public required string Column { get; init; }

    public int? BatchSize { get; init; }

    public int? NumFragments { get; init; }

    public int? CommitGranularity { get; init; }

    public string? Where { get; init; }

    public int? Concurrency { get; init; }

    /// <summary>Table.backfill_async, its future polled every <see cref="PollSeconds"/>.</summary>
    public bool Async { get; init; }

    public double PollSeconds { get; init; } = 2;

    public GenevaCluster? Cluster { get; init; }

    /// <summary>A manifest defined in the connection (Connection.define_manifest), for Connection.context(manifest=...).</summary>
    public string? Manifest { get; init; }

    public GenevaUdfColumn? Register { get; init; }
}

/// <summary>
/// The Geneva engine: the same backfill the Local engine does, run by the Geneva (LanceDB) library in the user's
/// Python (module/python/e2e_geneva.py makes the library's documented calls). Geneva keeps its own job records
/// (geneva_jobs); the result is one <see cref="BackfillJob"/> built from the one Geneva recorded, or from the call's
/// outcome where the connection does not expose it. Verified here only against a stand-in module that records the
/// calls (Pester/TestData/geneva-standin): geneva is proprietary and not installable on these machines.
/// </summary>
public static class GenevaEngine
{
    public static async Task<BackfillJob> RunAsync(GenevaBackfillRequest request, string python, string bridgeScript, IReadOnlyDictionary<string, string>? environment, Action<string>? progress, CancellationToken cancellation)
    {
        var variables = new Dictionary<string, string>(environment ?? new Dictionary<string, string>());
        if (request.Cluster?.Kubeconfig is { } kubeconfig)
        {
            variables["KUBECONFIG"] = kubeconfig;
        }
        return ToJob(await BridgeAsync(BackfillBody(request), request.Uri, python, bridgeScript, variables, progress, cancellation).ConfigureAwait(false));
    }

    /// <summary>Geneva's job records (geneva_jobs), oldest first, narrowed to a table, a column or a job id.</summary>
    public static async Task<IReadOnlyList<BackfillJob>> JobsAsync(string uri, string? table, string? column, string? jobId, string python, string bridgeScript, IReadOnlyDictionary<string, string>? environment, CancellationToken cancellation)
    {
        var body = JsonSerializer.Serialize(new { op = "jobs", uri, table_name = table, column_name = column, job_id = jobId });
        var records = await BridgeAsync(body, uri, python, bridgeScript, environment, null, cancellation).ConfigureAwait(false);
        return records.EnumerateArray().Select(ToJob).ToArray();
    }

    private static string BackfillBody(GenevaBackfillRequest request) =>
        JsonSerializer.Serialize(new
        {
            uri = request.Uri,
            table = request.Table,
            column = request.Column,
            backfill = new { batch_size = request.BatchSize, num_frags = request.NumFragments, commit_granularity = request.CommitGranularity, where = request.Where, concurrency = request.Concurrency },
            @async = request.Async,
            poll_seconds = request.PollSeconds,
            cluster = request.Cluster is { } c ? new { kind = c.Kind, name = c.Name, address = c.Address, @namespace = c.Namespace, image = c.Image } : null,
            manifest = request.Manifest,
            register = request.Register is { } r ? new { column = r.Column, module = r.Module, udf = r.Udf, paths = r.Paths } : null,
        });

    /// <summary>Runs the bridge with one request; its result, or its error as GenevaNotInstalled or GenevaFailed.</summary>
    private static async Task<JsonElement> BridgeAsync(string body, string uri, string python, string bridgeScript, IReadOnlyDictionary<string, string>? variables, Action<string>? progress, CancellationToken cancellation)
    {
        JsonElement? result = null;
        (string? Id, string Message)? failure = null;
        var (exitCode, stderr) = await ExternalTool.StreamAsync(UdfWorker.ResolveInterpreter(python), new[] { "-u", bridgeScript, body }, null, variables, async output =>
        {
            while (await output.ReadLineAsync(cancellation).ConfigureAwait(false) is { } line)
            {
                using var message = JsonDocument.Parse(line);
                if (message.RootElement.TryGetProperty("progress", out var p))
                {
                    progress?.Invoke(p.GetRawText());
                }
                else if (message.RootElement.TryGetProperty("error", out var error))
                {
                    failure = (error.GetProperty("id").GetString(), error.GetProperty("message").GetString() ?? "the Geneva bridge failed");
                }
                else if (message.RootElement.TryGetProperty("result", out var found))
                {
                    result = found.Clone();
                }
            }
        }, cancellation).ConfigureAwait(false);
        cancellation.ThrowIfCancellationRequested();
        if (failure is { } f)
        {
            throw new E2EException(f.Id == "GenevaNotInstalled" ? ErrorCatalog.GenevaNotInstalled : ErrorCatalog.GenevaFailed, SecretText.Redact(f.Message), uri);
        }
        if (result is not { } done)
        {
            var tail = string.Join("\n", stderr.Trim().Split('\n').TakeLast(15));
            throw new E2EException(ErrorCatalog.GenevaFailed, $"The Geneva bridge ended (exit {exitCode}) without a result: {SecretText.Redact(tail.Length > 0 ? tail : "(no output)")}", uri);
        }
        return done;
    }

    /// <summary>Geneva's job (JobStatus PENDING, RUNNING, DONE, FAILED, CANCELLED) as a backfill record: rows planned are the rows that were empty (0 for a record read from geneva_jobs, which has no counts).</summary>
    internal static BackfillJob ToJob(JsonElement result)
    {
        long Number(string name) => result.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;
        DateTimeOffset? Time(string name) => !result.TryGetProperty(name, out var v) ? null
            : v.ValueKind == JsonValueKind.Number ? DateTimeOffset.FromUnixTimeMilliseconds((long)(v.GetDouble() * 1000))
            : v.ValueKind == JsonValueKind.String && DateTimeOffset.TryParse(v.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t) ? t
            : null;
        var status = result.GetProperty("status").GetString()?.ToUpperInvariant() switch
        {
            "DONE" => BackfillStatus.Done,
            "FAILED" => BackfillStatus.Failed,
            "CANCELLED" => BackfillStatus.Cancelled,
            "PENDING" => BackfillStatus.Pending,
            _ => BackfillStatus.Running,
        };
        var (before, after, total) = (Number("rows_before"), Number("rows_after"), Number("rows_total"));
        var id = result.TryGetProperty("job_id", out var j) && j.ValueKind == JsonValueKind.String ? j.GetString()! : "geneva-" + Guid.NewGuid().ToString("N")[..12];
        var error = result.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? SecretText.Redact(e.GetString()!) : null;
        return new BackfillJob(id, result.GetProperty("table").GetString()!, result.GetProperty("column").GetString()!, status,
            Time("started_at") ?? Time("launched_at") ?? DateTimeOffset.UtcNow, Time("finished_at") ?? Time("completed_at"), total - before, after - before, 0, 0, error);
    }
}
