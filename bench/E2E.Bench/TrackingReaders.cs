using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using E2E.Core.Tracking;
using E2E.Core.Tracking.WandbProto;
using Google.Protobuf;

namespace E2E.Bench;

/// <summary>
/// Reads a 1,000,000-point metric series from each store (an MLflow metric file, a .wandb log of one history
/// row per point, a ClearML metrics.jsonl of 1,000-event batches) with the module's readers, and, as the
/// reference in the same run, with the plain Python readers of tests/reference on the same files (timed
/// inside Python, so interpreter start-up is not counted). Best of three for each.
/// </summary>
internal static class TrackingReaders
{
    public static int Run(string[] args)
    {
        var points = int.Parse(Measure.Option(args, "--points", "1000000"), CultureInfo.InvariantCulture);
        var root = Directory.CreateTempSubdirectory("e2e-bench-tracking-").FullName;
        try
        {
            var plain = FindPlainReaders();
            var series = Enumerable.Range(0, points).Select(i => new MetricPoint(i, Math.Exp(-i / (double)points) + (i % 7) * 1e-3, 1_767_323_045_000 + i)).ToArray();
            var mlflow = Path.Combine(root, "loss");
            File.WriteAllText(mlflow, string.Concat(series.Select(p => $"{p.TimestampMs} {TrackingJsonFloat(p.Value)} {p.Step}\n")));
            var wandb = Path.Combine(root, "run-bench.wandb");
            File.WriteAllBytes(wandb, WandbTransactionLog.Write(series.Select((p, i) => new Record
            {
                Num = i + 1,
                History = new HistoryRecord
                {
                    Item =
                    {
                        new HistoryItem { NestedKey = { "_step" }, ValueJson = p.Step.ToString(CultureInfo.InvariantCulture) },
                        new HistoryItem { NestedKey = { "_timestamp" }, ValueJson = (p.TimestampMs / 1000.0).ToString("R", CultureInfo.InvariantCulture) },
                        new HistoryItem { NestedKey = { "train/loss" }, ValueJson = TrackingJsonFloat(p.Value) },
                    },
                },
            }.ToByteArray())));
            var clearml = Path.Combine(root, "offline-bench");
            Directory.CreateDirectory(clearml);
            File.WriteAllText(Path.Combine(clearml, "task.json"), """{"id": "offline-bench", "name": "bench", "project_name": "bench", "status": "completed"}""");
            File.WriteAllText(Path.Combine(clearml, "metrics.jsonl"), string.Concat(series.Chunk(1000).Select(batch =>
                JsonSerializer.Serialize(batch.Select(p => new Dictionary<string, object> { ["task"] = "offline-bench", ["timestamp"] = p.TimestampMs, ["type"] = "training_stats_scalar", ["metric"] = "loss", ["variant"] = "train", ["iter"] = p.Step, ["value"] = p.Value })) + "\n")));

            Console.WriteLine($"{points:N0} points per store; best of 3 reads; plain Python 3 reader timed inside Python (start-up not counted)");
            Console.WriteLine($"{"store",-26} {"size",9} {"E2E reader",11} {"points/s",12} {"plain Python",13} {"points/s",12} {"speed-up",9}");
            Report("MLflow metric file", mlflow, () => MlflowFileStore.ReadMetricFile(mlflow, "loss").Count, plain, "mlflow-metric", points);
            Report(".wandb history", wandb, () => WandbRunReader.ReadFile(wandb).MetricPointCount, plain, "wandb", points);
            Report("ClearML metrics.jsonl", Path.Combine(clearml, "metrics.jsonl"), () => ClearmlOfflineSession.ReadRuns(clearml)[0].MetricPointCount, plain, "clearml", points, clearml);
            return 0;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static string TrackingJsonFloat(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static void Report(string name, string file, Func<int> read, string plainScript, string kind, int expected, string? plainPath = null)
    {
        var ours = Enumerable.Range(0, 3).Select(_ =>
        {
            var clock = Stopwatch.StartNew();
            var count = read();
            clock.Stop();
            if (count != expected)
            {
                throw new InvalidOperationException($"{name}: read {count} points, expected {expected}");
            }
            return clock.Elapsed.TotalSeconds;
        }).Min();
        var theirs = Enumerable.Range(0, 3).Select(_ => PlainSeconds(plainScript, kind, plainPath ?? file, expected)).Min();
        var size = new FileInfo(file).Length / 1048576.0;
        Console.WriteLine($"{name,-26} {size,7:0.0}MB {ours,10:0.000}s {expected / ours,12:N0} {theirs,12:0.000}s {expected / theirs,12:N0} {theirs / ours,8:0.0}x");
    }

    private static double PlainSeconds(string script, string kind, string path, int expected)
    {
        var start = new ProcessStartInfo("python3", new[] { script, "time", kind, path }) { RedirectStandardOutput = true };
        using var python = Process.Start(start)!;
        var output = python.StandardOutput.ReadToEnd();
        python.WaitForExit();
        using var result = JsonDocument.Parse(output);
        if (result.RootElement.GetProperty("points").GetInt32() != expected)
        {
            throw new InvalidOperationException($"the plain {kind} reader read {result.RootElement.GetProperty("points")} points, expected {expected}");
        }
        return result.RootElement.GetProperty("seconds").GetDouble();
    }

    private static string FindPlainReaders()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var script = Path.Combine(dir.FullName, "tests", "reference", "plain_tracking_readers.py");
            if (File.Exists(script))
            {
                return script;
            }
        }
        throw new FileNotFoundException("tests/reference/plain_tracking_readers.py was not found above " + AppContext.BaseDirectory);
    }
}
