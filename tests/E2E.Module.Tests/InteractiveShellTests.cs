using System.Management.Automation;

namespace E2E.Module.Tests;

/// <summary>What a person at the prompt sees: progress on long operations, completion of live names, readable errors.</summary>
[Collection("artifact export environment")]
public sealed class InteractiveShellTests : IDisposable
{
    private readonly Pwsh _pwsh = new();
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-shell-").FullName;

    public InteractiveShellTests()
    {
        _pwsh.Run("$null = New-E2EScope -Name shell-tests").ShouldSucceed();
    }

    public void Dispose()
    {
        _pwsh.Run("Get-E2EScope | Remove-E2EScope");
        _pwsh.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private static void AssertProgress(Pwsh.Result result, int activityId, string what)
    {
        var records = result.Progress.Where(p => p.ActivityId == activityId).ToList();
        Assert.True(records.Count >= 2, $"{what}: {records.Count} progress records with id {activityId:X}");
        Assert.Equal(ProgressRecordType.Completed, records[^1].RecordType);
        Assert.Contains(records, r => r.RecordType == ProgressRecordType.Processing && !string.IsNullOrWhiteSpace(r.StatusDescription));
    }

    [Fact]
    public void Cluster_compute_and_resource_waits_report_progress_with_the_observed_state()
    {
        var result = _pwsh.Run("""
            $null = New-E2ECluster -Name progress
            $null = New-E2ECompute -Name p1 -Image img -Wait -TimeoutSec 60
            $null = Wait-E2EResource 'compute/p1' -For 'condition=Ready' -TimeoutSec 30
            $null = Wait-E2ECompute -Name p1 -TimeoutSec 30
            Remove-E2ECompute -Name p1 -Confirm:$false
            Get-E2EScope | Remove-E2EScope
            """).ShouldSucceed();
        AssertProgress(result, 0x4E2E0C, "Remove-E2EScope");
        AssertProgress(result, 0x4E2E05, "New-E2ECluster");
        AssertProgress(result, 0x4E2E04, "New-E2ECompute -Wait / Wait-E2ECompute");
        AssertProgress(result, 0x4E2E03, "Wait-E2EResource");
        Assert.Contains(result.Progress, p => p.ActivityId == 0x4E2E04 && p.Activity.Contains("default/p1: waiting for Ready", StringComparison.Ordinal));
        Assert.Contains(result.Progress, p => p.ActivityId == 0x4E2E04 && p.Activity.Contains("default/p1: deleting", StringComparison.Ordinal));
    }

    [Fact]
    public void Images_manifests_uploads_conditions_and_background_backfills_report_progress()
    {
        var udf = Path.Combine(Repo.Root, "examples", "udfs", "simple");
        var result = _pwsh.Run($$"""
            $images = Join-Path '{{_root}}' images
            New-E2EPetImage -Path $images -Count 40
            $m = New-UdfManifest -Path '{{udf}}' -SkipSitePackages -OutputPath (Join-Path '{{_root}}' dist)
            $store = [Uri]::new((Join-Path '{{_root}}' bucket)).AbsoluteUri
            $null = $m | Publish-UdfManifest -Destination $store
            $script:n = 0
            $null = Wait-E2ECondition { $script:n++; $script:n -ge 3 } -IntervalSec 0.01 -TimeoutSec 10
            $db = Join-Path '{{_root}}' pets.db
            $null = New-E2ETable -Database $db -Name pets -ImageDirectory $images -FragmentSize 10
            $null = Add-E2EColumn -Database $db -Table pets -Name size -Udf file_size -Manifest 'oxford-pets-simple' -Store $store
            $job = Invoke-Backfill -Database $db -Table pets -Column size -AsJob
            $null = $job | Wait-Job -Timeout 120
            $job.Progress.Count
            """).ShouldSucceed();
        AssertProgress(result, 0x4E2E09, "New-E2EPetImage");
        AssertProgress(result, 0x4E2E06, "New-UdfManifest");
        AssertProgress(result, 0x4E2E08, "Publish-UdfManifest");
        AssertProgress(result, 0x4E2E03, "Wait-E2ECondition");
        Assert.Contains(result.Progress, p => p.ActivityId == 0x4E2E06 && p.Activity.StartsWith("UDF file_size", StringComparison.Ordinal));
        Assert.True(int.Parse(result.Strings.Last()) >= 2, $"the backfill job has {result.Strings.Last()} progress records");
    }

    [Fact]
    public void A_condition_that_calls_a_missing_command_fails_at_once_not_at_the_timeout()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = _pwsh.Run("Wait-E2ECondition { Get-Thingg } -TimeoutSec 30");
        Assert.StartsWith("CommandNotFoundException,", result.ErrorId);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }
    /// <summary>What TabExpansion2 offers at the end of <paramref name="line"/>, as the console would.</summary>
    private string[] Complete(string line) =>
        _pwsh.Run($"(TabExpansion2 -inputScript '{line.Replace("'", "''")}' -cursorColumn {line.Length}).CompletionMatches.CompletionText").ShouldSucceed().Strings.Where(t => t.Length > 0).ToArray();

