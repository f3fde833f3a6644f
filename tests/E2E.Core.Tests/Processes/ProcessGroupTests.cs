using System.Diagnostics;
using E2E.Core.Processes;

namespace E2E.Core.Tests.Processes;

/// <summary>
/// Processes started as the leaders of groups of their own and ended as one: children forking while the group is
/// stopped, children re-parented when their parent dies first, and a child that left the group with its own setsid
/// are all gone afterwards. Each case is a real shell tree; <see cref="Alive"/> reads /proc.
/// </summary>
public sealed class ProcessGroupTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("e2e-group-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static ProcessStartInfo Shell(string script)
    {
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(script);
        return start;
    }

    [Fact]
    public void The_leader_has_a_group_and_session_of_its_own_and_its_tag()
    {
        var group = ProcessGroup.Start(Shell("sleep 60"));
        try
        {
            // setsid(1) makes itself the session's leader just after it starts, then execs the program.
            var pid = group.Leader.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var clock = Stopwatch.StartNew();
            while (OwnedProcesses.StatFields(group.Leader.Id)?[2] != pid && clock.Elapsed < TimeSpan.FromSeconds(10))
            {
                Thread.Sleep(5);
            }
            var fields = OwnedProcesses.StatFields(group.Leader.Id)!;
            Assert.Equal(group.Leader.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), fields[2]); // pgrp
            Assert.Equal(fields[2], fields[3]); // session
            // The shell and its sleep: both carry the tag, both in the leader's group.
            Assert.Contains(group.Leader.Id, group.Members());
            Assert.All(group.Members(), member => Assert.Equal(pid, OwnedProcesses.StatFields(member)![2]));
        }
        finally
        {
            group.Terminate(TimeSpan.Zero);
        }
        Assert.Empty(group.Members());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Children_that_keep_forking_while_the_group_is_stopped_are_all_gone(int graceSeconds)
    {
        var ready = Path.Combine(_dir, "ready");
        // A loop that starts a child every few milliseconds, each of which starts a grandchild and exits (so the
        // grandchildren are re-parented), and ignores SIGTERM: only the group's SIGKILL ends it.
        var group = ProcessGroup.Start(Shell(Procs.ForkingLoop(ready)));
        Procs.WaitForFile(ready, () => group.Leader.HasExited);
        Assert.True(group.Members().Count >= 20, $"only {group.Members().Count} members");
        Assert.False(group.Terminate(TimeSpan.FromSeconds(graceSeconds)));
        Assert.Empty(group.Members());
        Assert.True(group.Leader.HasExited);
    }

    [Fact]
    public void A_child_that_left_the_group_is_killed_by_the_tag_it_inherited()
    {
        var pidFile = Path.Combine(_dir, "escaped.pid");
        var group = ProcessGroup.Start(Shell($"setsid sh -c 'echo $$ > {pidFile}; exec sleep 300' & wait"));
        Procs.WaitForFile(pidFile, () => group.Leader.HasExited);
        var escaped = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.NotEqual(group.Leader.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), OwnedProcesses.StatFields(escaped)![2]);
        Assert.Contains(escaped, group.Members());
        group.Terminate(TimeSpan.FromMilliseconds(200));
        Assert.False(Procs.Alive(escaped), $"pid {escaped} left the group and survived");
    }

    [Fact]
    public void What_a_leader_left_running_when_it_exited_is_ended_with_its_group()
    {
        var pidFile = Path.Combine(_dir, "left.pid");
        var group = ProcessGroup.Start(Shell($"sh -c 'trap \"\" TERM; echo $$ > {pidFile}; exec sleep 300' & setsid sleep 300 & exit 0"));
        Procs.WaitForFile(pidFile);
        Assert.True(group.Leader.WaitForExit(TimeSpan.FromSeconds(30)));
        var left = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(Procs.Alive(left));
        Assert.False(group.Terminate(TimeSpan.FromMilliseconds(200)), "the child ignores SIGTERM: it needed SIGKILL");
        Assert.Empty(group.Members());
        Assert.False(Procs.Alive(left));
        // Nothing left: true at once.
        Assert.True(group.Terminate(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public void A_group_whose_members_end_on_SIGTERM_is_a_graceful_stop()
    {
        var ready = Path.Combine(_dir, "ready");
        var group = ProcessGroup.Start(Shell($"sleep 300 & child=$!; trap 'kill $child; exit 0' TERM; echo up > '{ready}'; wait"));
        Procs.WaitForFile(ready, () => group.Leader.HasExited);
        var clock = Stopwatch.StartNew();
        Assert.True(group.Terminate(TimeSpan.FromSeconds(30)));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        Assert.Empty(group.Members());
    }

    [Fact]
    public void A_program_that_does_not_exist_fails_to_start_as_before()
    {
        Assert.Throws<System.ComponentModel.Win32Exception>(() => ProcessGroup.Start(new ProcessStartInfo("e2e-no-such-program-here") { UseShellExecute = false }));
    }
}
