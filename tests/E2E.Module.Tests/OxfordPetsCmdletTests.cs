namespace E2E.Module.Tests;

/// <summary>The OxfordPets flow through the cmdlets in a real engine: images, manifest, columns, backfills, jobs.</summary>
public sealed class OxfordPetsCmdletTests : IDisposable
{
    private readonly Pwsh _pwsh = new();
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-pets-cmdlets-").FullName;
    private readonly Dictionary<string, object?> _vars;

    public OxfordPetsCmdletTests()
    {
        E2E.Core.Tables.PetImages.Generate(Path.Combine(_root, "images"), 40);
        var project = Directory.CreateDirectory(Path.Combine(_root, "simple")).FullName;
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Repo.Root, "examples", "udfs", "simple")))
        {
            File.Copy(file, Path.Combine(project, Path.GetFileName(file)));
        }
        _vars = new()
        {
            ["images"] = Path.Combine(_root, "images"),
            ["project"] = project,
            ["db"] = Path.Combine(_root, "pets.db"),
            ["bucket"] = new Uri(Path.Combine(_root, "bucket") + "/").AbsoluteUri,
        };
        _pwsh.Run("""
            $null = New-UdfManifest -Path $project -SkipSitePackages | Publish-UdfManifest -Destination $bucket
            $null = New-E2ETable -Database $db -Name pets -ImageDirectory $images -FragmentSize 10
            """, _vars).ShouldSucceed();
    }

    public void Dispose()
    {
        _pwsh.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void Columns_fill_incrementally_and_rows_read_back()
    {
        var result = _pwsh.Run("""
            $table = Add-E2EColumn -Database $db -Table pets -Name size -Udf file_size -Manifest oxford-pets-simple -Store $bucket
            ($table.Columns | Where-Object Name -eq size).Type.ToString()
            ($table.Columns | Where-Object Name -eq size).Inputs -join ','
            (Invoke-Backfill -Database $db -Table pets -Column size -NumFragments 2 -BatchSize 3 -Concurrency 2).RowsDone
            @(Get-E2ETableRow -Database $db -Name pets -Where 'size IS NOT NULL').Count
            (Invoke-Backfill -Database $db -Table pets -Column size).RowsDone
            $rows = Get-E2ETableRow -Database $db -Name pets
            @($rows | Where-Object { $_.size -ne $_.image.Length }).Count
            (Get-E2ETable -Database $db -Name pets).RowCount
            @(Get-BackfillJob -Database $db -Table pets | Where-Object Status -eq 'Done').Count
            """, _vars).ShouldSucceed();
        Assert.Equal(new[] { "int64", "image", "20", "20", "20", "0", "40", "2" }, result.Strings);
    }

    [Fact]
    public void AsJob_runs_in_the_background_and_shows_in_Get_Job()
    {
        var result = _pwsh.Run("""
            $null = Add-E2EColumn -Database $db -Table pets -Name dims -Udf dimensions -Manifest oxford-pets-simple -Store $bucket
            $job = Invoke-Backfill -Database $db -Table pets -Column dims -BatchSize 5 -AsJob
            $job.PSJobTypeName
            (Get-Job -Id $job.Id).Name
            $finished = Wait-BackfillJob -Database $db -Id $job.BackfillId -TimeoutSec 120
            $finished.Status
            $null = Wait-Job -Job $job -Timeout 60
            $job.State
            (Receive-Job -Job $job).RowsDone
            """, _vars).ShouldSucceed();
        Assert.Equal(new[] { "E2EBackfill", "backfill pets.dims", "Done", "Completed", "40" }, result.Strings);
    }

    [Fact]
    public void Stop_Job_returns_once_the_backfill_has_stopped_so_Remove_Job_works()
    {
        var result = _pwsh.Run("""
            $null = Add-E2EColumn -Database $db -Table pets -Name stopped -Udf dimensions -Manifest oxford-pets-simple -Store $bucket
            foreach ($i in 1..3) {
                $job = Invoke-Backfill -Database $db -Table pets -Column stopped -BatchSize 1 -AsJob
                Stop-Job -Job $job
                $job.State -in 'Stopped', 'Completed'
                Remove-Job -Job $job
                @(Get-Job -Id $job.Id -ErrorAction SilentlyContinue).Count
            }
            """, _vars).ShouldSucceed();
        Assert.Equal(new[] { "True", "0", "True", "0", "True", "0" }, result.Strings);
    }

    [Fact]
    public void Unknown_udfs_and_type_mismatches_are_refused_before_the_table_changes()
    {
        var unknown = _pwsh.Run("Add-E2EColumn -Database $db -Table pets -Name x -Udf no_such_udf -Manifest oxford-pets-simple -Store $bucket", _vars);
        Assert.StartsWith("UdfNotFound,", unknown.ErrorId);
        var mismatch = _pwsh.Run("Add-E2EColumn -Database $db -Table pets -Name y -Udf file_size -Manifest oxford-pets-simple -Store $bucket -Type string", _vars);
        Assert.StartsWith("UdfTypeMismatch,", mismatch.ErrorId);
        var table = _pwsh.Run("(Get-E2ETable -Database $db -Name pets).Columns.Name -join ','", _vars).ShouldSucceed();
        Assert.Equal("image,filename,breed,label", table.Strings.Single());
        Assert.StartsWith("TableNotFound,", _pwsh.Run("Get-E2ETable -Database $db -Name nope", _vars).ErrorId);
        Assert.StartsWith("InvalidFilter,", _pwsh.Run("Get-E2ETableRow -Database $db -Name pets -Where '1; DROP TABLE pets'", _vars).ErrorId);
    }

    [Fact]
    public void A_killed_drivers_job_reads_Interrupted_waits_fail_at_once_and_the_next_backfill_resumes_it_exactly_once()
    {
        // A UDF slow enough (40 rows x 100 ms) for the kill to land mid-run, timed on the job record itself.
        var slow = Directory.CreateDirectory(Path.Combine(_root, "slow")).FullName;
        File.WriteAllText(Path.Combine(slow, "pyproject.toml"), "[project]\nname = \"slow-size\"\nversion = \"0.1.0\"\nrequires-python = \">=3.10\"\ndependencies = []\n");
        File.WriteAllText(Path.Combine(slow, "slow_udfs.py"), "import time\nfrom e2e_udf import udf\n\n\n@udf(data_type=\"int64\")\ndef slow_size(image: bytes) -> int:\n    time.sleep(0.1)\n    return len(image)\n");
        _pwsh.Run("""
            $null = New-UdfManifest -Path $slow -SkipSitePackages | Publish-UdfManifest -Destination $bucket
            $null = Add-E2EColumn -Database $db -Table pets -Name slow -Udf slow_size -Manifest slow-size -Store $bucket
            """, new Dictionary<string, object?>(_vars) { ["slow"] = slow }).ShouldSucceed();
        var script = Path.Combine(_root, "driver.ps1");
        File.WriteAllText(script, $"Import-Module '{Repo.Manifest}'\nInvoke-Backfill -Database '{_vars["db"]}' -Table pets -Column slow -BatchSize 1 -Concurrency 1\n");
        using var driver = RealPwsh.Start(script);
        driver.BeginOutputReadLine();
        driver.BeginErrorReadLine();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var progress = _pwsh.Run("Get-BackfillJob -Database $db | Where-Object Column -eq slow | Select-Object -Last 1 | ForEach-Object { \"$($_.Status) $($_.RowsDone)\" }", _vars);
            var line = progress.Strings.LastOrDefault() ?? string.Empty;
            if (line.StartsWith("Running ", StringComparison.Ordinal) && long.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture) >= 5)
            {
                break;
            }
            Assert.False(driver.HasExited, "the driver ended before the kill");
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "the backfill did not get going");
            Thread.Sleep(50);
        }
        RealPwsh.Signal(driver, "KILL");
        Assert.True(driver.WaitForExit(10_000));

        var after = _pwsh.Run("""
            $job = Get-BackfillJob -Database $db | Where-Object Column -eq slow | Select-Object -Last 1
            "status $($job.Status) done $($job.RowsDone)"
            $clock = [Diagnostics.Stopwatch]::StartNew()
            try { Wait-BackfillJob -Database $db -Id $job.Id -TimeoutSec 60 -ErrorAction Stop } catch { "wait $($_.FullyQualifiedErrorId.Split(',')[0]) after $([int]$clock.Elapsed.TotalSeconds) s" }
            Stop-BackfillJob -Database $db -Id $job.Id -WarningVariable warned -WarningAction SilentlyContinue
            "stop warned: $warned"
            $resumed = Invoke-Backfill -Database $db -Table pets -Column slow -BatchSize 8 -Concurrency 2
            "resumed $($resumed.Status) computed $($resumed.RowsDone)"
            $rows = Get-E2ETableRow -Database $db -Name pets
            "wrong $(@($rows | Where-Object { $_.slow -ne $_.image.Length }).Count) of $(@($rows).Count)"
            "old job $((Get-BackfillJob -Database $db -Id $job.Id).Status)"
            """, _vars).ShouldSucceed();
        var lines = after.Strings.ToArray();
        Assert.StartsWith("status Interrupted done ", lines[0]);
        var doneBeforeKill = long.Parse(lines[0].Split(' ')[3], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(doneBeforeKill, 5, 39);
        Assert.Equal("wait BackfillInterrupted after 0 s", lines[1]);
        Assert.Contains("it was interrupted (its driver is gone)", lines[2]);
        Assert.Equal($"resumed Done computed {40 - doneBeforeKill}", lines[3]);
        Assert.Equal("wrong 0 of 40", lines[4]);
        Assert.Equal("old job Failed", lines[5]);
    }
}
