using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using E2E.Core.Errors;

namespace E2E.Core.Tracking;

/// <summary>
/// Reads runs from a running MLflow tracking server through its REST API 2.0: experiments/get-by-name,
/// runs/search (paged) and metrics/get-history (paged) for every metric, so series are whole, not
/// just the latest values runs/search carries.
/// </summary>
public sealed class MlflowRestClient : IDisposable
{
    private const int HistoryPageSize = 25000;
    private readonly HttpClient _http;

    public MlflowRestClient(Uri trackingUri, HttpMessageHandler? handler = null)
    {
        _http = handler is null ? new HttpClient() : new HttpClient(handler);
        _http.BaseAddress = new Uri(trackingUri.ToString().TrimEnd('/') + "/");
        _http.Timeout = TimeSpan.FromSeconds(30);
        // MLflow's basic auth (mlflow server --app-name basic-auth) and token auth read these, as the mlflow client does.
        if (Environment.GetEnvironmentVariable("MLFLOW_TRACKING_TOKEN") is { Length: > 0 } token)
        {
            _http.DefaultRequestHeaders.Authorization = new("Bearer", token);
        }
        else if (Environment.GetEnvironmentVariable("MLFLOW_TRACKING_USERNAME") is { Length: > 0 } user)
        {
            var password = Environment.GetEnvironmentVariable("MLFLOW_TRACKING_PASSWORD") ?? string.Empty;
            _http.DefaultRequestHeaders.Authorization = new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        }
    }

    public async Task<IReadOnlyList<TrackedRun>> ReadRunsAsync(string experimentName, CancellationToken cancellation)
    {
        using var experiment = await SendAsync(HttpMethod.Get, $"api/2.0/mlflow/experiments/get-by-name?experiment_name={Uri.EscapeDataString(experimentName)}", null, cancellation, notFoundIsEmpty: true).ConfigureAwait(false);
        if (experiment is null)
        {
            return Array.Empty<TrackedRun>();
        }
        var experimentId = experiment.RootElement.GetProperty("experiment").GetProperty("experiment_id").GetString()!;
        var runs = new List<TrackedRun>();
        string? pageToken = null;
        do
        {
            var body = new Dictionary<string, object?> { ["experiment_ids"] = new[] { experimentId }, ["max_results"] = 1000 };
            if (pageToken is not null)
            {
                body["page_token"] = pageToken;
            }
            using var page = (await SendAsync(HttpMethod.Post, "api/2.0/mlflow/runs/search", body, cancellation).ConfigureAwait(false))!;
            if (page.RootElement.TryGetProperty("runs", out var found))
            {
                foreach (var run in found.EnumerateArray())
                {
                    runs.Add(await ReadRunAsync(run, experimentName, cancellation).ConfigureAwait(false));
                }
            }
            pageToken = page.RootElement.TryGetProperty("next_page_token", out var next) && next.GetString() is { Length: > 0 } token ? token : null;
        }
        while (pageToken is not null);
        return runs;
    }

    private async Task<TrackedRun> ReadRunAsync(JsonElement run, string experimentName, CancellationToken cancellation)
    {
        var info = run.GetProperty("info");
        var runId = info.GetProperty("run_id").GetString()!;
        var data = run.TryGetProperty("data", out var d) ? d : default;
        var parameters = KeyValues(data, "params");
        var tags = KeyValues(data, "tags");
        var metrics = new SortedDictionary<string, MetricSeries>(StringComparer.Ordinal);
        foreach (var key in data.ValueKind == JsonValueKind.Object && data.TryGetProperty("metrics", out var latest) ? latest.EnumerateArray().Select(m => m.GetProperty("key").GetString()!).Distinct() : Enumerable.Empty<string>())
        {
            metrics[key] = new MetricSeries(key, await ReadHistoryAsync(runId, key, cancellation).ConfigureAwait(false));
        }
        return new TrackedRun
        {
            Backend = TrackingBackendKind.MLflow,
            RunId = runId,
            Name = info.TryGetProperty("run_name", out var name) ? name.GetString() : tags.GetValueOrDefault("mlflow.runName"),
            Project = experimentName,
            Status = info.TryGetProperty("status", out var status) ? status.GetString() : null,
            StartTime = Millis(info, "start_time"),
            EndTime = Millis(info, "end_time"),
            Parameters = parameters,
            Tags = tags,
            Metrics = metrics,
            Source = new Uri(_http.BaseAddress!, $"#/experiments/{info.GetProperty("experiment_id").GetString()}/runs/{runId}").ToString(),
        };
    }

