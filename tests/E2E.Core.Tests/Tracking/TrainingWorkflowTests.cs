using E2E.Core.Errors;
using E2E.Core.StandIns.Tracking;
using E2E.Core.StandIns;
using E2E.Core.Tracking;
using Xunit;

namespace E2E.Core.Tests.Tracking;

/// <summary>The built-in workflows and their logger (module/python/tracking) against the three stores, read back by the readers.</summary>
public sealed class TrainingWorkflowTests : IDisposable
{
    private static readonly string WorkflowScript = Path.Combine(Fixtures.Root, "..", "..", "module", "python", "tracking", "e2e_workflows.py");
    private readonly string _root = Directory.CreateTempSubdirectory("workflow-test-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private Task<WorkflowRunResult> Run(TrackingBackend backend, string workflow, params string[] arguments) =>
        TrainingWorkflowRunner.RunAsync(workflow, new[] { "python3", WorkflowScript, workflow }.Concat(arguments).ToArray(), backend, _root, null, TimeSpan.FromMinutes(2), null, CancellationToken.None);

    private TrackingBackend Backend(TrackingBackendKind kind) =>
        TrackingBackend.CreateLocal(kind, Directory.CreateDirectory(Path.Combine(_root, kind.ToString())).FullName, "e2e_test");

    [Theory]
    [InlineData("simple_pytorch", "train/accuracy_r2", 72)]
    [InlineData("lightning", "val/accuracy_r2", 63)]
    public async Task The_same_workflow_on_three_backends_compares_equal_by_value(string workflow, string accuracy, int points)
    {
        var runs = new List<TrackedRun>();
        foreach (var kind in Enum.GetValues<TrackingBackendKind>())
        {
            var backend = Backend(kind);
            var result = await Run(backend, workflow);
            Assert.True(result.Succeeded, result.ErrorOutput);
            Assert.Equal(10L, result.Results!["epochs_completed"]);
            var run = Assert.Single(backend.ReadRuns());
            Assert.Equal(result.RunId, run.RunId);
            Assert.Empty(run.Warnings);
            Assert.Equal(points, run.MetricPointCount);
            var loss = run.Metrics["train/epoch_loss"].Points;
            Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), loss.Select(p => p.Step));
            Assert.True(loss[^1].Value < loss[0].Value, "the loss falls");
            Assert.True(run.Metrics[accuracy].Points[^1].Value > run.Metrics[accuracy].Points[0].Value, "R2 rises");
            runs.Add(run);
        }
        Assert.Equal("learning_rate batch_size epochs".Split(' ').Select(k => runs[0].Parameters[k]), "learning_rate batch_size epochs".Split(' ').Select(k => runs[1].Parameters[k]));
        Assert.Empty(TrackedRunComparer.Compare(runs[0], runs[1]));
        Assert.Empty(TrackedRunComparer.Compare(runs[0], runs[2]));
    }

    [Fact]
    public async Task One_changed_value_is_reported_with_backend_metric_step_and_both_values()
    {
        var mlflow = Backend(TrackingBackendKind.MLflow);
        var clearml = Backend(TrackingBackendKind.ClearML);
        await Run(mlflow, "simple_pytorch");
        await Run(clearml, "simple_pytorch", "--perturb", "train/epoch_loss@5=0.25");
        var reference = Assert.Single(mlflow.ReadRuns());
        var difference = Assert.Single(TrackedRunComparer.Compare(reference, Assert.Single(clearml.ReadRuns())));
        Assert.Equal((TrackedRunDifferenceKind.ValueDiffers, "clearml", "mlflow", "train/epoch_loss", 5L), (difference.Kind, difference.Backend, difference.ReferenceBackend, difference.Metric, difference.Step!.Value));
        var logged = reference.Metrics["train/epoch_loss"].Points[5].Value;
        Assert.Equal(logged, difference.ReferenceValue);
        Assert.Equal(logged + 0.25, difference.Value);
        Assert.Contains("clearml train/epoch_loss step 5:", difference.ToString());
    }

    [Fact]
    public async Task The_rest_reader_reads_what_the_filestore_reader_reads()
    {
        var mlflow = Backend(TrackingBackendKind.MLflow);
        await Run(mlflow, "simple_pytorch");
        using var server = new MlflowTrackingServer(mlflow.StorePath!, historyPageLimit: 7);
        var viaRest = Assert.Single(TrackingBackend.OpenServer(server.Uri, "e2e_test").ReadRuns());
        var viaFiles = Assert.Single(mlflow.ReadRuns());
        Assert.Equal(viaFiles.RunId, viaRest.RunId);
        Assert.Equal(viaFiles.Parameters, viaRest.Parameters);
        Assert.Equal(viaFiles.Metrics.Keys, viaRest.Metrics.Keys);
        foreach (var (name, series) in viaFiles.Metrics)
        {
            Assert.Equal(series.Points, viaRest.Metrics[name].Points);
        }
        // 32 batch-loss points in pages of 7 need 5 pages: paging is followed.
        Assert.True(server.RequestCount > 2 + viaFiles.Metrics.Count);
        Assert.Empty(TrackingBackend.OpenServer(server.Uri, "no_such_experiment").ReadRuns());
    }

    [Fact]
    public void An_unreachable_tracking_server_is_TrackingServerUnreachable()
    {
        var error = Assert.Throws<E2EException>(() => TrackingBackend.OpenServer(new Uri($"http://127.0.0.1:{Net.Loopback.FreePort()}"), "x").ReadRuns());
        Assert.Equal(ErrorCatalog.TrackingServerUnreachable, error.Error);
        Assert.Equal(ErrorCatalog.InvalidArgument, Assert.Throws<E2EException>(() => TrackingBackend.OpenServer(new Uri("file:///tmp"), "x")).Error);
    }

    [Fact]
    public async Task Time_and_memory_cover_the_whole_process_tree()
    {
        // The child busies a CPU for about 0.6 s and a grandchild writes 200 MB (every page touched, so it is resident): both are the tree's.
        var script = Path.Combine(_root, "tree.py");
        File.WriteAllText(script, """
            import subprocess, sys, time
            child = subprocess.Popen([sys.executable, "-c", "b = b'x' * (200 * 1024 * 1024); import time; time.sleep(0.5)"])
            end = time.process_time() + 0.6
            while time.process_time() < end:
                pass
            child.wait()
            print("done")
            """);
        var result = await TrainingWorkflowRunner.RunAsync("tree", new[] { "python3", script }, Backend(TrackingBackendKind.MLflow), _root, null, TimeSpan.FromMinutes(1), null, CancellationToken.None);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("done", result.Output);
        Assert.True(result.PeakMemoryBytes >= 200L * 1024 * 1024, $"peak {result.PeakMemoryMB} MB");
        Assert.True(result.CpuTime >= TimeSpan.FromSeconds(0.5), $"CPU {result.CpuTime}");
        Assert.True(result.ProcessCount >= 2);
        Assert.Null(result.Results);
        Assert.False(result.Succeeded);
    }

    [Fact]
    public async Task A_workflow_past_its_timeout_is_killed_with_its_children()
    {
        var script = Path.Combine(_root, "hang.py");
        var pidFile = Path.Combine(_root, "child.pid");
        File.WriteAllText(script, $$"""
            import subprocess, sys, time
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
            open(r"{{pidFile}}", "w").write(str(child.pid))
            time.sleep(300)
            """);
        var result = await TrainingWorkflowRunner.RunAsync("hang", new[] { "python3", script }, Backend(TrackingBackendKind.WandB), _root, null, TimeSpan.FromSeconds(2), null, CancellationToken.None);
        Assert.True(result.TimedOut);
        Assert.False(result.Succeeded);
        var child = int.Parse(File.ReadAllText(pidFile));
        Assert.False(Directory.Exists($"/proc/{child}") && !File.ReadAllText($"/proc/{child}/stat").Contains(") Z "), $"child {child} still runs");
    }

    [Fact]
    public async Task A_stopped_backend_cannot_take_a_workflow_and_its_store_is_gone()
    {
        var backend = Backend(TrackingBackendKind.ClearML);
        await Run(backend, "simple_pytorch", "--epochs", "1");
        Assert.True(Directory.Exists(backend.StorePath));
        backend.Stop();
        Assert.False(Directory.Exists(backend.StorePath));
        Assert.Equal(ErrorCatalog.TrackingBackendStopped, (await Assert.ThrowsAsync<E2EException>(() => Run(backend, "simple_pytorch"))).Error);
        // An existing store is never removed.
        var existing = TrackingBackend.OpenExisting(TrackingBackendKind.MLflow, Fixtures.Path("mlflow", "konradmalik+mlfix", "tests", "mlruns"), "Default");
        existing.Stop();
        Assert.True(Directory.Exists(existing.StorePath));
    }
}
