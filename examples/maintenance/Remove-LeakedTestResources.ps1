#Requires -Version 7.4
<#
.SYNOPSIS
Nightly sweep of what test runs leaked: dead runs' temp folders, expired kind clusters and, with -Context,
expired Computes, PVCs and namespaces on a cluster (found by the e2e.dev/run-id and e2e.dev/expires labels).
.DESCRIPTION
Removes only what is expired and whose run is dead; a run still going is never touched. Each removed
item is an 'item' event in the JSON-lines log. Exit codes: 0 done or nothing to do, 1 failed, 2 partial
(some leftovers could not be removed), 3 time limit, 4 another sweep holds the lock.
.EXAMPLE
./Remove-LeakedTestResources.ps1 -LogPath /var/log/e2e/sweep.jsonl
.EXAMPLE
./Remove-LeakedTestResources.ps1 -Context kind-ci -WhatIf
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    # A kubeconfig context to sweep as well; without it only local leftovers and kind markers are swept.
    [string] $Context = '',
    # Sweep a context even if its name does not look like a test cluster (New-E2ECluster's guard).
    [switch] $AllowAnyContext,
    [string] $LogPath = (Join-Path ([IO.Path]::GetTempPath()) 'e2e-maintenance' 'sweep.jsonl'),
    [string] $LockPath = (Join-Path ([IO.Path]::GetTempPath()) 'e2e-maintenance' 'sweep.lock'),
    [double] $LockWaitSec = 0,
    [double] $TimeLimitSec = 1800,
    [string] $ModulePath = $(if ($env:E2E_MODULE_PATH) { $env:E2E_MODULE_PATH } else { 'E2E' })
)

Import-Module (Join-Path $PSScriptRoot 'MaintenanceJob.psm1') -Force
exit (Invoke-MaintenanceJob -Name 'sweep' -LogPath $LogPath -LockPath $LockPath -LockWaitSec $LockWaitSec -TimeLimitSec $TimeLimitSec `
        -ModulePath $ModulePath -WhatIf:$WhatIfPreference -Parameters @{ Context = $Context; AllowAnyContext = [bool]$AllowAnyContext } -Body {
        param($Parameters)
        $env:E2E_SWEEP_ON_NEW_SCOPE = '0'   # the sweep below reports what it removes; the scope's own sweep would not
        $scope = New-E2EScope -Name 'maintenance-sweep' -WhatIf:$false
        try {
            $where = @{}
            if ($Parameters.Context) {
                $where.Cluster = New-E2ECluster -Provider Existing -Context $Parameters.Context -Force:$Parameters.AllowAnyContext -WhatIf:$false
            }
            else {
                $where.NoCluster = $true
            }
            $found = @(Get-E2EOrphan @where)
            foreach ($orphan in $found) {
                Write-JobEvent -Kind 'found' -Message "$orphan" -Data @{ kind = $orphan.Kind; name = $orphan.Name; runId = $orphan.RunId; where = $orphan.Where }
            }
            $removed = 0
            if ($found.Count -gt 0) {
                # -Force: no prompt when unattended; -WhatIf (inherited) still only reports.
                Remove-E2EOrphan @where -Force -PassThru | ForEach-Object {
                    $removed++
                    Write-JobEvent -Kind 'item' -Message "removed $_" -Data @{ kind = $_.Kind; name = $_.Name; runId = $_.RunId }
                }
            }
            @{ Done = $(if ($WhatIfPreference) { $found.Count } else { $removed }) }
        }
        finally {
            Remove-E2EScope -Scope $scope -WhatIf:$false
        }
    })
