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
            var repeat = int.Parse(Measure.Option(args, "--repeat", "5"), CultureInfo.InvariantCulture);
            store.AddUdfColumn("pets", "print", ColumnType.Parse("int64"), "fingerprint", "oxford-pets-simple", bucket, new[] { "image" });
            // The driver's code is compiled once per session, as the plain loop's imports are outside its timing: small
            // backfills first, until the JIT has nothing left to compile (else its tier-up of ~1,200 methods, 0.7-1.7 s of
            // CPU, lands in whichever run first leaves it a quiet spell: here the one-worker fingerprint run, on the core its worker needs).
            var settled = SettleDriver(store, root, batch);
            Console.WriteLine($"the driver's code warmed by {settled.Rounds} rounds of small backfills, until its JIT went quiet ({settled.Methods:N0} methods, {settled.CompileTime.TotalSeconds:0.00} s compiling)");
            // Every figure is the median of several runs, taken in rounds (the loop, then each engine figure), so that the
            // loop and the engine share the machine's busy and quiet spells: one run of 20-70 ms swings by half here.
            // Cold: no idle workers, so the timing includes their start (interpreter and imports). Warm: the workers
            // the cold run left idle serve again, as they do for a session's next backfill of the same manifest.
            var engines = new (int Workers, bool Warm)[] { (1, false), (1, true), (2, false), (2, true) };
            var plainRuns = new List<(TimeSpan Loop, TimeSpan Program)>();
            var startRuns = new List<(TimeSpan Isolated, TimeSpan WithSite)>();
            var engineRuns = engines.Select(_ => new List<TimeSpan>()).ToArray();
            for (var round = 0; round < repeat; round++)
            {
                plainRuns.Add(PlainPython(store.Database, Path.Combine(root, "simple"), Path.Combine(root, "plain-results.db")));
                startRuns.Add((InterpreterStart("-S"), InterpreterStart()));
                for (var e = 0; e < engines.Length; e++)
                {
                    if (!engines[e].Warm)
                    {
                        UdfWorkerPool.DrainAsync().GetAwaiter().GetResult();
                    }
                    engineRuns[e].Add(Fill(store, root, batch, engines[e].Workers, null));
                }
            }
            var loop = Timings.Of(plainRuns.Select(r => r.Loop));
            var program = Timings.Of(plainRuns.Select(r => r.Program));
            Console.WriteLine($"backfill rate: {images} PNG rows, file_size + dimensions, batch {batch}; each figure the median of {repeat} rounds (fastest-slowest)");
            Console.WriteLine($"  plain Python loop, timed after its imports : {images / loop.Median,8:N0} rows/s  ({loop})");
            Console.WriteLine($"  the same loop as a program (start, imports, loop, values stored in one transaction): {images / program.Median,8:N0} rows/s  ({program})");
            // What a process pays before any work, so the cold figures and the program can be read against it: the
            // packed environment's workers start isolated (-S), the plain program with `site` and the .pth files of the
            // interpreter's site-packages (which a machine may fill with anything; this one's import certifi).
            var isolated = Timings.Of(startRuns.Select(r => r.Isolated));
            var withSite = Timings.Of(startRuns.Select(r => r.WithSite));
            Console.WriteLine($"  interpreter start alone (python3 -c pass): with -S, as the isolated workers start, {isolated}; with site, as the program starts, {withSite}");
            double? one = null;
            for (var e = 0; e < engines.Length; e++)
            {
                var (workers, warm) = engines[e];
                var runs = Timings.Of(engineRuns[e]);
                var rate = images / runs.Median;
                if (warm && workers == 1)
                {
                    one = rate;
                }
                Console.WriteLine($"  E2E Local engine, {workers} worker(s), {(warm ? "warm (idle workers reused)" : "cold (workers started)  ")}: {rate,8:N0} rows/s  ({runs}; {loop.Median / runs.Median:0.00} x the loop, {program.Median / runs.Median:0.00} x the program{(warm && workers == 2 ? $", {rate / one!.Value:0.00} x 1 worker" : string.Empty)})");
            }
            // Where workers must scale: a CPU-bound UDF of about 1 ms a row (fingerprint: four rolling hashes of the bytes).
            var slowRows = Math.Min(images, int.Parse(Measure.Option(args, "--slow-rows", "3680"), CultureInfo.InvariantCulture));
            var package = Path.Combine(root, "simple");
            Console.WriteLine($"  fingerprint in a plain Python loop, first 300 rows: {UdfMilliseconds(store.Database, package, "fingerprint", 300):0.00} ms a row");
            SettleDriver(store, root, batch);
            // Rounds again, the order of one and two workers alternating, so that a slow spell of the machine (which
            // moved one run's ratio by a fifth here) weighs on both; each round also measures the machine's own ceiling
            // for two workers: the plain loop over 600 rows alone, then twice at once.
            var slowRepeat = int.Parse(Measure.Option(args, "--slow-repeat", "5"), CultureInfo.InvariantCulture);
            var slowRuns = new[] { new List<TimeSpan>(), new List<TimeSpan>() };
            var driverCpu = new[] { TimeSpan.Zero, TimeSpan.Zero };
            var ceilings = new List<double>();
            for (var round = 0; round < slowRepeat; round++)
            {
                foreach (var workers in round % 2 == 0 ? new[] { 1, 2 } : new[] { 2, 1 })
                {
                    store.ClearUdfColumn("pets", "print");
                    UdfWorkerPool.DrainAsync().GetAwaiter().GetResult(); // cold: the scaling includes the workers' start
                    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                    var clock = Stopwatch.StartNew();
                    var job = BackfillEngine.RunAsync(store, "pets", "print", BackfillTrials.Options(root, 50, workers) with { Where = $"_rowid < {slowRows}" }, CancellationToken.None).GetAwaiter().GetResult();
                    slowRuns[workers - 1].Add(clock.Elapsed);
                    driverCpu[workers - 1] += Process.GetCurrentProcess().TotalProcessorTime - cpu;
                    if (job.Status != BackfillStatus.Done || job.RowsDone != slowRows)
                    {
                        throw new InvalidOperationException($"fingerprint backfill {job.Status}, {job.RowsDone} rows: {job.Error}");
                    }
                }
                var alone = UdfMilliseconds(store.Database, package, "fingerprint", 600);
                var together = Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(() => UdfMilliseconds(store.Database, package, "fingerprint", 600)))).GetAwaiter().GetResult();
                ceilings.Add(2 * alone / together.Max());
            }
            // The scaling of each round (its two runs a few seconds apart), then their median.
            var scaling = Timings.Of(slowRuns[0].Zip(slowRuns[1], (one, two) => one / two));
            for (var workers = 1; workers <= 2; workers++)
            {
                var runs = Timings.Of(slowRuns[workers - 1]);
                Console.WriteLine($"  1 ms UDF (fingerprint), {workers} worker(s), cold: {slowRows / runs.Median,8:N0} rows/s  ({runs} for {slowRows} rows; the driver's CPU {driverCpu[workers - 1].TotalSeconds / slowRepeat:0.00} s a run)");
            }
            Console.WriteLine($"  2 workers against 1 on the 1 ms UDF, per round: {scaling.Median:0.00} x ({scaling.Fastest:0.00}-{scaling.Slowest:0.00}; {string.Join(", ", slowRuns[0].Zip(slowRuns[1], (one, two) => (one / two).ToString("0.00", CultureInfo.InvariantCulture)))})");
            var ceiling = Timings.Of(ceilings);
            Console.WriteLine($"  two plain fingerprint loops at once (600 rows each), the machine's ceiling for 2 workers: {ceiling.Median:0.00} x one alone ({ceiling.Fastest:0.00}-{ceiling.Slowest:0.00})");
            Console.WriteLine($"  driver peak memory (VmHWM)          : {Measure.PeakMemoryMb():N0} MB");
            Packing(root);
            return 0;
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>Empties size and dims, then fills both in one pass (every row when <paramref name="where"/> is null); the time of the fill.</summary>
    private static TimeSpan Fill(TableStore store, string root, int batch, int workers, string? where)
    {
        Reset(store);
        var clock = Stopwatch.StartNew();
        var jobs = BackfillEngine.RunAsync(store, "pets", new[] { "size", "dims" }, BackfillTrials.Options(root, batch, workers) with { Where = where }, CancellationToken.None).GetAwaiter().GetResult();
        var elapsed = clock.Elapsed;
        foreach (var job in jobs)
        {
            if (job.Status != BackfillStatus.Done || (where is null && job.RowsDone != job.RowsPlanned))
            {
                throw new InvalidOperationException($"backfill of {job.Column} {job.Status}, {job.RowsDone} rows: {job.Error}");
            }
        }
        return elapsed;
    }

    /// <summary>
    /// Small backfills (both cheap columns with one and two workers, two fingerprint batches), each followed by a pause
    /// longer than the runtime's tier-up delay, until a round compiles nothing; the rounds, methods and compile time it took.
    /// </summary>
    private static (int Rounds, long Methods, TimeSpan CompileTime) SettleDriver(TableStore store, string root, int batch)
    {
        var methods = System.Runtime.JitInfo.GetCompiledMethodCount();
        var compiling = System.Runtime.JitInfo.GetCompilationTime();
        var rounds = 0;
        for (var quiet = 0; quiet < 2 && rounds < 60; rounds++)
        {
            var before = System.Runtime.JitInfo.GetCompiledMethodCount();
            Fill(store, root, batch, 1, "_rowid < 50");
            Fill(store, root, batch, 2, "_rowid < 200");
            store.ClearUdfColumn("pets", "print");
            BackfillEngine.RunAsync(store, "pets", "print", BackfillTrials.Options(root, 5, 2) with { Where = "_rowid < 10" }, CancellationToken.None).GetAwaiter().GetResult();
            Thread.Sleep(250);
            quiet = System.Runtime.JitInfo.GetCompiledMethodCount() == before ? quiet + 1 : 0;
        }
        return (rounds, System.Runtime.JitInfo.GetCompiledMethodCount() - methods, System.Runtime.JitInfo.GetCompilationTime() - compiling);
    }

    private static void Reset(TableStore store)
    {
        store.ClearUdfColumn("pets", "size");
        store.ClearUdfColumn("pets", "dims");
        using var connection = store.Open();
        BackfillEngine.EnsureSchema(connection);
        TableStore.Execute(connection, "DELETE FROM _e2e_batches; DELETE FROM _e2e_staged; DELETE FROM _e2e_staged_batches;");
    }

    /// <summary>
    /// The plain loop a user would write: its loop timed inside the process (after imports), and the whole program
    /// timed from outside (interpreter start, imports, the loop, and the values stored in one transaction, as a
    /// backfill stores them).
    /// </summary>
    private static (TimeSpan Loop, TimeSpan Program) PlainPython(string database, string package, string results)
    {
        var (output, elapsed) = RunWithSimpleUdfs(package,
            "import json",
            "start = time.perf_counter()",
            $"db = sqlite3.connect(r'{database}')",
            "out = []",
            "for rowid, image in db.execute('SELECT _rowid, image FROM pets ORDER BY _rowid'):",
            "    out.append((rowid, simple_udfs.file_size(image), json.dumps(simple_udfs.dimensions(image))))",
            "loop = time.perf_counter() - start",
            $"store = sqlite3.connect(r'{results}')",
            "store.execute('CREATE TABLE IF NOT EXISTS results (rowid INTEGER PRIMARY KEY, size INTEGER, dims TEXT)')",
            "store.execute('DELETE FROM results')",
            "store.executemany('INSERT INTO results VALUES (?, ?, ?)', out)",
            "store.commit()",
            "print(loop, len(out))");
        return (TimeSpan.FromSeconds(double.Parse(output.Split(' ')[0], CultureInfo.InvariantCulture)), elapsed);
    }

    /// <summary>The wall time of starting the interpreter workers run and doing nothing, with <paramref name="options"/>.</summary>
    private static TimeSpan InterpreterStart(params string[] options)
    {
        var start = new ProcessStartInfo(UdfWorker.ResolveInterpreter("python3"), options.Concat(new[] { "-c", "pass" }));
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        process.WaitForExit();
        return clock.Elapsed;
    }

    /// <summary>What one call of a simple_udfs UDF costs, in a plain loop over the table's first rows (after imports and reads).</summary>
    private static double UdfMilliseconds(string database, string package, string udf, int rows) =>
        double.Parse(RunWithSimpleUdfs(package,
            $"images = [r[0] for r in sqlite3.connect(r'{database}').execute('SELECT image FROM pets ORDER BY _rowid LIMIT {rows}')]",
            "start = time.perf_counter()",
            $"for image in images: simple_udfs.{udf}(image)",
            "print((time.perf_counter() - start) * 1000 / len(images))").Output, CultureInfo.InvariantCulture);

    /// <summary>A Python program of <paramref name="lines"/> after sqlite3, sys, time and the package's simple_udfs are imported; its trimmed output and wall time.</summary>
    private static (string Output, TimeSpan Elapsed) RunWithSimpleUdfs(string package, params string[] lines)
    {
        var script = string.Join("\n", new[]
        {
            "import sqlite3, sys, time",
            $"sys.path[:0] = [r'{package}', r'{Path.Combine(BackfillTrials.RepoRoot(), "module", "python")}']",
            "import simple_udfs",
        }.Concat(lines));
        var python = UdfWorker.ResolveInterpreter("python3");
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(new ProcessStartInfo(python, new[] { "-c", script }) { RedirectStandardOutput = true })!;
        var output = process.StandardOutput.ReadToEnd().Trim();
        process.WaitForExit();
        return (output, clock.Elapsed);
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
