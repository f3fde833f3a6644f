#Requires -Version 7.4
<#
.SYNOPSIS
    Runs CI (.ci/run) several times, each in a fresh clone of a commit, with busy processes beside it, and prints
    each run's closing line and duration.
.DESCRIPTION
    A flaky test costs a whole session, so changes that touch processes, servers or timing are soaked before they
    land. Each run clones -Commit (main by default) of this repository into a new temporary folder (nothing
    from this work tree comes along), copies ../shared beside the clone as CI lays it out, starts -Load busy
    processes (stress-ng --cpu, or plain shell loops where stress-ng is missing), runs 'bash .ci/run' with CI=true
    and no standard input, and stops the load. The log of each run is kept in -LogDirectory. Exits 1 when any run
    failed. Run it as root, as CI runs (.ci/run installs packages and starts dockerd).
.EXAMPLE
    ./tools/pwsh tools/Test-CiSoak.ps1 -Runs 5 -Load 2
.EXAMPLE
    ./tools/pwsh tools/Test-CiSoak.ps1 -Runs 1 -Load 0 -Commit HEAD
#>
[CmdletBinding()]
param(
    [ValidateRange(1, 100)]
    [int] $Runs = 5,

    # Busy processes beside each run (one per core loads the machine fully).
    [ValidateRange(0, 64)]
    [int] $Load = 2,

    [string] $Commit = 'main',

    [string] $LogDirectory = (Join-Path ([IO.Path]::GetTempPath()) 'e2e-soak')
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$repository = (Resolve-Path (Join-Path $PSScriptRoot '..')).Path
$shared = Join-Path (Split-Path $repository) 'shared'
$sha = (& git -C $repository rev-parse $Commit).Trim()
if ($LASTEXITCODE -ne 0) { throw "No commit '$Commit' in $repository." }
New-Item -ItemType Directory -Force -Path $LogDirectory | Out-Null
Import-Module (Join-Path $PSScriptRoot 'BuildTools.psm1') -Force

Write-Host "soak: $Runs run(s) of .ci/run at $($sha.Substring(0, 12)) with $Load busy process(es) beside each; logs in $LogDirectory"
$results = foreach ($run in 1..$Runs) {
    $root = Join-Path ([IO.Path]::GetTempPath()) "e2e-soak-$PID-$run"
    $clone = Join-Path $root 'main'
    $log = Join-Path $LogDirectory "run-$run.log"
    $busy = @()
    $clock = [Diagnostics.Stopwatch]::StartNew()
    $status = -1
    try {
        New-Item -ItemType Directory -Force -Path $root | Out-Null
        & git clone --quiet --no-local $repository $clone
        & git -C $clone checkout --quiet $sha
        if (Test-Path $shared) { Copy-Item -Recurse $shared (Join-Path $root 'shared') }
        $busy = Start-BusyLoad $Load
        $clock.Restart()
        $env:CI = 'true'
        # No standard input, as CI runs it.
        & bash -c 'exec bash "$0" </dev/null' (Join-Path $clone '.ci' 'run') *> $log
        $status = $LASTEXITCODE
    }
    finally {
        $clock.Stop()
        Stop-BusyLoad $busy
        Remove-Item Env:CI -ErrorAction SilentlyContinue
        # The clone goes whatever happened; the log stays in -LogDirectory.
        Remove-Item -Recurse -Force $root -ErrorAction SilentlyContinue
    }
    $closing = @(Select-String -Path $log -Pattern '^(\w+: )?\d+ passed, \d+ failed' -ErrorAction SilentlyContinue | Select-Object -Last 1 | ForEach-Object { $_.Line })
    $result = [pscustomobject]@{
        Run = $run
        ExitCode = $status
        Closing = if ($closing) { $closing[0] } else { '(no closing line)' }
        Minutes = [math]::Round($clock.Elapsed.TotalMinutes, 1)
        Log = $log
    }
    Write-Host ("run {0}: exit {1}, '{2}', {3} min" -f $result.Run, $result.ExitCode, $result.Closing, $result.Minutes)
    $result
}
$failed = @($results | Where-Object ExitCode -ne 0)
$slowest = ($results | Measure-Object Minutes -Maximum).Maximum
Write-Host "soak: $($Runs - $failed.Count) of $Runs green; slowest run $slowest min"
if ($failed) { exit 1 }
