#Requires -Version 7.4
<#
.SYNOPSIS
    Runs the xunit tests a filter selects many times in a row, with busy processes beside them, and says how many
    runs passed.
.DESCRIPTION
    For tests of processes, servers and timing: a test that passes once may fail one time in twenty on a busy
    machine. Builds the test project once, starts -Load busy processes (see Start-BusyLoad), then runs
    'dotnet test --no-build --filter <Filter>' -Times times, printing each run's counts. Keeps going after a failure
    (so the count is honest) and keeps each failed run's output in -LogDirectory. Exits 1 when any run failed.
.EXAMPLE
    ./tools/pwsh tools/Test-Repeat.ps1 -Filter 'FullyQualifiedName~fork' -Times 50 -Load 2
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)]
    [string] $Filter,

    [ValidateRange(1, 1000)]
    [int] $Times = 50,

    [ValidateRange(0, 64)]
    [int] $Load = 2,

    [string] $Project = (Join-Path $PSScriptRoot '..' 'tests' 'E2E.Core.Tests'),

    [string] $LogDirectory = (Join-Path ([IO.Path]::GetTempPath()) 'e2e-repeat')
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
Import-Module (Join-Path $PSScriptRoot 'BuildTools.psm1') -Force
New-Item -ItemType Directory -Force -Path $LogDirectory | Out-Null

& dotnet build $Project -nologo -v quiet -clp:ErrorsOnly
if ($LASTEXITCODE -ne 0) { throw "The build of $Project failed." }

$busy = Start-BusyLoad $Load
$failedRuns = 0
$clock = [Diagnostics.Stopwatch]::StartNew()
try {
    foreach ($run in 1..$Times) {
        $output = & dotnet test $Project --no-build -nologo --filter $Filter 2>&1 | Out-String
        $counts = [regex]::Match($output, 'Failed: +(\d+), Passed: +(\d+)')
        $ok = $LASTEXITCODE -eq 0 -and $counts.Success -and [int] $counts.Groups[2].Value -gt 0
        if (-not $ok) {
            $failedRuns++
            $log = Join-Path $LogDirectory "run-$run.log"
            Set-Content -LiteralPath $log -Value $output
        }
        $said = if ($counts.Success) { "$($counts.Groups[2].Value) passed, $($counts.Groups[1].Value) failed" } else { 'no counts' }
        Write-Host ("run {0}: {1}{2}" -f $run, $said, $(if ($ok) { '' } else { " (log: $log)" }))
    }
}
finally {
    Stop-BusyLoad $busy
}
Write-Host ("repeat: {0} of {1} runs green with {2} busy process(es), {3:0.0} min" -f ($Times - $failedRuns), $Times, $Load, $clock.Elapsed.TotalMinutes)
if ($failedRuns) { exit 1 }
