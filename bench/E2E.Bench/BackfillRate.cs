using System.Diagnostics;
using System.Globalization;
using E2E.Core.Backfill;
using E2E.Core.Tables;
using E2E.Core.Udf;
using Microsoft.Data.Sqlite;

namespace E2E.Bench;

/// <summary>
/// Rows per second for file_size + dimensions over generated PNGs, with 1 and 2 workers, next to a plain
/// single-process Python loop over the same SQLite file computing the same values; the same for a CPU-bound UDF of
/// about 1 ms a row (fingerprint, batch 50), where workers must scale; the driver's peak memory; and packing a
/// ~100 MB site-packages tree next to 'zip -r'.
/// </summary>
internal static class BackfillRate
{
    public static int Run(string[] args)
    {
        var images = int.Parse(Measure.Option(args, "--images", "3680"), CultureInfo.InvariantCulture);
        var batch = int.Parse(Measure.Option(args, "--batch", "100"), CultureInfo.InvariantCulture);
        var root = Directory.CreateTempSubdirectory("e2e-backfill-rate-").FullName;
        try
        {
            var (store, bucket) = BackfillTrials.Setup(root, images);
            store.AddUdfColumn("pets", "size", ColumnType.Parse("int64"), "file_size", "oxford-pets-simple", bucket, new[] { "image" });
            store.AddUdfColumn("pets", "dims", ColumnType.Parse("struct"), "dimensions", "oxford-pets-simple", bucket, new[] { "image" });
            var plain = PlainPython(store.Database, Path.Combine(root, "simple"));
            Console.WriteLine($"backfill rate: {images} PNG rows, file_size + dimensions, batch {batch}");
            Console.WriteLine($"  plain Python loop (one process)     : {images / plain.TotalSeconds,8:N0} rows/s  ({plain.TotalSeconds:0.000} s)");
            double? one = null;
            foreach (var workers in new[] { 1, 2 })
            {
                Reset(store);
                var clock = Stopwatch.StartNew();
                foreach (var column in new[] { "size", "dims" })
                {
                    var job = BackfillEngine.RunAsync(store, "pets", column, BackfillTrials.Options(root, batch, workers), CancellationToken.None).GetAwaiter().GetResult();
                    if (job.Status != BackfillStatus.Done)
                    {
                        throw new InvalidOperationException($"backfill {job.Status}: {job.Error}");
                    }
                }
                var rate = images / clock.Elapsed.TotalSeconds;
                one ??= rate;
                Console.WriteLine($"  E2E Local engine, {workers} worker(s)         : {rate,8:N0} rows/s  ({clock.Elapsed.TotalSeconds:0.000} s, {rate / (images / plain.TotalSeconds):0.00} x plain loop{(workers == 2 ? $", {rate / one.Value:0.00} x 1 worker" : string.Empty)})");
            }
            // Where workers must scale: a CPU-bound UDF of about 1 ms a row (fingerprint: two rolling-hash passes).
            store.AddUdfColumn("pets", "print", ColumnType.Parse("int64"), "fingerprint", "oxford-pets-simple", bucket, new[] { "image" });
            var slowRows = Math.Min(images, int.Parse(Measure.Option(args, "--slow-rows", "3680"), CultureInfo.InvariantCulture));
            double? slowOne = null;
            foreach (var workers in new[] { 1, 2 })
            {
                store.ClearUdfColumn("pets", "print");
                var clock = Stopwatch.StartNew();
                var job = BackfillEngine.RunAsync(store, "pets", "print", BackfillTrials.Options(root, 50, workers) with { Where = $"_rowid < {slowRows}" }, CancellationToken.None).GetAwaiter().GetResult();
                if (job.Status != BackfillStatus.Done || job.RowsDone != slowRows)
                {
                    throw new InvalidOperationException($"fingerprint backfill {job.Status}, {job.RowsDone} rows: {job.Error}");
                }
                var rate = slowRows / clock.Elapsed.TotalSeconds;
                slowOne ??= rate;
                Console.WriteLine($"  1 ms UDF (fingerprint), {workers} worker(s)  : {rate,8:N0} rows/s  ({clock.Elapsed.TotalSeconds:0.000} s for {slowRows} rows{(workers == 2 ? $", {rate / slowOne.Value:0.00} x 1 worker" : string.Empty)})");
            }
            Console.WriteLine($"  driver peak memory (VmHWM)          : {PeakMemoryMb():N0} MB");
            Packing(root);
            return 0;
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(root, recursive: true);
        }
    }

