using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;
using E2E.Core.Errors;

namespace E2E.Core.Petals;

/// <summary>Time spent in one node over a call: how many forwards, which blocks, and their latency.</summary>
public sealed record PetalsHopStats(string Node, string Blocks, int Calls, double MeanMs, double MaxMs, double TotalMs);

/// <summary>A hop that failed mid-generation and the node that took over its blocks.</summary>
public sealed record PetalsFailover(int Token, string Blocks, string FailedNode, string Reason, string Replacement);

/// <summary>What one generation gave: the new tokens and text, the route, per-hop latency, failovers and speed.</summary>
public sealed record PetalsInferenceResult(
    string Prompt,
    string Text,
    IReadOnlyList<int> Tokens,
    string Model,
    string Route,
    IReadOnlyList<PetalsHopStats> Hops,
    IReadOnlyList<PetalsFailover> Failovers,
    double DurationMs,
    double TokensPerSecond)
{
    public bool SingleProcess => Hops.Count == 0;
}

/// <summary>
/// Generation through a swarm: every new token's hidden state goes through the route's hops in order, each a
/// POST /forward to one node. A hop that fails (refused, reset, timed out, 5xx, or the node no longer serving
/// the span) drops that node for the rest of the call and re-plans from the failed hop's first block with
/// the state it was given, so the output is the same as without the failure; when nothing else serves those
/// blocks the call fails with PetalsBlocksUnavailable naming them.
/// </summary>
public sealed class DistributedInference : IDisposable
{
    private readonly HttpClient _http;

