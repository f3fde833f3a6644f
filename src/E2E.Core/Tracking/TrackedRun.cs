namespace E2E.Core.Tracking;

/// <summary>The experiment trackers whose stores the module reads.</summary>
public enum TrackingBackendKind
{
    MLflow,
    WandB,
    ClearML,
}

/// <summary>One logged value of a metric: its step, value (NaN and infinities kept) and the time it was logged (Unix ms; 0 when the store has none).</summary>
public readonly record struct MetricPoint(long Step, double Value, long TimestampMs);

/// <summary>A metric's history in the order the store holds it.</summary>
public sealed class MetricSeries
{
    public MetricSeries(string name, IReadOnlyList<MetricPoint> points)
    {
        Name = name;
        Points = points;
    }

    public string Name { get; }

    public IReadOnlyList<MetricPoint> Points { get; }

    public int Count => Points.Count;

    /// <summary>The value MLflow reports as latest: the point with the greatest (step, timestamp, value).</summary>
    public MetricPoint? Latest
    {
        get
        {
            MetricPoint? best = null;
            foreach (var point in Points)
            {
                if (best is not { } b || (point.Step, point.TimestampMs, point.Value).CompareTo((b.Step, b.TimestampMs, b.Value)) > 0)
                {
                    best = point;
                }
            }
            return best;
        }
    }

    public override string ToString() => $"{Name} ({Count} points)";
}

/// <summary>A run as read back from a tracking store: identity, parameters, tags, config, summary and metric histories.</summary>
public sealed class TrackedRun
{
    public required TrackingBackendKind Backend { get; init; }

    public required string RunId { get; init; }

    public string? Name { get; init; }

    /// <summary>MLflow experiment name, W&amp;B project, ClearML project.</summary>
    public string? Project { get; init; }

    /// <summary>The backend's own status word (FINISHED, failed, completed, running ...).</summary>
    public string? Status { get; init; }

    public DateTimeOffset? StartTime { get; init; }

    public DateTimeOffset? EndTime { get; init; }

    public int? ExitCode { get; init; }

    public IReadOnlyDictionary<string, string> Parameters { get; init; } = new Dictionary<string, string>();

    /// <summary>Key/value tags; tags that are plain labels (W&amp;B, ClearML) have an empty value.</summary>
    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();

    public IReadOnlyDictionary<string, object?> Config { get; init; } = new Dictionary<string, object?>();

    public IReadOnlyDictionary<string, object?> Summary { get; init; } = new Dictionary<string, object?>();

    public IReadOnlyDictionary<string, MetricSeries> Metrics { get; init; } = new Dictionary<string, MetricSeries>();

    /// <summary>The file or folder the run was read from, or the server URI.</summary>
    public required string Source { get; init; }

    /// <summary>Damage the reader stepped over (a bad checksum, a cut tail); empty for an intact store.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = Array.Empty<string>();

    public int MetricPointCount => Metrics.Values.Sum(m => m.Count);

    public override string ToString() => $"{Backend} run {RunId}{(Name is null ? string.Empty : $" '{Name}'")}: {Metrics.Count} metrics, {MetricPointCount} points";
}

/// <summary>One point of a metric series with the run it belongs to, as Get-TrackedMetric writes it.</summary>
public sealed record TrackedMetricPoint(string Backend, string RunId, string Metric, long Step, double Value, DateTimeOffset? Timestamp)
{
    public static IEnumerable<TrackedMetricPoint> From(TrackedRun run, MetricSeries series) =>
        series.Points.Select(p => new TrackedMetricPoint(TrackingBackend.NameOf(run.Backend), run.RunId, series.Name, p.Step, p.Value,
            p.TimestampMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(p.TimestampMs)));
}
