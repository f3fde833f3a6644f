using System.Globalization;
using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Processes;
using E2E.Core.Tables;

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

    /// <summary>
    /// A Geneva table of <paramref name="rows"/>, built as the 0.9.0 suite builds it: create_table with the first
    /// <paramref name="fragmentSize"/> rows, then Table.add for each next batch, one fragment each. The rows go to the
    /// bridge as JSON lines on its standard input (images are too big for an argument, and a file would outlive a crash).
    /// </summary>
    public static async Task<TableInfo> CreateTableAsync(string uri, string table, IEnumerable<IReadOnlyDictionary<string, object?>> rows, int fragmentSize, string python, string bridgeScript, CancellationToken cancellation, IReadOnlyDictionary<string, string>? environment = null)
    {
        if (fragmentSize < 1)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, "FragmentSize must be at least 1.", fragmentSize);
        }
        async Task WriteRows(StreamWriter input)
        {
            foreach (var row in rows)
            {
                await input.WriteLineAsync(JsonSerializer.Serialize(row.ToDictionary(c => c.Key, c => c.Value is byte[] bytes ? new Dictionary<string, string> { ["b64"] = Convert.ToBase64String(bytes) } : c.Value))).ConfigureAwait(false);
            }
        }
        var body = JsonSerializer.Serialize(new { op = "create_table", uri, table, fragment_size = fragmentSize });
        return ToTable(await BridgeAsync(body, uri, python, bridgeScript, environment, null, cancellation, WriteRows).ConfigureAwait(false), uri);
    }

    /// <summary>A Geneva table's rows, fragments, version and columns (their Arrow types as column types).</summary>
    public static async Task<TableInfo> DescribeAsync(string uri, string table, string python, string bridgeScript, CancellationToken cancellation, IReadOnlyDictionary<string, string>? environment = null) =>
        ToTable(await BridgeAsync(JsonSerializer.Serialize(new { op = "describe", uri, table }), uri, python, bridgeScript, environment, null, cancellation).ConfigureAwait(false), uri);

    /// <summary>Every table of a Geneva database (Connection.table_names()), described.</summary>
    public static async Task<IReadOnlyList<TableInfo>> TablesAsync(string uri, string python, string bridgeScript, CancellationToken cancellation, IReadOnlyDictionary<string, string>? environment = null) =>
        (await BridgeAsync(JsonSerializer.Serialize(new { op = "tables", uri }), uri, python, bridgeScript, environment, null, cancellation).ConfigureAwait(false))
            .EnumerateArray().Select(t => ToTable(t, uri)).ToArray();

    /// <summary>
    /// Rows of a Geneva table, as the Local engine gives them: bytes as byte[], structs and lists as their JSON text,
    /// numbers as long or double; <paramref name="where"/> is Lance's SQL filter.
    /// </summary>
    public static async Task<IReadOnlyList<IReadOnlyDictionary<string, object?>>> RowsAsync(string uri, string table, string? where, int? first, string python, string bridgeScript, CancellationToken cancellation, IReadOnlyDictionary<string, string>? environment = null)
    {
        var rows = await BridgeAsync(JsonSerializer.Serialize(new { op = "rows", uri, table, where, limit = first }), uri, python, bridgeScript, environment, null, cancellation).ConfigureAwait(false);
        return rows.EnumerateArray().Select(row => (IReadOnlyDictionary<string, object?>)row.EnumerateObject().ToDictionary(c => c.Name, c => Cell(c.Value), StringComparer.Ordinal)).ToArray();
    }

    /// <summary>Table.add_columns with the @geneva.udf named <paramref name="udf"/>, found in one of <paramref name="modules"/> imported from <paramref name="paths"/>.</summary>
    public static async Task<TableInfo> AddColumnAsync(string uri, string table, string column, string udf, IReadOnlyList<string> modules, IReadOnlyList<string> paths, string python, string bridgeScript, CancellationToken cancellation, IReadOnlyDictionary<string, string>? environment = null) =>
        ToTable(await BridgeAsync(JsonSerializer.Serialize(new { op = "add_column", uri, table, column, udf, modules, paths }), uri, python, bridgeScript, environment, null, cancellation).ConfigureAwait(false), uri);

    private static object? Cell(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Null or JsonValueKind.Undefined => null,
        JsonValueKind.String => value.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Number => value.TryGetInt64(out var whole) ? whole : (object)value.GetDouble(),
        JsonValueKind.Object when value.TryGetProperty("b64", out var b64) && value.EnumerateObject().Count() == 1 => Convert.FromBase64String(b64.GetString()!),
        JsonValueKind.Object when value.TryGetProperty("f64", out var special) && value.EnumerateObject().Count() == 1 && ColumnType.TryParseSpecialFloat(special, out var number) => number,
        _ => value.GetRawText(),
    };

    private static TableInfo ToTable(JsonElement description, string uri)
    {
        var columns = description.GetProperty("columns").EnumerateArray()
            .Select(c => new TableColumn(c.GetProperty("name").GetString()!, ColumnTypeOf(c.GetProperty("type").GetString() ?? string.Empty), null, null, null, Array.Empty<string>())).ToArray();
        var rows = description.GetProperty("rows").GetInt64();
        var fragments = description.GetProperty("fragments").GetInt32();
        return new TableInfo(description.GetProperty("table").GetString()!, uri, rows, fragments, fragments == 0 ? 0 : (int)Math.Ceiling(rows / (double)fragments),
            description.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0, columns);
    }

    /// <summary>An Arrow type's name (pyarrow's str of it) as the nearest column type; one that has none reads as string.</summary>
    internal static ColumnType ColumnTypeOf(string arrow)
    {
        var name = arrow.Trim().ToLowerInvariant();
        var vector = System.Text.RegularExpressions.Regex.Match(name, @"^fixed_size_list<.*>\[(\d+)\]$");
        return name switch
        {
            "int8" or "int16" or "int32" or "int64" or "uint8" or "uint16" or "uint32" or "uint64" => ColumnType.Parse("int64"),
            "float" or "double" or "halffloat" or "float32" or "float64" => ColumnType.Parse("float64"),
            "binary" or "large_binary" => ColumnType.Parse("binary"),
            "bool" => ColumnType.Parse("bool"),
            _ when name.StartsWith("struct", StringComparison.Ordinal) => ColumnType.Parse("struct"),
            _ when vector.Success => ColumnType.Parse($"vector[float32, {vector.Groups[1].Value}]"),
            _ => ColumnType.Parse("string"),
        };
    }

    /// <summary>Geneva's record of one job (of <paramref name="table"/> when named); an id it does not know is JobNotFound.</summary>
    public static async Task<BackfillJob> JobAsync(string uri, string jobId, string? table, string python, string bridgeScript, CancellationToken cancellation, IReadOnlyDictionary<string, string>? environment = null) =>
        (await JobsAsync(uri, table, null, jobId, python, bridgeScript, environment, cancellation).ConfigureAwait(false)).LastOrDefault()
        ?? throw new E2EException(ErrorCatalog.JobNotFound, $"Geneva has no job '{jobId}' in {uri}.", jobId);

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
    private static async Task<JsonElement> BridgeAsync(string body, string uri, string python, string bridgeScript, IReadOnlyDictionary<string, string>? variables, Action<string>? progress, CancellationToken cancellation, Func<StreamWriter, Task>? writeInput = null)
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
        }, cancellation, writeInput).ConfigureAwait(false);
        cancellation.ThrowIfCancellationRequested();
        if (failure is { } f)
        {
            var error = f.Id switch
            {
                "GenevaNotInstalled" => ErrorCatalog.GenevaNotInstalled,
                "TableNotFound" => ErrorCatalog.TableNotFound,
                "UdfNotFound" => ErrorCatalog.UdfNotFound,
                "ColumnExists" => ErrorCatalog.ColumnExists,
                "InvalidFilter" => ErrorCatalog.InvalidFilter,
                "InvalidArgument" => ErrorCatalog.InvalidArgument,
                _ => ErrorCatalog.GenevaFailed,
            };
            throw new E2EException(error, SecretText.Redact(f.Message), uri);
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
