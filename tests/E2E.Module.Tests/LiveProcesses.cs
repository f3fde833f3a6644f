namespace E2E.Module.Tests;

/// <summary>Processes as /proc tells them: whether one still runs, and the UDF workers whose environment holds an entry.</summary>
internal static class LiveProcesses
{
    /// <summary>Alive and not a zombie.</summary>
    public static bool IsRunning(int pid)
    {
        try
        {
            return File.Exists($"/proc/{pid}/stat") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return false; // it ended while being read
        }
    }

    /// <summary>Running UDF worker processes (e2e_worker.py) whose environment contains <paramref name="entry"/> ("NAME=value", or a prefix of one).</summary>
    public static int[] UdfWorkers(string entry) => Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsAsciiDigit))
        .Select(n => int.Parse(n!, System.Globalization.CultureInfo.InvariantCulture)).Where(pid =>
        {
            try
            {
                return File.ReadAllText($"/proc/{pid}/cmdline").Contains("e2e_worker.py", StringComparison.Ordinal)
                    && File.ReadAllText($"/proc/{pid}/environ").Contains(entry, StringComparison.Ordinal)
                    && IsRunning(pid);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return false;
            }
        }).ToArray();
}
