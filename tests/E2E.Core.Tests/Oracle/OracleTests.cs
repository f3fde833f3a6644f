using System.Net;
using System.Text;
using E2E.Core.Errors;
using E2E.Core.Ethereum;
using E2E.Core.Oracle;
using E2E.Core.StandIns.Oracle;
using E2E.Core.Tests.Ethereum;

namespace E2E.Core.Tests.Oracle;

public sealed class OracleTests : IDisposable
{
    private static readonly InferenceMetrics Vector = new(600, 3, 300.0, DateTimeOffset.FromUnixTimeSeconds(1770000000 - 42));
    private readonly EthKey _key = EthKey.FromHex(PlumiseVectorTests.KeyAb);
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public void Dispose()
    {
        _key.Dispose();
        _http.Dispose();
    }

    [Fact]
    public async Task A_client_that_trickles_its_body_gets_408_and_health_keeps_answering()
    {
        using var oracle = new MockOracleServer(new MockOracleOptions { Concurrency = 2, BodyReadTimeout = TimeSpan.FromSeconds(1) });
        // Two slow clients: as many as the Oracle has workers. Each promises 100 bytes and sends 10.
        var slow = new List<System.Net.Sockets.TcpClient>();
        for (var i = 0; i < 2; i++)
        {
            var client = new System.Net.Sockets.TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, oracle.Port);
            await client.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"POST /api/v1/metrics/report HTTP/1.1\r\nHost: 127.0.0.1:{oracle.Port}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"agent\": "));
            slow.Add(client);
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using (var health = await _http.GetAsync(oracle.Url + "/health"))
        {
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"/health took {clock.Elapsed}");
        var answer = new byte[256];
        var read = await slow[0].GetStream().ReadAsync(answer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.StartsWith("HTTP/1.1 408", Encoding.ASCII.GetString(answer, 0, read));
        slow.ForEach(c => c.Dispose());
    }

    [Fact]
    public void Both_formats_sign_exactly_the_vector_messages()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(1770000000);
        var current = OracleReports.Build(_key, Vector, Array.Empty<ProofData>(), 1770000000, OracleReportFormat.Current, now);
        Assert.Equal("/api/v1/metrics/report", current.Route);
        Assert.Equal("{\"agent\":\"0xe239cdc5fbe977a8a141B72194D3CF8c41bC5BC6\",\"processed_tokens\":600,\"timestamp\":1770000000}", current.SignedMessage);
        Assert.Equal("0x3ee7143d98371848c232baa4db859b75237c749dc71c6139b077bc82a46e5b8a33addcdc199b064961f7240b824cf321497c29f364d81f72d39906713bc3e7f91c", current.Signature);
        Assert.Equal("{\"wallet\":\"0xe239cdc5fbe977a8a141B72194D3CF8c41bC5BC6\",\"tokensProcessed\":600,\"avgLatencyMs\":100.0,\"uptimeSeconds\":42,\"requestCount\":3,\"timestamp\":1770000000,\"signature\":\"" + current.Signature + "\"}", current.Body);

        var legacy = OracleReports.Build(_key, Vector, Array.Empty<ProofData>(), 1770000000, OracleReportFormat.Legacy, now);
        Assert.Equal("/api/v1/report", legacy.Route);
        Assert.Equal("{\"agent\":\"0xe239cdc5fbe977a8a141B72194D3CF8c41bC5BC6\",\"avg_latency_ms\":100.0,\"processed_tokens\":600,\"tasks_completed\":3,\"timestamp\":1770000000,\"uptime_seconds\":42}", legacy.SignedMessage);
        Assert.Equal("0x236d0317f201c623a73a80f9076ab9970908e6802cf4cfa610facfab80bfe9e80e732f46004cd554b2eae8304286e20fc920673d13b9ea4a58eb07f9a2ce50111c", legacy.Signature);
    }

    [Fact]
    public void Received_reports_verify_in_both_formats_and_tampering_is_caught()
    {
        foreach (var format in new[] { OracleReportFormat.Current, OracleReportFormat.Legacy })
        {
            var report = OracleReports.Build(_key, Vector, new[] { ProofData.For("bigscience/bloom-560m", "in"u8.ToArray(), "out"u8.ToArray(), _key.Address, 5) }, 1770000000, format, DateTimeOffset.UtcNow);
            var received = OracleReports.Parse(report.Route, report.Body);
            Assert.True(received.SignatureValid(), format.ToString());
            Assert.Equal((600L, 1770000000L), (received.ProcessedTokens, received.Timestamp));
            var tampered = OracleReports.Parse(report.Route, report.Body.Replace("600", "601", StringComparison.Ordinal));
            Assert.False(tampered.SignatureValid(), format.ToString());
        }
    }

    [Fact]
    public void Collector_is_thread_safe_and_keeps_the_last_1000_proofs()
    {
        var collector = new MetricsCollector();
        Parallel.For(0, 5, _ =>
        {
            for (var i = 0; i < 100; i++)
            {
                collector.RecordInference(2, 10.0);
            }
        });
        var snapshot = collector.Snapshot();
        Assert.Equal((1000L, 500L, 5000.0, 10.0), (snapshot.TotalTokensProcessed, snapshot.TotalRequests, snapshot.TotalLatencyMs, snapshot.AvgLatencyMs));
        for (var i = 0; i < 1005; i++)
        {
            collector.RecordProof(new ProofData(new byte[32], new byte[32], new byte[32], _key.Address, i));
        }
        var proofs = collector.DrainProofs();
        Assert.Equal(1000, proofs.Count);
        Assert.Equal(5, proofs[0].TokenCount);
        Assert.Equal(5, collector.DroppedProofs);
        Assert.Empty(collector.DrainProofs());
        var reset = collector.Reset();
        Assert.Equal(500, reset.TotalRequests);
        Assert.Equal(0, collector.Snapshot().TotalRequests);
        Assert.Equal(reset.StartTime, collector.Snapshot().StartTime);
        Assert.Equal(0.0, collector.Snapshot().AvgLatencyMs);
    }

    private OracleReport Report(EthKey key, long timestamp, OracleReportFormat format = OracleReportFormat.Current) =>
        OracleReports.Build(key, Vector, Array.Empty<ProofData>(), timestamp, format, DateTimeOffset.UtcNow);

    private async Task<int> PostAsync(string url, string route, string body)
    {
        using var response = await _http.PostAsync(url + route, new StringContent(body, Encoding.UTF8, "application/json"));
        return (int)response.StatusCode;
    }

    [Fact]
    public async Task Mock_oracle_verifies_like_the_real_one()
    {
        using var oracle = new MockOracleServer();
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Assert.Equal("{\"status\":\"ok\"}", await _http.GetStringAsync(oracle.Url + "/health"));

        var good = Report(_key, now);
        Assert.Equal(200, await PostAsync(oracle.Url, good.Route, good.Body));
        Assert.Equal(409, await PostAsync(oracle.Url, good.Route, good.Body));
        var legacy = Report(_key, now + 1, OracleReportFormat.Legacy);
        Assert.Equal(200, await PostAsync(oracle.Url, legacy.Route, legacy.Body));
        Assert.Equal(401, await PostAsync(oracle.Url, good.Route, Report(_key, now + 2).Body.Replace("\"tokensProcessed\":600", "\"tokensProcessed\":601", StringComparison.Ordinal)));
        Assert.Equal(400, await PostAsync(oracle.Url, good.Route, Report(_key, now - 3600).Body));
        Assert.Equal(400, await PostAsync(oracle.Url, good.Route, "{not json"));
        Assert.Equal(400, await PostAsync(oracle.Url, good.Route, "{\"wallet\":1}"));
        Assert.Equal(413, await PostAsync(oracle.Url, good.Route, new string(' ', 70_000)));
        Assert.Equal(404, await PostAsync(oracle.Url, "/api/v2/nothing", good.Body));
        // The legacy route refuses a flat body, as upstream's pydantic model does.
        Assert.Equal(400, await PostAsync(oracle.Url, OracleReports.LegacyRoute, Report(_key, now + 3).Body));

        var agent = _key.Address.ToString();
        Assert.Equal(2, oracle.Reports(agent, accepted: true).Count);
        Assert.Equal(new[] { 409, 401, 400 }, oracle.Reports(agent, accepted: false).Select(r => r.StatusCode).Take(3));
        Assert.Contains(oracle.Reports(accepted: false), r => r.StatusCode == 413);
    }

    [Fact]
    public async Task Faults_fail_delay_and_drop_requests()
    {
        using var oracle = new MockOracleServer();
        oracle.FailNext(2, 503);
        Assert.Equal(503, (int)(await _http.GetAsync(oracle.Url + "/health")).StatusCode);
        Assert.Equal(503, (int)(await _http.GetAsync(oracle.Url + "/health")).StatusCode);
        Assert.Equal(200, (int)(await _http.GetAsync(oracle.Url + "/health")).StatusCode);
        oracle.DropNext(1);
        await Assert.ThrowsAsync<HttpRequestException>(() => _http.GetAsync(oracle.Url + "/health"));
        Assert.Equal(200, (int)(await _http.GetAsync(oracle.Url + "/health")).StatusCode);
        oracle.DelayNext(1, TimeSpan.FromMilliseconds(300));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(200, (int)(await _http.GetAsync(oracle.Url + "/health")).StatusCode);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(250));
    }

    [Fact]
    public async Task Burst_of_10000_mixed_requests_accepts_each_valid_report_exactly_once()
    {
        // Freshness has its own test; here the window is wide so a slow machine cannot turn valid reports stale mid-burst.
        using var oracle = new MockOracleServer(new MockOracleOptions { Concurrency = 16, FreshnessWindow = TimeSpan.FromMinutes(10) });
        const int agents = 40;
        const int perAgent = 100;
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var keys = Enumerable.Range(1, agents).Select(i => EthKey.FromBytes(Enumerable.Repeat((byte)i, 32).ToArray())).ToArray();
        var expected = new Dictionary<int, int>();
        var bad = 0;
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        await Parallel.ForEachAsync(Enumerable.Range(0, agents), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (a, token) =>
        {
            var key = keys[a];
            OracleReport? previous = null;
            var localBad = new Dictionary<int, int>();
            for (var i = 0; i < perAgent; i++)
            {
                var report = Report(key, now - 50 + i);
                Assert.Equal(200, await Post(report.Route, report.Body));
                // Six bad requests for every four valid ones, each kind checked for its status.
                var (status, body) = (i % 6) switch
                {
                    0 => (401, report.Body.Replace("\"tokensProcessed\":600", "\"tokensProcessed\":1", StringComparison.Ordinal)),
                    1 => (400, Report(key, now - 3600).Body),
                    2 => (409, (previous ?? report).Body),
                    3 => (400, "{\"wallet\": \"0x\", "),
                    4 => (413, new string('x', 70_000)),
                    _ => (409, report.Body),
                };
                Assert.Equal(status, await Post(report.Route, body));
                if (i % 2 == 0)
                {
                    Assert.Equal(409, await Post(report.Route, report.Body));
                }
                previous = report;
            }

            async Task<int> Post(string route, string body)
            {
                using var response = await client.PostAsync(oracle.Url + route, new StringContent(body, Encoding.UTF8, "application/json"), token);
                return (int)response.StatusCode;
            }
        });
        Assert.True(oracle.RequestCount >= 10_000, $"{oracle.RequestCount} requests");
        var accepted = oracle.Reports(accepted: true);
        Assert.Equal(agents * perAgent, accepted.Count);
        Assert.Equal(accepted.Count, accepted.Select(r => (r.Agent!.ToLowerInvariant(), r.Timestamp)).Distinct().Count());
        Assert.Equal(oracle.RequestCount - accepted.Count, oracle.Reports(accepted: false).Count);
        Assert.True(oracle.IsRunning);
        _ = expected;
        _ = bad;
        foreach (var key in keys)
        {
            key.Dispose();
        }
    }

    [Fact]
    public async Task Reporter_through_50_percent_failures_delivers_every_report_exactly_once()
    {
        using var oracle = new MockOracleServer(new MockOracleOptions { FreshnessWindow = TimeSpan.FromMinutes(10) });
        var spoolDir = Directory.CreateTempSubdirectory("e2e-spool-").FullName;
        try
        {
            using var client = new OracleClient(oracle.Url, TimeSpan.FromMilliseconds(300));
            var collector = new MetricsCollector();
            var reporter = new OracleReporter(_key, collector, client, new ReportSpool(spoolDir));
            var random = new Random(11);
            var attempts = 0;
            for (var n = 0; n < 40; n++)
            {
                collector.RecordInference(10, 5.0);
                reporter.CreateReport();
                // Every flush attempt meets a fault half of the time: a 503, a dropped connection, or an answer
                // that comes after the client gave up (the report is accepted; the retry is then a replay).
                while (Directory.EnumerateFiles(spoolDir, "*.json").Any())
                {
                    attempts++;
                    switch (random.Next(6))
                    {
                        case 0: oracle.FailNext(1, 503); break;
                        case 1: oracle.DropNext(1); break;
                        case 2: oracle.DelayNext(1, TimeSpan.FromMilliseconds(600)); break;
                    }
                    await reporter.FlushAsync(CancellationToken.None);
                    oracle.ClearFaults();
                }
            }
            var agent = _key.Address.ToString();
            var accepted = oracle.Reports(agent, accepted: true);
            Assert.True(accepted.Count == 40, string.Join("\n", oracle.Reports(agent).Select(r => $"{r.Timestamp} {r.StatusCode} {r.Reason}")) + $"\ndelivered {reporter.Delivered} rejected {reporter.Rejected}");
            Assert.Equal(40, accepted.Select(r => r.Timestamp).Distinct().Count());
            Assert.Equal(40, reporter.Delivered);
            Assert.Equal(0, reporter.Rejected);
            Assert.True(attempts > 50, $"only {attempts} flush attempts: faults were not exercised");
            Assert.Contains(oracle.Reports(agent, accepted: false), r => r.StatusCode == 409);
        }
        finally
        {
            Directory.Delete(spoolDir, recursive: true);
        }
    }

    [Fact]
    public async Task Spooled_reports_survive_an_oracle_outage_and_a_restart()
    {
        var spoolDir = Directory.CreateTempSubdirectory("e2e-spool-").FullName;
        try
        {
            var collector = new MetricsCollector();
            int port;
            using (var down = new MockOracleServer())
            {
                port = down.Port;
            }
            // Oracle down: reports are made and kept.
            using (var client = new OracleClient($"http://127.0.0.1:{port}", TimeSpan.FromMilliseconds(500)))
            {
                var reporter = new OracleReporter(_key, collector, client, new ReportSpool(spoolDir));
                for (var i = 0; i < 3; i++)
                {
                    collector.RecordInference(1, 1.0);
                    reporter.CreateReport();
                    await reporter.FlushAsync(CancellationToken.None);
                }
                Assert.Equal(3, reporter.ConsecutiveFailures);
                Assert.Equal(3, Directory.EnumerateFiles(spoolDir, "*.json").Count());
            }
            // A new reporter process over the same spool delivers them when the Oracle is back.
            using var oracle = new MockOracleServer(new MockOracleOptions { Port = port });
            using var again = new OracleClient(oracle.Url);
            var next = new OracleReporter(_key, collector, again, new ReportSpool(spoolDir));
            await next.FlushAsync(CancellationToken.None);
            Assert.Equal(3, oracle.Reports(accepted: true).Count);
            Assert.Empty(Directory.EnumerateFiles(spoolDir, "*.json"));
        }
        finally
        {
            Directory.Delete(spoolDir, recursive: true);
        }
    }

    [Fact]
    public async Task Send_with_retries_rides_out_transient_failures_and_stops_on_rejection()
    {
        using var oracle = new MockOracleServer();
        using var client = new OracleClient(oracle.Url);
        oracle.FailNext(2, 503);
        var result = await client.SendWithRetriesAsync(Report(_key, DateTimeOffset.UtcNow.ToUnixTimeSeconds()), 3, TimeSpan.FromMilliseconds(10), CancellationToken.None);
        Assert.Equal((DeliveryOutcome.Delivered, 3), (result.Outcome, result.Attempts));
        var stale = await client.SendWithRetriesAsync(Report(_key, 1770000000), 3, TimeSpan.FromMilliseconds(10), CancellationToken.None);
        Assert.Equal((DeliveryOutcome.Rejected, 1), (stale.Outcome, stale.Attempts));
        var ex = Assert.Throws<E2EException>(() => OracleClient.EnsureDelivered(stale, oracle.Url));
        Assert.Same(ErrorCatalog.OracleRejected, ex.Error);
    }
}
