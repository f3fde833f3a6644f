using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Oracle;
using E2E.Core.StandIns.Oracle;

namespace E2E.Cmdlets.Petals;

/// <summary>Starts an in-process mock Oracle on 127.0.0.1 that verifies signed metrics reports.</summary>
/// <remarks>
/// <para>Serves GET /health, POST /api/v1/metrics/report (the current flat format) and POST /api/v1/report (the legacy {payload, signature} format). Like the real Oracle it recovers each report's EIP-191 signer and compares it with the agent (401 on a mismatch), requires the timestamp to be within -FreshnessWindowSec of now (400), requires timestamps to increase per agent (409 for a replay), limits the body to -MaxBodyBytes (413) and rejects malformed JSON (400). Every request is kept for Get-MockOracleReport.</para>
/// <para>The server is registered in the current scope and stops when the scope is removed, or with Stop-MockOracle. Set-MockOracleFault injects failures, delays and dropped connections.</para>
/// </remarks>
/// <example>
/// <code>$oracle = Start-MockOracle
/// Send-OracleReport -OracleUrl $oracle.Url -TokensProcessed 600 -RequestCount 3
/// Get-MockOracleReport -Oracle $oracle -Accepted</code>
/// <para>Starts an Oracle on a free port, sends it a report signed with $env:PLUMISE_PRIVATE_KEY and lists what it accepted.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Start, "MockOracle", SupportsShouldProcess = true)]
[OutputType(typeof(MockOracleServer))]
public sealed class StartMockOracleCommand : E2ECmdlet
{
    /// <summary>The port on 127.0.0.1; a free one when 0 (the default).</summary>
    [Parameter]
    [ValidateRange(0, 65535)]
    public int Port { get; set; }

    /// <summary>How many seconds a report's timestamp may be from now; 60 by default, as the real Oracle.</summary>
    [Parameter]
    [ValidateRange(1, 86400)]
    public double FreshnessWindowSec { get; set; } = 60;

    /// <summary>The largest request body accepted, in bytes; 65536 by default.</summary>
    [Parameter]
    [ValidateRange(256, 64 * 1024 * 1024)]
    public int MaxBodyBytes { get; set; } = 64 * 1024;

    protected override void Process()
    {
        var scope = Scopes.RequireCurrent("a mock Oracle");
        if (!ShouldProcess(Port == 0 ? "127.0.0.1 (free port)" : $"127.0.0.1:{Port}", "Start mock Oracle"))
        {
            return;
        }
        var server = new MockOracleServer(new MockOracleOptions { Port = Port, FreshnessWindow = TimeSpan.FromSeconds(FreshnessWindowSec), MaxBodyBytes = MaxBodyBytes });
        scope.TrackDisposable(server, "Server", server.ToString());
        WriteVerbose($"Mock Oracle listening at {server.Url}");
        WriteObject(server);
    }
}

/// <summary>Stops a mock Oracle started by Start-MockOracle.</summary>
/// <remarks>
/// <para>Stops listening and frees the port. The reports it received stay readable with Get-MockOracleReport. Stopping a stopped Oracle does nothing; the scope that started it would also stop it when removed.</para>
/// </remarks>
/// <example>
/// <code>$oracle | Stop-MockOracle</code>
/// <para>Stops the Oracle, for example to test a reporter that must spool reports while the Oracle is down.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Stop, "MockOracle", SupportsShouldProcess = true)]
[OutputType(typeof(void))]
public sealed class StopMockOracleCommand : E2ECmdlet
{
    /// <summary>The Oracle to stop.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public MockOracleServer? Oracle { get; set; }

    protected override void Process()
    {
        if (ShouldProcess(Oracle!.Url, "Stop mock Oracle"))
        {
            Oracle.Dispose();
        }
    }
}

