using System.Globalization;
using System.Net;
using System.Text.Json;
using E2E.Core.Chain;
using E2E.Core.Errors;
using E2E.Core.Ethereum;
using E2E.Core.Net;
using E2E.Core.Oracle;
using E2E.Core.Petals;

namespace E2E.Core.StandIns.Petals;

public sealed record PetalsNodeOptions
{
    /// <summary>The first block served.</summary>
    public int BlockStart { get; init; }

    /// <summary>One past the last block served.</summary>
    public int BlockEnd { get; init; } = PetalsModel.DefaultBlockCount;

    /// <summary>0 picks a free port on 127.0.0.1.</summary>
    public int Port { get; init; }

    /// <summary>Listen on every address, not 127.0.0.1 only (PETALS_HOST=0.0.0.0): a node in a container is reached through its published port.</summary>
    public bool EveryAddress { get; init; }

    public PetalsModel Model { get; init; } = PetalsModel.Default;

    /// <summary>The node's key: its agent address, report signatures and chain transactions. Without one the node serves but never reports.</summary>
    public EthKey? Key { get; init; }

    public string? OracleUrl { get; init; }

    public OracleReportFormat ReportFormat { get; init; } = OracleReportFormat.Current;

    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Where signed reports wait for delivery (a temp folder when not given).</summary>
    public string? SpoolDirectory { get; init; }

    public string? ChainRpcUrl { get; init; }

    public long ChainId { get; init; } = 41956;

    /// <summary>Upstream sends one every 300 s.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>Where the node says what it does (stdout in the node program).</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>
/// One Petals node: serves a span of the model's blocks over HTTP on 127.0.0.1 (POST /forward?start=&amp;end=
/// with a hidden state as little-endian doubles; any sub-span of its own, as Petals servers allow), answers
/// GET /health and GET /metrics (upstream MetricsCollector's to_dict, plus reporter and chain state), records a
/// proof of every forward, reports signed metrics to the Oracle every interval through the durable reporter,
/// and registers once through 0x21 and sends heartbeats through 0x22 when a chain is given. The node program
/// runs one of these per OS process; tests may host one in-process.
/// </summary>
public sealed class PetalsNodeHost : IAsyncDisposable
{
    private readonly PetalsNodeOptions _options;
    private readonly HttpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly MetricsCollector _metrics = new();
    private readonly List<Task> _background = new();
    private readonly OracleReporter? _reporter;
    private readonly OracleClient? _oracle;
    private readonly string? _ownedSpool;
    private long _heartbeats;
    private string? _registrationHash;
    private string? _lastChainError;
    private int _stopped;

    private PetalsNodeHost(PetalsNodeOptions options)
    {
        _options = options;
        options.Model.CheckSpan(options.BlockStart, options.BlockEnd);
        if (options.Key is not null && options.OracleUrl is not null)
        {
            _oracle = new OracleClient(options.OracleUrl, TimeSpan.FromSeconds(30));
            var spool = options.SpoolDirectory ?? (_ownedSpool = Directory.CreateTempSubdirectory("e2e-petals-spool-").FullName);
            _reporter = new OracleReporter(options.Key, _metrics, _oracle, new ReportSpool(spool), new OracleReporterOptions { Interval = options.ReportInterval, Format = options.ReportFormat });
        }
        (_listener, Port) = Loopback.Start(options.Port, $"The Petals node for blocks {options.BlockStart}-{options.BlockEnd - 1}", options.EveryAddress);
        Url = $"http://127.0.0.1:{Port}";
    }

    public int Port { get; }

    public string Url { get; }

    public PetalsNodeInfo Info => new(Url, _options.Model.Name, _options.BlockStart, _options.BlockEnd, _options.Model.HiddenSize, _options.Key?.Address.ToString());

    public InferenceMetrics Metrics => _metrics.Snapshot();

    /// <summary>How the line the node logs once its listener has started begins (after the timestamp); its starter waits for it before probing.</summary>
    public const string ServingLogLine = " serving ";

