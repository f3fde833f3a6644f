using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace E2E.Core.Processes;

/// <summary>A process that a dead E2E session started and left running, found by its owner tag.</summary>
public sealed record OrphanProcess(int ProcessId, string Command, int OwnerProcessId, bool Killed, string? Error);

/// <summary>
/// Every process the module starts carries, in its environment, who started it: the owner's pid and the
/// owner's start time (<see cref="OwnerVariable"/>). The tag is set before the process exists and is inherited
/// by everything it starts in turn (ganache's workers, a training script's data loaders), so after a crash of
/// the session (kill -9, an OOM kill) a later sweep finds the whole tree without any record having to be
/// written in time. A process is an orphan only when its owner is gone, or the owner's pid now belongs to a
/// process that started at another time (a reused pid); a live session's processes are never touched.
/// Linux only (it reads /proc); elsewhere the sweep finds nothing.
/// </summary>
public static class OwnedProcesses
{
    public const string OwnerVariable = "E2E_OWNER";

    private static readonly string OwnTag = Tag(Environment.ProcessId, StartTicks(Environment.ProcessId) ?? 0);

    /// <summary>This session's identity as tags carry it ("pid:start ticks"), for records that name their owner (a backfill's driver).</summary>
    public static string SessionTag => OwnTag;

    /// <summary>
    /// Whether the session a record names (the machine it ran on, and its tag) is still running; null where that
    /// cannot be told here: another machine, no tag, not Linux.
    /// </summary>
    public static bool? IsSessionAlive(string? host, string? tag) =>
        host != Environment.MachineName || tag is null ? null
        : tag == OwnTag ? true
        : !OperatingSystem.IsLinux() || !TryParse(tag, out var pid, out var ticks) ? null
        : StartTicks(pid) == ticks;

    /// <summary>Marks a process about to be started as this session's.</summary>
    public static ProcessStartInfo Own(this ProcessStartInfo start)
    {
        start.Environment[OwnerVariable] = OwnTag;
        return start;
    }

    /// <summary>Processes whose owning session is gone; with <paramref name="kill"/>, kills them (SIGKILL: they belong to no one).</summary>
    public static IReadOnlyList<OrphanProcess> Sweep(bool kill = true)
    {
        if (!OperatingSystem.IsLinux() || !Directory.Exists("/proc"))
        {
            return Array.Empty<OrphanProcess>();
        }
        // Many processes share one owner: its liveness is read once per sweep.
        var owners = new Dictionary<string, bool>(StringComparer.Ordinal);
        return ProcessIds()
            .Select(pid => Examine(pid, kill, tag => owners.TryGetValue(tag, out var alive) ? alive : owners[tag] = OwnerAlive(tag)))
            .OfType<OrphanProcess>()
            .ToArray();
    }

    /// <summary>Kills one process if it still carries the tag of a session that is gone; null when it is not such a process (any more).</summary>
    public static OrphanProcess? KillIfOrphan(int pid) => OperatingSystem.IsLinux() ? Examine(pid, kill: true, OwnerAlive) : null;

    // The orphan a pid is (killed with 'kill'), or null: not tagged, this session's, or a live session's.
    private static OrphanProcess? Examine(int pid, bool kill, Func<string, bool> ownerAlive)
    {
        if (pid == Environment.ProcessId || ReadOwner(pid) is not { } tag || tag == OwnTag || ownerAlive(tag))
        {
            return null;
        }
        var command = Command(pid);
        var error = kill ? Kill(pid, tag) : null;
        return new OrphanProcess(pid, command, TryParse(tag, out var owner, out _) ? owner : 0, kill && error is null, error);
    }

    private static string Tag(int pid, long startTicks) => string.Create(CultureInfo.InvariantCulture, $"{pid}:{startTicks}");

    // "pid:start ticks", as Tag writes it.
    private static bool TryParse(string tag, out int pid, out long ticks)
    {
        ticks = 0;
        pid = 0;
        return tag.Split(':') is [var p, var t] && int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out pid)
            && long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out ticks);
    }

    // A tag we did not write counts as alive: the process is left alone.
    private static bool OwnerAlive(string tag) => !TryParse(tag, out var pid, out var ticks) || StartTicks(pid) == ticks;

    // The pid's start time in clock ticks since boot (field 22 of /proc/<pid>/stat): exact, and unlike
    // Process.StartTime it does not depend on the clock, so a reused pid never matches.
    private static long? StartTicks(int pid) =>
        StatFields(pid) is { Length: > 19 } fields && long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) ? ticks : null;

    /// <summary>Every pid in /proc (none where there is no /proc).</summary>
    internal static IEnumerable<int> ProcessIds() =>
        !Directory.Exists("/proc") ? Enumerable.Empty<int>()
        : Directory.EnumerateDirectories("/proc")
            .Select(d => int.TryParse(Path.GetFileName(d), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : 0)
            .Where(pid => pid > 0);

    /// <summary>
    /// The fields of /proc/&lt;pid&gt;/stat after the command name (field 3, the state, first), or null when the process is
    /// gone or not readable. The name may hold spaces and parentheses, so the fields start after the last ')'.
    /// </summary>
    internal static string[]? StatFields(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var close = stat.LastIndexOf(')');
            return close < 0 || close + 2 > stat.Length ? null : stat[(close + 2)..].Split(' ');
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string? ReadOwner(int pid) => EnvironmentValue(pid, OwnerVariable);

    /// <summary>The value of <paramref name="name"/> in the environment a process started with, or null (not set, gone, another user's).</summary>
    internal static string? EnvironmentValue(int pid, string name)
    {
        try
        {
            var environment = File.ReadAllBytes($"/proc/{pid}/environ");
            var prefix = Encoding.ASCII.GetBytes(name + "=");
            ReadOnlySpan<byte> span = environment;
            while (span.Length > 0)
            {
                var end = span.IndexOf((byte)0);
                var entry = end < 0 ? span : span[..end];
                if (entry.StartsWith(prefix))
                {
                    return Encoding.ASCII.GetString(entry[prefix.Length..]);
                }
                span = end < 0 ? ReadOnlySpan<byte>.Empty : span[(end + 1)..];
            }
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null; // Ended meanwhile, or another user's.
        }
    }

    private static string Command(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
            return text.Length > 200 ? text[..200] + "…" : text;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return string.Empty;
        }
    }

    private static string? Kill(int pid, string tag)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            // Look again right before the kill: the pid must still carry the dead owner's tag.
            if (ReadOwner(pid) != tag)
            {
                return null;
            }
            process.Kill();
            return null;
        }
        catch (ArgumentException)
        {
            return null; // Gone meanwhile: what was wanted.
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return ex.Message;
        }
    }
}