    public DistributedInference(TimeSpan? hopTimeout = null)
    {
        _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(5), PooledConnectionLifetime = TimeSpan.FromMinutes(5), MaxConnectionsPerServer = 64 })
        {
            Timeout = hopTimeout ?? TimeSpan.FromSeconds(30),
        };
    }

    /// <summary>Asks each URL's /health what it serves; one that does not answer as a node is PetalsNodeUnreachable.</summary>
    public async Task<IReadOnlyList<PetalsNodeInfo>> DiscoverAsync(IEnumerable<string> urls, CancellationToken cancellation)
    {
        var found = await Task.WhenAll(urls.Select(async url => PetalsNodeInfo.Parse(url, await GetAsync(url, "/health", cancellation).ConfigureAwait(false)))).ConfigureAwait(false);
        return found;
    }

    /// <summary>A node's GET /metrics.</summary>
    public async Task<PetalsNodeMetrics> MetricsAsync(string url, CancellationToken cancellation) =>
        PetalsNodeMetrics.Parse(url.TrimEnd('/'), await GetAsync(url, "/metrics", cancellation).ConfigureAwait(false));

    /// <summary>The body of a node's GET <paramref name="path"/>; a node that does not answer is PetalsNodeUnreachable.</summary>
    private async Task<string> GetAsync(string url, string path, CancellationToken cancellation)
    {
        try
        {
            return await _http.GetStringAsync(url.TrimEnd('/') + path, cancellation).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellation.IsCancellationRequested)
        {
            throw new E2EException(ErrorCatalog.PetalsNodeUnreachable, $"The Petals node at {SecretText.Url(url)} did not answer {path}: {ex.Message}", url, ex);
        }
    }

    /// <summary>The single-process reference: all blocks here, no network.</summary>
    public PetalsInferenceResult Reference(string prompt, int maxTokens, PetalsModel model)
    {
        var clock = Stopwatch.StartNew();
        var tokens = model.Generate(prompt, maxTokens);
        var ms = clock.Elapsed.TotalMilliseconds;
        return new PetalsInferenceResult(prompt, model.Detokenize(tokens), tokens, model.Name, "single process", Array.Empty<PetalsHopStats>(), Array.Empty<PetalsFailover>(), ms, Rate(maxTokens, ms));
    }

    /// <summary>Generates through <paramref name="nodes"/> (of one model, which they name).</summary>
    public async Task<PetalsInferenceResult> GenerateAsync(string prompt, int maxTokens, IReadOnlyList<PetalsNodeInfo> nodes, CancellationToken cancellation)
    {
        var model = PetalsModel.Of(nodes);
        var clock = Stopwatch.StartNew();
        var excluded = new HashSet<string>(StringComparer.Ordinal);
        var route = PetalsRoute.Plan(nodes, model);
        var stats = new Dictionary<(string Node, string Blocks), List<double>>();
        var failovers = new List<PetalsFailover>();
        var tokens = model.Tokenize(prompt).ToList();
        double[]? context = null;
        for (var i = 0; i < tokens.Count; i++)
        {
            context = model.Advance(context, tokens[i], i);
        }
        var generated = new List<int>(maxTokens);
        for (var n = 0; n < maxTokens; n++)
        {
            var state = context ?? new double[model.HiddenSize];
            for (var hopIndex = 0; hopIndex < route.Hops.Count;)
            {
                var hop = route.Hops[hopIndex];
                var hopClock = Stopwatch.StartNew();
                var (output, failure) = await ForwardAsync(model, hop, state, cancellation).ConfigureAwait(false);
                if (output is null)
                {
                    excluded.Add(hop.Node.Url);
                    var rest = PetalsRoute.Plan(nodes, model, hop.Start, excluded);
                    failovers.Add(new PetalsFailover(n, hop.Blocks, hop.Node.Url, failure!, rest.Hops[0].Node.Url));
                    route = route.ReplaceFrom(hopIndex, rest);
                    continue;
                }
                var key = (hop.Node.Url, hop.Blocks);
                if (!stats.TryGetValue(key, out var times))
                {
                    stats[key] = times = new List<double>();
                }
                times.Add(hopClock.Elapsed.TotalMilliseconds);
                state = output;
                hopIndex++;
            }
            var next = model.NextToken(state, tokens);
            generated.Add(next);
            context = model.Advance(context, next, tokens.Count);
            tokens.Add(next);
        }
        var ms = clock.Elapsed.TotalMilliseconds;
        var hops = stats.Select(s => new PetalsHopStats(s.Key.Node, s.Key.Blocks, s.Value.Count, Math.Round(s.Value.Average(), 3), Math.Round(s.Value.Max(), 3), Math.Round(s.Value.Sum(), 3))).ToArray();
        return new PetalsInferenceResult(prompt, model.Detokenize(generated), generated, model.Name, route.ToString(), hops, failovers, ms, Rate(maxTokens, ms));
    }

    private async Task<(double[]? Output, string? Failure)> ForwardAsync(PetalsModel model, PetalsHop hop, double[] state, CancellationToken cancellation)
    {
        try
        {
            using var content = new ByteArrayContent(model.Encode(state));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            using var response = await _http.PostAsync($"{hop.Node.Url}/forward?start={hop.Start}&end={hop.End}", content, cancellation).ConfigureAwait(false);
            var body = await response.Content.ReadAsByteArrayAsync(cancellation).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                return (model.Decode(body), null);
            }
            var reason = $"HTTP {(int)response.StatusCode}: {ErrorText(body)}";
            if (response.StatusCode == System.Net.HttpStatusCode.BadRequest)
            {
                // Our request's fault: another node would refuse it the same way.
                throw new E2EException(ErrorCatalog.PetalsNodeFailed, $"The node at {hop.Node.Url} refused blocks {hop.Blocks}: {reason}", hop.Node.Url);
            }
            // Anything else means this node cannot serve the hop now: failing (5xx), busy (429), no longer serving
            // the span (416), or stopping (HttpListener answers 404 once its prefixes are gone).
            return (null, reason);
        }
        catch (HttpRequestException ex)
        {
            return (null, ex.Message);
        }
        catch (TaskCanceledException) when (!cancellation.IsCancellationRequested)
        {
            return (null, $"no answer within {_http.Timeout.TotalSeconds:0.#} s");
        }
        catch (E2EException ex) when (ex.Error == ErrorCatalog.PetalsProtocolError)
        {
            return (null, $"a malformed answer: {ex.Message}");
        }
    }

    private static string ErrorText(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.TryGetProperty("error", out var error) ? error.GetString() ?? string.Empty : string.Empty;
        }
        catch (JsonException)
        {
            return $"{body.Length} bytes";
        }
    }

    private static double Rate(int tokens, double ms) => ms <= 0 ? 0 : Math.Round(tokens / (ms / 1000.0), 2);

    public void Dispose() => _http.Dispose();
}
