using E2E.Core.Ethereum;

namespace E2E.Core.Oracle;

public sealed record OracleReporterOptions
{
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Consecutive failed deliveries after which the reporter calls itself unhealthy (it keeps spooling and retrying).</summary>
    public int MaxFailures { get; init; } = 10;

    public OracleReportFormat Format { get; init; } = OracleReportFormat.Current;

    /// <summary>Proofs carried by one report (about 400 bytes each); the rest wait for the next, so a busy node's report stays small.</summary>
    public int MaxProofsPerReport { get; init; } = 100;

    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// A node's background reporter: every interval it signs a report of the collector's snapshot and drained
/// proofs, spools it, and delivers everything pending oldest first. Timestamps strictly increase (the
/// Oracle rejects anything else), so a resend of a report whose answer was lost is recognised as a replay.
/// </summary>
public sealed class OracleReporter
{
    private readonly EthKey _key;
    private readonly MetricsCollector _metrics;
    private readonly OracleClient _client;
    private readonly ReportSpool _spool;
    private readonly OracleReporterOptions _options;
    private long _lastTimestamp;

    public OracleReporter(EthKey key, MetricsCollector metrics, OracleClient client, ReportSpool spool, OracleReporterOptions? options = null)
    {
        _key = key;
        _metrics = metrics;
        _client = client;
        _spool = spool;
        _options = options ?? new OracleReporterOptions();
    }

    public long Delivered { get; private set; }

    public long Rejected { get; private set; }

    public int ConsecutiveFailures { get; private set; }

    public bool Healthy => ConsecutiveFailures < _options.MaxFailures;

    /// <summary>Signs and spools one report now (the timestamp is now, or one past the last if the clock has not moved on).</summary>
    public OracleReport CreateReport()
    {
        var now = _options.Time.GetUtcNow();
        var timestamp = Math.Max(now.ToUnixTimeSeconds(), _lastTimestamp + 1);
        _lastTimestamp = timestamp;
        var report = OracleReports.Build(_key, _metrics.Snapshot(), _metrics.DrainProofs(_options.MaxProofsPerReport), timestamp, _options.Format, now);
        _spool.Enqueue(report);
        return report;
    }

    /// <summary>Delivers pending reports oldest first; stops at the first transient failure so order is kept.</summary>
    public async Task FlushAsync(CancellationToken cancellation)
    {
        foreach (var (path, report) in _spool.Pending())
        {
            var result = await _client.SendAsync(report, cancellation).ConfigureAwait(false);
            switch (result.Outcome)
            {
                case DeliveryOutcome.Delivered or DeliveryOutcome.AlreadyDelivered:
                    _spool.Complete(path);
                    Delivered++;
                    ConsecutiveFailures = 0;
                    break;
                case DeliveryOutcome.Rejected:
                    _spool.Reject(path);
                    Rejected++;
                    break;
                default:
                    ConsecutiveFailures++;
                    return;
            }
        }
    }

    /// <summary>Runs until cancelled: wait an interval, report, deliver (the first report comes after one interval, as upstream).</summary>
    public async Task RunAsync(CancellationToken cancellation)
    {
        while (!cancellation.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.Interval, _options.Time, cancellation).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            CreateReport();
            await FlushAsync(cancellation).ConfigureAwait(false);
        }
    }
}
