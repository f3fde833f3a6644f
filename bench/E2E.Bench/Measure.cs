using System.Diagnostics;

namespace E2E.Bench;

internal static class Measure
{
    public static TimeSpan Time(Action action)
    {
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed;
    }

    /// <summary>Runs a program with output discarded; returns its wall time and exit code.</summary>
    public static (TimeSpan Elapsed, int ExitCode) Program(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var drainOut = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
        var drainErr = process.StandardError.BaseStream.CopyToAsync(Stream.Null);
        process.WaitForExit();
        Task.WaitAll(drainOut, drainErr);
        return (clock.Elapsed, process.ExitCode);
    }

    public static string Option(string[] args, string name, string fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    /// <summary>This process's peak resident memory (VmHWM), in MB.</summary>
    public static double PeakMemoryMb()
    {
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)) ?? "VmHWM: 0 kB";
        return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024;
    }
}

/// <summary>Run times in seconds: their median, and the fastest and slowest.</summary>
internal sealed record Timings(double Median, double Fastest, double Slowest)
{
    public static Timings Of(IEnumerable<TimeSpan> runs) => Of(runs.Select(r => r.TotalSeconds));

    public static Timings Of(IEnumerable<double> values)
    {
        var seconds = values.Order().ToArray();
        var middle = seconds.Length / 2;
        return new Timings(seconds.Length % 2 == 1 ? seconds[middle] : (seconds[middle - 1] + seconds[middle]) / 2, seconds[0], seconds[^1]);
    }

    public override string ToString() => $"{Median:0.000} s, {Fastest:0.000}-{Slowest:0.000}";
}
