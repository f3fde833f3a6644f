#Requires -Version 7.4
<#
.SYNOPSIS
Nightly or hourly backfill of the rows of a UDF column that are still empty (new rows since the last run).
.DESCRIPTION
Runs Invoke-Backfill on the table store, which fills only empty rows and checkpoints every fragment, so a
run stopped by the time limit or a crash is continued by the next one. Rows whose UDF fails are skipped
(-ErrorPolicy Skip) and counted. Exit codes: 0 done or nothing to do, 1 failed, 2 partial (some rows
failed), 3 time limit (the next run continues), 4 another run holds the lock.
.EXAMPLE
./Invoke-ScheduledBackfill.ps1 -Database /srv/pets/pets.db -Table pets -Column size -LogPath /var/log/e2e/backfill.jsonl
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)] [string] $Database,
    [Parameter(Mandatory)] [string] $Table,
    [Parameter(Mandatory)] [string] $Column,
    [int] $BatchSize = 10,
    [int] $Concurrency = 1,
    [string] $LogPath = (Join-Path ([IO.Path]::GetTempPath()) 'e2e-maintenance' 'backfill.jsonl'),
    [string] $LockPath = '',
    [double] $LockWaitSec = 0,
    [double] $TimeLimitSec = 3600,
    [string] $ModulePath = $(if ($env:E2E_MODULE_PATH) { $env:E2E_MODULE_PATH } else { 'E2E' })
)

# One lock per column: backfills of different columns may run side by side.
if (-not $LockPath) { $LockPath = Join-Path ([IO.Path]::GetTempPath()) 'e2e-maintenance' "backfill-$Table-$Column.lock" }
$Database = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Database)
Import-Module (Join-Path $PSScriptRoot 'MaintenanceJob.psm1') -Force
exit (Invoke-MaintenanceJob -Name 'backfill' -LogPath $LogPath -LockPath $LockPath -LockWaitSec $LockWaitSec -TimeLimitSec $TimeLimitSec `
        -ModulePath $ModulePath -WhatIf:$WhatIfPreference -Parameters @{ Database = $Database; Table = $Table; Column = $Column; BatchSize = $BatchSize; Concurrency = $Concurrency } -Body {
        param($Parameters)
        $ErrorActionPreference = 'Stop'   # a missing store or table ends the run; failed rows are counted, not errors
        $before = Get-E2ETable -Database $Parameters.Database -Name $Parameters.Table
        $empty = @(Get-E2ETableRow -Database $Parameters.Database -Name $Parameters.Table | Where-Object { $null -eq $_.($Parameters.Column) }).Count
        Write-JobEvent -Kind 'plan' -Message "$empty of $($before.RowCount) rows of $($Parameters.Table).$($Parameters.Column) are empty" -Data @{ emptyRows = $empty; rows = $before.RowCount }
        if ($empty -eq 0) { return @{ Done = 0 } }
        if ($WhatIfPreference) { return @{ Done = $empty } }
        $result = Invoke-Backfill -Database $Parameters.Database -Table $Parameters.Table -Column $Parameters.Column -BatchSize $Parameters.BatchSize `
            -Concurrency $Parameters.Concurrency -ErrorPolicy Skip
        Write-JobEvent -Kind 'backfill' -Message "job $($result.Id): $($result.RowsDone) rows filled, $($result.RowsFailed) failed" -Data @{ jobId = $result.Id; rowsDone = $result.RowsDone; rowsFailed = $result.RowsFailed; status = "$($result.Status)" }
        @{ Done = [int]$result.RowsDone; Failed = [int]$result.RowsFailed }
    })