/// <summary>Lists the reports a mock Oracle received, accepted and rejected.</summary>
/// <remarks>
/// <para>Each record has the route, format, agent, timestamp, processed tokens, the HTTP status the Oracle answered (200 accepted; 400, 401, 409, 413 rejected) and the reason. Filter with -Agent, and with -Accepted or -Rejected.</para>
/// </remarks>
/// <example>
/// <code>Get-MockOracleReport -Oracle $oracle -Agent (Get-E2EAccount).Address -Rejected | Format-Table StatusCode, Reason</code>
/// <para>Shows why a node's reports were refused.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "MockOracleReport", DefaultParameterSetName = "All")]
[OutputType(typeof(MockOracleReport))]
public sealed class GetMockOracleReportCommand : E2ECmdlet
{
    /// <summary>The Oracle whose reports to list.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public MockOracleServer? Oracle { get; set; }

    /// <summary>Only reports from this agent address (case does not matter).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Agent { get; set; }

    /// <summary>Only accepted reports.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Accepted")]
    public SwitchParameter Accepted { get; set; }

    /// <summary>Only rejected reports.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Rejected")]
    public SwitchParameter Rejected { get; set; }

    protected override void Process()
    {
        bool? accepted = Accepted ? true : Rejected ? false : null;
        WriteObject(Oracle!.Reports(Agent, accepted), enumerateCollection: true);
    }
}

/// <summary>Makes a mock Oracle fail, delay or drop its next requests.</summary>
/// <remarks>
/// <para>-FailNext answers the next N requests with -StatusCode (503 by default) without processing them. -DropNext breaks the connection of the next N requests mid-response. -DelayNext holds the next N requests for -DelaySec before processing them, so a client with a shorter timeout gives up although the report is accepted, and its retry is then a replay. -Clear removes pending faults.</para>
/// </remarks>
/// <example>
/// <code>Set-MockOracleFault -Oracle $oracle -FailNext 2 -StatusCode 503
/// Send-OracleReport -OracleUrl $oracle.Url -TokensProcessed 10 -Retries 3</code>
/// <para>The report is delivered on the third attempt.</para>
/// </example>
[Cmdlet(VerbsCommon.Set, "MockOracleFault", SupportsShouldProcess = true)]
[OutputType(typeof(void))]
public sealed class SetMockOracleFaultCommand : E2ECmdlet
{
    /// <summary>The Oracle to disturb.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public MockOracleServer? Oracle { get; set; }

    /// <summary>How many of the next requests fail with -StatusCode.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int FailNext { get; set; }

    /// <summary>The status the failed requests get; 503 by default.</summary>
    [Parameter]
    [ValidateRange(400, 599)]
    public int StatusCode { get; set; } = 503;

    /// <summary>How many of the next requests have their connection broken.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int DropNext { get; set; }

    /// <summary>How many of the next requests are held for -DelaySec before being processed.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int DelayNext { get; set; }

    /// <summary>How long delayed requests are held, in seconds.</summary>
    [Parameter]
    [ValidateRange(0.0, 3600.0)]
    public double DelaySec { get; set; } = 1;

    /// <summary>Removes every pending fault.</summary>
    [Parameter]
    public SwitchParameter Clear { get; set; }

    protected override void Process()
    {
        if (!ShouldProcess(Oracle!.Url, "Inject faults"))
        {
            return;
        }
        if (Clear)
        {
            Oracle.ClearFaults();
        }
        if (FailNext > 0)
        {
            Oracle.FailNext(FailNext, StatusCode);
        }
        if (DropNext > 0)
        {
            Oracle.DropNext(DropNext);
        }
        if (DelayNext > 0)
        {
            Oracle.DelayNext(DelayNext, TimeSpan.FromSeconds(DelaySec));
        }
    }
}

/// <summary>The counters a report carries, given directly or as a collector's snapshot.</summary>
public abstract class ReportCmdletBase : KeyCmdletBase
{
    /// <summary>A metrics snapshot (from a collector's Snapshot() method) instead of the separate counters.</summary>
    [Parameter(ValueFromPipeline = true)]
    public InferenceMetrics? Metrics { get; set; }

