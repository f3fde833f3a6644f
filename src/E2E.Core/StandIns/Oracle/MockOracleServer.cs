using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Net;
using System.Text;
using E2E.Core.Errors;
using E2E.Core.Net;
using E2E.Core.Oracle;

namespace E2E.Core.StandIns.Oracle;

public sealed record MockOracleOptions
{
    /// <summary>0 picks a free port on 127.0.0.1.</summary>
    public int Port { get; init; }

    /// <summary>Listen on every address, not 127.0.0.1 only: for the Oracle program in a container, reached through a published port or a network.</summary>
    public bool EveryAddress { get; init; }

    /// <summary>How far a report's timestamp may be from now (the real Oracle allows 60 s).</summary>
    public TimeSpan FreshnessWindow { get; init; } = TimeSpan.FromSeconds(60);

    public int MaxBodyBytes { get; init; } = 64 * 1024;

    /// <summary>How long a client may take to send its body; a client that trickles it gets 408 and frees the worker.</summary>
    public TimeSpan BodyReadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Requests served at once.</summary>
    public int Concurrency { get; init; } = 16;

    public TimeProvider Time { get; init; } = TimeProvider.System;

    /// <summary>Called with every report answered (the mock Oracle program logs them as upstream's mock does).</summary>
    public Action<MockOracleReport>? OnReport { get; init; }
}

/// <summary>One request the mock Oracle answered, kept for assertions.</summary>
public sealed record MockOracleReport(string Route, OracleReportFormat? Format, string? Agent, long? Timestamp, long? ProcessedTokens, int StatusCode, string Reason, DateTimeOffset ReceivedAt, string Body)
{
    public bool Accepted => StatusCode == 200;
}

/// <summary>
/// An in-process Oracle on 127.0.0.1 that verifies reports as the real one does: EIP-191 signature recovered
/// and compared with the agent (401), timestamp within the freshness window (400), strictly increasing
/// timestamps per agent (409, a replay), body size (413) and well-formed JSON (400). It serves both report
/// routes and GET /health, keeps every accepted and rejected report, and can inject faults: fail the next
/// N requests with a status, delay them, or drop their connections.
/// </summary>
public sealed class MockOracleServer : IDisposable
{
    private readonly MockOracleOptions _options;
    private readonly HttpListener _listener;
    private readonly ConcurrentQueue<MockOracleReport> _reports = new();
    private readonly Dictionary<string, long> _lastTimestamp = new(StringComparer.OrdinalIgnoreCase);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _workers = new();
    private int _failNext;
    private int _failStatus = 503;
    private int _dropNext;
    private int _delayNext;
    private TimeSpan _delay;
    private long _requests;

    public MockOracleServer(MockOracleOptions? options = null)
    {
        _options = options ?? new MockOracleOptions();
        (_listener, Port) = Loopback.Start(_options.Port, "The mock Oracle", _options.EveryAddress);
        Url = $"http://127.0.0.1:{Port}";
        for (var i = 0; i < Math.Max(1, _options.Concurrency); i++)
        {
            _workers.Add(Task.Run(() => Loopback.ServeAsync(_listener, HandleAsync, eachOnItsOwnTask: false, _stop.Token)));
        }
    }

    public int Port { get; }

    /// <summary>The address this host's clients use (127.0.0.1, also when it listens on every address).</summary>
    public string Url { get; }

    public bool EveryAddress => _options.EveryAddress;

    public long RequestCount => Interlocked.Read(ref _requests);

    public bool IsRunning => _listener.IsListening;

    public IReadOnlyList<MockOracleReport> Reports(string? agent = null, bool? accepted = null) =>
        _reports.Where(r => (agent is null || string.Equals(r.Agent, agent, StringComparison.OrdinalIgnoreCase)) && (accepted is null || r.Accepted == accepted)).ToArray();

    public void FailNext(int count, int statusCode = 503)
    {
        _failStatus = statusCode;
        Interlocked.Exchange(ref _failNext, count);
    }

    public void DropNext(int count) => Interlocked.Exchange(ref _dropNext, count);

    public void DelayNext(int count, TimeSpan delay)
    {
        _delay = delay;
        Interlocked.Exchange(ref _delayNext, count);
    }

    public void ClearFaults()
    {
        Interlocked.Exchange(ref _failNext, 0);
        Interlocked.Exchange(ref _dropNext, 0);
        Interlocked.Exchange(ref _delayNext, 0);
    }

    public override string ToString() => $"mock Oracle at {Url}";

