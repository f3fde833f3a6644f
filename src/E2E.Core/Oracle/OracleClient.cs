using E2E.Core.Ethereum;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using E2E.Core.Errors;

namespace E2E.Core.Oracle;

public enum DeliveryOutcome
{
    Delivered,

    /// <summary>The Oracle said it already has this report (a replay after a lost answer): delivered before.</summary>
    AlreadyDelivered,

    /// <summary>Refused for good (400, 401, 413...): sending again cannot help.</summary>
    Rejected,

    /// <summary>Unreachable, timed out or a 5xx/429: worth trying again later.</summary>
    Transient,
}

public sealed record DeliveryResult(DeliveryOutcome Outcome, int? StatusCode, string Detail, int Attempts)
{
    public bool IsDelivered => Outcome is DeliveryOutcome.Delivered or DeliveryOutcome.AlreadyDelivered;
}

/// <summary>
/// Posts signed reports. Success is a 2xx whose body is not an error (upstream's rule). A 409 replay means an
/// earlier attempt got through although its answer was lost, so it counts as delivered: with the Oracle's
/// strictly increasing timestamps, resending is safe and no report is ever accepted twice.
/// </summary>
public sealed class OracleClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;

    public OracleClient(string baseUrl, TimeSpan? timeout = null, HttpClient? http = null)
    {
        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, $"The Oracle URL '{SecretText.Url(baseUrl)}' must be an absolute http:// or https:// URL.", "OracleUrl");
        }
        BaseUrl = baseUrl.TrimEnd('/');
        _ownsHttp = http is null;
        _http = http ?? new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2) }) { Timeout = timeout ?? TimeSpan.FromSeconds(30) };
    }

    public string BaseUrl { get; }

    public async Task<DeliveryResult> SendAsync(OracleReport report, CancellationToken cancellation)
    {
        try
        {
            using var content = new StringContent(report.Body, Encoding.UTF8);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await _http.PostAsync(BaseUrl + report.Route, content, cancellation).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(cancellation).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                return BodyIsError(body)
                    ? new DeliveryResult(DeliveryOutcome.Transient, status, "the Oracle answered 2xx with an error body", 1)
                    : new DeliveryResult(DeliveryOutcome.Delivered, status, "delivered", 1);
            }
            return status switch
            {
                409 => new DeliveryResult(DeliveryOutcome.AlreadyDelivered, status, "already accepted (replay of an earlier attempt)", 1),
                429 or 408 or >= 500 => new DeliveryResult(DeliveryOutcome.Transient, status, $"HTTP {status}", 1),
                _ => new DeliveryResult(DeliveryOutcome.Rejected, status, $"HTTP {status}: {Shorten(body)}", 1),
            };
        }
        catch (HttpRequestException ex)
        {
            return new DeliveryResult(DeliveryOutcome.Transient, null, ex.Message, 1);
        }
        catch (TaskCanceledException) when (!cancellation.IsCancellationRequested)
        {
            return new DeliveryResult(DeliveryOutcome.Transient, null, "timed out", 1);
        }
    }

    /// <summary>Sends with up to <paramref name="retries"/> more attempts on transient failures, doubling the delay each time.</summary>
    public async Task<DeliveryResult> SendWithRetriesAsync(OracleReport report, int retries, TimeSpan backoff, CancellationToken cancellation)
    {
        var delay = backoff;
        for (var attempt = 1; ; attempt++)
        {
            var result = await SendAsync(report, cancellation).ConfigureAwait(false) with { Attempts = attempt };
            if (result.Outcome != DeliveryOutcome.Transient || attempt > retries)
            {
                return result;
            }
            await Task.Delay(delay, cancellation).ConfigureAwait(false);
            delay *= 2;
        }
    }

    /// <summary>Throws OracleRejected or OracleUnavailable unless the result is a delivery.</summary>
    public static DeliveryResult EnsureDelivered(DeliveryResult result, string url) => result.Outcome switch
    {
        DeliveryOutcome.Delivered or DeliveryOutcome.AlreadyDelivered => result,
        DeliveryOutcome.Rejected => throw new E2EException(ErrorCatalog.OracleRejected, $"The Oracle at {SecretText.Url(url)} rejected the report: {SecretText.Redact(result.Detail)}", result),
        _ => throw new E2EException(ErrorCatalog.OracleUnavailable, $"The report could not be delivered to {SecretText.Url(url)} after {result.Attempts} attempt(s): {SecretText.Redact(result.Detail)}", result),
    };

    private static bool BodyIsError(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.ValueKind != JsonValueKind.Object
                || (doc.RootElement.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String && s.GetString() == "error");
        }
        catch (JsonException)
        {
            return false; // upstream accepts a non-JSON 2xx
        }
    }

    private static string Shorten(string text) => text.Length <= 200 ? text : text[..200] + "…";

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }
}

/// <summary>A report and what became of it, for Send-OracleReport's output.</summary>
public sealed record OracleDelivery(OracleReport Report, DeliveryResult Result, string OracleUrl)
{
    public EthAddress Agent => Report.Agent;

    public long Timestamp => Report.Timestamp;

    public DeliveryOutcome Outcome => Result.Outcome;
}