    /// <summary>Tokens processed since the node started.</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long TokensProcessed { get; set; }

    /// <summary>Inference requests served.</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long RequestCount { get; set; }

    /// <summary>Total latency of those requests, in milliseconds; the report carries the mean.</summary>
    [Parameter]
    [ValidateRange(0.0, double.MaxValue)]
    public double TotalLatencyMs { get; set; }

    /// <summary>Seconds since the node started.</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long UptimeSec { get; set; }

    /// <summary>The report's Unix timestamp; now by default.</summary>
    [Parameter]
    public long? Timestamp { get; set; }

    /// <summary>Current (flat body, /api/v1/metrics/report) or Legacy ({payload, signature}, /api/v1/report).</summary>
    [Parameter]
    public OracleReportFormat Format { get; set; } = OracleReportFormat.Current;

    protected OracleReport BuildReport()
    {
        using var key = LoadKey();
        var now = DateTimeOffset.UtcNow;
        var metrics = Metrics ?? new InferenceMetrics(TokensProcessed, RequestCount, TotalLatencyMs, now - TimeSpan.FromSeconds(UptimeSec));
        return OracleReports.Build(key, metrics, Array.Empty<ProofData>(), Timestamp ?? now.ToUnixTimeSeconds(), Format, now);
    }
}

/// <summary>Signs a metrics report without sending it.</summary>
/// <remarks>
/// <para>Builds the report Send-OracleReport would send and returns it: its route, JSON body, the exact message that was signed and the signature. The signed JSON is byte-for-byte what Python's json.dumps(sort_keys=True, separators=(",", ":")) writes, floats included (100.0, not 100). Pipe it to Send-OracleReport, or post the body yourself to test how an Oracle reacts to tampering.</para>
/// </remarks>
/// <example>
/// <code>$report = New-OracleReport -TokensProcessed 600 -RequestCount 3 -TotalLatencyMs 300 -UptimeSec 42 -Timestamp 1770000000
/// $report.SignedMessage; $report.Signature</code>
/// <para>The upstream test vector: the signed message and its 65-byte signature.</para>
/// </example>
/// <example>
/// <code>$collector.Snapshot() | New-OracleReport -Format Legacy | Send-OracleReport -OracleUrl $oracle.Url</code>
/// <para>Reports a collector's counters in the legacy format.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "OracleReport", SupportsShouldProcess = true, DefaultParameterSetName = "KeyVariable")]
[OutputType(typeof(OracleReport))]
public sealed class NewOracleReportCommand : ReportCmdletBase
{
    protected override async Task ProcessAsync()
    {
        var report = BuildReport();
        if (await ShouldProcessAsync(report.Agent.ToString(), "Sign a metrics report").ConfigureAwait(false))
        {
            Output(report);
        }
    }
}

/// <summary>Creates a thread-safe metrics collector like a node's.</summary>
/// <remarks>
/// <para>The collector counts tokens, requests and latency (RecordInference(tokens, latencyMs)), buffers up to 1000 proofs (the oldest dropped first), and gives snapshots (Snapshot()) whose AvgLatencyMs is rounded to 2 decimals. It is safe to record from many threads or runspaces at once. Snapshots pipe into New-OracleReport and Send-OracleReport.</para>
/// </remarks>
/// <example>
/// <code>$collector = New-E2EMetricsCollector
/// 1..5 | ForEach-Object -Parallel { $c = $using:collector; 1..100 | ForEach-Object { $c.RecordInference(10, 50.0) } }
/// $collector.Snapshot().TotalRequests</code>
/// <para>Five runspaces record 100 inferences each; the snapshot shows 500.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "E2EMetricsCollector", SupportsShouldProcess = true)]
[OutputType(typeof(MetricsCollector))]
public sealed class NewE2EMetricsCollectorCommand : E2ECmdlet
{
    protected override void Process()
    {
        if (ShouldProcess("metrics collector", "Create"))
        {
            WriteObject(new MetricsCollector());
        }
    }
}