    [Fact]
    public void Tab_completes_live_cluster_names_computes_namespaces_and_resources()
    {
        _pwsh.Run("""
            $null = New-E2ECluster -Name tabs
            $null = New-E2ECompute -Name alpha, beta -Image img
            """).ShouldSucceed();
        Assert.Equal(new[] { "alpha", "beta" }, Complete("Get-E2ECompute -Name "));
        Assert.Equal(new[] { "beta" }, Complete("Remove-E2ECompute -Name b"));
        Assert.Contains("default", Complete("Get-E2ECompute -Namespace "));
        Assert.Contains("skytorch-system", Complete("Wait-E2EResource -Namespace sky"));
        Assert.Contains("compute/", Complete("Wait-E2EResource -Resource comp"));
        Assert.Equal(new[] { "compute/alpha", "compute/beta" }, Complete("Wait-E2EResource -Resource compute/"));
        Assert.Equal(new[] { "tabs" }, Complete("Get-E2ECluster -Name t"));
        var scopes = _pwsh.Run("(Get-E2EScope).Id").ShouldSucceed().Strings.ToArray();
        Assert.Equal(scopes.Order(), Complete("Remove-E2EScope -Id e2e-").Order());
    }

    [Fact]
    public void Tab_completes_tables_columns_manifests_and_backfill_jobs_from_the_named_stores()
    {
        var udf = Path.Combine(Repo.Root, "examples", "udfs", "simple");
        var db = Path.Combine(_root, "pets.db");
        var store = new Uri(Path.Combine(_root, "bucket")).AbsoluteUri;
        _pwsh.Run($$"""
            New-E2EPetImage -Path (Join-Path '{{_root}}' images) -Count 5
            $null = New-UdfManifest -Path '{{udf}}' -SkipSitePackages -OutputPath (Join-Path '{{_root}}' dist) | Publish-UdfManifest -Destination '{{store}}'
            $null = New-E2ETable -Database '{{db}}' -Name pets -ImageDirectory (Join-Path '{{_root}}' images)
            $null = Add-E2EColumn -Database '{{db}}' -Table pets -Name size -Udf file_size -Manifest 'oxford-pets-simple' -Store '{{store}}'
            $null = Invoke-Backfill -Database '{{db}}' -Table pets -Column size
            """).ShouldSucceed();
        Assert.Equal(new[] { "pets" }, Complete($"Get-E2ETableRow -Database {db} -Name "));
        Assert.Contains("size", Complete($"Invoke-Backfill -Database {db} -Table pets -Column s"));
        Assert.Equal(new[] { "oxford-pets-simple" }, Complete($"Get-UdfManifest -Store {store} -Name ox"));
        Assert.Equal(new[] { "oxford-pets-simple" }, Complete($"Add-E2EColumn -Database {db} -Table pets -Store {store} -Manifest "));
        var job = Assert.Single(Complete($"Get-BackfillJob -Database {db} -Id bf-"));
        Assert.StartsWith("bf-", job);
        // The UDF cache is a user cache, not a folder beside the user's database.
        Assert.False(Directory.Exists(Path.Combine(_root, ".e2e-udf-cache")));
        // Without the store named, no manifest is guessed.
        Assert.DoesNotContain("oxford-pets-simple", Complete("Get-UdfManifest -Name "));
    }
    [Fact]
    public void Health_check_tables_name_the_compute()
    {
        var table = _pwsh.Run("""
            $null = New-E2ECluster -Name health
            New-E2ECompute -Name h1, h2 -Image img -Wait -TimeoutSec 60 | Test-E2ECompute | Format-Table | Out-String -Width 200
            """).ShouldSucceed().Strings.Single();
        Assert.Contains("default/h1", table);
        Assert.Contains("default/h2", table);
    }

