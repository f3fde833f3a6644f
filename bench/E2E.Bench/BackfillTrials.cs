using System.Diagnostics;
using System.Globalization;
using E2E.Core.Backfill;
using E2E.Core.Tables;
using E2E.Core.Udf;
using Microsoft.Data.Sqlite;

namespace E2E.Bench;

/// <summary>
/// Exactly-once under kills: each trial starts a backfill and, at a random moment, kills either the driver
/// process (with its workers) or one worker; then the backfill is resumed to completion and checked: every
/// row holds exactly its one correct value and no row was checkpointed twice.
/// </summary>
internal static class BackfillTrials
{
    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "E2E.psd1")))
            {
                return dir.FullName;
            }
        }
        throw new DirectoryNotFoundException("repository root (E2E.psd1)");
    }

    public static string WorkerScript => Path.Combine(RepoRoot(), "module", "python", "e2e_worker.py");

    /// <summary>A table of generated images with a file_size column bound to the published simple example.</summary>
    public static (TableStore Store, string Bucket) Setup(string root, int images)
    {
        PetImages.Generate(Path.Combine(root, "images"), images);
        var project = Directory.CreateDirectory(Path.Combine(root, "simple")).FullName;
        foreach (var file in Directory.EnumerateFiles(Path.Combine(RepoRoot(), "examples", "udfs", "simple")))
        {
            File.Copy(file, Path.Combine(project, Path.GetFileName(file)));
        }
        var bucket = new Uri(Path.Combine(root, "bucket") + "/").AbsoluteUri;
        // The environment packed, as New-UdfManifest does by default: its workers run isolated from the interpreter's site-packages.
        var manifest = ManifestBuilder.BuildAsync(UdfProject.Load(project), new ManifestBuildOptions(), CancellationToken.None).GetAwaiter().GetResult();
        using (var store = ObjectStores.Open(bucket))
        {
            ManifestStore.PublishAsync(manifest, store, CancellationToken.None).GetAwaiter().GetResult();
        }
        var tables = new TableStore(Path.Combine(root, "pets.db"));
        tables.Create("pets", PetImages.Columns, PetImages.Rows(Path.Combine(root, "images")), 25);
        return (tables, bucket);
    }

    public static BackfillOptions Options(string root, int batchSize, int concurrency) => new()
    {
        BatchSize = batchSize,
        Concurrency = concurrency,
        WorkerScript = WorkerScript,
        CacheDirectory = Path.Combine(root, "cache"),
    };

    /// <summary>The child process a driver-kill trial kills: one backfill run, nothing else.</summary>
    public static int Driver(string[] args)
    {
        var root = args[0];
        var job = BackfillEngine.RunAsync(new TableStore(Path.Combine(root, "pets.db")), "pets", "size", Options(root, 5, 2), CancellationToken.None).GetAwaiter().GetResult();
        return job.Status == BackfillStatus.Done ? 0 : 1;
    }

    public static int Run(string[] args)
    {
        var trials = int.Parse(Measure.Option(args, "--trials", "20"), CultureInfo.InvariantCulture);
        var images = int.Parse(Measure.Option(args, "--images", "4000"), CultureInfo.InvariantCulture);
        var root = Directory.CreateTempSubdirectory("e2e-backfill-trials-").FullName;
        var random = new Random(int.Parse(Measure.Option(args, "--seed", "1"), CultureInfo.InvariantCulture));
        var failures = 0;
        try
        {
            // Calibrate: an uninterrupted run in a child process, so kills can land at random points inside a run.
            var calibration = Directory.CreateDirectory(Path.Combine(root, "calibration")).FullName;
            var (calStore, calBucket) = Setup(calibration, images);
            calStore.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "oxford-pets-simple", calBucket, new[] { "image" });
            var clock = Stopwatch.StartNew();
            using (var full = Process.Start(new ProcessStartInfo(Environment.ProcessPath!, new[] { "backfill-driver", calibration }) { RedirectStandardOutput = true, RedirectStandardError = true })!)
            {
                full.WaitForExit();
            }
            var runMs = (int)clock.ElapsedMilliseconds;
            Console.WriteLine($"backfill exactly-once trials: {trials} trials over {images} rows (batch 5, 2 workers); an uninterrupted driver run takes {runMs} ms");
            Console.WriteLine("  each kill is timed on the run itself: it lands once the job record shows a random 10-90 % of its rows checkpointed");
            var midRun = 0;
            for (var trial = 1; trial <= trials; trial++)
            {
                var dir = Directory.CreateDirectory(Path.Combine(root, $"t{trial}")).FullName;
                var (store, bucket) = Setup(dir, images);
                store.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "oxford-pets-simple", bucket, new[] { "image" });
                var killDriver = trial % 2 == 1;
                var fraction = 0.1 + (0.8 * random.NextDouble());
                var kill = killDriver ? KillDriver(store, dir, fraction) : KillWorker(store, dir, fraction);
                midRun += kill.MidRun ? 1 : 0;
                var resumed = BackfillEngine.RunAsync(store, "pets", "size", Options(dir, 5, 2), CancellationToken.None).GetAwaiter().GetResult();
                var (wrong, checkpointed, staged) = Check(store);
                var ok = resumed.Status == BackfillStatus.Done && wrong == 0 && checkpointed == images && staged == 0 && (!killDriver || !kill.MidRun || kill.ReadInterrupted);
                failures += ok ? 0 : 1;
                Console.WriteLine($"  trial {trial,2}: {kill.What,-62}; resume {resumed.Status}, {resumed.RowsDone,4} rows computed on resume; rows wrong/missing {wrong}, checkpointed {checkpointed}/{images}, left staged {staged}: {(ok ? "ok" : "FAILED")}");
                SqliteConnection.ClearAllPools();
            }
            Console.WriteLine($"exactly-once trials: {trials - failures} passed, {failures} failed; {midRun} of {trials} kills landed mid-run");
            return failures == 0 ? 0 : 1;
        }
        finally
        {
            if (!args.Contains("--keep"))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    private sealed record Kill(string What, bool MidRun, bool ReadInterrupted);

    // The running job's checkpointed rows and planned rows, read from the store as any other process would.
    private static (long Done, long Planned, BackfillStatus? Status) Progress(TableStore store)
    {
        try
        {
            var job = BackfillEngine.Jobs(store).LastOrDefault();
            return job is null ? (0, 0, null) : (job.RowsDone, job.RowsPlanned, job.Status);
        }
        catch (SqliteException)
        {
            return (0, 0, null); // busy: look again
        }
    }

    private static bool WaitForProgress(TableStore store, double fraction, Func<bool> ended)
    {
        while (!ended())
        {
            var (done, planned, status) = Progress(store);
            if (status == BackfillStatus.Running && planned > 0 && done >= fraction * planned && done < planned)
            {
                return true;
            }
            Thread.Sleep(2);
        }
        return false;
    }

    private static Kill KillDriver(TableStore store, string dir, double fraction)
    {
        // Run as 'dotnet E2E.Bench.dll', this process is the dotnet host: the driver then needs the assembly named too.
        var self = Environment.ProcessPath!;
        var arguments = Path.GetFileNameWithoutExtension(self) == "dotnet" ? new[] { typeof(BackfillTrials).Assembly.Location, "backfill-driver", dir } : new[] { "backfill-driver", dir };
        using var child = Process.Start(new ProcessStartInfo(self, arguments) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        if (!WaitForProgress(store, fraction, () => child.HasExited))
        {
            child.WaitForExit();
            return new Kill($"driver finished before {fraction:P0} was reached", false, false);
        }
        var (done, planned, _) = Progress(store);
        child.Kill(entireProcessTree: true);
        child.WaitForExit();
        // The driver ran on this machine: its job must read Interrupted as soon as the process is gone.
        var clock = Stopwatch.StartNew();
        var status = Progress(store).Status;
        while (status != BackfillStatus.Interrupted && clock.Elapsed < BackfillEngine.LeaseTime + TimeSpan.FromSeconds(2))
        {
            Thread.Sleep(10);
            status = Progress(store).Status;
        }
        var interrupted = status == BackfillStatus.Interrupted;
        return new Kill($"driver killed at {done}/{planned} rows, job {(interrupted ? $"Interrupted after {clock.ElapsedMilliseconds} ms" : status.ToString())}", true, interrupted);
    }

    private static Kill KillWorker(TableStore store, string dir, double fraction)
    {
        var run = BackfillEngine.RunAsync(store, "pets", "size", Options(dir, 5, 2), CancellationToken.None);
        if (!WaitForProgress(store, fraction, () => run.IsCompleted))
        {
            run.GetAwaiter().GetResult();
            return new Kill($"run finished before {fraction:P0} was reached", false, false);
        }
        var (done, planned, _) = Progress(store);
        var victims = Process.GetProcesses().Where(p => SafeCommandLine(p).Contains("e2e_worker.py", StringComparison.Ordinal) && SafeCommandLine(p).Contains(dir, StringComparison.Ordinal)).ToArray();
        foreach (var victim in victims.Take(1))
        {
            victim.Kill();
        }
        var job = run.GetAwaiter().GetResult();
        return new Kill(victims.Length == 0 ? $"no worker to kill at {done}/{planned} rows" : $"1 worker killed at {done}/{planned} rows, run {job.Status}", victims.Length > 0, false);
    }

    private static string SafeCommandLine(Process process)
    {
        try
        {
            return File.ReadAllText($"/proc/{process.Id}/cmdline").Replace('\0', ' ');
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return string.Empty;
        }
    }

    private static (long Wrong, long Checkpointed, long Staged) Check(TableStore store)
    {
        using var connection = store.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT COUNT(*) FROM {TableStore.Readable("pets", TableStore.Columns(connection, "pets"))} WHERE size IS NULL OR size != length(image); SELECT COALESCE(SUM(rows), 0) FROM _e2e_batches; SELECT (SELECT COUNT(*) FROM _e2e_staged) + (SELECT COALESCE(SUM(rows), 0) FROM _e2e_staged_batches);";
        using var reader = command.ExecuteReader();
        reader.Read();
        var wrong = reader.GetInt64(0);
        reader.NextResult();
        reader.Read();
        var checkpointed = reader.GetInt64(0);
        reader.NextResult();
        reader.Read();
        return (wrong, checkpointed, reader.GetInt64(0));
    }
}
