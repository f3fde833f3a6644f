#Requires -Version 7.4
<#
.SYNOPSIS
Refreshes committed expected outputs after a dependency bump, recording the reason.
.DESCRIPTION
Optionally runs -BuildScript to produce fresh outputs in -ActualPath, compares them with -ExpectedPath,
and writes the changed, added and removed files over the expected ones (each file whole or not at all),
recording -Reason and the time in the expected-output config. Review warnings (a package moved between
layers, a version going backwards) are 'warning' events. Exit codes: 0 updated or nothing to update,
1 failed (nothing was written), 3 time limit, 4 another run holds the lock.
.EXAMPLE
./Update-ExpectedOutputAfterBump.ps1 -ActualPath ./build/requirements -ExpectedPath ./tests/sample_project/requirements -Reason 'scipy 1.16.2'
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)] [string] $ActualPath,
    [Parameter(Mandatory)] [string] $ExpectedPath,
    # Why the expected outputs change; recorded beside them.
    [Parameter(Mandatory)] [string] $Reason,
    # A script that writes fresh outputs into -ActualPath first (for example the build after the bump).
    [string] $BuildScript = '',
    [string] $LogPath = (Join-Path ([IO.Path]::GetTempPath()) 'e2e-maintenance' 'expected-output.jsonl'),
    [string] $LockPath = (Join-Path ([IO.Path]::GetTempPath()) 'e2e-maintenance' 'expected-output.lock'),
    [double] $LockWaitSec = 0,
    [double] $TimeLimitSec = 1800,
    [string] $ModulePath = $(if ($env:E2E_MODULE_PATH) { $env:E2E_MODULE_PATH } else { 'E2E' })
)

$resolve = { param($p) if ($p) { $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($p) } else { '' } }
Import-Module (Join-Path $PSScriptRoot 'MaintenanceJob.psm1') -Force
exit (Invoke-MaintenanceJob -Name 'expected-output' -LogPath $LogPath -LockPath $LockPath -LockWaitSec $LockWaitSec -TimeLimitSec $TimeLimitSec `
        -ModulePath $ModulePath -WhatIf:$WhatIfPreference -Parameters @{ ActualPath = (& $resolve $ActualPath); ExpectedPath = (& $resolve $ExpectedPath); Reason = $Reason; BuildScript = (& $resolve $BuildScript) } -Body {
        param($Parameters)
        $ErrorActionPreference = 'Stop'   # all or nothing: any error ends the run before a file is written
        if ($Parameters.BuildScript) {
            Write-JobEvent -Kind 'build' -Message "running $($Parameters.BuildScript)"
            & $Parameters.BuildScript -OutputPath $Parameters.ActualPath
        }
        if (-not (Test-Path -LiteralPath $Parameters.ActualPath -PathType Container)) {
            # Without fresh outputs every expected file would look removed: refuse rather than delete them.
            throw "The actual outputs '$($Parameters.ActualPath)' do not exist; nothing was updated."
        }
        $changes = @(Compare-ExpectedOutput -Path $Parameters.ActualPath -ExpectedPath $Parameters.ExpectedPath -ErrorAction Stop | Where-Object Status -ne 'Equal')
        foreach ($change in $changes) {
            Write-JobEvent -Kind 'difference' -Message "$($change.Status) $($change.Path): $($change.Summary)" -Data @{ status = "$($change.Status)"; path = "$($change.Path)" }
        }
        if ($changes.Count -eq 0) { return @{ Done = 0 } }
        $written = @(Update-ExpectedOutput -Path $Parameters.ActualPath -ExpectedPath $Parameters.ExpectedPath -Reason $Parameters.Reason -PassThru -ErrorAction Stop)
        foreach ($file in $written) {
            Write-JobEvent -Kind 'item' -Message "$($file.Action) $($file.Path)" -Data @{ action = "$($file.Action)"; path = "$($file.Path)" }
        }
        @{ Done = $(if ($WhatIfPreference) { $changes.Count } else { $written.Count }) }
    })
