using System.Diagnostics;
using E2E.Core.Processes;

namespace E2E.Core.Tests.Processes;

/// <summary>What the tests read of processes from /proc: whether one runs, and which carry a group's tag.</summary>
internal static class Procs
{
    /// <summary>Running, not a zombie waiting for its new parent to reap it.</summary>
    public static bool Alive(int pid) => OwnedProcesses.StatFields(pid) is { Length: > 0 } fields && fields[0] != "Z";

    /// <summary>The group tag <paramref name="pid"/> carries (<see cref="ProcessGroup.TagVariable"/>).</summary>
    public static string TagOf(int pid) => OwnedProcesses.EnvironmentValue(pid, ProcessGroup.TagVariable)
        ?? throw new InvalidOperationException($"pid {pid} carries no {ProcessGroup.TagVariable}");

    /// <summary>The shell loop that keeps starting children (each re-parented grandchildren, all ignoring SIGTERM), and writes <paramref name="ready"/> after 20 rounds.</summary>
    public static string ForkingLoop(string ready) => $$"""
        trap '' TERM
        i=0
        while true; do
          ( sleep 300 & )
          sh -c 'trap "" TERM; sleep 300' &
          i=$((i+1))
          [ $i -eq 20 ] && echo up > '{{ready}}'
          sleep 0.005
        done
        """;

    /// <summary>Waits on the thing (bounded, 30 s): the non-empty file a process tree writes once it is set up; fails at once if <paramref name="ended"/> says it is gone.</summary>
    public static void WaitForFile(string path, Func<bool>? ended = null)
    {
        var clock = Stopwatch.StartNew();
        while (!File.Exists(path) || new FileInfo(path).Length == 0)
        {
            Assert.False(ended?.Invoke() ?? false, $"the processes ended before they wrote {path}");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"{path} was not written within 30 s");
            Thread.Sleep(20);
        }
    }
}
