namespace E2E.Module.Tests;

/// <summary>
/// The failure hooks in real Pester: tests/PesterHooks/Hooks.Tests.ps1 run by each pinned Pester in a real
/// pwsh. Export-E2EArtifact and Get-E2EDiagnostic -OnFailure sit in its AfterEach; exactly the failed tests
/// (assertion, exception, failing BeforeEach, one data-driven case) get files, named after the test.
/// </summary>
public sealed class PesterHookTests : IDisposable
{
    private readonly string _artifacts = Directory.CreateTempSubdirectory("e2e-hook-artifacts-").FullName;

    public void Dispose() => Directory.Delete(_artifacts, recursive: true);

    [Theory]
    [MemberData(nameof(RealPwsh.PesterVersions), MemberType = typeof(RealPwsh))]
    public void Only_failed_tests_get_artifacts_and_diagnostics(string pesterVersion)
    {
        var suite = Path.Combine(Repo.Root, "tests", "PesterHooks", "Hooks.Tests.ps1");
        var run = RealPwsh.Run($$"""
            {{RealPwsh.ImportPester(pesterVersion)}}
            $configuration = New-PesterConfiguration
            $configuration.Run.Container = New-PesterContainer -Path '{{suite}}' -Data @{ ModulePath = '{{Repo.Manifest}}' }
            $configuration.Run.PassThru = $true
            $configuration.Output.Verbosity = 'None'
            $result = Invoke-Pester -Configuration $configuration
            foreach ($test in $result.Tests) { '{0}={1}' -f $test.ExpandedName, $test.Result }
            """, new Dictionary<string, string> { ["E2E_EXPORT_TEST_ARTIFACTS"] = _artifacts, ["E2E_FORCE_TEST_EXPORT"] = "" }).ShouldSucceed();

        var results = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => l.Contains('=')).ToArray();
        Assert.Equal(new[]
        {
            "passes=Passed", "fails an assertion=Failed", "throws=Failed", "is skipped with -Skip=Skipped",
            "is skipped from inside=Skipped", "writes a non-terminating error and passes=Passed",
            "is named alpha=Passed", "is named beta=Failed", "never reaches its body=Failed",
        }, results);

        var hooks = Path.Combine(_artifacts, "hooks");
        var exported = Directory.GetDirectories(hooks).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[] { "fails_an_assertion", "is_named_beta", "never_reaches_its_body", "throws" }, exported);
        foreach (var test in exported)
        {
            var folder = Path.Combine(hooks, test!);
            Assert.Equal("what the test wrote", File.ReadAllText(Path.Combine(folder, "output.txt")).Trim());
            Assert.True(File.Exists(Path.Combine(folder, "diagnostics", "summary.txt")), $"{test}: no diagnostics in {folder}");
        }
    }
}

/// <summary>Should -MatchExpectedOutput in real Pester whatever the order and number of imports.</summary>
public sealed class PesterOperatorTests
{
    private static string InvokeOperatorSuite(string label) => $$"""
        $result = Invoke-Pester -Path '{{Path.Combine(Repo.Root, "tests", "PesterHooks", "Operators.Tests.ps1")}}' -PassThru -Output None
        '{{label}}: {0} passed, {1} failed' -f $result.PassedCount, $result.FailedCount
        """;

    [Theory]
    [MemberData(nameof(RealPwsh.PesterVersions), MemberType = typeof(RealPwsh))]
    public void The_operator_works_whatever_the_import_order(string pesterVersion)
    {
        var pester = RealPwsh.ImportPester(pesterVersion);
        var e2e = $"Import-Module '{Repo.Manifest}' -ErrorAction Stop";
        var run = RealPwsh.Run(string.Join('\n',
            e2e, pester, InvokeOperatorSuite("module first"),
            pester, InvokeOperatorSuite("Pester re-imported with -Force"),
            e2e + " -Force", InvokeOperatorSuite("module re-imported with -Force"),
            InvokeOperatorSuite("a second run in the session"))).ShouldSucceed();
        Assert.Contains("module first: 2 passed, 0 failed", run.Output);
        Assert.Contains("Pester re-imported with -Force: 2 passed, 0 failed", run.Output);
        Assert.Contains("module re-imported with -Force: 2 passed, 0 failed", run.Output);
        Assert.Contains("a second run in the session: 2 passed, 0 failed", run.Output);

        var pesterFirst = RealPwsh.Run(string.Join('\n', pester, e2e, InvokeOperatorSuite("Pester first"))).ShouldSucceed();
        Assert.Contains("Pester first: 2 passed, 0 failed", pesterFirst.Output);
    }

    [Fact]
    public void Without_Pester_the_module_imports_silently_and_loads_no_Pester()
    {
        var run = RealPwsh.Run($$"""
            $all = Import-Module '{{Repo.Manifest}}' -ErrorAction Stop *>&1
            "streams: $(@($all).Count)"
            "pester loaded: $([bool](Get-Module -Name Pester))"
            "compare: $([bool](Get-Command Compare-ExpectedOutput -ErrorAction SilentlyContinue))"
            """).ShouldSucceed();
        Assert.Equal(new[] { "streams: 0", "pester loaded: False", "compare: True" }, run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.Equal(string.Empty, run.Error.Trim());
    }
}

/// <summary>The module's dependencies live in its own AssemblyLoadContext, beside other versions of the same assemblies.</summary>
public sealed class DependencyIsolationTests
{
    [Fact]
    public void A_pwsh_that_loaded_another_YamlDotNet_uses_both()
    {
        var other = Path.Combine(RealPwsh.PackagesFolder, "yamldotnet", "16.3.0", "lib", "net8.0", "YamlDotNet.dll");
        var manifest = Path.Combine(Path.GetTempPath(), $"e2e-yaml-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(manifest, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: isolation\n  namespace: default\ndata:\n  answer: \"42\"\n");
        try
        {
            var run = RealPwsh.Run($$"""
                $ErrorActionPreference = 'Stop'
                Add-Type -Path '{{other}}'
                $theirs = [YamlDotNet.Serialization.DeserializerBuilder]::new().Build().Deserialize([string] "k: v")
                Import-Module '{{Repo.Manifest}}'
                $scope = New-E2EScope -Name yaml
                $null = New-E2ECluster -Name ('yaml' + [guid]::NewGuid().ToString('N').Substring(0, 6))
                $null = Install-E2EManifest -Path '{{manifest}}'
                (Wait-E2EResource 'configmap/isolation' -Namespace default -For 'jsonpath={.data.answer}=42' -TimeoutSec 30) -ne $null
                "theirs: $($theirs['k'])"
                [System.AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'YamlDotNet' } |
                    ForEach-Object { '{0} in {1}' -f $_.GetName().Version.Major, [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($_).Name } | Sort-Object
                Remove-E2EScope $scope
                """).ShouldSucceed();
            var lines = run.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.Contains("theirs: v", lines);
            Assert.Contains("16 in Default", lines);
            Assert.Contains("18 in E2E", lines);
        }
        finally
        {
            File.Delete(manifest);
        }
    }
}
