using System.Globalization;
using E2E.Core.Snapshots;

namespace E2E.Bench;

/// <summary>
/// Two trees of N files (about 1 GB by default), identical and then with 1% of files changed, compared by
/// Compare-ExpectedOutput's engine and by 'diff -r' in the same run; plus reading every byte once ('cat')
/// as the disk (page cache) read speed reference.
/// </summary>
internal static class CompareTrees
{
    public static int Run(string[] args)
    {
        var files = int.Parse(Measure.Option(args, "--files", "10000"), CultureInfo.InvariantCulture);
        var totalMb = int.Parse(Measure.Option(args, "--mb", "1000"), CultureInfo.InvariantCulture);
        var root = Measure.Option(args, "--dir", Path.Combine(Path.GetTempPath(), "e2e-bench-trees"));
        var fileSize = (int)((long)totalMb * 1024 * 1024 / files);
        Console.WriteLine($"compare-trees: {files} files of {fileSize / 1024} KiB ({totalMb} MB per tree) in {root}");
        try
        {
            var (expected, actual) = Generate(root, files, fileSize);
            var changed = files / 100;

            WarmUp(expected, actual);
            var read = Measure.Program("sh", "-c", $"find '{expected}' '{actual}' -type f -exec cat {{}} + > /dev/null").Elapsed;
            var oursEqual = Measure.Time(() => Count(actual, expected));
            var diffEqual = Measure.Program("diff", "-r", expected, actual);
            Report("identical trees", oursEqual, diffEqual.Elapsed, read, 2L * totalMb);

            Mutate(actual, files, changed, fileSize);
            WarmUp(expected, actual);
            var differing = 0;
            var oursChanged = Measure.Time(() => differing = Count(actual, expected));
            var diffChanged = Measure.Program("diff", "-r", expected, actual);
            Report($"1% changed ({differing} files reported)", oursChanged, diffChanged.Elapsed, read, 2L * totalMb);
            if (differing != changed)
            {
                Console.WriteLine($"ERROR: expected {changed} changed files, got {differing}");
                return 1;
            }
            return 0;
        }
        finally
        {
            if (!args.Contains("--keep"))
            {
                Directory.Delete(root, recursive: true);
            }
        }
    }

    private static int Count(string actual, string expected) =>
        ExpectedOutputComparer.Compare(actual, expected, new ComparisonOptions()).Count(r => r.Status != OutputStatus.Equal);

    private static void Report(string what, TimeSpan ours, TimeSpan diff, TimeSpan read, long megabytes)
    {
        Console.WriteLine($"  {what}:");
        Console.WriteLine($"    Compare-ExpectedOutput engine: {ours.TotalSeconds,7:0.000} s  ({megabytes / ours.TotalSeconds,6:0} MB/s)");
        Console.WriteLine($"    diff -r                      : {diff.TotalSeconds,7:0.000} s  ({megabytes / diff.TotalSeconds,6:0} MB/s)   ratio ours/diff = {ours / diff:0.00}");
        Console.WriteLine($"    cat of every file (read)     : {read.TotalSeconds,7:0.000} s  ({megabytes / read.TotalSeconds,6:0} MB/s)   ratio ours/read = {ours / read:0.00}");
    }

    /// <summary>Text-like files (lines of printable characters) so diff -r treats them as text, as expected outputs are.</summary>
    private static (string Expected, string Actual) Generate(string root, int files, int fileSize)
    {
        var expected = Path.Combine(root, "expected");
        var actual = Path.Combine(root, "actual");
        if (Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }
        var random = new Random(42);
        var buffer = new byte[fileSize];
        for (var i = 0; i < files; i++)
        {
            FillText(random, buffer);
            var relative = Path.Combine($"d{i % 100:00}", $"f{i:00000}.txt");
            foreach (var side in new[] { expected, actual })
            {
                var path = Path.Combine(side, relative);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, buffer);
            }
        }
        return (expected, actual);
    }

    private static void FillText(Random random, byte[] buffer)
    {
        random.NextBytes(buffer);
        for (var i = 0; i < buffer.Length; i++)
        {
            buffer[i] = (i % 80) == 79 ? (byte)'\n' : (byte)('a' + (buffer[i] % 26));
        }
    }

    /// <summary>Changes one line in the middle of every hundredth file.</summary>
    private static void Mutate(string actual, int files, int count, int fileSize)
    {
        for (var n = 0; n < count; n++)
        {
            var i = n * (files / count);
            var path = Path.Combine(actual, $"d{i % 100:00}", $"f{i:00000}.txt");
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Write);
            stream.Seek(fileSize / 2 / 80 * 80, SeekOrigin.Begin);
            stream.Write("CHANGED-LINE"u8);
        }
    }

    private static void WarmUp(string expected, string actual) =>
        Measure.Program("sh", "-c", $"find '{expected}' '{actual}' -type f -exec cat {{}} + > /dev/null");
}
