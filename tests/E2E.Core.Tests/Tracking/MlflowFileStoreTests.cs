using E2E.Core.Errors;
using E2E.Core.Tracking;
using Xunit;

namespace E2E.Core.Tests.Tracking;

public sealed class MlflowFileStoreTests : IDisposable
{
    private static readonly string Mlfix = Fixtures.Path("mlflow", "konradmalik+mlfix", "tests", "mlruns");
    private static readonly string Mltrace = Fixtures.Path("mlflow", "loglabs+mltrace", "examples", "mlruns");
    private readonly string _root = Directory.CreateTempSubdirectory("mlflow-test-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Reads_the_1x_run_with_its_params_tags_and_metrics()
    {
        var run = Assert.Single(MlflowFileStore.ReadRuns(Mlfix));
        Assert.Equal("6e6280f331a94bf388fa9d0de0ecee99", run.RunId);
        Assert.Equal("Default", run.Project);
        Assert.Equal("FINISHED", run.Status);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1597955525771), run.StartTime);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1597955525819), run.EndTime);
        Assert.Equal(new[] { "alpha", "l1_ratio" }, run.Parameters.Keys);
        Assert.Equal("konrad", run.Tags["mlflow.user"]);
        Assert.Equal(new[] { "mae", "r2", "rmse" }, run.Metrics.Keys);
        Assert.Equal(new MetricPoint(0, 0.21757945918512583, 1597955525803), Assert.Single(run.Metrics["mae"].Points));
        Assert.Equal(-0.05493814470533365, run.Metrics["r2"].Points[0].Value);
    }

    [Fact]
    public void Reads_every_mltrace_run_including_tag_only_runs_and_repeated_steps()
    {
        var runs = MlflowFileStore.ReadRuns(Mltrace);
        Assert.Equal(34, runs.Count);
        Assert.Equal(29, runs.Count(r => r.Metrics.Count == 0 && r.Parameters.Count == 0 && r.Tags.ContainsKey("mlflow.source.name")));
        var run = runs.Single(r => r.RunId == "12fae4aea09546f782173920f7cc4887");
        // Integer-formatted values ("1"), three values at step 0, a param file without a trailing newline.
        Assert.Equal(new[] { 1.0, 1.0, 2.0 }, run.Metrics["foo"].Points.Select(p => p.Value));
        Assert.All(run.Metrics["foo"].Points, p => Assert.Equal(0, p.Step));
        Assert.Equal("1", run.Parameters["param1"]);
        // MLflow's latest value is the max over (step, timestamp, value).
        Assert.Equal(new MetricPoint(0, 2, 1642634549503), run.Metrics["foo"].Latest);
    }

    [Fact]
    public void Every_fixture_metric_file_equals_the_plain_python_reader()
    {
        var files = Directory.EnumerateFiles(Fixtures.Path("mlflow"), "*", SearchOption.AllDirectories).Where(f => f.Contains($"{Path.DirectorySeparatorChar}metrics{Path.DirectorySeparatorChar}")).ToList();
        Assert.True(files.Count >= 13, $"only {files.Count} metric files");
        foreach (var file in files)
        {
            PlainReaders.AssertSame(PlainReaders.Run("mlflow-metric", file), MlflowFileStore.ReadMetricFile(file, "m"), file);
        }
    }

    [Fact]
    public void Reads_the_2x_layout_nested_keys_legacy_lines_and_non_finite_values()
    {
        var experiment = Path.Combine(_root, "108087542544038754");
        var run = Path.Combine(experiment, "888293e0c4a047a4aa99c13869a08738");
        Write(Path.Combine(_root, "0", "meta.yaml"), "artifact_location: file:///x/0\nexperiment_id: '0'\nlifecycle_stage: active\nname: Default\n");
        Write(Path.Combine(experiment, "meta.yaml"), "artifact_location: file:///x\ncreation_time: 1690000000000\nexperiment_id: '108087542544038754'\nlast_update_time: 1690000000000\nlifecycle_stage: active\nname: diffusion\n");
        Write(Path.Combine(experiment, "tags", "mlflow.note.content"), "experiment tag, not a run");
        Write(Path.Combine(run, "meta.yaml"), "artifact_uri: file:///x/a\nend_time: null\nentry_point_name: ''\nexperiment_id: '108087542544038754'\nlifecycle_stage: active\nrun_id: 888293e0c4a047a4aa99c13869a08738\nrun_name: big-run\nrun_uuid: 888293e0c4a047a4aa99c13869a08738\nsource_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: 1690000000001\nstatus: 1\ntags: []\nuser_id: me\n");
        Write(Path.Combine(run, "metrics", "train", "loss"), "1690000000002 0.5 2\n1690000000003 nan 4\n1690000000004 inf 6\n1690000000005 -inf 8\n1690000000006 1e-05 10");
        Write(Path.Combine(run, "metrics", "legacy"), "1690000000002 3.25\n");
        Write(Path.Combine(run, "params", "model", "name"), "unet");
        Write(Path.Combine(_root, ".trash", "5", "meta.yaml"), "name: deleted\nexperiment_id: '5'\n");

        var read = Assert.Single(MlflowFileStore.ReadRuns(new Uri(_root).AbsoluteUri));
        Assert.Equal("big-run", read.Name);
        Assert.Equal("diffusion", read.Project);
        Assert.Equal("RUNNING", read.Status);
        Assert.Null(read.EndTime);
        Assert.Equal("unet", read.Parameters["model/name"]);
        var loss = read.Metrics["train/loss"].Points;
        Assert.Equal(new long[] { 2, 4, 6, 8, 10 }, loss.Select(p => p.Step));
        Assert.True(double.IsNaN(loss[1].Value));
        Assert.Equal(double.PositiveInfinity, loss[2].Value);
        Assert.Equal(double.NegativeInfinity, loss[3].Value);
        Assert.Equal(1e-05, loss[4].Value);
        Assert.Equal(new MetricPoint(0, 3.25, 1690000000002), Assert.Single(read.Metrics["legacy"].Points));
        // A run folder or an experiment folder alone reads the same run.
        Assert.Equal(read.RunId, Assert.Single(MlflowFileStore.ReadRuns(run)).RunId);
        Assert.Equal("diffusion", Assert.Single(MlflowFileStore.ReadRuns(experiment)).Project);
    }

    [Fact]
    public void A_malformed_line_is_an_error_naming_file_and_line()
    {
        var file = Path.Combine(_root, "m");
        Write(file, "1 0.5 0\n2 0.6 1 extra\n");
        var error = Assert.Throws<E2EException>(() => MlflowFileStore.ReadMetricFile(file, "m"));
        Assert.Equal(ErrorCatalog.TrackingStoreMalformed, error.Error);
        Assert.Contains($"'{file}' line 2", error.Message);
        Write(file, "1 not-a-number 0\n");
        Assert.Equal(ErrorCatalog.TrackingStoreMalformed, Assert.Throws<E2EException>(() => MlflowFileStore.ReadMetricFile(file, "m")).Error);
    }

    [Fact]
    public void A_missing_store_is_TrackingStoreNotFound()
    {
        Assert.Equal(ErrorCatalog.TrackingStoreNotFound, Assert.Throws<E2EException>(() => MlflowFileStore.ReadRuns(Path.Combine(_root, "nope"))).Error);
    }

    internal static void Write(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }
}