    public void Dispose()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        _stop.Cancel();
        Loopback.Stop(_listener);
        Task.WaitAll(_workers.Select(w => w.ContinueWith(_ => { }, TaskScheduler.Default)).ToArray(), TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        Interlocked.Increment(ref _requests);
        var request = context.Request;
        var path = request.Url?.AbsolutePath ?? "/";
        if (Take(ref _dropNext))
        {
            await DropAsync(context).ConfigureAwait(false);
            return;
        }
        if (Take(ref _delayNext))
        {
            await Task.Delay(_delay, _stop.Token).ConfigureAwait(false);
        }
        if (Take(ref _failNext))
        {
            await RespondAsync(context, _failStatus, "{\"success\":false,\"message\":\"Injected failure\"}").ConfigureAwait(false);
            return;
        }
        if (path == "/health")
        {
            await RespondAsync(context, request.HttpMethod == "GET" ? 200 : 405, request.HttpMethod == "GET" ? "{\"status\":\"ok\"}" : "{\"message\":\"Method not allowed\"}").ConfigureAwait(false);
            return;
        }
        if (path is not OracleReports.CurrentRoute and not OracleReports.LegacyRoute)
        {
            await RespondAsync(context, 404, "{\"message\":\"Not found\"}").ConfigureAwait(false);
            return;
        }
        if (request.HttpMethod != "POST")
        {
            await RespondAsync(context, 405, "{\"message\":\"Method not allowed\"}").ConfigureAwait(false);
            return;
        }
        var (status, reason, report, body) = await JudgeAsync(path, request).ConfigureAwait(false);
        var answered = new MockOracleReport(path, report?.Format, report?.AgentText, report?.Timestamp, report?.ProcessedTokens, status, reason, _options.Time.GetUtcNow(), body);
        _reports.Enqueue(answered);
        _options.OnReport?.Invoke(answered);
        var answer = status == 200
            ? (path == OracleReports.CurrentRoute ? "{\"success\":true,\"message\":\"Metrics recorded successfully\",\"shouldReset\":false}" : "{\"status\":\"success\",\"message\":\"Report received\"}")
            : CanonicalJson.Serialize(new KeyValuePair<string, object?>[] { new("success", false), new("message", reason) }, sortKeys: false);
        await RespondAsync(context, status, answer).ConfigureAwait(false);
    }

    private async Task<(int Status, string Reason, ReceivedReport? Report, string Body)> JudgeAsync(string path, HttpListenerRequest request)
    {
        if (request.ContentLength64 > _options.MaxBodyBytes)
        {
            return (413, $"Body larger than {_options.MaxBodyBytes} bytes", null, string.Empty);
        }
        var buffer = new byte[_options.MaxBodyBytes + 1];
        // HttpListener's request stream ignores cancellation tokens: the wait is bounded from outside.
        var reading = request.InputStream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false).AsTask();
        if (await Task.WhenAny(reading, Task.Delay(_options.BodyReadTimeout)).ConfigureAwait(false) != reading)
        {
            _ = reading.ContinueWith(t => t.Exception, TaskScheduler.Default); // ends when the connection closes
            return (408, $"The body did not arrive within {_options.BodyReadTimeout.TotalSeconds:0.#} s", null, string.Empty);
        }
        var read = await reading.ConfigureAwait(false);
        if (read > _options.MaxBodyBytes)
        {
            return (413, $"Body larger than {_options.MaxBodyBytes} bytes", null, string.Empty);
        }
        var body = Encoding.UTF8.GetString(buffer, 0, read);
        ReceivedReport report;
        try
        {
            report = OracleReports.Parse(path, body);
        }
        catch (E2EException ex)
        {
            return (400, ex.Message, null, body);
        }
        if (!report.SignatureValid())
        {
            return (401, "Invalid signature", report, body);
        }
        var now = _options.Time.GetUtcNow().ToUnixTimeSeconds();
        if (Math.Abs(now - report.Timestamp) > _options.FreshnessWindow.TotalSeconds)
        {
            return (400, $"Timestamp {report.Timestamp} is more than {_options.FreshnessWindow.TotalSeconds} s from now ({now})", report, body);
        }
        lock (_lastTimestamp)
        {
            if (_lastTimestamp.TryGetValue(report.AgentText, out var last) && report.Timestamp <= last)
            {
                return (409, $"Timestamp {report.Timestamp} is not after the last accepted one ({last}): replayed report", report, body);
            }
            _lastTimestamp[report.AgentText] = report.Timestamp;
        }
        return (200, "accepted", report, body);
    }

    private static bool Take(ref int counter)
    {
        while (true)
        {
            var current = Volatile.Read(ref counter);
            if (current <= 0)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref counter, current - 1, current) == current)
            {
                return true;
            }
        }
    }

    /// <summary>
    /// Breaks the connection so the client sees a failure. HttpListener's Abort alone answers "200" with an
    /// empty body on Linux (which a client may count as success), so promise a long body, send one byte, abort.
    /// </summary>
    private static async Task DropAsync(HttpListenerContext context)
    {
        context.Response.StatusCode = 502;
        context.Response.ContentLength64 = 1 << 20;
        await context.Response.OutputStream.WriteAsync(new byte[] { (byte)'{' }).ConfigureAwait(false);
        await context.Response.OutputStream.FlushAsync().ConfigureAwait(false);
        context.Response.Abort();
    }

    private static async Task RespondAsync(HttpListenerContext context, int status, string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength64 = bytes.Length;
        await context.Response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
        context.Response.Close();
    }
}