    [Fact]
    public void A_mistyped_expected_path_says_so_instead_of_listing_every_file_as_extra()
    {
        var actual = Directory.CreateDirectory(Path.Combine(_root, "actual")).FullName;
        File.WriteAllText(Path.Combine(actual, "a.txt"), "a");
        var result = _pwsh.Run($"Compare-ExpectedOutput -Path '{actual}' -ExpectedPath '{Path.Combine(_root, "expcted")}'");
        Assert.Equal("ExpectedPathNotFound,E2E.Cmdlets.Snapshots.CompareExpectedOutputCommand", result.ErrorId);
        Assert.Contains("does not exist", result.Error!.Exception.Message);
        Assert.Empty(result.Output);
    }

    [Fact]
    public void Temp_directories_show_like_Get_Item_and_export_under_a_stable_name()
    {
        var shown = _pwsh.Run("""
            $d = New-E2ETempDirectory -Prefix server
            $d.UnixMode; $d.User; [bool]$d.PSPath
            """).ShouldSucceed().Strings.ToArray();
        Assert.Matches("^d[rwx-]{9}$", shown[0]);
        Assert.False(string.IsNullOrWhiteSpace(shown[1]));
        Assert.Equal("True", shown[2]);

        // Two runs of the same failing test export to the same path, whatever the temp folder's random suffix.
        var exports = Path.Combine(_root, "exports");
        Directory.CreateDirectory(exports);
        Environment.SetEnvironmentVariable("E2E_EXPORT_TEST_ARTIFACTS", exports);
        Environment.SetEnvironmentVariable("E2E_FORCE_TEST_EXPORT", "1");
        try
        {
            var first = _pwsh.Run("""
                $d = New-E2ETempDirectory -Prefix server; Set-Content (Join-Path $d log.txt) one
                (Export-E2EArtifact -Suite shell -Test 'serves' -Path $d -PassThru).Destination
                """).ShouldSucceed().Strings.Last();
            var second = _pwsh.Run("""
                $d = New-E2ETempDirectory -Prefix server; Set-Content (Join-Path $d log.txt) two
                (Export-E2EArtifact -Suite shell -Test 'serves' -Path $d -PassThru).Destination
                """).ShouldSucceed().Strings.Last();
            Assert.Equal(first, second);
            Assert.EndsWith($"{Path.DirectorySeparatorChar}server", first);
            Assert.Equal("two", File.ReadAllText(Path.Combine(second, "log.txt")).Trim());
        }
        finally
        {
            Environment.SetEnvironmentVariable("E2E_EXPORT_TEST_ARTIFACTS", null);
            Environment.SetEnvironmentVariable("E2E_FORCE_TEST_EXPORT", null);
        }
    }

    [Fact]
    public void Help_examples_keep_their_own_indentation_only()
    {
        var code = _pwsh.Run("(Get-Help Wait-E2ECondition -Examples).examples.example[0].code").ShouldSucceed().Strings.Single().Split('\n');
        Assert.StartsWith("Wait-E2ECondition", code[0]);
        Assert.StartsWith("    $status", code[1]);
        Assert.Equal("}", code[^1].TrimEnd());
    }

    [Fact]
    public void Help_syntax_shows_the_default_parameter_set_too()
    {
        var syntax = _pwsh.Run("Get-Help Compare-ExpectedOutput | Select-Object -ExpandProperty syntax | Out-String -Width 400").ShouldSucceed().Strings.Single();
        var lines = syntax.Split('\n').Where(l => l.StartsWith("Compare-ExpectedOutput", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, lines.Count);
        Assert.Contains(lines, l => !l.Contains("-Quiet", StringComparison.Ordinal));
    }

    [Fact]
    public void The_repository_manifest_imports_from_a_built_clone()
    {
        using var fresh = new Pwsh(importModule: false);
        var count = fresh.Run($"Import-Module '{Path.Combine(Repo.Root, "E2E.psd1")}' -ErrorAction Stop; (Get-Command -Module E2E).Count").ShouldSucceed().Strings.Single();
        Assert.True(int.Parse(count) >= 60, $"{count} commands");
    }
}
