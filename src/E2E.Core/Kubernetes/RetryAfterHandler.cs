using System.Net;

namespace E2E.Core.Kubernetes;

/// <summary>
/// Retries a request that an API server shed (429 Too Many Requests, 503 Service Unavailable) after its
/// Retry-After (1 s when absent, 10 s at most), a few times. KubernetesClient has no such retry; client-go does.
/// </summary>
public sealed class RetryAfterHandler(Func<int> maxRetries) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode is not (HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable) || attempt >= maxRetries())
            {
                return response;
            }
            var wait = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
            response.Dispose();
            await Task.Delay(wait > TimeSpan.FromSeconds(10) ? TimeSpan.FromSeconds(10) : wait, cancellationToken).ConfigureAwait(false);
        }
    }
}
