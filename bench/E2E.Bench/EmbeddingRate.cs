using System.Diagnostics;
using System.Globalization;
using E2E.Core.Backfill;
using E2E.Core.Python;
using E2E.Core.Tables;
using E2E.Core.Udf;
using Microsoft.Data.Sqlite;

namespace E2E.Bench;

/// <summary>
/// Rows per second of the ResNet-18 embedding UDF (examples/udfs/torch-embedding) through the Local engine with 1 and
/// 2 workers, cold and warm, next to a plain torch loop over the same images in one process (the same class, set up
/// once, batches of 16, one torch thread, as each worker has); and the driver's peak memory. Needs E2E_TORCH_PYTHON.
/// </summary>
internal static class EmbeddingRate
{
    private const int BatchSize = 16;

    public static int Run(string[] args)
    {
        var python = TorchInterpreter.Configured;
        if (python is null)
        {
            Console.Error.WriteLine($"embedding-rate needs {TorchInterpreter.Variable}: a Python with torch and torchvision (Debian: /usr/bin/python3 after apt-get install python3-torch python3-torchvision python3-pil).");
            return 2;
        }
        var images = int.Parse(Measure.Option(args, "--images", "400"), CultureInfo.InvariantCulture);
        var repeat = int.Parse(Measure.Option(args, "--repeat", "3"), CultureInfo.InvariantCulture);
        var root = Directory.CreateTempSubdirectory("e2e-embedding-rate-").FullName;
        try
        {
            var (store, bucket) = BackfillTrials.Setup(root, images);
            var package = Directory.CreateDirectory(Path.Combine(root, "torch-embedding")).FullName;
            foreach (var file in Directory.EnumerateFiles(Path.Combine(BackfillTrials.RepoRoot(), "examples", "udfs", "torch-embedding")))
            {
                File.Copy(file, Path.Combine(package, Path.GetFileName(file)));
            }
            var manifest = ManifestBuilder.BuildAsync(UdfProject.Load(package), new ManifestBuildOptions { Python = python }, CancellationToken.None).GetAwaiter().GetResult();
            using (var objects = ObjectStores.Open(bucket))
            {
                ManifestStore.PublishAsync(manifest, objects, CancellationToken.None).GetAwaiter().GetResult();
            }
            store.AddUdfColumn("pets", "embedding", ColumnType.Parse("vector[float32, 512]"), "ResnetEmbedding", manifest.Name, bucket, new[] { "image" });
            var torch = TorchInterpreter.ProbeAsync(python, CancellationToken.None).GetAwaiter().GetResult();
            Console.WriteLine($"embedding rate: {images} PNG rows, ResNet-18 at 128x128 ({torch}), batches of {BatchSize}, one torch thread a process; environment: {manifest.EnvironmentKind}; each figure the median of {repeat} rounds (fastest-slowest)");

            // Rounds: the loop, then each engine figure, so that all share the machine's busy and quiet spells.
            var engines = new (int Workers, bool Warm)[] { (1, false), (1, true), (2, false), (2, true) };
            var loopRuns = new List<TimeSpan>();
            var engineRuns = engines.Select(_ => new List<TimeSpan>()).ToArray();
            for (var round = 0; round < repeat; round++)
            {
                loopRuns.Add(PlainLoop(python, store.Database, package));
                for (var e = 0; e < engines.Length; e++)
                {
                    if (!engines[e].Warm)
                    {
                        UdfWorkerPool.DrainAsync().GetAwaiter().GetResult();
                    }
                    engineRuns[e].Add(Fill(store, root, python, engines[e].Workers, images));
                }
            }
            var loop = Timings.Of(loopRuns);
            Console.WriteLine($"  plain torch loop in one process, timed after the model's set-up: {images / loop.Median,7:N1} rows/s  ({loop})");
            var rates = new Dictionary<(int, bool), double>();
            for (var e = 0; e < engines.Length; e++)
            {
                var (workers, warm) = engines[e];
                var runs = Timings.Of(engineRuns[e]);
                rates[(workers, warm)] = images / runs.Median;
                var scaling = workers == 2 ? $", {rates[(2, warm)] / rates[(1, warm)]:0.00} x 1 worker" : string.Empty;
                Console.WriteLine($"  E2E Local engine, {workers} worker(s), {(warm ? "warm (set-up workers reused)" : "cold (workers start, import torch, build the model)")}: {images / runs.Median,7:N1} rows/s  ({runs}; {loop.Median / runs.Median:0.00} x the loop{scaling})");
            }
            Console.WriteLine($"  goals: 1 worker (warm) at least 0.9 x the loop: {rates[(1, true)] * loop.Median / images:0.00} x; 2 workers at least 1.7 x one on 2 cores: {rates[(2, true)] / rates[(1, true)]:0.00} x (warm), {rates[(2, false)] / rates[(1, false)]:0.00} x (cold)");
            Console.WriteLine($"  driver peak memory (VmHWM): {Measure.PeakMemoryMb():N0} MB");
            return 0;
        }
        finally
        {
            UdfWorkerPool.DrainAsync().GetAwaiter().GetResult();
            SqliteConnection.ClearAllPools();
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>Empties the column, then fills it; the time of the fill.</summary>
    private static TimeSpan Fill(TableStore store, string root, string python, int workers, int images)
    {
        store.ClearUdfColumn("pets", "embedding");
        var clock = Stopwatch.StartNew();
        var job = BackfillEngine.RunAsync(store, "pets", "embedding", BackfillTrials.Options(root, BatchSize, workers) with { Python = python }, CancellationToken.None).GetAwaiter().GetResult();
        var elapsed = clock.Elapsed;
        if (job.Status != BackfillStatus.Done || job.RowsDone != images)
        {
            throw new InvalidOperationException($"embedding backfill {job.Status}, {job.RowsDone} rows: {job.Error}");
        }
        return elapsed;
    }

    /// <summary>The loop a user would write around the same class: set up once, then every image in batches; its loop's time, measured inside.</summary>
    private static TimeSpan PlainLoop(string python, string database, string package)
    {
        var script = string.Join("\n",
            "import sqlite3, sys, time",
            $"sys.path[:0] = [r'{package}', r'{Path.Combine(BackfillTrials.RepoRoot(), "module", "python")}']",
            "import torch_embedding_udfs",
            "udf = torch_embedding_udfs.ResnetEmbedding()",
            "udf.setup()",
            "start = time.perf_counter()",
            $"images = [r[0] for r in sqlite3.connect(r'{database}').execute('SELECT image FROM pets ORDER BY _rowid')]",
            "vectors = []",
            $"for first in range(0, len(images), {BatchSize}):",
            $"    vectors.extend(udf(images[first:first + {BatchSize}]))",
            "assert len(vectors) == len(images) and len(vectors[0]) == 512",
            "print(time.perf_counter() - start)");
        using var process = Process.Start(new ProcessStartInfo(python, new[] { "-c", script }) { RedirectStandardOutput = true })!;
        var output = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"the plain torch loop exited with {process.ExitCode}");
        }
        return TimeSpan.FromSeconds(double.Parse(output.Split('\n')[^1], CultureInfo.InvariantCulture));
    }
}
