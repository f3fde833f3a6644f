using System.Globalization;

namespace E2E.Core.Tracking;

public enum TrackedRunDifferenceKind
{
    /// <summary>The reference run has the metric; the other run does not.</summary>
    MissingMetric,

    /// <summary>The other run has a metric the reference does not.</summary>
    ExtraMetric,

    /// <summary>The reference logged the metric at a step the other run did not.</summary>
    MissingStep,

    /// <summary>The other run logged the metric at a step the reference did not.</summary>
    ExtraStep,

    /// <summary>Both logged the step, with a different number of values there.</summary>
    ValueCountDiffers,

    /// <summary>Both logged the step; the values differ beyond the tolerance.</summary>
    ValueDiffers,
}

/// <summary>One way two runs' metric histories disagree: which backend, metric, step, and both values.</summary>
public sealed record TrackedRunDifference(
    TrackedRunDifferenceKind Kind,
    string ReferenceBackend,
    string ReferenceRunId,
    string Backend,
    string RunId,
    string Metric,
    long? Step,
    double? ReferenceValue,
    double? Value)
{
    public override string ToString()
    {
        static string V(double? v) => v is { } d ? d.ToString("R", CultureInfo.InvariantCulture) : "-";
        var at = Step is { } s ? $" step {s}" : string.Empty;
        return Kind switch
        {
            TrackedRunDifferenceKind.ValueDiffers => $"{Backend} {Metric}{at}: {V(Value)}, {ReferenceBackend} has {V(ReferenceValue)}",
            TrackedRunDifferenceKind.ValueCountDiffers => $"{Backend} {Metric}{at}: {V(Value)} values, {ReferenceBackend} has {V(ReferenceValue)}",
            TrackedRunDifferenceKind.MissingMetric => $"{Backend} has no metric {Metric} ({ReferenceBackend} has it)",
            TrackedRunDifferenceKind.ExtraMetric => $"{Backend} has metric {Metric}, {ReferenceBackend} does not",
            TrackedRunDifferenceKind.MissingStep => $"{Backend} {Metric}{at}: missing, {ReferenceBackend} has {V(ReferenceValue)}",
            _ => $"{Backend} {Metric}{at}: {V(Value)}, {ReferenceBackend} has no such step",
        };
    }
}

/// <summary>
/// Compares runs of the same workflow on different backends by value: the same metric names, the
/// same steps, and at each step the same values within an absolute plus relative tolerance. NaN
/// equals NaN and an infinity equals the same infinity; anything else against them differs.
/// </summary>
public static class TrackedRunComparer
{
    public static IReadOnlyList<TrackedRunDifference> Compare(TrackedRun reference, TrackedRun other, double absoluteTolerance = 0, double relativeTolerance = 1e-9, Func<string, bool>? includeMetric = null)
    {
        includeMetric ??= _ => true;
        var differences = new List<TrackedRunDifference>();
        var referenceName = TrackingBackend.NameOf(reference.Backend);
        var otherName = TrackingBackend.NameOf(other.Backend);
        TrackedRunDifference Difference(TrackedRunDifferenceKind kind, string metric, long? step, double? referenceValue, double? value) =>
            new(kind, referenceName, reference.RunId, otherName, other.RunId, metric, step, referenceValue, value);

        foreach (var name in reference.Metrics.Keys.Union(other.Metrics.Keys).Where(includeMetric).Order(StringComparer.Ordinal))
        {
            if (!other.Metrics.TryGetValue(name, out var otherSeries))
            {
                differences.Add(Difference(TrackedRunDifferenceKind.MissingMetric, name, null, null, null));
                continue;
            }
            if (!reference.Metrics.TryGetValue(name, out var referenceSeries))
            {
                differences.Add(Difference(TrackedRunDifferenceKind.ExtraMetric, name, null, null, null));
                continue;
            }
            var referenceSteps = ByStep(referenceSeries);
            var otherSteps = ByStep(otherSeries);
            foreach (var step in referenceSteps.Keys.Union(otherSteps.Keys).Order())
            {
                var hasReference = referenceSteps.TryGetValue(step, out var referenceValues);
                var hasOther = otherSteps.TryGetValue(step, out var otherValues);
                if (!hasOther)
                {
                    differences.Add(Difference(TrackedRunDifferenceKind.MissingStep, name, step, referenceValues![0], null));
                }
                else if (!hasReference)
                {
                    differences.Add(Difference(TrackedRunDifferenceKind.ExtraStep, name, step, null, otherValues![0]));
                }
                else if (referenceValues!.Count != otherValues!.Count)
                {
                    differences.Add(Difference(TrackedRunDifferenceKind.ValueCountDiffers, name, step, referenceValues.Count, otherValues.Count));
                }
                else
                {
                    for (var i = 0; i < referenceValues.Count; i++)
                    {
                        if (!Same(referenceValues[i], otherValues[i], absoluteTolerance, relativeTolerance))
                        {
                            differences.Add(Difference(TrackedRunDifferenceKind.ValueDiffers, name, step, referenceValues[i], otherValues[i]));
                        }
                    }
                }
            }
        }
        return differences;
    }

    public static bool Same(double a, double b, double absoluteTolerance, double relativeTolerance)
    {
        if (double.IsNaN(a) || double.IsNaN(b))
        {
            return double.IsNaN(a) && double.IsNaN(b);
        }
        if (double.IsInfinity(a) || double.IsInfinity(b))
        {
            return a == b;
        }
        return Math.Abs(a - b) <= absoluteTolerance + relativeTolerance * Math.Max(Math.Abs(a), Math.Abs(b));
    }

    private static SortedDictionary<long, List<double>> ByStep(MetricSeries series)
    {
        var steps = new SortedDictionary<long, List<double>>();
        foreach (var point in series.Points)
        {
            if (!steps.TryGetValue(point.Step, out var values))
            {
                steps[point.Step] = values = new List<double>();
            }
            values.Add(point.Value);
        }
        return steps;
    }
}
