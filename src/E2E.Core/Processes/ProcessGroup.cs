using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace E2E.Core.Processes;

/// <summary>
/// A process the module starts that may have children (a training workflow, a UDF worker, a Petals node, a stack
/// service, ganache, an exec plugin, a tool), run as the leader of a session and process group of its own, and ended
/// as one: SIGTERM to the group, the grace, SIGKILL to the group, then a check that no member is left. Listing a
/// tree and killing it pid by pid (Process.Kill(entireProcessTree)) misses a child forked in between, or one
/// re-parented when its parent died first; a signal to the group reaches every member at once, whatever forks. A
/// member that left the group (its own setsid) still carries the group's tag (<see cref="TagVariable"/>) in its
/// environment and is killed by that. Linux only; elsewhere, and where setsid(1) is missing, the process runs in
/// its parent's group and is ended as a tree.
/// </summary>
public sealed class ProcessGroup
{
    /// <summary>The environment variable that marks every member of one group, inherited by everything it starts.</summary>
    public const string TagVariable = "E2E_PROCESS_GROUP";

    private const int SigTerm = 15;
    private const int SigKill = 9;

    /// <summary>util-linux setsid: makes the program a new session's leader (so its group's too) and execs it, same pid.</summary>
    private static readonly string? Setsid = OperatingSystem.IsLinux() ? new[] { "/usr/bin/setsid", "/bin/setsid" }.FirstOrDefault(File.Exists) : null;

    private readonly string _tag;
    private readonly bool _ownGroup;

    private ProcessGroup(string tag, bool ownGroup)
    {
        _tag = tag;
        _ownGroup = ownGroup;
    }

    /// <summary>The tag of this group's members (in <see cref="TagVariable"/>).</summary>
    public string Tag => _tag;

    /// <summary>The group's leader, once <see cref="Start"/> has started it.</summary>
    public Process Leader { get; private set; } = null!;

    /// <summary>Starts <paramref name="start"/> as the leader of a new group (see <see cref="Prepare"/>); throws as Process.Start does.</summary>
    public static ProcessGroup Start(ProcessStartInfo start)
    {
        var group = Prepare(start);
        group.Leader = Process.Start(start) ?? throw new InvalidOperationException($"'{start.FileName}' did not start.");
        return group;
    }

    /// <summary>Ends the group (see <see cref="Terminate(Process, TimeSpan)"/>) led by the process <see cref="Start"/> started.</summary>
    public bool Terminate(TimeSpan grace) => Terminate(Leader, grace);

    /// <summary>
    /// Prepares <paramref name="start"/> to run as the leader of a new group: through setsid, with the group's tag in
    /// its environment. A program that cannot be found is left as it is, so that Process.Start reports it as before.
    /// </summary>
    public static ProcessGroup Prepare(ProcessStartInfo start)
    {
        var group = new ProcessGroup(Guid.NewGuid().ToString("N"), Setsid is not null && Resolvable(start));
        start.Environment[TagVariable] = group._tag;
        if (group._ownGroup)
        {
            var arguments = start.ArgumentList.ToArray();
            start.ArgumentList.Clear();
            start.ArgumentList.Add(start.FileName);
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }
            start.FileName = Setsid!;
        }
        return group;
    }

    // setsid execs through PATH as Process.Start would: wrap only what it will find, so a missing program fails as before.
    private static bool Resolvable(ProcessStartInfo start)
    {
        if (!string.IsNullOrEmpty(start.Arguments))
        {
            return false; // a single argument string is parsed by Process.Start; keep that
        }
        var program = start.FileName;
        if (program.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(Path.IsPathRooted(program) ? program : Path.GetFullPath(program, string.IsNullOrEmpty(start.WorkingDirectory) ? Environment.CurrentDirectory : start.WorkingDirectory));
        }
        var path = start.Environment.TryGetValue("PATH", out var p) ? p : Environment.GetEnvironmentVariable("PATH");
        return (path ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries).Any(d => File.Exists(Path.Combine(d, program)));
    }

    /// <summary>
    /// Ends the group led by <paramref name="leader"/>: SIGTERM to every member, up to <paramref name="grace"/> for all of
    /// them to end, then SIGKILL to the group and to every process still carrying its tag, until none is left (10 s at
    /// most). A zero grace kills at once, as a crash would. True when all had ended within the grace. After a leader
    /// that exited on its own, it ends what the leader left running (a daemon it started, a child holding its pipes);
    /// when nothing was left, that is one scan of /proc.
    /// </summary>
    public bool Terminate(Process leader, TimeSpan grace)
    {
        int pid;
        try
        {
            pid = leader.Id;
        }
        catch (InvalidOperationException)
        {
            return true; // never started
        }
        var graceful = false;
        if (grace > TimeSpan.Zero)
        {
            Signal(leader, pid, SigTerm, Members());
            var deadline = Stopwatch.StartNew();
            while (!(graceful = Exited(leader) && Members().Count == 0) && deadline.Elapsed < grace)
            {
                Thread.Sleep(Math.Min(50, (int)Math.Max(1, (grace - deadline.Elapsed).TotalMilliseconds)));
            }
        }
        if (!graceful)
        {
            var deadline = Stopwatch.StartNew();
            // One scan of /proc a round: the members it finds are signalled, and the next round's scan says whether any is left.
            for (var members = Members(); (!Exited(leader) || members.Count > 0) && deadline.Elapsed < TimeSpan.FromSeconds(10); members = Members())
            {
                Signal(leader, pid, SigKill, members);
                Thread.Sleep(10);
            }
        }
        return graceful;
    }

    private static bool Exited(Process leader)
    {
        try
        {
            return leader.HasExited;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

    // The group's signal where it has one (checked: a member carrying the tag still has that group id, so a reused id
    // is never signalled), else the leader alone while it runs (once reaped, its pid may be another's); and each member
    // found by its tag outside the group (one that called setsid itself).
    private void Signal(Process leader, int pid, int signal, IReadOnlyList<int> members)
    {
        var grouped = _ownGroup ? members.Where(m => GroupOf(m) == pid).ToHashSet() : new HashSet<int>();
        if (grouped.Count > 0)
        {
            _ = Kill(-pid, signal);
        }
        else if (!Exited(leader))
        {
            _ = Kill(pid, signal);
        }
        foreach (var member in members.Where(m => !grouped.Contains(m)))
        {
            _ = Kill(member, signal);
        }
    }

    /// <summary>Live processes (not zombies) that carry this group's tag.</summary>
    public IReadOnlyList<int> Members() => MembersOf(_tag);

    /// <summary>Live processes (not zombies) that carry <paramref name="tag"/> in <see cref="TagVariable"/>.</summary>
    public static IReadOnlyList<int> MembersOf(string tag)
    {
        var members = new List<int>();
        if (!OperatingSystem.IsLinux())
        {
            return members;
        }
        foreach (var pid in OwnedProcesses.ProcessIds())
        {
            if (OwnedProcesses.StatFields(pid) is { Length: > 2 } fields && fields[0] != "Z" && OwnedProcesses.EnvironmentValue(pid, TagVariable) == tag)
            {
                members.Add(pid);
            }
        }
        return members;
    }

    private static int GroupOf(int pid) =>
        OwnedProcesses.StatFields(pid) is { Length: > 2 } fields && int.TryParse(fields[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out var group) ? group : -1;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