    public static PetalsNodeHost Start(PetalsNodeOptions options)
    {
        var host = new PetalsNodeHost(options);
        host._background.Add(Task.Run(() => Loopback.ServeAsync(host._listener, host.HandleAsync, eachOnItsOwnTask: true, host._stop.Token)));
        if (host._reporter is not null)
        {
            host._background.Add(Task.Run(() => host._reporter.RunAsync(host._stop.Token)));
        }
        if (options.Key is not null && options.ChainRpcUrl is not null)
        {
            host._background.Add(Task.Run(() => host.ChainLoopAsync(host._stop.Token)));
        }
        host.Log($"{ServingLogLine}{options.Model.Name} blocks {options.BlockStart}-{options.BlockEnd - 1} at {host.Url}" + (options.Key is null ? string.Empty : $" as agent {options.Key.Address}"));
        return host;
    }

    /// <summary>The name upstream's server registers: the model's last path part (16 chars at most), a dash, the address's last 8.</summary>
    public static string AgentName(string model, EthAddress agent)
    {
        var shortModel = model.Split('/')[^1];
        var address = agent.ToString();
        return $"{shortModel[..Math.Min(16, shortModel.Length)]}-{address[^8..]}";
    }

    private async Task ChainLoopAsync(CancellationToken cancellation)
    {
        var key = _options.Key!;
        using var rpc = new ChainRpcClient(_options.ChainRpcUrl!, TimeSpan.FromSeconds(10));
        // Registration is attempted once, as upstream does; heartbeats follow whether or not it succeeded.
        try
        {
            var registered = await rpc.SendAsync(key, AgentCalldata.RegisterPrecompile, AgentCalldata.Register(AgentName(_options.Model.Name, key.Address), new byte[32], Array.Empty<byte[]>()),
                AgentCalldata.RegisterGas, _options.ChainId, null, null, TimeSpan.FromSeconds(30), cancellation).ConfigureAwait(false);
            _registrationHash = registered.Hash;
            Log($"registered on chain {_options.ChainId}: {registered.Hash}");
        }
        catch (E2EException ex)
        {
            _lastChainError = ex.Message;
            Log($"registration failed: {ex.Message}");
        }
        catch (OperationCanceledException)
        {
            return;
        }
        while (!cancellation.IsCancellationRequested)
        {
            try
            {
                var beat = await rpc.SendAsync(key, AgentCalldata.HeartbeatPrecompile, Array.Empty<byte>(), AgentCalldata.HeartbeatGas, _options.ChainId, null, null, TimeSpan.FromSeconds(30), cancellation).ConfigureAwait(false);
                Interlocked.Increment(ref _heartbeats);
                Log($"heartbeat {beat.Hash}");
            }
            catch (E2EException ex)
            {
                _lastChainError = ex.Message;
                Log($"heartbeat failed: {ex.Message}");
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                await Task.Delay(_options.HeartbeatInterval, cancellation).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        var request = context.Request;
        var path = request.Url?.AbsolutePath ?? "/";
        switch (request.HttpMethod, path)
        {
            case ("GET", "/health"):
                await RespondJsonAsync(context, 200, new Dictionary<string, object?>
                {
                    ["status"] = "ok", ["model"] = _options.Model.Name, ["blocks"] = new[] { _options.BlockStart, _options.BlockEnd },
                    ["hidden_size"] = _options.Model.HiddenSize, ["agent"] = _options.Key?.Address.ToString(),
                }).ConfigureAwait(false);
                return;
            case ("GET", "/metrics"):
                await RespondJsonAsync(context, 200, MetricsDocument()).ConfigureAwait(false);
                return;
            case ("POST", "/forward"):
                await ForwardAsync(context).ConfigureAwait(false);
                return;
            default:
                await RespondJsonAsync(context, 404, new Dictionary<string, object?> { ["error"] = $"no route {request.HttpMethod} {path}" }).ConfigureAwait(false);
                return;
        }
    }

    private async Task ForwardAsync(HttpListenerContext context)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var query = context.Request.QueryString;
        if (!int.TryParse(query["start"], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
            || !int.TryParse(query["end"], NumberStyles.None, CultureInfo.InvariantCulture, out var end))
        {
            await RespondJsonAsync(context, 400, new Dictionary<string, object?> { ["error"] = "start and end must be block numbers" }).ConfigureAwait(false);
            return;
        }
        if (start < _options.BlockStart || end > _options.BlockEnd || start >= end)
        {
            await RespondJsonAsync(context, 416, new Dictionary<string, object?> { ["error"] = $"blocks {start}-{end - 1} are not served here ({_options.BlockStart}-{_options.BlockEnd - 1})" }).ConfigureAwait(false);
            return;
        }
        var model = _options.Model;
        var input = new byte[model.StateBytes + 1];
        var read = 0;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            int n;
            while (read < input.Length && (n = await context.Request.InputStream.ReadAsync(input.AsMemory(read), timeout.Token).ConfigureAwait(false)) > 0)
            {
                read += n;
            }
        }
        if (read != model.StateBytes)
        {
            await RespondJsonAsync(context, 400, new Dictionary<string, object?> { ["error"] = $"a hidden state is {model.StateBytes} bytes, not {read}" }).ConfigureAwait(false);
            return;
        }
        double[] output;
        try
        {
            output = model.Forward(model.Decode(input.AsSpan(0, read)), start, end);
        }
        catch (E2EException ex)
        {
            await RespondJsonAsync(context, 400, new Dictionary<string, object?> { ["error"] = ex.Message }).ConfigureAwait(false);
            return;
        }
        var bytes = model.Encode(output);
        _metrics.RecordInference(1, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        if (_options.Key is not null)
        {
            _metrics.RecordProof(ProofData.For(model.Name, input.AsSpan(0, read).ToArray(), bytes, _options.Key.Address, 1));
        }
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/octet-stream";
        context.Response.ContentLength64 = bytes.Length;
        await context.Response.OutputStream.WriteAsync(bytes, _stop.Token).ConfigureAwait(false);
        context.Response.Close();
    }

    private Dictionary<string, object?> MetricsDocument()
    {
        var snapshot = _metrics.Snapshot();
        var now = DateTimeOffset.UtcNow;
        return new Dictionary<string, object?>
        {
            ["total_tokens_processed"] = snapshot.TotalTokensProcessed,
            ["total_requests"] = snapshot.TotalRequests,
            ["total_latency_ms"] = Math.Round(snapshot.TotalLatencyMs, 2),
            ["avg_latency_ms"] = snapshot.AvgLatencyMs,
            ["uptime_seconds"] = snapshot.UptimeSeconds(now),
            ["tokens_per_second"] = snapshot.TokensPerSecond(now),
            ["reports_delivered"] = _reporter?.Delivered ?? 0,
            ["reports_rejected"] = _reporter?.Rejected ?? 0,
            ["reporter_healthy"] = _reporter?.Healthy ?? true,
            ["registration_tx"] = _registrationHash,
            ["heartbeats"] = Interlocked.Read(ref _heartbeats),
            ["last_chain_error"] = _lastChainError,
        };
    }

    private static async Task RespondJsonAsync(HttpListenerContext context, int status, Dictionary<string, object?> body)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(body);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength64 = bytes.Length;
        await context.Response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
        context.Response.Close();
    }

    private void Log(string message) => _options.Log?.Invoke(message);

    /// <summary>Stops serving, then makes one last report and delivers what is pending within <paramref name="flushTimeout"/>.</summary>
    public async Task StopAsync(TimeSpan flushTimeout)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }
        _stop.Cancel();
        Loopback.Stop(_listener);
        await Task.WhenAny(Task.WhenAll(_background), Task.Delay(TimeSpan.FromSeconds(5))).ConfigureAwait(false);
        if (_reporter is not null)
        {
            using var flush = new CancellationTokenSource(flushTimeout);
            try
            {
                _reporter.CreateReport();
                await _reporter.FlushAsync(flush.Token).ConfigureAwait(false);
                Log($"final report: {_reporter.Delivered} delivered, {_reporter.Rejected} rejected");
            }
            catch (OperationCanceledException)
            {
                Log("final report not delivered in time; it stays spooled");
            }
        }
        _oracle?.Dispose();
        if (_ownedSpool is not null && !Directory.EnumerateFiles(_ownedSpool, "*.json").Any())
        {
            Directory.Delete(_ownedSpool, recursive: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        _stop.Dispose();
    }
}