    private async Task<List<MetricPoint>> ReadHistoryAsync(string runId, string key, CancellationToken cancellation)
    {
        var points = new List<MetricPoint>();
        string? pageToken = null;
        do
        {
            var query = $"api/2.0/mlflow/metrics/get-history?run_id={Uri.EscapeDataString(runId)}&metric_key={Uri.EscapeDataString(key)}&max_results={HistoryPageSize}"
                + (pageToken is null ? string.Empty : $"&page_token={Uri.EscapeDataString(pageToken)}");
            using var page = (await SendAsync(HttpMethod.Get, query, null, cancellation).ConfigureAwait(false))!;
            if (page.RootElement.TryGetProperty("metrics", out var metrics))
            {
                foreach (var metric in metrics.EnumerateArray())
                {
                    var value = metric.GetProperty("value");
                    points.Add(new MetricPoint(
                        metric.TryGetProperty("step", out var step) ? Long(step) : 0,
                        value.ValueKind == JsonValueKind.Number ? value.GetDouble() : TrackingJson.Parse(value.GetRawText()) is double v ? v : double.NaN,
                        metric.TryGetProperty("timestamp", out var ts) ? Long(ts) : 0));
                }
            }
            pageToken = page.RootElement.TryGetProperty("next_page_token", out var next) && next.GetString() is { Length: > 0 } token ? token : null;
        }
        while (pageToken is not null);
        return points;
    }

    // Protobuf JSON writes int64 as strings; older servers write numbers.
    private static long Long(JsonElement element) => element.ValueKind == JsonValueKind.String ? long.Parse(element.GetString()!, System.Globalization.CultureInfo.InvariantCulture) : element.GetInt64();

    private static DateTimeOffset? Millis(JsonElement info, string property) =>
        info.TryGetProperty(property, out var value) && value.ValueKind is JsonValueKind.Number or JsonValueKind.String ? DateTimeOffset.FromUnixTimeMilliseconds(Long(value)) : null;

    private static SortedDictionary<string, string> KeyValues(JsonElement data, string property)
    {
        var values = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (data.ValueKind == JsonValueKind.Object && data.TryGetProperty(property, out var list))
        {
            foreach (var item in list.EnumerateArray())
            {
                values[item.GetProperty("key").GetString()!] = item.TryGetProperty("value", out var v) ? v.GetString() ?? string.Empty : string.Empty;
            }
        }
        return values;
    }

    private async Task<JsonDocument?> SendAsync(HttpMethod method, string path, object? body, CancellationToken cancellation, bool notFoundIsEmpty = false)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancellation).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new E2EException(ErrorCatalog.TrackingServerUnreachable, $"The MLflow tracking server at {_http.BaseAddress} did not answer: {ex.Message}", _http.BaseAddress, ex);
        }
        catch (TaskCanceledException ex) when (!cancellation.IsCancellationRequested)
        {
            throw new E2EException(ErrorCatalog.TrackingServerUnreachable, $"The MLflow tracking server at {_http.BaseAddress} did not answer within {_http.Timeout.TotalSeconds:0} s.", _http.BaseAddress, ex);
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellation).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound && notFoundIsEmpty)
            {
                return null;
            }
            if (!response.IsSuccessStatusCode)
            {
                var code = string.Empty;
                try
                {
                    using var error = JsonDocument.Parse(text);
                    code = error.RootElement.TryGetProperty("error_code", out var c) ? $" {c.GetString()}" : string.Empty;
                    code += error.RootElement.TryGetProperty("message", out var m) ? $": {m.GetString()}" : string.Empty;
                }
                catch (JsonException)
                {
                }
                var kind = response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden ? ErrorCatalog.TrackingServerUnauthorized : ErrorCatalog.TrackingServerFailed;
                throw new E2EException(kind, $"MLflow {method} /{path.Split('?')[0]} answered {(int)response.StatusCode}{code}", _http.BaseAddress);
            }
            try
            {
                return JsonDocument.Parse(TrackingJson.QuoteNonFiniteLiterals(text));
            }
            catch (JsonException ex)
            {
                throw new E2EException(ErrorCatalog.TrackingServerFailed, $"MLflow {method} /{path.Split('?')[0]} answered with something that is not JSON.", _http.BaseAddress, ex);
            }
        }
    }

    public void Dispose() => _http.Dispose();
}
