using System.Diagnostics;
using System.Globalization;

namespace E2E.Core.Tracking;

/// <summary>
/// Measures a process and all its descendants while they run, by sampling /proc on Linux: CPU time
/// (user + system of the live processes, plus what their reaped children used, so nothing is
/// counted twice) and peak memory (the larger of the tree's summed resident size at any sample and
/// any one process's kernel-recorded peak, VmHWM, which catches spikes between samples). The last
/// interval before the root exits is not seen: CPU figures are short by at most one interval.
/// Elsewhere it falls back to the root process's own counters.
/// </summary>
public sealed class ProcessTreeMeter
{
    private const double ClockTicksPerSecond = 100; // USER_HZ, 100 on every Linux ABI .NET runs on.
    private readonly int _rootPid;
    private readonly HashSet<int> _seen = new();

    public ProcessTreeMeter(int rootPid)
    {
        _rootPid = rootPid;
    }

    public static TimeSpan Interval { get; } = TimeSpan.FromMilliseconds(20);

    public TimeSpan CpuTime { get; private set; }

    public long PeakMemoryBytes { get; private set; }

    /// <summary>How many distinct processes the tree had over its life (as far as samples saw).</summary>
    public int ProcessCount => _seen.Count;

    /// <summary>
    /// Samples until the root exits or <paramref name="stop"/> is cancelled, on a thread of its own: on a
    /// 2-core machine the thread pool's threads can all be held by blocking pipe reads, and a sampler
    /// waiting for one missed most of a run (measured: 0.8 s gaps in a 1 s run).
    /// </summary>
    public Task RunAsync(Process root, CancellationToken stop) => Task.Factory.StartNew(() =>
    {
        do
        {
            Sample(root);
        }
        while (!root.HasExited && !stop.WaitHandle.WaitOne(Interval));
    }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    public void Sample(Process root)
    {
        if (!OperatingSystem.IsLinux())
        {
            try
            {
                root.Refresh();
                CpuTime = Max(CpuTime, root.TotalProcessorTime);
                PeakMemoryBytes = Math.Max(PeakMemoryBytes, root.PeakWorkingSet64);
                _seen.Add(root.Id);
            }
            catch (InvalidOperationException)
            {
                // Exited between the check and the read.
            }
            return;
        }
        long ticks = 0, residentBytes = 0, highWater = 0;
        var any = false;
        foreach (var pid in Tree(_rootPid))
        {
            if (ReadStat(pid) is not { } stat)
            {
                continue;
            }
            any = true;
            _seen.Add(pid);
            ticks += stat.Ticks;
            residentBytes += stat.ResidentBytes;
            highWater = Math.Max(highWater, ReadHighWaterMark(pid));
        }
        if (any)
        {
            CpuTime = Max(CpuTime, TimeSpan.FromSeconds(ticks / ClockTicksPerSecond));
            PeakMemoryBytes = Math.Max(PeakMemoryBytes, Math.Max(residentBytes, highWater));
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static IEnumerable<int> Tree(int root)
    {
        var pending = new Stack<int>();
        pending.Push(root);
        var visited = new HashSet<int>();
        while (pending.Count > 0)
        {
            var pid = pending.Pop();
            if (!visited.Add(pid))
            {
                continue;
            }
            yield return pid;
            foreach (var child in Children(pid))
            {
                pending.Push(child);
            }
        }
    }

    private static IEnumerable<int> Children(int pid)
    {
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories($"/proc/{pid}/task");
        }
        catch (IOException)
        {
            yield break;
        }
        catch (UnauthorizedAccessException)
        {
            yield break;
        }
        foreach (var task in tasks)
        {
            string text;
            try
            {
                text = File.ReadAllText(Path.Combine(task, "children"));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            foreach (var part in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var child))
                {
                    yield return child;
                }
            }
        }
    }

    private static (long Ticks, long ResidentBytes)? ReadStat(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // The command name (field 2) is in parentheses and may hold spaces: fields count from the last ')'.
        var fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state): utime 14, stime 15, cutime 16, cstime 17, rss 24 (pages).
        static long F(string[] f, int field) => long.Parse(f[field - 3], CultureInfo.InvariantCulture);
        return (F(fields, 14) + F(fields, 15) + F(fields, 16) + F(fields, 17), F(fields, 24) * Environment.SystemPageSize);
    }

    private static long ReadHighWaterMark(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                {
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
        return 0;
    }
}
