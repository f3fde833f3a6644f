namespace E2E.Module.Tests;

/// <summary>
/// Runs a Pester suite file in the hosted engine through PesterLite.ps1, a stand-in for the part of Pester the
/// suites use, against the real module. Not a substitute for Pester in pwsh (CI elsewhere does that); it proves
/// the suite's own PowerShell runs: parameters, pipelines, property names, error ids, the failure hook.
/// </summary>
// Both classes set E2E_EXPORT_TEST_ARTIFACTS, a process-wide variable: they must not run at the same time.
[Collection("artifact export environment")]
public sealed class PesterSuiteTests : IDisposable
{
    private readonly Pwsh _pwsh = new();
    private readonly string _artifacts = Directory.CreateTempSubdirectory("e2e-pester-artifacts-").FullName;

    public void Dispose()
    {
        _pwsh.Run("$env:E2E_EXPORT_TEST_ARTIFACTS = $null");
        _pwsh.Dispose();
        Directory.Delete(_artifacts, recursive: true);
    }

    private IReadOnlyList<(string Name, string Result, string Message)> RunSuite(string file, string arguments)
    {
        var shim = Path.Combine(Repo.Root, "tests", "E2E.Module.Tests", "PesterLite.ps1");
        var suite = Path.Combine(Repo.Root, "Pester", file);
        var run = _pwsh.Run($". '{shim}'; . '{suite}' -ModulePath '{Repo.Manifest}' {arguments}; Invoke-PesterLite -ExcludeTag gpu, slow").ShouldSucceed();
        return run.Output.Select(o => (o.Properties["Name"].Value?.ToString() ?? string.Empty, o.Properties["Result"].Value?.ToString() ?? string.Empty, o.Properties["Message"].Value?.ToString() ?? string.Empty)).ToArray();
    }

    [Fact]
    public void The_SkyTorch_suite_passes_on_the_local_cluster()
    {
        var results = RunSuite("SkyTorch.Tests.ps1", "-Provider Local -Image 'skytorch-server:test'");
        Assert.DoesNotContain(results, r => r.Result == "Failed");
        var passed = results.Where(r => r.Result == "Passed").ToArray();
        var skipped = results.Where(r => r.Result == "Skipped").ToArray();
        Assert.True(passed.Length >= 15, $"only {passed.Length} tests passed");
        // Locally, only the tests that need a real cluster are skipped, each with its reason.
        Assert.All(skipped, s => Assert.StartsWith("Real cluster / ", s.Name));
        Assert.All(skipped, s => Assert.False(string.IsNullOrWhiteSpace(s.Message)));
        Console.WriteLine($"SkyTorch suite under PesterLite: {passed.Length} passed, {skipped.Length} skipped: {string.Join("; ", skipped.Select(s => s.Name + " (" + s.Message + ")"))}");
    }

    [Theory]
    [InlineData("Foundation.Tests.ps1")]
    [InlineData("Venvstacks.Tests.ps1")]
    [InlineData("PlumisePetals.Tests.ps1")]
    [InlineData("OxfordPets.Tests.ps1")]
    public void The_earlier_suites_pass_on_the_embedded_default(string file)
    {
        Repo.UseRepositoryGanache();
        var results = RunSuite(file, string.Empty);
        Console.WriteLine($"{file} under PesterLite: " + string.Join("; ", results.Select(r => $"{r.Result} {r.Name}{(r.Result == "Passed" ? string.Empty : ": " + r.Message)}")));
        Assert.DoesNotContain(results, r => r.Result == "Failed");
        Assert.Contains(results, r => r.Result == "Passed");
    }

    [Fact]
    public void The_failure_hook_saves_diagnostics_for_a_failed_test_only()
    {
        var shim = Path.Combine(Repo.Root, "tests", "E2E.Module.Tests", "PesterLite.ps1");
        var results = _pwsh.Run($$"""
            $env:E2E_EXPORT_TEST_ARTIFACTS = '{{_artifacts}}'
            . '{{shim}}'
            BeforeAll { $scope = New-E2EScope -Name hook; $cluster = New-E2ECluster -Name ('hook' + [guid]::NewGuid().ToString('N').Substring(0, 6)) }
            AfterEach { Get-E2EDiagnostic -Namespace default -Suite skytorch -OnFailure | Out-Null }
            AfterAll { Remove-E2EScope $scope }
            Describe 'hook' {
                It 'passes' { New-E2ECompute -Name fine -Wait | Out-Null }
                It 'fails' {
                    New-E2ECompute -Name broken -Simulate CrashLoop | Out-Null
                    Wait-E2EResource pod/broken-0 -For 'jsonpath={.status.containerStatuses[0].restartCount}=3' -TimeoutSec 30 | Out-Null
                    throw 'the compute never served'
                }
            }
            Invoke-PesterLite | ForEach-Object { $_.Name + '=' + $_.Result }
            """).ShouldSucceed();
        Assert.Equal(new[] { "hook / passes=Passed", "hook / fails=Failed" }, results.Strings);
        var saved = Path.Combine(_artifacts, "skytorch", "fails", "diagnostics");
        Assert.True(File.Exists(Path.Combine(saved, "summary.txt")), string.Join(", ", Directory.EnumerateFileSystemEntries(_artifacts, "*", SearchOption.AllDirectories)));
        Assert.Contains("CrashLoopBackOff", File.ReadAllText(Path.Combine(saved, "summary.txt")));
        Assert.False(Directory.Exists(Path.Combine(_artifacts, "skytorch", "passes")));
    }
}
