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
    public void The_ledger_records_each_registration_and_a_cleanup_at_exit_that_failed_keeps_the_marker_with_the_reason()
    {
        var scope = new E2EScope("ledger", tempBase: _base);
        scope.Register("Script", "drop the test database", _ => throw new InvalidOperationException("database server gone"));
        scope.Register("Script", "tidy", _ => { });
        var dir = scope.CreateTempDirectory("data");
        var markerPath = Path.Combine(_base, scope.Id, E2EScope.MarkerFileName);
        var ledger = JsonDocument.Parse(File.ReadAllText(markerPath)).RootElement.GetProperty("entries");
        // In registration order, all pending (the temp root holding the marker is the scope's own, undone last).
        Assert.Equal(new[] { "Script", "Script", "Directory" }, ledger.EnumerateArray().Select(e => e.GetProperty("kind").GetString()));
        Assert.All(ledger.EnumerateArray(), e => Assert.Equal("Pending", e.GetProperty("state").GetString()));

        var result = scope.Remove(atProcessExit: true);

        Assert.Single(result.Failed);
        Assert.False(Directory.Exists(dir));
        Assert.Equal(new[] { E2EScope.MarkerFileName }, Directory.EnumerateFileSystemEntries(Path.Combine(_base, scope.Id)).Select(Path.GetFileName));
        var after = JsonDocument.Parse(File.ReadAllText(markerPath)).RootElement.GetProperty("entries").EnumerateArray()
            .ToDictionary(e => e.GetProperty("description").GetString()!, e => (e.GetProperty("state").GetString(), e.TryGetProperty("error", out var why) ? why.GetString() : null));
        Assert.Equal(("Failed", "database server gone"), after["drop the test database"]);
        Assert.Equal(("Done", null), after["tidy"]);
        // This run is alive, so the sweep leaves the marker; once it is dead, the sweep reports the failure and removes the root.
        Assert.Empty(LocalLeftovers.Sweep(_base));
        var found = Assert.Single(LocalLeftovers.Sweep(_base, processStart: _ => null));
        Assert.Equal(new[] { "Script 'drop the test database': cleanup failed: database server gone" }, found.Unfinished);
        Assert.False(Directory.Exists(Path.Combine(_base, scope.Id)));
    }

    [Fact]
    public void A_removal_in_the_session_reports_its_failures_there_and_leaves_nothing()
    {
        var scope = new E2EScope("in-session", tempBase: _base);
        scope.Register("Script", "fails", _ => throw new InvalidOperationException("reported as an error"));
        Assert.Single(scope.Remove().Failed);
        Assert.False(Directory.Exists(Path.Combine(_base, scope.Id)));
    }

    [Fact]
    public void After_a_crash_the_sweep_names_the_cleanup_blocks_that_never_ran_but_not_the_files_it_removes()
    {
        var scope = new E2EScope("crashed", tempBase: _base);
        scope.CreateTempDirectory("data");
        scope.Register("Script", "release the GPU lease", _ => { });
        scope.Register("Directory", "/elsewhere/cache", _ => { });
        // No Remove: the process "died". A sweep that sees the pid as gone reports what the ledger left pending.
        var found = Assert.Single(LocalLeftovers.Sweep(_base, processStart: _ => null));
        Assert.Equal(new[]
        {
            "Script 'release the GPU lease': cleanup never ran (the run ended without removing its scope)",
            "Directory '/elsewhere/cache': cleanup never ran (the run ended without removing its scope)",
        }, found.Unfinished);
    }

    [Fact]
    public void Secrets_in_descriptions_and_errors_are_redacted_in_the_ledger()
    {
        var scope = new E2EScope("secret", tempBase: _base);
        scope.Register("Script", "login with token=abcdef0123456789abcdef0123456789", _ => throw new InvalidOperationException("refused password=hunter2hunter2"));
        scope.Remove(atProcessExit: true);
        var text = File.ReadAllText(Path.Combine(_base, scope.Id, E2EScope.MarkerFileName));
        Assert.DoesNotContain("abcdef0123456789abcdef0123456789", text);
        Assert.DoesNotContain("hunter2hunter2", text);
        Assert.Contains("[redacted]", text);
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
        // Only its own kind: without a run id the sweep also lists machine-wide leftovers (dead sessions' processes, and
        // their containers on a configured Docker engine), which other tests running alongside create on purpose.
        Assert.Equal(new[] { "e2e-dead000004" }, (await E2E.Core.Kubernetes.OrphanSweeper.FindAsync(null, null, CancellationToken.None, _base))
            .Where(o => o.Kind == E2E.Core.Kubernetes.OrphanSweeper.TempDirectoryKind).Select(o => o.RunId));
        Assert.True(Directory.Exists(alive));
    }
}