    private static void Reset(TableStore store)
    {
        store.ClearUdfColumn("pets", "size");
        store.ClearUdfColumn("pets", "dims");
        using var connection = store.Open();
        BackfillEngine.EnsureSchema(connection);
        TableStore.Execute(connection, "DELETE FROM _e2e_batches; DELETE FROM _e2e_staged;");
    }

    private static TimeSpan PlainPython(string database, string package)
    {
        var script = string.Join("\n",
            "import sqlite3, sys, time, json",
            $"sys.path[:0] = [r'{package}', r'{Path.Combine(BackfillTrials.RepoRoot(), "module", "python")}']",
            "import simple_udfs",
            "start = time.perf_counter()",
            $"db = sqlite3.connect(r'{database}')",
            "out = []",
            "for rowid, image in db.execute('SELECT _rowid, image FROM pets ORDER BY _rowid'):",
            "    out.append((rowid, simple_udfs.file_size(image), json.dumps(simple_udfs.dimensions(image))))",
            "print(time.perf_counter() - start, len(out))");
        using var python = Process.Start(new ProcessStartInfo("python3", new[] { "-c", script }) { RedirectStandardOutput = true })!;
        var output = python.StandardOutput.ReadToEnd().Trim().Split(' ');
        python.WaitForExit();
        return TimeSpan.FromSeconds(double.Parse(output[0], CultureInfo.InvariantCulture));
    }

    private static double PeakMemoryMb()
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)) ?? "VmHWM: 0 kB";
        return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    }

    /// <summary>A ~100 MB tree shaped like site-packages: many small text files and some large binaries.</summary>
    private static void Packing(string root)
    {
        var tree = Path.Combine(root, "site-packages");
        var random = new Random(3);
        long total = 0;
        for (var i = 0; total < 100L * 1024 * 1024; i++)
        {
            var dir = Path.Combine(tree, $"pkg{i % 40}", $"sub{i % 7}");
            Directory.CreateDirectory(dir);
            var size = i % 50 == 0 ? 2 * 1024 * 1024 : 4 * 1024 + random.Next(40 * 1024);
            var bytes = new byte[size];
            if (i % 50 == 0)
            {
                random.NextBytes(bytes);
            }
            else
            {
                const string source = "def f(x):\n    return x * 2  # python source\n";
                for (var b = 0; b < size; b++)
                {
                    bytes[b] = (byte)source[b % source.Length];
                }
            }
            File.WriteAllBytes(Path.Combine(dir, i % 50 == 0 ? $"lib{i}.so" : $"mod{i}.py"), bytes);
            total += size;
        }
        var clock = Stopwatch.StartNew();
        var ours = DeterministicZip.Create(DeterministicZip.Walk(tree, new HashSet<string>()), Path.Combine(root, "packed"));
        var oursTime = clock.Elapsed;
        var zip = Measure.Program("sh", "-c", $"cd '{tree}' && zip -q -r '{Path.Combine(root, "zip-r.zip")}' .");
        Console.WriteLine($"  packing {total / (1024 * 1024)} MB site-packages ({ours.Members} files): deterministic zip {oursTime.TotalSeconds:0.00} s ({new FileInfo(ours.Path).Length / (1024 * 1024)} MB), zip -r {zip.Elapsed.TotalSeconds:0.00} s ({new FileInfo(Path.Combine(root, "zip-r.zip")).Length / (1024 * 1024)} MB)");
    }
}
