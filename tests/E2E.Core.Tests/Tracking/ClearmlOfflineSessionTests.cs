using System.IO.Compression;
using E2E.Core.Errors;
using E2E.Core.Tracking;
using Xunit;

namespace E2E.Core.Tests.Tracking;

public sealed class ClearmlOfflineSessionTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("clearml-test-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>A session laid out as clearml's Task.set_offline writes it (../fixtures/clearml/SOURCE.txt).</summary>
    private string WriteSession(string metricsJsonl)
    {
        var folder = Path.Combine(_root, "offline", "offline-0123456789abcdef0123456789abcdef");
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "task.json"),
            """{"completed": "2026-01-02T03:05:00+00:00", "hyperparams": {"Args": {"lr": {"name": "lr", "section": "Args", "type": "float", "value": "0.01"}}, "General": {"epochs": {"name": "epochs", "section": "General", "value": "10"}}}, "id": "offline-0123456789abcdef0123456789abcdef", "name": "train", "offline_folder": "/x", "project_name": "e2e_test", "started": "2026-01-02T03:04:05+00:00", "status": "completed", "tags": ["nightly", "gpu"], "type": "training"}""");
        File.WriteAllText(Path.Combine(folder, "metrics.jsonl"), metricsJsonl);
        return folder;
    }

    private const string Events =
        """[{"task": "t", "timestamp": 1767323045000, "type": "training_stats_scalar", "metric": "loss", "variant": "train", "iter": 0, "value": 2.5}, {"task": "t", "timestamp": 1767323045001, "type": "training_stats_scalar", "metric": "loss", "variant": "val", "iter": 0, "value": 2.75}]""" + "\n" +
        """[{"task": "t", "timestamp": 1767323046000, "type": "training_stats_scalar", "metric": "loss", "variant": "train", "iter": 1, "value": NaN}, {"task": "t", "timestamp": 1767323046000, "type": "training_stats_vector", "metric": "hist", "variant": "w", "iter": 1, "values": [1, 2]}, {"task": "t", "timestamp": 1767323046000, "type": "training_stats_scalar", "metric": "acc", "variant": "acc", "iter": 1, "value": 0.5, "model_event": true}]""" + "\n" +
        """[{"task": "t", "timestamp": 1767323047000, "type": "training_stats_scalar", "metric": "lr", "variant": "lr", "iter": 2, "value": 0.01}, {"task": "t", "timestamp": 1767323047000, "type": "plot", "metric": "p", "variant": "p", "iter": 2, "plot_str": "{}"}]""" + "\n";

    [Fact]
    public void Reads_task_and_scalar_events_of_a_session_folder()
    {
        var run = Assert.Single(ClearmlOfflineSession.ReadRuns(WriteSession(Events)));
        Assert.Equal(("offline-0123456789abcdef0123456789abcdef", "train", "e2e_test", "completed"), (run.RunId, run.Name!, run.Project!, run.Status!));
        Assert.Equal(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero), run.StartTime);
        Assert.Equal(new[] { "gpu", "nightly" }, run.Tags.Keys.Order());
        Assert.Equal("0.01", run.Parameters["Args/lr"]);
        Assert.Equal("10", run.Parameters["epochs"]);
        // Vector, plot and model events are not scalar series; a series named like its title is the title alone.
        Assert.Equal(new[] { "loss/train", "loss/val", "lr" }, run.Metrics.Keys);
        var train = run.Metrics["loss/train"].Points;
        Assert.Equal(new MetricPoint(0, 2.5, 1767323045000), train[0]);
        Assert.True(double.IsNaN(train[1].Value));
        Assert.Empty(run.Warnings);
    }

    [Fact]
    public void The_zip_reads_like_the_folder_and_the_plain_python_reader()
    {
        var folder = WriteSession(Events);
        var zip = folder + ".zip";
        ZipFile.CreateFromDirectory(folder, zip);
        var fromFolder = Assert.Single(ClearmlOfflineSession.ReadRuns(folder));
        var fromZip = Assert.Single(ClearmlOfflineSession.ReadRuns(zip));
        PlainReaders.AssertSameMetrics(PlainReaders.Run("clearml", folder).GetProperty("metrics"), fromFolder, "folder");
        PlainReaders.AssertSameMetrics(PlainReaders.Run("clearml", folder).GetProperty("metrics"), fromZip, "zip");
        // A zip of the folder itself (task.json one level down) reads the same.
        var nested = Path.Combine(_root, "nested.zip");
        ZipFile.CreateFromDirectory(folder, nested, CompressionLevel.Fastest, includeBaseDirectory: true);
        PlainReaders.AssertSameMetrics(PlainReaders.Run("clearml", folder).GetProperty("metrics"), Assert.Single(ClearmlOfflineSession.ReadRuns(nested)), "nested zip");
        File.Delete(nested);
        // A cache folder with both: the session once, not twice.
        Assert.Single(ClearmlOfflineSession.ReadRuns(_root));
        Directory.Delete(folder, recursive: true);
        Assert.Single(ClearmlOfflineSession.ReadRuns(_root));
    }

    [Fact]
    public void Tracelet_naming_puts_the_series_first()
    {
        var run = Assert.Single(ClearmlOfflineSession.ReadRuns(WriteSession(Events), ClearmlMetricNaming.SeriesTitle));
        Assert.Equal(new[] { "lr", "train/loss", "val/loss" }, run.Metrics.Keys);
    }

    [Fact]
    public void A_cut_last_line_is_read_up_to_the_damage_with_a_warning()
    {
        var run = Assert.Single(ClearmlOfflineSession.ReadRuns(WriteSession(Events + """[{"task": "t", "timestamp": 17673230""")));
        Assert.Contains("metrics.jsonl line 4 is not JSON", Assert.Single(run.Warnings));
        Assert.Equal(4, run.MetricPointCount);
    }

    [Fact]
    public void Bad_input_has_stable_error_ids()
    {
        Assert.Equal(ErrorCatalog.TrackingStoreNotFound, Assert.Throws<E2EException>(() => ClearmlOfflineSession.ReadRuns(Path.Combine(_root, "none"))).Error);
        var notZip = Path.Combine(_root, "session.zip");
        File.WriteAllText(notZip, "not a zip");
        Assert.Equal(ErrorCatalog.TrackingStoreMalformed, Assert.Throws<E2EException>(() => ClearmlOfflineSession.ReadRuns(notZip)).Error);
        var folder = WriteSession(Events);
        File.WriteAllText(Path.Combine(folder, "task.json"), "{ not json");
        Assert.Equal(ErrorCatalog.TrackingStoreMalformed, Assert.Throws<E2EException>(() => ClearmlOfflineSession.ReadRuns(folder)).Error);
    }
}
