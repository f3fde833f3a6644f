using System.Buffers.Binary;
using E2E.Core.Backfill;
using E2E.Core.Errors;
using E2E.Core.Processes;
using E2E.Core.Tables;
using E2E.Core.Tests.Processes;
using E2E.Core.Tests.Udf;
using E2E.Core.Udf;
using Microsoft.Data.Sqlite;

namespace E2E.Core.Tests.Backfill;

/// <summary>Backfills with real Python worker processes over a SQLite table of generated pet images.</summary>
// A worker is reused only in the same process environment (a changed variable must reach the next backfill), so the
// tests that check reuse cannot run beside tests that set variables: in a loaded run one set a variable between two
// backfills, and the second started a new worker.
[Collection("process environment")]
public sealed class BackfillTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-backfill-").FullName;
    private readonly TableStore _store;
    private readonly string _bucket;

    public BackfillTests()
    {
        var images = Path.Combine(_root, "images");
        PetImages.Generate(images, 30);
        _store = new TableStore(Path.Combine(_root, "pets.db"));
        _store.Create("pets", PetImages.Columns, PetImages.Rows(images), fragmentSize: 10);
        _bucket = new Uri(Path.Combine(_root, "bucket") + "/").AbsoluteUri;
        Publish(UdfManifestTests.RepositoryPath("examples", "udfs", "simple"));
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_root, recursive: true);
    }

    private void Publish(string package, bool packEnvironment = false, Action<string>? prepareEnvironment = null)
    {
        var copy = Directory.CreateDirectory(Path.Combine(_root, "pkg-" + Path.GetFileName(package))).FullName;
        foreach (var file in Directory.EnumerateFiles(package))
        {
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)), overwrite: true);
        }
        if (prepareEnvironment is not null)
        {
            prepareEnvironment(ManifestBuilder.EnsureEnvironmentAsync(UdfProject.Load(copy), "python3", CancellationToken.None).GetAwaiter().GetResult());
        }
        var manifest = ManifestBuilder.BuildAsync(UdfProject.Load(copy), new ManifestBuildOptions { SkipSitePackages = !packEnvironment }, CancellationToken.None).GetAwaiter().GetResult();
        using var store = ObjectStores.Open(_bucket);
        ManifestStore.PublishAsync(manifest, store, CancellationToken.None).GetAwaiter().GetResult();
    }

    private BackfillOptions Options(int batchSize = 4, int concurrency = 2) => new()
    {
        BatchSize = batchSize,
        Concurrency = concurrency,
        WorkerScript = UdfManifestTests.RepositoryPath("module", "python", "e2e_worker.py"),
        CacheDirectory = Path.Combine(_root, "cache"),
    };

    private List<IReadOnlyDictionary<string, object?>> Rows() => _store.Rows("pets").ToList();

    [Fact]
    public async Task Backfill_fills_every_row_with_the_udf_value()
    {
        _store.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "oxford-pets-simple", _bucket, new[] { "image" });
        _store.AddUdfColumn("pets", "dims", ColumnType.Parse("struct"), "dimensions", "oxford-pets-simple", _bucket, new[] { "image" });
        var progress = new List<BackfillProgress>();
        var job = await BackfillEngine.RunAsync(_store, "pets", "size", Options() with { Progress = progress.Add }, CancellationToken.None);
        Assert.Equal((BackfillStatus.Done, 30L, 30L, 0L), (job.Status, job.RowsPlanned, job.RowsDone, job.RowsFailed));
        var dims = await BackfillEngine.RunAsync(_store, "pets", "dims", Options(batchSize: 7, concurrency: 1), CancellationToken.None);
        Assert.Equal(BackfillStatus.Done, dims.Status);
        foreach (var row in Rows())
        {
            var image = (byte[])row["image"]!;
            Assert.Equal((long)image.Length, row["size"]);
            var (w, h) = (BinaryPrimitives.ReadInt32BigEndian(image.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(image.AsSpan(20)));
            Assert.Equal($"{{\"width\": {w}, \"height\": {h}}}", row["dims"]);
        }
        Assert.Equal(3, progress.Last().FragmentsDone);
        Assert.True(_store.Describe("pets").Version >= 5);
        // Nothing left to do: a second run plans no rows.
        Assert.Equal(0, (await BackfillEngine.RunAsync(_store, "pets", "size", Options(), CancellationToken.None)).RowsPlanned);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_row_deleted_during_a_backfill_gets_no_value_and_is_gone_not_failed(bool afterItsRead)
    {
        PublishFaulty();
        // In the third batch, computed before the first is stored; or in the last, which no worker has read by then.
        var victim = (string)Rows()[afterItsRead ? 12 : 27]["filename"]!;
        var progress = (BackfillProgress _) => { };
        if (afterItsRead)
        {
            // Deleted by the UDF itself: the worker has read the row, the driver is yet to store its value.
            _store.AddUdfColumn("pets", "mark", ColumnType.Parse("int64"), "deletes_its_row", "faulty", _bucket, new[] { "filename" });
            Environment.SetEnvironmentVariable("DELETE_ROW", victim);
            Environment.SetEnvironmentVariable("DELETE_FROM", _store.Database);
        }
        else
        {
            // Deleted by another connection after the first batch is stored: the worker does not find the row.
            _store.AddUdfColumn("pets", "mark", ColumnType.Parse("int64"), "doubled", "faulty", _bucket, new[] { "label" });
            var deleted = false;
            progress = _ =>
            {
                if (!deleted)
                {
                    using var other = _store.Open();
                    TableStore.Execute(other, "DELETE FROM pets WHERE filename = $f", ("$f", victim));
                    deleted = true;
                }
            };
        }
        try
        {
            var job = await BackfillEngine.RunAsync(_store, "pets", "mark", Options(batchSize: 5, concurrency: 1) with { Progress = progress }, CancellationToken.None);
            // The row is gone, not failed: the job is done, with a value for each of the 29 rows left.
            Assert.Equal((BackfillStatus.Done, 30L, 29L, 0L), (job.Status, job.RowsPlanned, job.RowsDone, job.RowsFailed));
            using var connection = _store.Open();
            using (var events = connection.CreateCommand())
            {
                events.CommandText = "SELECT COUNT(*) FROM _e2e_events WHERE job_id = $j AND kind = 'rows-gone'";
                events.Parameters.AddWithValue("$j", job.Id);
                Assert.Equal(1L, (long)events.ExecuteScalar()!);
            }
            using var values = connection.CreateCommand();
            values.CommandText = $"SELECT COUNT(*), COUNT(*) FILTER (WHERE rowid NOT IN (SELECT _rowid FROM pets)) FROM {TableStore.ValuesTable("pets", "mark")}";
            using var reader = values.ExecuteReader();
            reader.Read();
            // No value for a row that is gone: its rowid could be given to a new row, which would then seem filled.
            Assert.Equal((29L, 0L), (reader.GetInt64(0), reader.GetInt64(1)));
            Assert.Equal(29, Rows().Count(row => row["mark"] is not null));
        }
        finally
        {
            Environment.SetEnvironmentVariable("DELETE_ROW", null);
            Environment.SetEnvironmentVariable("DELETE_FROM", null);
        }
    }

    [Fact]
    public async Task Incremental_backfills_take_fragments_in_order_and_filters_narrow_them()
    {
        _store.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "oxford-pets-simple", _bucket, new[] { "image" });
        var first = await BackfillEngine.RunAsync(_store, "pets", "size", Options() with { NumFragments = 1 }, CancellationToken.None);
        Assert.Equal(10, first.RowsDone);
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (long)i), Rows().Where(r => r["size"] is not null).Select(r => (long)r["_rowid"]!));
        var filtered = await BackfillEngine.RunAsync(_store, "pets", "size", Options() with { Where = "label = 1" }, CancellationToken.None);
        Assert.True(filtered.RowsDone is > 0 and < 20);
        Assert.All(Rows().Where(r => (long)r["_rowid"]! >= 10 && r["size"] is not null), r => Assert.Equal(1L, r["label"]));
        var rest = await BackfillEngine.RunAsync(_store, "pets", "size", Options(), CancellationToken.None);
        Assert.Equal(30, first.RowsDone + filtered.RowsDone + rest.RowsDone);
        Assert.All(Rows(), r => Assert.NotNull(r["size"]));
    }

    [Fact]
    public async Task Bad_filters_and_unbound_columns_have_ids()
    {
        _store.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "oxford-pets-simple", _bucket, new[] { "image" });
        var filter = await Assert.ThrowsAsync<E2EException>(() => BackfillEngine.RunAsync(_store, "pets", "size", Options() with { Where = "label = 1; DROP TABLE pets" }, CancellationToken.None));
        Assert.Same(ErrorCatalog.InvalidFilter, filter.Error);
        var unknown = await Assert.ThrowsAsync<E2EException>(() => BackfillEngine.RunAsync(_store, "pets", "nope", Options(), CancellationToken.None));
        Assert.Same(ErrorCatalog.ColumnNotFound, unknown.Error);
        Assert.Same(ErrorCatalog.ColumnNotFound, Assert.Throws<E2EException>(() => _store.AddUdfColumn("pets", "x", ColumnType.Parse("int64"), "file_size", "m", _bucket, new[] { "pixels" })).Error);
        Assert.Same(ErrorCatalog.ColumnExists, Assert.Throws<E2EException>(() => _store.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "m", _bucket, new[] { "image" })).Error);
        Assert.Same(ErrorCatalog.InvalidColumnType, Assert.Throws<E2EException>(() => ColumnType.Parse("float16")).Error);
    }

    [Fact]
    public async Task A_stateful_udf_that_names_its_device_has_it_in_the_job_record_and_others_have_none()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_root, "devices")).FullName;
        File.WriteAllText(Path.Combine(dir, "pyproject.toml"), "[project]\nname = \"devices\"\nversion = \"1.0\"\n");
        File.WriteAllText(Path.Combine(dir, "device_udfs.py"), """
            from e2e_udf import udf

            @udf(data_type="int64", batched=True)
            class OnDevice:
                def setup(self):
                    self.device = "cpu"

                def __call__(self, label: list) -> list:
                    return [value + 1 for value in label]
            """);
        Publish(dir);
        _store.AddUdfColumn("pets", "on_device", ColumnType.Parse("int64"), "OnDevice", "devices", _bucket, new[] { "label" });
        _store.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "oxford-pets-simple", _bucket, new[] { "image" });
        var job = await BackfillEngine.RunAsync(_store, "pets", "on_device", Options(concurrency: 2), CancellationToken.None);
        Assert.Equal((BackfillStatus.Done, "cpu"), (job.Status, job.Device));
        Assert.Equal("cpu", BackfillEngine.Jobs(_store).Single(j => j.Id == job.Id).Device);
        Assert.Null((await BackfillEngine.RunAsync(_store, "pets", "size", Options(), CancellationToken.None)).Device);
    }

    [Fact]
    public async Task A_manifest_on_the_interpreters_own_packages_fails_at_once_where_the_interpreter_lacks_them()
    {
        // Packed by an interpreter that has the requirement (a metadata folder on its PYTHONPATH); run by python3, which has not.
        var packer = InterpreterEnvironmentTests.FakeInterpreter(_root, ("e2e-needed-dist", "1.0"));
        var dir = Directory.CreateDirectory(Path.Combine(_root, "needs")).FullName;
        File.WriteAllText(Path.Combine(dir, "pyproject.toml"), "[project]\nname = \"needs\"\nversion = \"1.0\"\ndependencies = [\"e2e-needed-dist>=1\"]\n");
        File.WriteAllText(Path.Combine(dir, "needs_udfs.py"), "from e2e_udf import udf\n\n@udf(data_type=\"int64\")\ndef plus_one(label: int) -> int:\n    return label + 1\n");
        var manifest = await ManifestBuilder.BuildAsync(UdfProject.Load(dir), new ManifestBuildOptions { Python = packer }, CancellationToken.None);
        Assert.Equal("interpreter", manifest.Environment);
        using (var bucket = ObjectStores.Open(_bucket))
        {
            await ManifestStore.PublishAsync(manifest, bucket, CancellationToken.None);
        }
        _store.AddUdfColumn("pets", "needs", ColumnType.Parse("int64"), "plus_one", "needs", _bucket, new[] { "label" });
        var job = await BackfillEngine.RunAsync(_store, "pets", "needs", Options(), CancellationToken.None);
        Assert.Equal((BackfillStatus.Failed, 0L, "RequirementsNotInstalled"), (job.Status, job.RowsDone, job.ErrorId));
        Assert.Contains("e2e-needed-dist>=1 (not installed)", job.Error);
        Assert.Contains("packed against e2e-needed-dist 1.0", job.Error);
        Assert.All(Rows(), row => Assert.Null(row["needs"]));
    }

    private void PublishFaulty()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_root, "faulty")).FullName;
        File.WriteAllText(Path.Combine(dir, "pyproject.toml"), "[project]\nname = \"faulty\"\nversion = \"1.0\"\n");
        File.WriteAllText(Path.Combine(dir, "faulty_udfs.py"), """
            import os
            from e2e_udf import udf

            @udf(data_type="int64")
            def odd_fails(label):
                if label % 2 == 1:
                    raise ValueError(f"odd label {label}")
                return label * 10

            @udf(data_type="string")
            def wrong_type(label):
                return "not a number"

            @udf(data_type="int64")
            def doubled(label):
                return label * 2

            @udf(data_type="int64")
            def dies_once(label):
                # The worker process dies (no exception, no answer) the first time any row reaches it.
                marker = os.path.join(os.environ["DIES_DIR"], "died")
                if not os.path.exists(marker):
                    open(marker, "w").close()
                    os._exit(9)
                return label + 100

            @udf(data_type="string")
            def as_text(label):
                return f"caf\u00e9 {label}" if label % 5 else ""

            @udf(data_type="binary")
            def as_bytes(label):
                return bytes([label, 0, 255]) if label % 5 else b""

            @udf(data_type="bool")
            def is_even(label):
                return label % 2 == 0

            @udf(data_type="struct")
            def as_struct(label):
                return {"label": label, "raw": b"\x00\x01", "ratio": float("nan")}

            @udf(data_type="vector[float32, 3]")
            def as_vector(label):
                return [label, 0.5, -1.0]

            @udf(data_type="float64", batch_size=4, batched=True)
            def short_batch(labels):
                # Returns one value too few: the last row of each batch must fail, not stay empty as a success.
                return [float(l) for l in labels[:-1]]

            @udf(data_type="float64")
            def special(label):
                print("a UDF that prints must not break the worker's framing")
                return [float("nan"), float("inf"), float("-inf"), 0.5][label % 4]

            @udf(data_type="int64")
            def deletes_its_row(filename):
                # Deletes the row named by DELETE_ROW from the table store DELETE_FROM after the worker read it.
                if filename == os.environ.get("DELETE_ROW"):
                    import sqlite3
                    store = sqlite3.connect(os.environ["DELETE_FROM"], timeout=30)
                    store.execute("DELETE FROM pets WHERE filename = ?", (filename,))
                    store.commit()
                    store.close()
                return 1

            @udf(data_type="int64")
            def forks_until_stopped(label):
                # Starts a shell that keeps forking (children ignoring SIGTERM, some re-parented, one in a session of
                # its own) and never returns; FORKER_READY gets the worker's group tag once the loop is going.
                import subprocess, time
                subprocess.Popen(["setsid", "sleep", "300"])
                subprocess.Popen(["sh", os.environ["FORKER_SCRIPT"]])
                time.sleep(300)
                return label

            @udf(data_type="int64")
            def leaves_a_daemon(label):
                # Returns at once, leaving a child that ignores SIGTERM and one in a session of its own, both
                # detached from the worker's pipes as daemons are (so nothing holds the worker's stderr open).
                import subprocess
                quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                subprocess.Popen(["sh", "-c", "trap '' TERM; exec sleep 300"], **quiet)
                subprocess.Popen(["setsid", "sleep", "300"], **quiet)
                return label

            @udf(data_type="int64")
            def flaky(label, filename):
                # Fails the first time it sees a row, succeeds after: exercises the Retry policy.
                marker = os.path.join(os.environ.get("FLAKY_DIR", "/tmp"), filename + ".seen")
                if not os.path.exists(marker):
                    open(marker, "w").close()
                    raise RuntimeError("first attempt fails")
                return 1
            """);
        Publish(dir);
    }

    [Fact]
    public async Task Columns_of_one_manifest_are_filled_in_one_pass_and_a_failing_column_stops_only_itself()
    {
        PublishFaulty();
        _store.AddUdfColumn("pets", "twice", ColumnType.Parse("int64"), "doubled", "faulty", _bucket, new[] { "label" });
        _store.AddUdfColumn("pets", "fail", ColumnType.Parse("int64"), "odd_fails", "faulty", _bucket, new[] { "label" });
        _store.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "oxford-pets-simple", _bucket, new[] { "image" });
        var jobs = await BackfillEngine.RunAsync(_store, "pets", new[] { "twice", "fail", "size" }, Options(batchSize: 4) with { JobId = "bf-pass" }, CancellationToken.None);

        Assert.Equal(new[] { "bf-pass.twice", "bf-pass.fail", "bf-pass.size" }, jobs.Select(j => j.Id));
        Assert.Equal((BackfillStatus.Done, 30L), (jobs[0].Status, jobs[0].RowsDone));
        Assert.Equal(BackfillStatus.Failed, jobs[1].Status);
        Assert.Contains("odd label", jobs[1].Error);
        Assert.Equal((BackfillStatus.Done, 30L), (jobs[2].Status, jobs[2].RowsDone));
        foreach (var row in Rows())
        {
            Assert.Equal((long)row["label"]! * 2, row["twice"]);
            Assert.Equal((long)((byte[])row["image"]!).Length, row["size"]);
        }
        // twice and fail shared one pass (one set of workers); size, of another manifest, had a pass of its own.
        Assert.Contains("in one pass with fail", Events(jobs[0].Id).Single(e => e.Kind == "started").Message);
        Assert.DoesNotContain("in one pass", Events(jobs[2].Id).Single(e => e.Kind == "started").Message);
    }

    [Fact]
    public async Task A_worker_that_dies_with_batches_in_flight_is_replaced_and_every_row_gets_one_value()
    {
        PublishFaulty();
        Environment.SetEnvironmentVariable("DIES_DIR", Directory.CreateDirectory(Path.Combine(_root, "dies")).FullName);
        _store.AddUdfColumn("pets", "plus", ColumnType.Parse("int64"), "dies_once", "faulty", _bucket, new[] { "label" });
        var job = await BackfillEngine.RunAsync(_store, "pets", "plus", Options(batchSize: 3, concurrency: 1), CancellationToken.None);
        Assert.Equal((BackfillStatus.Done, 30L, 0L), (job.Status, job.RowsDone, job.RowsFailed));
        Assert.All(Rows(), r => Assert.Equal((long)r["label"]! + 100, r["plus"]));
        var restarted = Events(job.Id).Where(e => e.Kind == "worker-restarted").ToList();
        Assert.Single(restarted);
        Assert.Contains("failed", restarted[0].Message);
        using var connection = _store.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT SUM(rows) FROM _e2e_batches WHERE job_id = $id";
        command.Parameters.AddWithValue("$id", job.Id);
        Assert.Equal(30L, (long)command.ExecuteScalar()!); // the lost batches were computed once, by the new worker
    }

    [Fact]
    public async Task A_udf_whose_children_fork_while_its_backfill_is_stopped_or_that_leaves_a_daemon_leaves_no_process()
    {
        PublishFaulty();
        var ready = Path.Combine(_root, "forker.ready");
        var script = Path.Combine(_root, "forker.sh");
        File.WriteAllText(script, $"echo \"$E2E_PROCESS_GROUP\" > '{ready}.tag'\n" + Procs.ForkingLoop(ready));
        Environment.SetEnvironmentVariable("FORKER_SCRIPT", script);
        try
        {
            _store.AddUdfColumn("pets", "forked", ColumnType.Parse("int64"), "forks_until_stopped", "faulty", _bucket, new[] { "label" });
            using var stop = new CancellationTokenSource();
            var run = BackfillEngine.RunAsync(_store, "pets", "forked", Options(batchSize: 1, concurrency: 1), stop.Token);
            await Task.Run(() => Procs.WaitForFile(ready, () => run.IsCompleted));
            var tag = File.ReadAllText(ready + ".tag").Trim();
            Assert.NotEmpty(ProcessGroup.MembersOf(tag));
            stop.Cancel();
            Assert.Equal(BackfillStatus.Cancelled, (await run).Status);
            Assert.Empty(ProcessGroup.MembersOf(tag)); // forked mid-stop, re-parented or in a session of its own

            // A UDF that returned, leaving processes behind: they end when its idle worker does.
            _store.AddUdfColumn("pets", "daemon", ColumnType.Parse("int64"), "leaves_a_daemon", "faulty", _bucket, new[] { "label" });
            var job = await BackfillEngine.RunAsync(_store, "pets", "daemon", Options(batchSize: 10, concurrency: 1) with { Where = "_rowid < 3" }, CancellationToken.None);
            Assert.Equal(BackfillStatus.Done, job.Status);
            var worker = Assert.Single(IdleWorkers());
            var daemonTag = Procs.TagOf(worker);
            Assert.True(ProcessGroup.MembersOf(daemonTag).Count >= 3, "the daemons were not started");
            await UdfWorkerPool.DrainAsync();
            Assert.Empty(ProcessGroup.MembersOf(daemonTag));
        }
        finally
        {
            Environment.SetEnvironmentVariable("FORKER_SCRIPT", null);
        }
    }

    /// <summary>This test's idle workers (their config names its cache folder), whatever other tests keep idle meanwhile.</summary>
    private int[] IdleWorkers() => UdfWorkerPool.IdleProcessIds.Where(pid =>
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Contains(_root, StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false;
        }
    }).ToArray();

    private static bool Exited(int pid, TimeSpan within)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (File.Exists($"/proc/{pid}/stat") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal))
        {
            if (clock.Elapsed > within)
            {
                return false;
            }
            Thread.Sleep(50);
        }
        return true;
    }

    [Fact]
    public async Task The_next_backfill_of_a_manifest_reuses_its_idle_worker_and_reads_the_table_that_is_at_the_path_now()
    {
        _store.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "oxford-pets-simple", _bucket, new[] { "image" });
        Assert.Equal(BackfillStatus.Done, (await BackfillEngine.RunAsync(_store, "pets", "size", Options(concurrency: 1), CancellationToken.None)).Status);
        var worker = Assert.Single(IdleWorkers());
        var before = Rows().ToDictionary(r => (long)r["_rowid"]!, r => r["size"]);

        // Another table file at the same path, with other images: the reused worker must read this one.
        SqliteConnection.ClearAllPools();
        foreach (var file in Directory.EnumerateFiles(_root, "pets.db*"))
        {
            File.Delete(file);
        }
        var images = Path.Combine(_root, "other-images");
        PetImages.Generate(images, 12, seed: 7);
        var store = new TableStore(_store.Database);
        store.Create("pets", PetImages.Columns, PetImages.Rows(images), fragmentSize: 5);
        store.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "oxford-pets-simple", _bucket, new[] { "image" });
        store.AddUdfColumn("pets", "dims", ColumnType.Parse("struct"), "dimensions", "oxford-pets-simple", _bucket, new[] { "image" });
        var jobs = await BackfillEngine.RunAsync(store, "pets", new[] { "size", "dims" }, Options(concurrency: 1), CancellationToken.None);
        Assert.All(jobs, j => Assert.Equal((BackfillStatus.Done, 12L), (j.Status, j.RowsDone)));
        var after = store.Rows("pets").ToList();
        Assert.All(after, r => Assert.Equal((long)((byte[])r["image"]!).Length, r["size"]));
        Assert.Contains(after, r => !Equals(before[(long)r["_rowid"]!], r["size"])); // a stale connection would have read the old images' sizes
        Assert.Equal(new[] { worker }, IdleWorkers()); // the same process served both, with a UDF it had not run before
    }

    [Fact]
    public async Task An_idle_worker_ends_after_the_idle_time_one_killed_while_idle_is_replaced_and_idle_time_zero_keeps_none()
    {
        var idleTime = UdfWorkerPool.IdleTime;
        try
        {
            _store.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "oxford-pets-simple", _bucket, new[] { "image" });
            _store.AddUdfColumn("pets", "dims", ColumnType.Parse("struct"), "dimensions", "oxford-pets-simple", _bucket, new[] { "image" });
            UdfWorkerPool.IdleTime = TimeSpan.FromSeconds(1);
            await BackfillEngine.RunAsync(_store, "pets", "size", Options(concurrency: 1) with { Where = "_rowid < 5" }, CancellationToken.None);
            var first = Assert.Single(IdleWorkers());
            Assert.True(Exited(first, TimeSpan.FromSeconds(10)), $"idle worker {first} outlived its idle time");
            Assert.Empty(IdleWorkers());

            UdfWorkerPool.IdleTime = TimeSpan.FromMinutes(5);
            await BackfillEngine.RunAsync(_store, "pets", "size", Options(concurrency: 1) with { Where = "_rowid < 10" }, CancellationToken.None);
            var killed = Assert.Single(IdleWorkers());
            System.Diagnostics.Process.GetProcessById(killed).Kill();
            Assert.True(Exited(killed, TimeSpan.FromSeconds(10)));
            var job = await BackfillEngine.RunAsync(_store, "pets", "size", Options(concurrency: 1), CancellationToken.None);
            Assert.Equal((BackfillStatus.Done, 20L), (job.Status, job.RowsDone));
            Assert.DoesNotContain(Events(job.Id), e => e.Kind == "worker-restarted"); // found dead when taken, not a failure of the run
            var replacement = Assert.Single(IdleWorkers());
            Assert.NotEqual(killed, replacement);

            // A variable set since the worker started: a new worker, which sees it.
            Environment.SetEnvironmentVariable("E2E_TEST_POOL_MARK", Guid.NewGuid().ToString("N"));
            try
            {
                await BackfillEngine.RunAsync(_store, "pets", "dims", Options(concurrency: 1), CancellationToken.None);
                Assert.Equal(2, IdleWorkers().Length);
            }
            finally
            {
                Environment.SetEnvironmentVariable("E2E_TEST_POOL_MARK", null);
            }

            UdfWorkerPool.IdleTime = TimeSpan.Zero;
            await UdfWorkerPool.DrainAsync();
            _store.ClearUdfColumn("pets", "size");
            await BackfillEngine.RunAsync(_store, "pets", "size", Options(concurrency: 2), CancellationToken.None);
            Assert.Empty(IdleWorkers());
            Assert.True(Exited(replacement, TimeSpan.FromSeconds(5)));
        }
        finally
        {
            UdfWorkerPool.IdleTime = idleTime;
        }
    }

    [Fact]
    public async Task Every_kind_of_value_crosses_the_binary_protocol_intact()
    {
        PublishFaulty();
        var columns = new (string Name, string Type, string Udf)[] { ("text", "string", "as_text"), ("raw", "binary", "as_bytes"), ("even", "bool", "is_even"), ("info", "struct", "as_struct"), ("vec", "vector[float32, 3]", "as_vector") };
        foreach (var (name, type, udf) in columns)
        {
            _store.AddUdfColumn("pets", name, ColumnType.Parse(type), udf, "faulty", _bucket, new[] { "label" });
        }
        var jobs = await BackfillEngine.RunAsync(_store, "pets", columns.Select(c => c.Name).ToArray(), Options(batchSize: 7), CancellationToken.None);
        Assert.All(jobs, j => Assert.Equal((BackfillStatus.Done, 30L, 0L), (j.Status, j.RowsDone, j.RowsFailed)));
        foreach (var row in Rows())
        {
            var label = (long)row["label"]!;
            // Empty text and bytes are values, not the NULL of a row still to fill.
            Assert.Equal(label % 5 == 0 ? string.Empty : $"caf\u00e9 {label}", row["text"]);
            Assert.Equal(label % 5 == 0 ? Array.Empty<byte>() : new byte[] { (byte)label, 0, 255 }, row["raw"]);
            Assert.Equal(label % 2 == 0, row["even"]);
            Assert.Equal($$$"""{"label": {{{label}}}, "raw": {"b64": "AAE="}, "ratio": {"f64": "nan"}}""", row["info"]);
            Assert.Equal(new[] { (float)label, 0.5f, -1f }, row["vec"]);
        }
    }

    [Fact]
    public void An_answer_frame_decodes_to_typed_values_and_a_cut_frame_is_a_protocol_error()
    {
        var frame = E2E.Core.Tests.Fuzzing.ParserFuzzTests.WorkerAnswer();
        var blocks = UdfWorker.ParseAnswer(frame, 1);
        Assert.Equal(new[] { 0, 1 }, blocks.Select(b => b.Udf));
        var values = blocks.SelectMany(b => b.Results).ToDictionary(r => r.Id);
        Assert.Equal(42L, values[1].Value);
        Assert.Equal("ValueError: bad", values[2].Error);
        Assert.True(double.IsNaN((double)values[3].Value!));
        Assert.Equal(true, values[4].Value);
        Assert.Equal(4, ((System.Text.Json.JsonElement)values[7].Value!).GetProperty("height").GetInt32());
        Assert.Equal(new byte[] { 0, 1, 2 }, values[8].Value);
        Assert.Equal("caf\u00e9", values[9].Value);
        Assert.Null(values[10].Value);
        Assert.Null(values[10].Error);
        var cut = Assert.Throws<E2EException>(() => UdfWorker.ParseAnswer(frame.AsSpan(0, frame.Length - 3), 1));
        Assert.Same(ErrorCatalog.WorkerFailed, cut.Error);
    }

    [Fact]
    public async Task A_manifest_with_its_environment_packed_runs_isolated_from_the_interpreters_site_packages()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_root, "isolated")).FullName;
        File.WriteAllText(Path.Combine(dir, "pyproject.toml"), "[project]\nname = \"isolated\"\nversion = \"1.0\"\n");
        File.WriteAllText(Path.Combine(dir, "isolated_udfs.py"), """
            import os, sys
            from e2e_udf import udf

            @udf(data_type="int64")
            def isolation(label):
                # 1: started without the interpreter's site (python -S); 10: the packed environment's .pth ran.
                return sys.flags.no_site + (10 if os.environ.get("E2E_PACKED_PTH") == "ran" else 0)
            """);
        // A .pth in the environment before it is packed: an isolated worker still processes the environment's own .pth files.
        Publish(dir, packEnvironment: true, prepareEnvironment: site => File.WriteAllText(Path.Combine(site, "e2e_marker.pth"), "import os; os.environ['E2E_PACKED_PTH'] = 'ran'\n"));
        _store.AddUdfColumn("pets", "iso", ColumnType.Parse("int64"), "isolation", "isolated", _bucket, new[] { "label" });
        var job = await BackfillEngine.RunAsync(_store, "pets", "iso", Options(), CancellationToken.None);
        Assert.Equal(BackfillStatus.Done, job.Status);
        Assert.All(Rows(), r => Assert.Equal(11L, r["iso"]));

        // Modules only (-SkipSitePackages): the UDF runs in the interpreter's environment, site and all.
        PublishFaulty();
        _store.AddUdfColumn("pets", "plain", ColumnType.Parse("int64"), "doubled", "faulty", _bucket, new[] { "label" });
        Assert.Equal(BackfillStatus.Done, (await BackfillEngine.RunAsync(_store, "pets", "plain", Options(), CancellationToken.None)).Status);
    }

    [Fact]
    public void An_empty_zip_extracts_to_an_empty_folder()
    {
        var zip = DeterministicZip.Create(Array.Empty<(string, string)>(), Directory.CreateDirectory(Path.Combine(_root, "empty-zip")).FullName);
        var target = Path.Combine(_root, "extracted");
        DeterministicZip.ExtractSafely(zip.Path, target);
        Assert.Empty(Directory.EnumerateFileSystemEntries(target));
    }

    private List<(string Kind, string Message)> Events(string jobId)
    {
        using var connection = _store.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT kind, message FROM _e2e_events WHERE job_id = $id ORDER BY rowid";
        command.Parameters.AddWithValue("$id", jobId);
        using var reader = command.ExecuteReader();
        var events = new List<(string, string)>();
        while (reader.Read())
        {
            events.Add((reader.GetString(0), reader.GetString(1)));
        }
        return events;
    }

    [Fact]
    public async Task Row_errors_follow_the_policy()
    {
        PublishFaulty();
        _store.AddUdfColumn("pets", "skip", ColumnType.Parse("int64"), "odd_fails", "faulty", _bucket, new[] { "label" });
        var skipped = await BackfillEngine.RunAsync(_store, "pets", "skip", Options() with { ErrorPolicy = RowErrorPolicy.Skip }, CancellationToken.None);
        Assert.Equal(BackfillStatus.Done, skipped.Status);
        Assert.True(skipped.RowsFailed > 0);
        Assert.Equal(30, skipped.RowsDone + skipped.RowsFailed);
        Assert.All(Rows(), r => Assert.Equal((long)r["label"]! % 2 == 1 ? null : (object)((long)r["label"]! * 10), r["skip"]));

        _store.AddUdfColumn("pets", "fail", ColumnType.Parse("int64"), "odd_fails", "faulty", _bucket, new[] { "label" });
        var failed = await BackfillEngine.RunAsync(_store, "pets", "fail", Options(concurrency: 1) with { ErrorPolicy = RowErrorPolicy.Fail }, CancellationToken.None);
        Assert.Equal(BackfillStatus.Failed, failed.Status);
        Assert.Contains("odd label", failed.Error);

        _store.AddUdfColumn("pets", "typed", ColumnType.Parse("int64"), "wrong_type", "faulty", _bucket, new[] { "label" });
        var mismatch = await BackfillEngine.RunAsync(_store, "pets", "typed", Options(), CancellationToken.None);
        Assert.Equal(BackfillStatus.Failed, mismatch.Status);
        Assert.Contains("does not fit a int64 column", mismatch.Error);
        Assert.All(Rows(), r => Assert.Null(r["typed"]));
    }

    [Fact]
    public async Task A_batched_udf_that_returns_too_few_values_fails_those_rows_instead_of_leaving_them_empty()
    {
        PublishFaulty();
        _store.AddUdfColumn("pets", "short", ColumnType.Parse("float64"), "short_batch", "faulty", _bucket, new[] { "label" });
        var job = await BackfillEngine.RunAsync(_store, "pets", "short", Options(batchSize: 4) with { ErrorPolicy = RowErrorPolicy.Skip }, CancellationToken.None);
        Assert.Equal(30, job.RowsFailed);
        Assert.Equal(0, job.RowsDone);
        using var connection = _store.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT message FROM _e2e_events WHERE job_id = $id";
        command.Parameters.AddWithValue("$id", job.Id);
        var messages = new List<string>();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                messages.Add(reader.GetString(0));
            }
        }
        Assert.Contains(messages, m => m.Contains("returned 3 values for 4 rows", StringComparison.Ordinal));
    }

    [Fact]
    public async Task NaN_and_infinities_travel_as_values_and_printing_udfs_do_not_break_the_worker()
    {
        PublishFaulty();
        _store.AddUdfColumn("pets", "special", ColumnType.Parse("float64"), "special", "faulty", _bucket, new[] { "label" });
        var job = await BackfillEngine.RunAsync(_store, "pets", "special", Options(), CancellationToken.None);
        Assert.Equal((BackfillStatus.Done, 30L, 0L), (job.Status, job.RowsDone, job.RowsFailed));
        foreach (var row in Rows())
        {
            var expected = new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity, 0.5 }[(long)row["label"]! % 4];
            Assert.Equal(expected, (double)row["special"]!);
        }
        // A stored NaN is a value: the next incremental backfill has nothing to do.
        var again = await BackfillEngine.RunAsync(_store, "pets", "special", Options(), CancellationToken.None);
        Assert.Equal(0, again.RowsPlanned);
    }

    [Fact]
    public async Task Retry_policy_recomputes_failed_rows()
    {
        PublishFaulty();
        Environment.SetEnvironmentVariable("FLAKY_DIR", Directory.CreateDirectory(Path.Combine(_root, "flaky")).FullName);
        _store.AddUdfColumn("pets", "flaky", ColumnType.Parse("int64"), "flaky", "faulty", _bucket, new[] { "label", "filename" });
        var job = await BackfillEngine.RunAsync(_store, "pets", "flaky", Options() with { ErrorPolicy = RowErrorPolicy.Retry, Retries = 2 }, CancellationToken.None);
        Assert.Equal((BackfillStatus.Done, 30L), (job.Status, job.RowsDone));
        Assert.All(Rows(), r => Assert.Equal(1L, r["flaky"]));
    }

    [Fact]
    public async Task Stopped_and_resumed_backfills_give_every_row_exactly_one_value()
    {
        _store.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "oxford-pets-simple", _bucket, new[] { "image" });
        var random = new Random(5);
        var statuses = new List<BackfillStatus>();
        for (var trial = 0; trial < 8; trial++)
        {
            // Stopped once a random share of what is left is checkpointed (a wall-clock stop missed a fast engine).
            using var stop = new CancellationTokenSource();
            var after = random.Next(1, 8);
            var job = await BackfillEngine.RunAsync(_store, "pets", "size", Options(batchSize: 2, concurrency: 2) with
            {
                CommitGranularity = 2,
                Progress = p =>
                {
                    if (p.RowsDone >= after * 2)
                    {
                        stop.Cancel();
                    }
                },
            }, stop.Token);
            statuses.Add(job.Status);
        }
        var final = await BackfillEngine.RunAsync(_store, "pets", "size", Options(), CancellationToken.None);
        Assert.Equal(BackfillStatus.Done, final.Status);
        Assert.All(Rows(), r => Assert.Equal((long)((byte[])r["image"]!).Length, r["size"]));
        using var connection = _store.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT SUM(rows) FROM _e2e_batches; SELECT (SELECT COUNT(*) FROM _e2e_staged) + (SELECT COALESCE(SUM(rows), 0) FROM _e2e_staged_batches);";
        using var reader = command.ExecuteReader();
        reader.Read();
        Assert.Equal(30, reader.GetInt64(0)); // every row was checkpointed exactly once across all the jobs
        reader.NextResult();
        reader.Read();
        Assert.Equal(0, reader.GetInt64(0));
        Assert.Contains(BackfillStatus.Cancelled, statuses);
    }

    [Fact]
    public async Task A_job_whose_driver_is_gone_reads_Interrupted_and_the_next_backfill_resumes_it()
    {
        _store.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "oxford-pets-simple", _bucket, new[] { "image" });
        var done = await BackfillEngine.RunAsync(_store, "pets", "size", Options(), CancellationToken.None);
        using (var connection = _store.Open())
        {
            using var lease = connection.CreateCommand();
            lease.CommandText = "SELECT driver_host, driver_process, heartbeat_at FROM _e2e_jobs WHERE id = $id";
            lease.Parameters.AddWithValue("$id", done.Id);
            using var reader = lease.ExecuteReader();
            Assert.True(reader.Read());
            Assert.Equal(Environment.MachineName, reader.GetString(0));
            Assert.Equal(E2E.Core.Processes.OwnedProcesses.SessionTag, reader.GetString(1));
            Assert.False(reader.IsDBNull(2));
        }
        using var dead = System.Diagnostics.Process.Start("true")!;
        dead.WaitForExit();
        var stale = DateTimeOffset.UtcNow - BackfillEngine.LeaseTime - TimeSpan.FromSeconds(5);
        var fresh = DateTimeOffset.UtcNow;
        void Job(string id, string? host, string? process, DateTimeOffset? heartbeat)
        {
            using var connection = _store.Open();
            using var insert = connection.CreateCommand();
            insert.CommandText = "INSERT INTO _e2e_jobs (id, table_name, column_name, status, created_at, rows_planned, driver_host, driver_process, heartbeat_at) VALUES ($id, 'pets', 'size', 'Running', $at, 30, $h, $p, $b)";
            insert.Parameters.AddWithValue("$id", id);
            insert.Parameters.AddWithValue("$at", fresh.ToString("O"));
            insert.Parameters.AddWithValue("$h", (object?)host ?? DBNull.Value);
            insert.Parameters.AddWithValue("$p", (object?)process ?? DBNull.Value);
            insert.Parameters.AddWithValue("$b", (object?)heartbeat?.ToString("O") ?? DBNull.Value);
            insert.ExecuteNonQuery();
        }
        Job("bf-deaddriver", Environment.MachineName, $"{dead.Id}:1", fresh);          // its process here ended: at once
        Job("bf-stalelease", "another-machine", "4242:1", stale);                     // elsewhere, heartbeat too old
        Job("bf-freshlease", "another-machine", "4242:1", fresh);                     // elsewhere, heartbeat renewed
        Job("bf-livedriver", Environment.MachineName, E2E.Core.Processes.OwnedProcesses.SessionTag, stale.AddSeconds(-60)); // this process: alive, however late its heartbeat

        Assert.Equal(BackfillStatus.Interrupted, BackfillEngine.GetJob(_store, "bf-deaddriver").Status);
        Assert.Equal(BackfillStatus.Interrupted, BackfillEngine.GetJob(_store, "bf-stalelease").Status);
        Assert.Equal(BackfillStatus.Running, BackfillEngine.GetJob(_store, "bf-freshlease").Status);
        Assert.Equal(BackfillStatus.Running, BackfillEngine.GetJob(_store, "bf-livedriver").Status); // on this machine the process decides
        Assert.True(BackfillEngine.IsFinished(BackfillStatus.Interrupted));
        Assert.False(BackfillEngine.RequestStop(_store, "bf-deaddriver"));

        var resumed = await BackfillEngine.RunAsync(_store, "pets", "size", Options(), CancellationToken.None);
        Assert.Equal(BackfillStatus.Done, resumed.Status);
        Assert.Equal(BackfillStatus.Failed, BackfillEngine.GetJob(_store, "bf-deaddriver").Status);
        Assert.StartsWith("interrupted; resumed by " + resumed.Id, BackfillEngine.GetJob(_store, "bf-deaddriver").Error);
    }

    [Fact]
    public async Task Values_a_previous_version_staged_one_per_row_are_committed_not_recomputed()
    {
        _store.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "oxford-pets-simple", _bucket, new[] { "image" });
        using (var connection = _store.Open())
        {
            BackfillEngine.EnsureSchema(connection);
            // A crashed driver of the previous release checkpointed rows 0-2 with a value the UDF would never give.
            TableStore.Execute(connection, "INSERT INTO _e2e_staged (table_name, column_name, rowid, value, job_id) VALUES ('pets', 'size', 0, -1, 'old'), ('pets', 'size', 1, -1, 'old'), ('pets', 'size', 2, -1, 'old')");
        }
        var job = await BackfillEngine.RunAsync(_store, "pets", "size", Options(), CancellationToken.None);
        Assert.Equal((BackfillStatus.Done, 27L), (job.Status, job.RowsDone));
        var rows = Rows();
        Assert.All(rows.Take(3), r => Assert.Equal(-1L, r["size"]));
        Assert.All(rows.Skip(3), r => Assert.Equal((long)((byte[])r["image"]!).Length, r["size"]));
    }

    [Fact]
    public async Task Udf_values_live_beside_the_source_rows_and_a_store_made_before_moves_them_there_once()
    {
        _store.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "oxford-pets-simple", _bucket, new[] { "image" });
        await BackfillEngine.RunAsync(_store, "pets", "size", Options(), CancellationToken.None);
        using (var connection = _store.Open())
        {
            // The source table is untouched by the backfill: no column was added to it, its rows were not rewritten.
            using var columns = connection.CreateCommand();
            columns.CommandText = "SELECT COUNT(*) FROM pragma_table_info('pets') WHERE name = 'size'";
            Assert.Equal(0L, columns.ExecuteScalar());
            using var values = connection.CreateCommand();
            values.CommandText = $"SELECT COUNT(*) FROM {TableStore.ValuesTable("pets", "size")}";
            Assert.Equal(30L, values.ExecuteScalar());

            // A store as it was made before: the UDF column inside the source table, with its values.
            TableStore.Execute(connection, $"ALTER TABLE pets ADD COLUMN size INTEGER; UPDATE pets SET size = length(image) + 1; DROP TABLE {TableStore.ValuesTable("pets", "size")};");
        }
        Assert.All(Rows(), r => Assert.Equal((long)((byte[])r["image"]!).Length + 1, r["size"])); // read, and moved once
        Assert.Equal(30, Rows().Count(r => r["size"] is long));
        var again = await BackfillEngine.RunAsync(_store, "pets", "size", Options(), CancellationToken.None);
        Assert.Equal(0, again.RowsPlanned); // every row already has its (old) value
        using var after = _store.Open();
        using var gone = after.CreateCommand();
        gone.CommandText = "SELECT COUNT(*) FROM pragma_table_info('pets') WHERE name = 'size'";
        Assert.Equal(0L, gone.ExecuteScalar());
    }

    [Fact]
    public void A_store_made_before_leases_gets_the_lease_columns_and_its_running_jobs_keep_their_status()
    {
        using var connection = new SqliteConnection($"Data Source={Path.Combine(_root, "old.db")}");
        connection.Open();
        TableStore.Execute(connection, """
            CREATE TABLE _e2e_jobs (id TEXT PRIMARY KEY, table_name TEXT NOT NULL, column_name TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT,
                rows_planned INTEGER NOT NULL DEFAULT 0, rows_done INTEGER NOT NULL DEFAULT 0, rows_failed INTEGER NOT NULL DEFAULT 0, batches INTEGER NOT NULL DEFAULT 0, error TEXT,
                stop_requested INTEGER NOT NULL DEFAULT 0);
            INSERT INTO _e2e_jobs (id, table_name, column_name, status, created_at) VALUES ('bf-old', 'pets', 'size', 'Running', '2026-01-01T00:00:00Z');
            """);
        BackfillEngine.EnsureSchema(connection);
        BackfillEngine.EnsureSchema(connection); // twice: nothing to add the second time
        using var columns = connection.CreateCommand();
        columns.CommandText = "SELECT COUNT(*) FROM pragma_table_info('_e2e_jobs') WHERE name IN ('driver_host', 'driver_process', 'heartbeat_at')";
        Assert.Equal(3L, columns.ExecuteScalar());
    }

    [Fact]
    public async Task Connections_that_open_an_older_store_at_once_all_get_its_new_columns_without_a_duplicate_column_error()
    {
        // Seen in CI: a background backfill and a probe of it both added error_id; the second failed the job.
        for (var store = 0; store < 10; store++)
        {
            var path = Path.Combine(_root, $"old-{store}.db");
            using (var old = new SqliteConnection($"Data Source={path}"))
            {
                old.Open();
                // The release before leases: every table, the jobs without the four later columns.
                TableStore.Execute(old, """
                    CREATE TABLE _e2e_jobs (id TEXT PRIMARY KEY, table_name TEXT NOT NULL, column_name TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT,
                        rows_planned INTEGER NOT NULL DEFAULT 0, rows_done INTEGER NOT NULL DEFAULT 0, rows_failed INTEGER NOT NULL DEFAULT 0, batches INTEGER NOT NULL DEFAULT 0, error TEXT,
                        stop_requested INTEGER NOT NULL DEFAULT 0);
                    CREATE TABLE _e2e_events (job_id TEXT NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
                    CREATE TABLE _e2e_staged (table_name TEXT NOT NULL, column_name TEXT NOT NULL, rowid INTEGER NOT NULL, value, job_id TEXT NOT NULL, PRIMARY KEY (table_name, column_name, rowid));
                    CREATE TABLE _e2e_staged_batches (table_name TEXT NOT NULL, column_name TEXT NOT NULL, job_id TEXT NOT NULL, first_rowid INTEGER NOT NULL, rows INTEGER NOT NULL, payload TEXT NOT NULL);
                    CREATE INDEX _e2e_staged_batches_column ON _e2e_staged_batches (table_name, column_name);
                    CREATE TABLE _e2e_batches (job_id TEXT NOT NULL, fragment INTEGER NOT NULL, first_rowid INTEGER NOT NULL, rows INTEGER NOT NULL, staged_at TEXT NOT NULL);
                    """);
            }
            // A writer holds the store while the openers read its columns, so that they all find them missing and
            // then queue for the write lock: the interleaving that added a column twice. With the columns looked up
            // again under the write lock, the holding time decides nothing.
            using var writer = new SqliteConnection($"Data Source={path};Pooling=False");
            writer.Open();
            using var hold = writer.BeginTransaction(deferred: false);
            using var reading = new CountdownEvent(6);
            var openers = Enumerable.Range(0, 6).Select(_ => Task.Factory.StartNew(() =>
            {
                using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
                connection.Open();
                reading.Signal();
                BackfillEngine.EnsureSchema(connection);
            }, TaskCreationOptions.LongRunning)).ToArray();
            reading.Wait(TimeSpan.FromSeconds(30));
            await Task.Delay(100);
            hold.Commit();
            await Task.WhenAll(openers); // throws the first opener's SqliteException, if any
            using var check = new SqliteConnection($"Data Source={path};Pooling=False");
            check.Open();
            using var columns = check.CreateCommand();
            columns.CommandText = "SELECT COUNT(*) FROM pragma_table_info('_e2e_jobs') WHERE name IN ('driver_host', 'driver_process', 'heartbeat_at', 'error_id')";
            Assert.Equal(4L, columns.ExecuteScalar());
        }
    }
}
