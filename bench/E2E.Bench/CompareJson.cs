using System.Diagnostics;
using System.Globalization;
using System.Text;
using E2E.Core.Snapshots;

namespace E2E.Bench;

/// <summary>
/// One large venvstacks-shaped JSON document (layers of packages, each a named object) against a copy with one
/// change, through Compare-ExpectedOutput's engine: time, and the process's peak memory next to the file size;
/// System.Text.Json's own parse of both files (JsonDocument) measured in the same run as the reference.
/// </summary>
internal static class CompareJson
{
    public static int Run(string[] args)
    {
        var megabytes = int.Parse(Measure.Option(args, "--mb", "260"), CultureInfo.InvariantCulture);
        var root = Directory.CreateTempSubdirectory("e2e-compare-json-").FullName;
        try
        {
            var expectedDir = Directory.CreateDirectory(Path.Combine(root, "expected")).FullName;
            var actualDir = Directory.CreateDirectory(Path.Combine(root, "actual")).FullName;
            var packages = Write(Path.Combine(expectedDir, "venvstacks.json"), megabytes, change: false);
            Write(Path.Combine(actualDir, "venvstacks.json"), megabytes, change: true);
            var size = new FileInfo(Path.Combine(expectedDir, "venvstacks.json")).Length;

            GC.Collect();
            var baseline = Process.GetCurrentProcess().WorkingSet64;
            var clock = Stopwatch.StartNew();
            var file = ExpectedOutputComparer.Compare(actualDir, expectedDir, new ComparisonOptions(), requireExpected: true).Single();
            clock.Stop();
            var peak = Process.GetCurrentProcess().PeakWorkingSet64;
            var reference = Stopwatch.StartNew();
            foreach (var dir in new[] { expectedDir, actualDir })
            {
                using var stream = File.OpenRead(Path.Combine(dir, "venvstacks.json"));
                using var document = System.Text.Json.JsonDocument.Parse(stream);
            }
            reference.Stop();

            Console.WriteLine($"compare-json: {size / 1e6:0} MB venvstacks-shaped JSON ({packages:N0} named package objects), one change");
            Console.WriteLine($"  Compare-ExpectedOutput engine : {clock.Elapsed.TotalSeconds,7:0.00} s, {file.Status}, {file.Differences.Count} difference(s): {string.Join("; ", file.Differences.Take(3))}");
            Console.WriteLine($"  reference, JsonDocument parse of both files: {reference.Elapsed.TotalSeconds,7:0.00} s");
            Console.WriteLine($"  peak working set {peak / 1e6:0} MB = {(double)peak / size:0.0}x the file size (the process before comparing: {baseline / 1e6:0} MB; measured before the reference parse)");
            return file.Differences.Count == 1 ? 0 : 1;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    // layers.{runtimes,frameworks,applications}[i].packages[j] = { name, version, hashes, marker, requires }.
    private static long Write(string path, int megabytes, bool change)
    {
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 20);
        var random = new Random(7);
        var target = (long)megabytes * 1_000_000;
        long written = 0, packages = 0;
        writer.Write("{\"lock_version\":1,\"layers\":{");
        var categories = new[] { "runtimes", "frameworks", "applications" };
        for (var c = 0; c < categories.Length; c++)
        {
            writer.Write($"{(c > 0 ? "," : string.Empty)}\"{categories[c]}\":[");
            for (var layer = 0; layer < 4; layer++)
            {
                writer.Write($"{(layer > 0 ? "," : string.Empty)}{{\"layer_name\":\"{categories[c]}-{layer}\",\"archive_size\":{random.Next(1_000_000, 90_000_000)},\"packages\":[");
                var budget = target / 12;
                for (var p = 0; written < budget * (c * 4 + layer + 1); p++, packages++)
                {
                    var version = change && c == 1 && layer == 2 && p == 1000 ? "9.9.9" : $"1.{p % 40}.{p % 9}";
                    var text = $"{(p > 0 ? "," : string.Empty)}{{\"name\":\"pkg-{c}-{layer}-{p}\",\"version\":\"{version}\",\"hashes\":{{\"sha256\":\"{random.NextInt64():x16}{random.NextInt64():x16}{random.NextInt64():x16}{random.NextInt64():x16}\"}},\"marker\":\"python_version >= '3.10'\",\"requires\":[\"pkg-{c}-{layer}-{p / 2}\",\"pkg-{c}-{layer}-{p / 3}\"]}}";
                    writer.Write(text);
                    written += text.Length;
                }
                writer.Write("]}");
            }
            writer.Write("]");
        }
        writer.Write("}}");
        return packages;
    }
}
