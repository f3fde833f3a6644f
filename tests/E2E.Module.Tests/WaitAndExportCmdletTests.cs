using System.Diagnostics;
using System.Management.Automation;

namespace E2E.Module.Tests;

// Both classes set E2E_EXPORT_TEST_ARTIFACTS, a process-wide variable: they must not run at the same time.
[Collection("artifact export environment")]
public sealed class WaitAndExportCmdletTests : IDisposable
{
    private readonly Pwsh _pwsh = new();
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-module-tests-").FullName;

    public void Dispose()
    {
        _pwsh.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void Wait_returns_when_the_condition_turns_true()
    {
        var result = _pwsh.Run("""
            $script:n = 0
            $r = Wait-E2ECondition { $script:n++; $script:n -ge 3 } -IntervalSec 0.01 -TimeoutSec 10 -PassThru
            $r.Attempts
            """).ShouldSucceed();
        Assert.Equal("3", result.Strings.Single());
    }

    [Fact]
    public void Wait_timeout_is_WaitTimedOut_with_the_last_observed_state()
    {
        var result = _pwsh.Run("""
            $script:n = 0
            Wait-E2ECondition { $script:n++; "phase=Pending ($script:n)"; $false } -TimeoutSec 0.3 -IntervalSec 0.05 -Description 'the pod to be Ready'
            """);
        Assert.Equal("WaitTimedOut,E2E.Cmdlets.Waiting.WaitE2EConditionCommand", result.ErrorId);
        var record = result.Error!;
        Assert.Equal(ErrorCategory.OperationTimeout, record.CategoryInfo.Category);
        Assert.Contains("the pod to be Ready", record.Exception.Message);
        Assert.Matches(@"Last observed: phase=Pending \(\d+\); False$", record.Exception.Message);
    }

    [Fact]
    public void Wait_reports_the_error_a_condition_threw()
    {
        var result = _pwsh.Run("Wait-E2ECondition { throw 'connection refused' } -TimeoutSec 0.1 -IntervalSec 0.02");
        Assert.StartsWith("WaitTimedOut,", result.ErrorId);
        Assert.Contains("connection refused", result.Error!.Exception.Message);
    }

    [Theory]
    [InlineData("-TimeoutSec -1")]
    [InlineData("-IntervalSec 0")]
    [InlineData("-MaxIntervalSec -2")]
    public void Wait_rejects_bad_numbers_with_InvalidTimeout(string arguments)
    {
        var result = _pwsh.Run($"Wait-E2ECondition {{ $true }} {arguments}");
        Assert.Equal("InvalidTimeout,E2E.Cmdlets.Waiting.WaitE2EConditionCommand", result.ErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, result.Error!.CategoryInfo.Category);
    }

    [Fact]
    public void Ctrl_C_ends_a_long_wait_at_once()
    {
        using var ps = PowerShell.Create();
        ps.Runspace = _pwsh.Runspace;
        ps.AddScript("Wait-E2ECondition { $false } -TimeoutSec 600 -IntervalSec 60");
        var clock = Stopwatch.StartNew();
        var handle = ps.BeginInvoke();
        Thread.Sleep(300);
        ps.Stop();
        Assert.Throws<PipelineStoppedException>(() => ps.EndInvoke(handle));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"stop took {clock.Elapsed}");
    }

    [Fact]
    public void Export_copies_only_for_failed_tests_unless_forced()
    {
        var export = Directory.CreateDirectory(Path.Combine(_root, "export")).FullName;
        var log = Path.Combine(_root, "run.log");
        File.WriteAllText(log, "log");
        var vars = new Dictionary<string, object?> { ["log"] = log, ["export"] = export };
        var result = _pwsh.Run("""
            $env:E2E_EXPORT_TEST_ARTIFACTS = $export
            $env:E2E_FORCE_TEST_EXPORT = ''
            (Export-E2EArtifact -Path $log -Suite 'Foundation' -Test 'passes' -PassThru).Status
            (Export-E2EArtifact -Path $log -Suite 'Foundation' -Test 'fails [1]' -Failed -PassThru).Status
            $env:E2E_FORCE_TEST_EXPORT = '1'
            ([pscustomobject]@{ PSPath = "Microsoft.PowerShell.Core\FileSystem::$log" } | Export-E2EArtifact -Suite 'Foundation' -Test 'forced' -PassThru).Status
            $env:E2E_EXPORT_TEST_ARTIFACTS = $null; $env:E2E_FORCE_TEST_EXPORT = $null
            """, vars).ShouldSucceed();
        Assert.Equal(new[] { "SkippedTestPassed", "Exported", "Exported" }, result.Strings);
        Assert.True(File.Exists(Path.Combine(export, "Foundation", "fails_1", "run.log")));
        Assert.True(File.Exists(Path.Combine(export, "Foundation", "forced", "run.log")));
        Assert.False(Directory.Exists(Path.Combine(export, "Foundation", "passes")));
    }

    [Fact]
    public void Export_to_a_missing_dir_warns_with_the_id_and_never_errors()
    {
        var vars = new Dictionary<string, object?> { ["missing"] = Path.Combine(_root, "absent"), ["log"] = Path.Combine(_root, "nolog.txt") };
        var result = _pwsh.Run("""
            $env:E2E_EXPORT_TEST_ARTIFACTS = $missing
            Export-E2EArtifact -Path $log -Suite s -Test t -Failed -ErrorAction Stop
            $env:E2E_EXPORT_TEST_ARTIFACTS = $null
            """, vars).ShouldSucceed();
        Assert.StartsWith("[ArtifactExportDirMissing]", Assert.Single(result.Warnings));
    }

    [Fact]
    public void Export_of_a_missing_source_warns_with_the_id()
    {
        var export = Directory.CreateDirectory(Path.Combine(_root, "export2")).FullName;
        var vars = new Dictionary<string, object?> { ["export"] = export, ["log"] = Path.Combine(_root, "nolog.txt") };
        var result = _pwsh.Run("""
            $env:E2E_EXPORT_TEST_ARTIFACTS = $export
            Export-E2EArtifact -Path $log -Suite s -Test t -Failed
            $env:E2E_EXPORT_TEST_ARTIFACTS = $null
            """, vars).ShouldSucceed();
        Assert.StartsWith("[ArtifactSourceNotFound]", Assert.Single(result.Warnings));
    }
}
