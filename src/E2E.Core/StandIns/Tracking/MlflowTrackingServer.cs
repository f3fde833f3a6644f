using System.Net;
using System.Text;
using System.Text.Json;
using E2E.Core.Net;
using E2E.Core.Tracking;

namespace E2E.Core.StandIns.Tracking;

/// <summary>
/// A loopback stand-in for an MLflow tracking server: the read side of REST API 2.0
/// (experiments/get-by-name, runs/search, metrics/get-history, with MLflow's paging and error
/// bodies) over a FileStore folder, so the REST reader is proven without a real server.
/// Values are written the way MLflow's protobuf JSON writes them (NaN and infinities as strings).
/// </summary>
public sealed class MlflowTrackingServer : IDisposable
{
    private readonly string _store;
    private readonly HttpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public MlflowTrackingServer(string fileStore, int historyPageLimit = 25000)
    {
        _store = fileStore;
        HistoryPageLimit = historyPageLimit;
        (_listener, var port) = Loopback.Start(0, "The MLflow tracking stand-in");
        Uri = new Uri($"http://127.0.0.1:{port}");
        _loop = Task.Run(() => Loopback.ServeAsync(_listener, HandleAsync, eachOnItsOwnTask: true, _stop.Token));
    }

    public Uri Uri { get; }

    /// <summary>The most points one get-history page holds (a small value exercises paging).</summary>
    public int HistoryPageLimit { get; }

    public int RequestCount;

    private async Task HandleAsync(HttpListenerContext context)
    {
        Interlocked.Increment(ref RequestCount);
        var request = context.Request;
        var path = request.Url!.AbsolutePath;
        object? reply;
        int status = 200;
        // Read on every request, so the stand-in serves what workflows have written since; only the folders a request needs.
        var experiments = MlflowFileStore.ReadExperiments(_store);
        switch (path)
        {
            case "/api/2.0/mlflow/experiments/get-by-name":
                var name = request.QueryString["experiment_name"];
                var experiment = experiments.FirstOrDefault(e => e.Name == name);
                (status, reply) = experiment is null
                    ? (404, Error("RESOURCE_DOES_NOT_EXIST", $"Could not find experiment with name '{name}'"))
                    : (200, new { experiment = new { experiment_id = experiment.Id, name, lifecycle_stage = "active" } });
                break;
            case "/api/2.0/mlflow/runs/search" when request.HttpMethod == "POST":
                using (var body = await JsonDocument.ParseAsync(request.InputStream).ConfigureAwait(false))
                {
                    var ids = body.RootElement.GetProperty("experiment_ids").EnumerateArray().Select(e => e.GetString()).ToHashSet();
                    var max = body.RootElement.TryGetProperty("max_results", out var m) ? m.GetInt32() : 1000;
                    var offset = body.RootElement.TryGetProperty("page_token", out var t) ? int.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(t.GetString()!))) : 0;
                    var matching = experiments.Where(e => ids.Contains(e.Id)).SelectMany(e => MlflowFileStore.ReadRuns(e.Folder).Select(r => (Experiment: e.Id, Run: r))).ToList();
                    var page = matching.Skip(offset).Take(max).Select(m => RunJson(m.Experiment, m.Run)).ToList();
                    reply = offset + max < matching.Count
                        ? new { runs = page, next_page_token = (string?)Convert.ToBase64String(Encoding.UTF8.GetBytes((offset + max).ToString())) }
                        : new { runs = page, next_page_token = (string?)null };
                }
                break;
            case "/api/2.0/mlflow/metrics/get-history":
                var runId = request.QueryString["run_id"] ?? string.Empty;
                var runFolder = experiments.Select(e => Path.Combine(e.Folder, runId)).FirstOrDefault(f => runId.Length > 0 && runId.All(char.IsAsciiLetterOrDigit) && File.Exists(Path.Combine(f, "meta.yaml")));
                var target = runFolder is null ? null : MlflowFileStore.ReadRuns(runFolder).SingleOrDefault();
                var key = request.QueryString["metric_key"] ?? string.Empty;
                if (target is null)
                {
                    (status, reply) = (404, Error("RESOURCE_DOES_NOT_EXIST", $"Run '{request.QueryString["run_id"]}' not found"));
                    break;
                }
                var limit = Math.Min(HistoryPageLimit, int.TryParse(request.QueryString["max_results"], out var r2) ? r2 : HistoryPageLimit);
                var start = request.QueryString["page_token"] is { } token ? int.Parse(token) : 0;
                var points = target.Metrics.TryGetValue(key, out var series) ? series.Points : Array.Empty<MetricPoint>();
                reply = new
                {
                    metrics = points.Skip(start).Take(limit).Select(p => new { key, value = Value(p.Value), timestamp = p.TimestampMs, step = p.Step }).ToList(),
                    next_page_token = start + limit < points.Count ? (start + limit).ToString() : null,
                };
                break;
            default:
                (status, reply) = (404, Error("ENDPOINT_NOT_FOUND", $"No such endpoint {request.HttpMethod} {path}"));
                break;
        }
        var bytes = JsonSerializer.SerializeToUtf8Bytes(reply);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
        context.Response.Close();
    }

    private static object Value(double value) => double.IsFinite(value) ? value : double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity";

    private static object Error(string code, string message) => new { error_code = code, message };

    private static object RunJson(string experimentId, TrackedRun run) => new
    {
        info = new
        {
            run_id = run.RunId,
            run_name = run.Name,
            experiment_id = experimentId,
            status = run.Status,
            start_time = run.StartTime?.ToUnixTimeMilliseconds(),
            end_time = run.EndTime?.ToUnixTimeMilliseconds(),
        },
        data = new
        {
            metrics = run.Metrics.Values.Where(m => m.Latest is not null).Select(m => new { key = m.Name, value = Value(m.Latest!.Value.Value), timestamp = m.Latest!.Value.TimestampMs, step = m.Latest!.Value.Step }),
            @params = run.Parameters.Select(p => new { key = p.Key, value = p.Value }),
            tags = run.Tags.Select(t => new { key = t.Key, value = t.Value }),
        },
    };

    public void Dispose()
    {
        _stop.Cancel();
        Loopback.Stop(_listener);
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        _stop.Dispose();
    }
}
