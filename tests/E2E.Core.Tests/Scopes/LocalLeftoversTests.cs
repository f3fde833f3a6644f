using System.Diagnostics;
using System.Text.Json;
using E2E.Core.Scopes;

namespace E2E.Core.Tests.Scopes;

public sealed class LocalLeftoversTests : IDisposable
{
    private readonly string _base = Directory.CreateTempSubdirectory("e2e-leftovers-").FullName;

    public void Dispose() => Directory.Delete(_base, recursive: true);

    private string Root(string runId, object? marker)
    {
        var root = Directory.CreateDirectory(Path.Combine(_base, runId)).FullName;
        File.WriteAllText(Path.Combine(root, "payload.bin"), "left behind");
        if (marker is not null)
        {
            File.WriteAllText(Path.Combine(root, E2EScope.MarkerFileName), marker as string ?? JsonSerializer.Serialize(marker));
        }
        return root;
    }

    private static int DeadPid()
    {
        using var process = Process.Start("true")!;
        process.WaitForExit();
        return process.Id;
    }

    [Fact]
    public void Only_roots_of_dead_runs_are_removed_and_a_reused_pid_is_not_mistaken_for_the_run()
    {
        var self = Environment.ProcessId;
        var dead = Root("e2e-dead000001", new { runId = "e2e-dead000001", pid = DeadPid(), processStart = DateTimeOffset.UtcNow.AddMinutes(-3) });
        var alive = Root("e2e-alive00001", new { runId = "e2e-alive00001", pid = self, processStart = LocalLeftovers.CurrentProcessStart });
        var reused = Root("e2e-reused0001", new { runId = "e2e-reused0001", pid = self, processStart = LocalLeftovers.CurrentProcessStart!.Value.AddHours(-5) });
        var legacyAlive = Root("e2e-legacy0001", new { runId = "e2e-legacy0001", pid = self });
        var unmarked = Root("e2e-unmarked01", null);
        var garbage = Root("e2e-garbage001", "{not json");
        var foreign = Root("someone-else", new { runId = "x", pid = DeadPid() });

        var found = LocalLeftovers.Sweep(_base);

        Assert.Equal(new[] { "e2e-dead000001", "e2e-reused0001" }, found.Select(f => f.RunId).Order());
        Assert.All(found, f => Assert.True(f.Removed));
        Assert.False(Directory.Exists(dead));
        Assert.False(Directory.Exists(reused));
        Assert.All(new[] { alive, legacyAlive, unmarked, garbage, foreign }, d => Assert.True(Directory.Exists(d), d));
    }

    [Fact]
    public void Listing_without_removing_leaves_everything_and_the_setting_turns_the_automatic_sweep_off()
    {
        var dead = Root("e2e-dead000002", new { runId = "e2e-dead000002", pid = DeadPid() });
        Assert.Single(LocalLeftovers.Sweep(_base, remove: false));
        Assert.True(Directory.Exists(dead));
        Assert.False(LocalLeftovers.EnabledOnNewScope(name => name == LocalLeftovers.DisableVariable ? "0" : null));
        Assert.True(LocalLeftovers.EnabledOnNewScope(_ => null));
    }

    [Fact]
    public void A_scope_marker_records_the_pid_and_its_start_time()
    {
        var scope = new E2EScope("marker", tempBase: _base);
        var dir = scope.CreateTempDirectory("x");
        var marker = JsonDocument.Parse(File.ReadAllText(Path.Combine(_base, scope.Id, E2EScope.MarkerFileName))).RootElement;
        Assert.Equal(Environment.ProcessId, marker.GetProperty("pid").GetInt32());
        Assert.Equal(LocalLeftovers.CurrentProcessStart, marker.GetProperty("processStart").GetDateTimeOffset());
        Assert.Empty(LocalLeftovers.Sweep(_base)); // this run is alive
        scope.Remove();
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public async Task The_orphan_sweep_lists_and_removes_dead_runs_temp_roots()
    {
        var dead = Root("e2e-dead000003", new { runId = "e2e-dead000003", pid = DeadPid() });
        Root("e2e-dead000004", new { runId = "e2e-dead000004", pid = DeadPid() });
        var alive = Root("e2e-alive00002", new { runId = "e2e-alive00002", pid = Environment.ProcessId, processStart = LocalLeftovers.CurrentProcessStart });

        var orphans = await E2E.Core.Kubernetes.OrphanSweeper.FindAsync(null, "e2e-dead000003", CancellationToken.None, _base);
        var orphan = Assert.Single(orphans);
        Assert.Equal((E2E.Core.Kubernetes.OrphanSweeper.TempDirectoryKind, dead), (orphan.Kind, orphan.Name));
        Assert.True(orphan.IsExpired(DateTimeOffset.UtcNow));
        Assert.True(await E2E.Core.Kubernetes.OrphanSweeper.RemoveAsync(null, orphan, CancellationToken.None));
        Assert.False(Directory.Exists(dead));
        Assert.Equal(new[] { "e2e-dead000004" }, (await E2E.Core.Kubernetes.OrphanSweeper.FindAsync(null, null, CancellationToken.None, _base)).Select(o => o.RunId));
        Assert.True(Directory.Exists(alive));
    }
}
