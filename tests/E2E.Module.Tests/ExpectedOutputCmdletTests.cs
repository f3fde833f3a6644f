namespace E2E.Module.Tests;

/// <summary>The Venvstacks cmdlets in a real engine, on copies of the venvstacks sample project's committed outputs.</summary>
public sealed class ExpectedOutputCmdletTests : IDisposable
{
    private static readonly string Sample = Path.Combine(Repo.Root, "tests", "fixtures", "venvstacks", "tests", "sample_project");
    private readonly Pwsh _pwsh = new();
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-expected-").FullName;

    public ExpectedOutputCmdletTests()
    {
        foreach (var side in new[] { "expected", "actual" })
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(Sample, "requirements"), "*", SearchOption.AllDirectories))
            {
                var to = Path.Combine(_root, side, Path.GetRelativePath(Sample, file));
                Directory.CreateDirectory(Path.GetDirectoryName(to)!);
                File.Copy(file, to);
            }
        }
        _pwsh.Run("Set-Location -LiteralPath $root", new Dictionary<string, object?> { ["root"] = _root }).ShouldSucceed();
    }

    public void Dispose()
    {
        _pwsh.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private void Edit(string relative, string find, string replace)
    {
        var path = Path.Combine(_root, "actual", relative);
        File.WriteAllText(path, File.ReadAllText(path).Replace(find, replace, StringComparison.Ordinal));
    }

    [Fact]
    public void Unchanged_copy_compares_Equal_and_Quiet_says_true()
    {
        var result = _pwsh.Run("""
            $rows = Compare-ExpectedOutput -Path ./actual -ExpectedPath ./expected
            $rows.Count -gt 30
            @($rows | Where-Object Status -ne 'Equal').Count
            Compare-ExpectedOutput ./actual ./expected -Quiet
            """).ShouldSucceed();
        Assert.Equal(new[] { "True", "0", "True" }, result.Strings);
    }

    [Fact]
    public void Changed_lock_gives_a_row_with_path_and_warning_on_the_verbose_stream()
    {
        Edit("requirements/app-scipy-import/pylock.app-scipy-import.toml", "marker = \"sys_platform == 'from_lower_layer'\"\n", "");
        var result = _pwsh.Run("""
            $changed = Compare-ExpectedOutput ./actual ./expected -Verbose | Where-Object Status -eq 'Changed'
            $changed.Path
            $changed.Warnings[0].Code
            $changed.Differences[0].Path
            Compare-ExpectedOutput ./actual ./expected -Quiet
            """).ShouldSucceed();
        Assert.Equal(new[] { "requirements/app-scipy-import/pylock.app-scipy-import.toml", "PackageLayerChanged", "packages[0].marker", "False" }, result.Strings);
        Assert.Contains(result.Verbose, v => v.Contains("[PackageLayerChanged]", StringComparison.Ordinal));
    }

    [Fact]
    public void Piped_files_compare_with_their_namesakes()
    {
        var result = _pwsh.Run("""
            [pscustomobject]@{ FullName = "$PWD/actual/requirements/framework-scipy/pylock.framework-scipy.meta.json" } |
                Compare-ExpectedOutput -ExpectedPath ./expected/requirements/framework-scipy |
                ForEach-Object { $_.Path + ' ' + $_.Status }
            """).ShouldSucceed();
        Assert.Equal("pylock.framework-scipy.meta.json Equal", result.Strings.Single());
    }

    [Fact]
    public void Invalid_toml_is_a_non_terminating_error_and_the_rest_still_compares()
    {
        File.WriteAllText(Path.Combine(_root, "actual", "requirements", "framework-scipy", "pylock.framework-scipy.toml"), "lock-version = \n");
        var result = _pwsh.Run("@(Compare-ExpectedOutput ./actual ./expected -ErrorVariable bad -ErrorAction SilentlyContinue).Count; $bad[0].FullyQualifiedErrorId; $bad[0].CategoryInfo.Category");
        Assert.Null(result.Terminating);
        var lines = result.Strings.ToArray();
        Assert.True(int.Parse(lines[0]) > 30);
        Assert.Equal("InvalidToml,E2E.Cmdlets.Snapshots.CompareExpectedOutputCommand", lines[1]);
        Assert.Equal("InvalidData", lines[2]);
    }

    [Fact]
    public void Nothing_to_compare_is_ExpectedOutputNotFound()
    {
        Assert.StartsWith("ExpectedOutputNotFound,", _pwsh.Run("Compare-ExpectedOutput ./nope ./nothing").ErrorId);
    }

    [Fact]
    public void Update_WhatIf_writes_nothing_then_update_makes_it_Equal_and_records_the_reason()
    {
        Edit("requirements/framework-scipy/pylock.framework-scipy.toml", "version = \"1.16.1\"", "version = \"1.16.2\"");
        File.WriteAllText(Path.Combine(_root, "expected-output-config.toml"), "[env]\n# Last requested update: old\n");
        var expectedLock = Path.Combine(_root, "expected", "requirements", "framework-scipy", "pylock.framework-scipy.toml");
        var before = File.ReadAllText(expectedLock);

        var whatIf = _pwsh.Run("Update-ExpectedOutput ./actual ./expected -Reason 'scipy 1.16.2' -WhatIf; Compare-ExpectedOutput ./actual ./expected -Quiet").ShouldSucceed();
        Assert.Equal("False", whatIf.Strings.Single());
        Assert.Equal(before, File.ReadAllText(expectedLock));

        var update = _pwsh.Run("""
            $written = Update-ExpectedOutput ./actual ./expected -Reason 'scipy 1.16.2' -PassThru
            $written.Count; $written[0].Action; $written[0].Path
            Compare-ExpectedOutput ./actual ./expected -Quiet
            """).ShouldSucceed();
        Assert.Equal(new[] { "1", "Replace", "requirements/framework-scipy/pylock.framework-scipy.toml", "True" }, update.Strings);
        Assert.Matches(@"^\[env\]\n# Last requested update: scipy 1\.16\.2 \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)\n$", File.ReadAllText(Path.Combine(_root, "expected-output-config.toml")));
    }

    [Fact]
    public void Update_rejects_a_multi_line_reason_before_writing()
    {
        Edit("requirements/framework-scipy/pylock.framework-scipy.toml", "version = \"1.16.1\"", "version = \"1.16.2\"");
        var result = _pwsh.Run("Update-ExpectedOutput ./actual ./expected -Reason \"two`nlines\"");
        Assert.StartsWith("InvalidReason,", result.ErrorId);
        Assert.Equal("False", _pwsh.Run("Compare-ExpectedOutput ./actual ./expected -Quiet").ShouldSucceed().Strings.Single());
    }

    [Fact]
    public void Reproducibility_of_a_deterministic_and_a_timestamped_build()
    {
        var result = _pwsh.Run("""
            Test-E2EReproducible { param($out) [System.IO.File]::WriteAllText([System.IO.Path]::Combine($out, 'a.txt'), 'same') } -Quiet
            $report = Test-E2EReproducible { param($out) [System.IO.File]::WriteAllText([System.IO.Path]::Combine($out, 'stamp.txt'), [guid]::NewGuid().ToString()) }
            $report.Reproducible; $report.Differences[0].Path
            Test-E2EReproducible { param($out) [System.IO.File]::WriteAllText([System.IO.Path]::Combine($out, 'stamp.txt'), [guid]::NewGuid().ToString()) } -Scrub Guid -Quiet
            """).ShouldSucceed();
        Assert.Equal(new[] { "True", "False", "stamp.txt", "True" }, result.Strings);
    }

    [Fact]
    public void Archive_cmdlet_reports_metadata_only_differences()
    {
        var result = _pwsh.Run("""
            $a = [System.IO.Compression.ZipFile]::Open("$PWD/a.zip", 'Create'); $e = $a.CreateEntry('x.txt'); $e.LastWriteTime = [datetimeoffset]'2025-01-01'; $w = [System.IO.StreamWriter]::new($e.Open()); $w.Write('x'); $w.Dispose(); $a.Dispose()
            $b = [System.IO.Compression.ZipFile]::Open("$PWD/b.zip", 'Create'); $e = $b.CreateEntry('x.txt'); $e.LastWriteTime = [datetimeoffset]'2026-01-01'; $w = [System.IO.StreamWriter]::new($e.Open()); $w.Write('x'); $w.Dispose(); $b.Dispose()
            $r = Compare-E2EArchive ./b.zip ./a.zip
            $r.Verdict; $r.OnlyMetadataDiffers
            """).ShouldSucceed();
        Assert.Equal(new[] { "MetadataOnly", "True" }, result.Strings);
    }

    [Fact]
    public void Should_MatchExpectedOutput_passes_and_fails_with_a_readable_message_in_real_Pester()
    {
        using var pwsh = new Pwsh(importModule: false);
        var result = pwsh.Run($$"""
            {{RealPwsh.ImportPester(RealPwsh.PinnedPesterVersions[0])}}
            Import-Module '{{Repo.Manifest}}'
            '{{_root}}/actual' | Should -MatchExpectedOutput -ExpectedPath '{{_root}}/expected'
            'equal folders matched'
            try { '{{_root}}/actual' | Should -Not -MatchExpectedOutput -ExpectedPath '{{_root}}/expected' } catch { 'negated: ' + $_.Exception.Message }
            [System.IO.File]::AppendAllText('{{_root}}/actual/requirements/framework-scipy/packages-framework-scipy.txt', "extra==1`n")
            try { '{{_root}}/actual' | Should -MatchExpectedOutput -ExpectedPath '{{_root}}/expected' -Because 'locks are committed' } catch { 'changed: ' + $_.Exception.Message }
            """).ShouldSucceed();
        var lines = result.Strings.ToArray();
        Assert.Equal("equal folders matched", lines[0]);
        Assert.StartsWith("negated: Expected '", lines[1]);
        Assert.Contains("not to match the expected output", lines[1]);
        Assert.Contains("because locks are committed, but 1 of", lines[2]);
        Assert.Contains("Changed requirements/framework-scipy/packages-framework-scipy.txt", lines[2]);
        Assert.Contains("+extra==1", lines[2]);
    }

    [Fact]
    public void A_directory_link_is_recorded_as_a_link_and_a_FIFO_stops_the_update_before_anything_is_written()
    {
        var target = Directory.CreateDirectory(Path.Combine(_root, "elsewhere")).FullName;
        File.WriteAllText(Path.Combine(target, "t.txt"), "x");
        Directory.CreateSymbolicLink(Path.Combine(_root, "actual", "layer-link"), target);
        var recorded = _pwsh.Run("""
            Update-ExpectedOutput ./actual ./expected -Reason 'link added' -Confirm:$false
            (Get-Item ./expected/layer-link).LinkType
            Compare-ExpectedOutput ./actual ./expected -Quiet
            """).ShouldSucceed();
        Assert.Equal(new[] { "SymbolicLink", "True" }, recorded.Strings);

        Edit(Directory.EnumerateFiles(Path.Combine(_root, "actual"), "*.toml", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(Path.Combine(_root, "actual"), f)).First(), "version", "VERSION");
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", Path.Combine(_root, "actual", "zz-pipe"))!)
        {
            mkfifo.WaitForExit();
        }
        var before = Directory.EnumerateFiles(Path.Combine(_root, "expected"), "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllText);
        var refused = _pwsh.Run("Update-ExpectedOutput ./actual ./expected -Reason 'with a pipe' -Confirm:$false");
        Assert.StartsWith("NotARegularFile,", refused.ErrorId);
        var after = Directory.EnumerateFiles(Path.Combine(_root, "expected"), "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllText);
        Assert.Equal(before, after); // nothing written, nothing half-written
    }
}
