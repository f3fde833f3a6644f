using System.Diagnostics;
using E2E.Core.Processes;

namespace E2E.Core.Tests.Processes;

/// <summary>Processes the module starts carry their session's tag; only those of a session that is gone are swept.</summary>
public sealed class OwnedProcessesTests
{
    private static Process Sleep(string? owner)
    {
        var start = new ProcessStartInfo("sleep", "60") { UseShellExecute = false };
        if (owner is null)
        {
            start.Own();
        }
        else
        {
            start.Environment[OwnedProcesses.OwnerVariable] = owner;
        }
        return Process.Start(start)!;
    }

    private static int DeadPid()
    {
        using var process = Process.Start("true")!;
        process.WaitForExit();
        return process.Id;
    }

    private static long OwnStartTicks()
    {
        var stat = File.ReadAllText($"/proc/{Environment.ProcessId}/stat");
        return long.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void Only_processes_of_a_gone_or_reused_owner_are_killed()
    {
        using var ours = Sleep(owner: null);
        using var deadOwner = Sleep($"{DeadPid()}:12345");
        // Our pid, but another start time: the pid was reused, so the owner is gone.
        using var reusedOwner = Sleep($"{Environment.ProcessId}:{OwnStartTicks() - 1}");
        using var foreignTag = Sleep("not-a-tag");
        using var untagged = Process.Start(new ProcessStartInfo("sleep", "60") { UseShellExecute = false })!;
        try
        {
            var listed = OwnedProcesses.Sweep(kill: false).Select(p => p.ProcessId).ToHashSet();
            Assert.Contains(deadOwner.Id, listed);
            Assert.Contains(reusedOwner.Id, listed);
            Assert.DoesNotContain(ours.Id, listed);
            Assert.DoesNotContain(foreignTag.Id, listed);
            Assert.DoesNotContain(untagged.Id, listed);
            Assert.False(deadOwner.HasExited, "listing kills nothing");

            var swept = OwnedProcesses.Sweep().Where(p => p.ProcessId == deadOwner.Id || p.ProcessId == reusedOwner.Id).ToArray();
            Assert.Equal(2, swept.Length);
            Assert.All(swept, p => Assert.True(p.Killed, p.Error));
            Assert.Contains("sleep 60", swept[0].Command);
            Assert.True(deadOwner.WaitForExit(5000) && reusedOwner.WaitForExit(5000));
            Assert.False(ours.HasExited || foreignTag.HasExited || untagged.HasExited);
            Assert.Null(OwnedProcesses.KillIfOrphan(ours.Id));
        }
        finally
        {
            foreach (var process in new[] { ours, deadOwner, reusedOwner, foreignTag, untagged })
            {
                if (!process.HasExited)
                {
                    process.Kill();
                }
            }
        }
    }
}
