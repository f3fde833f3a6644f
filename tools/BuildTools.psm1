# Helpers shared by build.ps1, Pester/Run.ps1 and the tools' scripts: one place that knows how to
# start a fresh pwsh and where the pinned Pester versions are.

$repo = Split-Path -Parent $PSScriptRoot

function Get-PinnedPesterVersion {
    # The versions tools/PesterPackages restores, in the order its PackageDownload item lists them.
    $project = [xml](Get-Content -Raw (Join-Path $repo 'tools' 'PesterPackages' 'PesterPackages.csproj'))
    @($project.Project.ItemGroup.PackageDownload | Where-Object Include -eq 'Pester' |
        ForEach-Object { $_.Version -split ';' } | ForEach-Object { $_.Trim('[', ']', ' ') })
}

function Get-NuGetPackagesFolder {
    # Where NuGet keeps packages (the pinned pwsh and Pester among them): NUGET_PACKAGES, else what dotnet says.
    if ($env:NUGET_PACKAGES) { return $env:NUGET_PACKAGES }
    ((& dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', '').Trim()
}

function Get-PesterManifest([Parameter(Mandatory)] [string] $Version) {
    # Pester.psd1 of a pinned version in the NuGet packages folder, restoring tools/PesterPackages if it is missing.
    $find = {
        Join-Path (Get-NuGetPackagesFolder) 'pester' $Version 'tools' 'Pester.psd1'
    }
    $manifest = & $find
    if (-not (Test-Path -LiteralPath $manifest)) {
        & dotnet restore (Join-Path $repo 'tools' 'PesterPackages') -nologo -v quiet | Out-Host
        $manifest = & $find
    }
    if (-not (Test-Path -LiteralPath $manifest)) {
        throw "Pester $Version is not pinned in tools/PesterPackages/PesterPackages.csproj (looked for '$manifest')."
    }
    $manifest
}

function Invoke-FreshPwsh([string[]] $ArgumentList) {
    # A new pwsh process with the same engine as this one (under the dotnet tool, 'dotnet pwsh.dll'); returns its exit code.
    $process = [Environment]::ProcessPath
    $prefix = @(if ([IO.Path]::GetFileNameWithoutExtension($process) -eq 'dotnet') { Join-Path $PSHOME 'pwsh.dll' })
    & $process @prefix -NoProfile -NonInteractive @ArgumentList | Out-Host
    $LASTEXITCODE
}

function Invoke-FreshPwshWithSummary([string[]] $ArgumentList, [string] $Label) {
    # Runs a script that takes -SummaryPath in a fresh pwsh; returns its exit code and the summary lines it
    # wrote, or one failing line when it ended before writing them.
    $log = Join-Path ([IO.Path]::GetTempPath()) "e2e-summary-$PID-$([guid]::NewGuid().ToString('N')).log"
    $status = Invoke-FreshPwsh ($ArgumentList + @('-SummaryPath', $log))
    $lines = if (Test-Path -LiteralPath $log) { @(Get-Content -LiteralPath $log); Remove-Item -LiteralPath $log } else { @("${Label}: 0 passed, 1 failed (the run ended before its summary)") }
    [pscustomobject]@{ ExitCode = $status; Summary = @($lines) }
}

function Invoke-FreshPwshConcurrently([object[]] $Runs) {
    # Runs several scripts that take -SummaryPath, each in a fresh pwsh, all at once; prints each one's output, whole
    # and in the order given, once all have ended; returns what Invoke-FreshPwshWithSummary returns, for each.
    # On two cores the suites of two Pester majors wait on processes, servers and disks much of the time, so side
    # by side they take little more than one alone.
    $process = [Environment]::ProcessPath
    $prefix = @(if ([IO.Path]::GetFileNameWithoutExtension($process) -eq 'dotnet') { Join-Path $PSHOME 'pwsh.dll' })
    $started = foreach ($run in $Runs) {
        $summary = Join-Path ([IO.Path]::GetTempPath()) "e2e-summary-$PID-$([guid]::NewGuid().ToString('N')).log"
        $start = [System.Diagnostics.ProcessStartInfo]::new($process)
        foreach ($argument in @($prefix) + @('-NoProfile', '-NonInteractive') + $run.ArgumentList + @('-SummaryPath', $summary)) { $start.ArgumentList.Add($argument) }
        $start.RedirectStandardOutput = $true
        $start.RedirectStandardError = $true
        $child = [System.Diagnostics.Process]::Start($start)
        [pscustomobject]@{ Label = $run.Label; Process = $child; Summary = $summary; Output = $child.StandardOutput.ReadToEndAsync(); Errors = $child.StandardError.ReadToEndAsync() }
    }
    foreach ($run in $started) {
        $run.Process.WaitForExit()
        $run.Output.GetAwaiter().GetResult() | Out-Host
        $errors = $run.Errors.GetAwaiter().GetResult()
        if ($errors) { $errors | Out-Host }
        $lines = if (Test-Path -LiteralPath $run.Summary) { @(Get-Content -LiteralPath $run.Summary); Remove-Item -LiteralPath $run.Summary } else { @("$($run.Label): 0 passed, 1 failed (the run ended before its summary)") }
        [pscustomobject]@{ ExitCode = $run.Process.ExitCode; Summary = @($lines) }
        $run.Process.Dispose()
    }
}

function Get-PassFailCount([string] $Line) {
    # The counts of an 'N passed, N failed' line; a line without them counts as one failure.
    if ($Line -match '(\d+) passed, (\d+) failed') { [pscustomobject]@{ Passed = [int] $Matches[1]; Failed = [int] $Matches[2] } }
    else { [pscustomobject]@{ Passed = 0; Failed = 1 } }
}

# Runs $Action with a throwaway user home for the processes it starts: HOME, XDG_DATA_HOME, XDG_CONFIG_HOME and
# XDG_CACHE_HOME in a new folder (PSResourceGet installs CurrentUser modules under HOME and keeps its list of
# repositories under XDG_DATA_HOME; pwsh finds user modules under XDG_DATA_HOME), and no PSModulePath, so that pwsh
# computes it from them. NuGet's packages folder stays the real one (NUGET_PACKAGES), where the pinned pwsh and Pester
# are. Nothing of the real user's is read or changed; the folder goes afterwards.
function Invoke-WithTemporaryUserHome([Parameter(Mandatory)] [scriptblock] $Action) {
    $root = Join-Path ([IO.Path]::GetTempPath()) "e2e-home-$PID-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
    $packages = Get-NuGetPackagesFolder
    $variables = @{
        HOME = $root; XDG_DATA_HOME = Join-Path $root '.local' 'share'; XDG_CONFIG_HOME = Join-Path $root '.config'; XDG_CACHE_HOME = Join-Path $root '.cache'
        PSModulePath = $null; NUGET_PACKAGES = $packages
    }
    $saved = @{}
    try {
        foreach ($name in $variables.Keys) {
            $saved[$name] = [Environment]::GetEnvironmentVariable($name)
            if ($variables[$name]) { $null = New-Item -ItemType Directory -Force -Path $variables[$name] }
            [Environment]::SetEnvironmentVariable($name, $variables[$name])
        }
        & $Action $root
    }
    finally {
        foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
        Remove-Item -Recurse -Force -LiteralPath $root -ErrorAction SilentlyContinue
    }
}

# Busy processes that load the machine for soaks: stress-ng --cpu, or plain shell loops where it is missing. Each is
# started with setsid, a group of its own, so that Stop-BusyLoad ends all it started.
function Start-BusyLoad([int] $Count) {
    if ($Count -eq 0) { return @() }
    $stress = Get-Command stress-ng -ErrorAction SilentlyContinue
    if ($stress) { return @(Start-Process -PassThru -FilePath setsid -ArgumentList @($stress.Source, '--cpu', $Count, '--quiet') -RedirectStandardOutput '/dev/null') }
    @(1..$Count | ForEach-Object { Start-Process -PassThru -FilePath setsid -ArgumentList @('sh', '-c', 'while :; do :; done') -RedirectStandardOutput '/dev/null' })
}

function Stop-BusyLoad($Processes) {
    foreach ($process in $Processes) {
        & kill -KILL -- "-$($process.Id)" 2>$null
        $process.WaitForExit(10000) | Out-Null
    }
}

Export-ModuleMember -Function Get-PinnedPesterVersion, Get-PesterManifest, Invoke-FreshPwsh, Invoke-FreshPwshWithSummary, Invoke-FreshPwshConcurrently, Get-PassFailCount, Start-BusyLoad, Stop-BusyLoad, Invoke-WithTemporaryUserHome
