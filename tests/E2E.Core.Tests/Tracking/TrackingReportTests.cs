using System.Text.Json;
using System.Xml.Linq;
using E2E.Core.Tracking;
using Xunit;

namespace E2E.Core.Tests.Tracking;

public sealed class TrackingReportTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("report-test-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static WorkflowRunResult Result(TrackingBackend backend, int exitCode, string runId) => new()
    {
        Workflow = "simple_pytorch",
        Backend = backend,
        ExitCode = exitCode,
        WallTime = TimeSpan.FromSeconds(exitCode == 0 ? 2 : 1),
        CpuTime = TimeSpan.FromSeconds(1.5),
        PeakMemoryBytes = 64L << 20,
        Output = string.Empty,
        ErrorOutput = exitCode == 0 ? string.Empty : "Traceback\nRuntimeError: out of memory",
        Results = exitCode == 0 ? new Dictionary<string, object?> { ["run_id"] = runId, ["epochs_completed"] = 10L } : null,
        CommandLine = new[] { "python3" },
        StartedAt = DateTimeOffset.UnixEpoch,
    };

    private static TrackedRun Run(TrackingBackendKind kind, string id, double last) => new()
    {
        Backend = kind,
        RunId = id,
        Source = "memory",
        Metrics = new Dictionary<string, MetricSeries>
        {
            ["train/epoch_loss"] = new("train/epoch_loss", new[] { new MetricPoint(0, 2, 0), new MetricPoint(1, double.NaN, 0), new MetricPoint(2, last, 0) }),
            ["train/accuracy_r2"] = new("train/accuracy_r2", new[] { new MetricPoint(0, 0.1, 0), new MetricPoint(1, 0.6, 0) }),
        },
    };

    [Fact]
    public void Writes_json_markdown_and_one_svg_per_metric_from_what_the_stores_hold()
    {
        var mlflow = TrackingBackend.CreateLocal(TrackingBackendKind.MLflow, Directory.CreateDirectory(Path.Combine(_root, "m")).FullName, "p");
        var wandb = TrackingBackend.CreateLocal(TrackingBackendKind.WandB, Directory.CreateDirectory(Path.Combine(_root, "w")).FullName, "p");
        var clearml = TrackingBackend.CreateLocal(TrackingBackendKind.ClearML, Directory.CreateDirectory(Path.Combine(_root, "c")).FullName, "p");
        var reference = Run(TrackingBackendKind.MLflow, "r1", 1.0);
        var other = Run(TrackingBackendKind.WandB, "r2", 1.25);
        var entries = new[]
        {
            new TrackingReportEntry(Result(mlflow, 0, "r1"), reference),
            new TrackingReportEntry(Result(wandb, 0, "r2"), other),
            new TrackingReportEntry(Result(clearml, 1, "r3"), null),
        };
        var differences = TrackedRunComparer.Compare(reference, other);
        var environment = new Dictionary<string, object?> { ["python_version"] = "3.11", ["available_packages"] = new Dictionary<string, object?> { ["torch"] = "not installed" } };
        var files = TrackingReport.Write(entries, differences, environment, Path.Combine(_root, "out"), new DateTimeOffset(2026, 1, 15, 10, 30, 0, TimeSpan.Zero));

        Assert.Matches(@"e2e_report_\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{6}\.json$", files.JsonPath);
        using var json = JsonDocument.Parse(File.ReadAllText(files.JsonPath));
        var results = json.RootElement.GetProperty("results");
        Assert.Equal((3, 2, 1), (results.GetProperty("summary").GetProperty("total_tests").GetInt32(), results.GetProperty("summary").GetProperty("passed").GetInt32(), results.GetProperty("summary").GetProperty("failed").GetInt32()));
        var detailed = results.GetProperty("detailed_results").EnumerateArray().ToList();
        Assert.Equal(5, detailed[0].GetProperty("metrics_logged").GetInt32());
        Assert.Equal(0.6, detailed[0].GetProperty("final_accuracy").GetDouble());
        Assert.Equal("N/A", detailed[2].GetProperty("final_accuracy").GetString());
        Assert.Contains("out of memory", detailed[2].GetProperty("error").GetString());
        Assert.Equal(1.5, detailed[0].GetProperty("cpu_time").GetDouble());
        Assert.Equal(64, detailed[0].GetProperty("peak_memory_mb").GetDouble());
        Assert.Equal(3, json.RootElement.GetProperty("test_info").GetProperty("total_combinations").GetInt32());
        var difference = Assert.Single(results.GetProperty("cross_backend").GetProperty("differences").EnumerateArray());
        Assert.Equal(("wandb", "train/epoch_loss", 2, 1.25, 1.0), (difference.GetProperty("backend").GetString(), difference.GetProperty("metric").GetString(), difference.GetProperty("step").GetInt32(), difference.GetProperty("value").GetDouble(), difference.GetProperty("reference_value").GetDouble()));
        Assert.Equal(2, results.GetProperty("error_analysis").GetArrayLength() + 1);

        var markdown = File.ReadAllText(files.MarkdownPath);
        Assert.Contains("# Tracelet E2E Test Report", markdown);
        Assert.Contains("| Pass Rate | 66.7% |", markdown);
        Assert.Contains("| wandb | train/epoch_loss | 2 | 1.25 | mlflow | 1 |", markdown);
        Assert.Contains("  - torch: not installed", markdown);
        Assert.Equal(2, files.PlotPaths.Count);
        foreach (var plot in files.PlotPaths)
        {
            Assert.Contains($"]({Path.GetRelativePath(Path.Combine(_root, "out"), plot)})", markdown);
            var svg = XDocument.Load(plot);
            XNamespace ns = "http://www.w3.org/2000/svg";
            Assert.Equal(new[] { "mlflow", "wandb" }, svg.Descendants(ns + "text").Select(t => t.Value).Where(v => v is "mlflow" or "wandb"));
        }
        // The NaN at step 1 breaks each loss curve into two pieces: two polylines would need two finite points each, so each side draws a dot.
        var loss = XDocument.Load(files.PlotPaths.Single(p => p.EndsWith("train_epoch_loss.svg", StringComparison.Ordinal)));
        Assert.Equal(4, loss.Descendants().Count(e => e.Name.LocalName == "circle"));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_root, "out"), "*.tmp", SearchOption.AllDirectories));
    }
}