/// <summary>Signs a metrics report and sends it to an Oracle, retrying on transient failures.</summary>
/// <remarks>
/// <para>Builds a report from the given counters, signs it with EIP-191 personal_sign and posts it. -Format Current (the default) posts the flat body to /api/v1/metrics/report and signs {"agent","processed_tokens","timestamp"}; -Format Legacy posts {payload, signature} to /api/v1/report and signs the whole payload, as the upstream e2e suite expects. The signed JSON is byte-for-byte what Python's json.dumps(sort_keys=True, separators=(",", ":")) writes.</para>
/// <para>5xx, 429, timeouts and broken connections are retried -Retries times with doubling delays. A 409 (the Oracle already has this timestamp) means an earlier attempt got through and counts as delivered. A report refused for good (400, 401, 413) is the terminating error OracleRejected; one that never got through is OracleUnavailable.</para>
/// </remarks>
/// <example>
/// <code>$oracle = Start-MockOracle
/// Send-OracleReport -OracleUrl $oracle.Url -PrivateKeyPath ./node-a.key -TokensProcessed 600 -RequestCount 3 -TotalLatencyMs 300</code>
/// <para>Sends one current-format report and returns the signed report with its delivery result.</para>
/// </example>
/// <example>
/// <code>Send-OracleReport -OracleUrl http://127.0.0.1:3100 -Format Legacy -TokensProcessed 600 -Timestamp 1770000000 | Select-Object -ExpandProperty Report</code>
/// <para>A legacy-format report for the upstream docker mock Oracle, with a fixed timestamp.</para>
/// </example>
[Cmdlet(VerbsCommunications.Send, "OracleReport", SupportsShouldProcess = true, DefaultParameterSetName = "KeyVariable")]
[OutputType(typeof(OracleDelivery))]
public sealed class SendOracleReportCommand : ReportCmdletBase
{
    /// <summary>The Oracle's base URL, such as http://127.0.0.1:3100 (the Url of Start-MockOracle's result).</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [Alias("Url")]
    [ValidateNotNullOrEmpty]
    public string? OracleUrl { get; set; }

    /// <summary>A report made by New-OracleReport, sent as it is (no key needed).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Report", ValueFromPipeline = true)]
    [ValidateNotNull]
    public OracleReport? Report { get; set; }

    /// <summary>Extra attempts after a transient failure; 3 by default.</summary>
    [Parameter]
    [ValidateRange(0, 100)]
    public int Retries { get; set; } = 3;

    /// <summary>Seconds to wait for each attempt's answer; 30 by default.</summary>
    [Parameter]
    [ValidateRange(0.1, 3600.0)]
    public double TimeoutSec { get; set; } = 30;

    protected override async Task ProcessAsync()
    {
        var report = Report ?? BuildReport();
        if (!await ShouldProcessAsync(OracleUrl! + report.Route, $"Send a metrics report signed by {report.Agent}").ConfigureAwait(false))
        {
            return;
        }
        using var client = new OracleClient(OracleUrl!, TimeSpan.FromSeconds(TimeoutSec));
        var result = await WithProgressAsync(Activities.Chain, $"Report to {OracleUrl}", () => $"sending (up to {Retries} retries)",
            () => client.SendWithRetriesAsync(report, Retries, TimeSpan.FromMilliseconds(500), CancelToken)).ConfigureAwait(false);
        Verbose($"{result.Outcome} after {result.Attempts} attempt(s): {result.Detail}");
        OracleClient.EnsureDelivered(result, client.BaseUrl);
        Output(new OracleDelivery(report, result, client.BaseUrl));
    }
}
