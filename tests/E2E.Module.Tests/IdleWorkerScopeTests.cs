namespace E2E.Module.Tests;

/// <summary>
/// Idle UDF workers end with the session's last scope. Not run in parallel with other classes: the idle pool is
/// process-wide, and another class's last Remove-E2EScope would end this class's idle worker before it is looked at.
/// </summary>
[Collection(nameof(IdleWorkerScopeTests))]
[CollectionDefinition(nameof(IdleWorkerScopeTests), DisableParallelization = true)]
public sealed class IdleWorkerScopeTests : IDisposable
{
    private readonly Pwsh _pwsh = new();
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-idle-scope-").FullName;

    public void Dispose()
    {
        _pwsh.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void Removing_the_last_scope_ends_the_idle_workers_an_inner_scope_leaves_them()
    {
        var vars = new Dictionary<string, object?>
        {
            ["root"] = _root,
            ["udf"] = Path.Combine(Repo.Root, "examples", "udfs", "simple"),
            ["bucket"] = new Uri(Path.Combine(_root, "bucket") + "/").AbsoluteUri,
            ["mark"] = Guid.NewGuid().ToString("N"),
        };
        _pwsh.Run("""
            $outer = New-E2EScope -Name outer
            $env:E2E_IDLE_SCOPE_MARK = $mark
            New-E2EPetImage -Path (Join-Path $root images) -Count 10
            $null = New-UdfManifest -Path $udf -SkipSitePackages -OutputPath (Join-Path $root dist) | Publish-UdfManifest -Destination $bucket
            $db = Join-Path $root pets.db
            $null = New-E2ETable -Database $db -Name pets -ImageDirectory (Join-Path $root images)
            $null = Add-E2EColumn -Database $db -Table pets -Name size -Udf file_size -Manifest oxford-pets-simple -Store $bucket
            $null = Invoke-Backfill -Database $db -Table pets -Column size
            $inner = New-E2EScope -Name inner
            Remove-E2EScope -Scope $inner
            """, vars).ShouldSucceed();
        try
        {
            // The module's own copy of the pool (it loads in its own context): its workers are found by the mark they inherited.
            var idle = LiveProcesses.UdfWorkers($"E2E_IDLE_SCOPE_MARK={vars["mark"]}");
            Assert.NotEmpty(idle); // the backfill's worker waits for the next one; the inner scope's removal left it

            var removed = _pwsh.Run("Remove-E2EScope -Scope $outer -Verbose", vars).ShouldSucceed();
            Assert.Empty(LiveProcesses.UdfWorkers($"E2E_IDLE_SCOPE_MARK={vars["mark"]}"));
            Assert.Contains(removed.Verbose, v => v.Contains("idle UDF worker", StringComparison.Ordinal));
        }
        finally
        {
            Environment.SetEnvironmentVariable("E2E_IDLE_SCOPE_MARK", null);
        }
    }
}
