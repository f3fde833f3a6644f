namespace E2E.Module.Tests;

/// <summary>What a new user sees: Import-Module, Get-Command, Get-Help, in a real engine.</summary>
public sealed class ModuleImportTests
{
    [Fact]
    public void Imports_without_warnings_and_exports_every_manifest_cmdlet()
    {
        using var pwsh = new Pwsh(importModule: false);
        var result = pwsh.Run($"""
            $m = Import-Module '{Repo.Manifest}' -PassThru -WarningVariable importWarnings
            $importWarnings.Count
            [string[]] $names = $m.ExportedCmdlets.Keys; [System.Array]::Sort($names, [System.StringComparer]::OrdinalIgnoreCase); $names -join ','
            """).ShouldSucceed();
        var manifest = ContractTests.ReadManifest(Repo.Manifest);
        var expected = string.Join(",", ((object[])manifest["CmdletsToExport"]!).Cast<string>().Order(StringComparer.OrdinalIgnoreCase));
        Assert.Equal(new[] { "0", expected }, result.Strings);
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public void Cmdlets_and_core_load_in_the_module_load_context()
    {
        using var pwsh = new Pwsh();
        var result = pwsh.Run("""
            $cmdlets = (Get-Command New-E2EScope).ImplementingType.Assembly
            $core = (New-E2EScope -WhatIf:$false).GetType().Assembly
            [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($cmdlets).Name
            [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($core).Name
            Get-E2EScope | Remove-E2EScope
            """).ShouldSucceed();
        Assert.Equal(new[] { "E2E", "E2E" }, result.Strings);
    }

    [Fact]
    public void Every_referenced_assembly_ships_in_the_module_folder()
    {
        // The test process has the dependencies in its own folder, which would hide a module that lacks them.
        var bin = Path.Combine(Repo.ModuleDir, "bin");
        var framework = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var missing = new List<string>();
        foreach (var file in Directory.EnumerateFiles(bin, "*.dll"))
        {
            using var stream = File.OpenRead(file);
            using var pe = new System.Reflection.PortableExecutable.PEReader(stream);
            if (!pe.HasMetadata)
            {
                continue;
            }
            var metadata = System.Reflection.Metadata.PEReaderExtensions.GetMetadataReader(pe);
            foreach (var handle in metadata.AssemblyReferences)
            {
                var name = metadata.GetString(metadata.GetAssemblyReference(handle).Name);
                var known = File.Exists(Path.Combine(bin, name + ".dll")) || File.Exists(Path.Combine(framework, name + ".dll"))
                    || name is "System.Management.Automation" or "netstandard" or "mscorlib";
                if (!known)
                {
                    missing.Add($"{Path.GetFileName(file)} -> {name}");
                }
            }
        }
        Assert.True(missing.Count == 0, string.Join("\n", missing.Distinct()));
        Assert.True(File.Exists(Path.Combine(bin, "DiffPlex.dll")) && File.Exists(Path.Combine(bin, "BouncyCastle.Cryptography.dll")) && File.Exists(Path.Combine(bin, "Secp256k1.Net.dll")) && File.Exists(Path.Combine(bin, "runtimes", "linux-x64", "native", "libsecp256k1.so")) && File.Exists(Path.Combine(bin, "AWSSDK.S3.dll")));
    }

    [Fact]
    public void Third_party_assemblies_load_in_the_module_context()
    {
        using var pwsh = new Pwsh();
        var result = pwsh.Run("""
            $env:E2E_ALC_TEST_KEY = '0x' + ('ab' * 32)
            $null = New-OracleReport -PrivateKeyVariable E2E_ALC_TEST_KEY -Timestamp 1
            $env:E2E_ALC_TEST_KEY = $null
            foreach ($name in 'BouncyCastle.Cryptography', 'Secp256k1.Net') {
                $contexts = [System.AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq $name } |
                    ForEach-Object { [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($_).Name }
                $contexts -contains 'E2E'
            }
            """).ShouldSucceed();
        Assert.Equal(new[] { "True", "True" }, result.Strings);
    }

    [Fact]
    public void Reimport_with_Force_keeps_the_cmdlets_available()
    {
        using var pwsh = new Pwsh();
        var result = pwsh.Run($"""
            Import-Module '{Repo.Manifest}' -Force
            (Get-Command -Module E2E).Count
            $s = New-E2EScope; Remove-E2EScope $s; $s.State
            """).ShouldSucceed();
        Assert.Equal(new[] { ContractTestsCount().ToString(), "Removed" }, result.Strings);
    }

    [Fact]
    public void Full_help_shows_synopsis_parameters_and_examples()
    {
        using var pwsh = new Pwsh();
        var result = pwsh.Run("""
            foreach ($command in Get-Command -Module E2E) {
                $help = Get-Help $command.Name -Full
                '{0}|{1}|{2}|{3}' -f $command.Name, [bool]$help.Synopsis, @($help.parameters.parameter).Count, @($help.examples.example).Count
            }
            """).ShouldSucceed();
        Assert.Equal(ContractTestsCount(), result.Output.Count);
        foreach (var line in result.Strings)
        {
            var parts = line.Split('|');
            Assert.True(parts[1] == "True", $"{parts[0]} has no synopsis");
            Assert.True(int.Parse(parts[3]) >= 1, $"{parts[0]} has no example");
        }
        var parameters = pwsh.Run("(Get-Help Wait-E2ECondition -Parameter TimeoutSec).description.Text").ShouldSucceed();
        Assert.Contains("seconds", parameters.Strings.Single());
    }

    private static int ContractTestsCount() =>
        ((object[])ContractTests.ReadManifest(Repo.Manifest)["CmdletsToExport"]!).Length;
}
