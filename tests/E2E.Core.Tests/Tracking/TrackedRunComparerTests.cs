using E2E.Core.Tracking;
using Xunit;

namespace E2E.Core.Tests.Tracking;

public sealed class TrackedRunComparerTests
{
    private static TrackedRun Run(TrackingBackendKind backend, params (string Metric, long Step, double Value)[] points) => new()
    {
        Backend = backend,
        RunId = backend.ToString(),
        Source = "memory",
        Metrics = points.GroupBy(p => p.Metric).ToDictionary(g => g.Key, g => new MetricSeries(g.Key, g.Select(p => new MetricPoint(p.Step, p.Value, 0)).ToList())),
    };

    [Fact]
    public void Equal_runs_have_no_difference_and_nan_equals_nan()
    {
        var a = Run(TrackingBackendKind.MLflow, ("loss", 0, 1.5), ("loss", 1, double.NaN), ("loss", 2, double.PositiveInfinity));
        var b = Run(TrackingBackendKind.WandB, ("loss", 0, 1.5), ("loss", 1, double.NaN), ("loss", 2, double.PositiveInfinity));
        Assert.Empty(TrackedRunComparer.Compare(a, b));
    }

    [Fact]
    public void Every_kind_of_disagreement_names_backend_metric_step_and_values()
    {
        var reference = Run(TrackingBackendKind.MLflow, ("loss", 0, 1.0), ("loss", 1, 0.5), ("loss", 2, 0.25), ("acc", 0, 0.1), ("lr", 0, 0.001), ("inf", 0, double.PositiveInfinity), ("nan", 0, double.NaN));
        var other = Run(TrackingBackendKind.ClearML, ("loss", 0, 1.0), ("loss", 1, 0.5000001), ("loss", 3, 0.1), ("acc", 0, 0.1), ("acc", 0, 0.2), ("extra", 0, 1), ("inf", 0, double.NegativeInfinity), ("nan", 0, 1.0));
        var differences = TrackedRunComparer.Compare(reference, other);
        Assert.Contains(differences, d => d is { Kind: TrackedRunDifferenceKind.ValueDiffers, Metric: "loss", Step: 1, ReferenceValue: 0.5, Value: 0.5000001, Backend: "clearml", ReferenceBackend: "mlflow" });
        Assert.Contains(differences, d => d is { Kind: TrackedRunDifferenceKind.MissingStep, Metric: "loss", Step: 2, ReferenceValue: 0.25 });
        Assert.Contains(differences, d => d is { Kind: TrackedRunDifferenceKind.ExtraStep, Metric: "loss", Step: 3, Value: 0.1 });
        Assert.Contains(differences, d => d is { Kind: TrackedRunDifferenceKind.ValueCountDiffers, Metric: "acc", Step: 0 });
        Assert.Contains(differences, d => d is { Kind: TrackedRunDifferenceKind.MissingMetric, Metric: "lr" });
        Assert.Contains(differences, d => d is { Kind: TrackedRunDifferenceKind.ExtraMetric, Metric: "extra" });
        Assert.Contains(differences, d => d is { Kind: TrackedRunDifferenceKind.ValueDiffers, Metric: "inf" });
        Assert.Contains(differences, d => d is { Kind: TrackedRunDifferenceKind.ValueDiffers, Metric: "nan" });
        Assert.Equal(8, differences.Count);
        // Within tolerance the near value is equal; the rest stay.
        Assert.Equal(7, TrackedRunComparer.Compare(reference, other, absoluteTolerance: 1e-6).Count);
        Assert.Equal(3, TrackedRunComparer.Compare(reference, other, includeMetric: m => m == "loss").Count);
    }
}
