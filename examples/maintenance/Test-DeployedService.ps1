#Requires -Version 7.4
<#
.SYNOPSIS
Periodic health probe of a deployed Oracle (its /health endpoint) and of SkyTorch Computes on a cluster
(grpc.health.v1 through the Gateway).
.DESCRIPTION
Each probe is a 'probe' event with the target, the answer and the time it took. Exit codes: 0 everything
healthy, 1 something is unhealthy or unreachable (the 'error' events say what), 2 some probes failed
and some passed, 3 time limit, 4 another probe holds the lock.
.EXAMPLE
./Test-DeployedService.ps1 -OracleUrl http://127.0.0.1:15481 -LogPath /var/log/e2e/health.jsonl
.EXAMPLE
./Test-DeployedService.ps1 -Context kind-skytorch -Compute c1, c2
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [string] $OracleUrl = '',
    [string] $Context = '',
    [string] $Namespace = 'default',
    [string[]] $Compute = @(),
    [switch] $AllowAnyContext,
    [double] $ProbeTimeoutSec = 10,
    [string] $LogPath = (Join-Path ([IO.Path]::GetTempPath()) 'e2e-maintenance' 'health.jsonl'),
    [string] $LockPath = (Join-Path ([IO.Path]::GetTempPath()) 'e2e-maintenance' 'health.lock'),
    [double] $LockWaitSec = 0,
    [double] $TimeLimitSec = 300,
    [string] $ModulePath = $(if ($env:E2E_MODULE_PATH) { $env:E2E_MODULE_PATH } else { 'E2E' })
)

if (-not $OracleUrl -and -not ($Context -and $Compute)) {
    Write-Error 'Give -OracleUrl, or -Context with -Compute, or both.' -ErrorAction Continue
    exit 1
}
Import-Module (Join-Path $PSScriptRoot 'MaintenanceJob.psm1') -Force
exit (Invoke-MaintenanceJob -Name 'health' -LogPath $LogPath -LockPath $LockPath -LockWaitSec $LockWaitSec -TimeLimitSec $TimeLimitSec `
        -ModulePath $ModulePath -WhatIf:$WhatIfPreference -Parameters @{ OracleUrl = $OracleUrl; Context = $Context; Namespace = $Namespace; Compute = $Compute; AllowAnyContext = [bool]$AllowAnyContext; ProbeTimeoutSec = $ProbeTimeoutSec } -Body {
        param($Parameters)
        $healthy = 0
        if ($Parameters.OracleUrl) {
            $url = $Parameters.OracleUrl.TrimEnd('/') + '/health'
            $clock = [System.Diagnostics.Stopwatch]::StartNew()
            try {
                $answer = Invoke-WebRequest -Uri $url -TimeoutSec $Parameters.ProbeTimeoutSec -SkipHttpErrorCheck
                $ms = [math]::Round($clock.Elapsed.TotalMilliseconds, 1)
                Write-JobEvent -Kind 'probe' -Message "GET $url answered $($answer.StatusCode) in $ms ms" -Data @{ target = $url; status = [int]$answer.StatusCode; ms = $ms }
                if ($answer.StatusCode -eq 200) { $healthy++ } else { Write-Error "The Oracle at $url is unhealthy: HTTP $($answer.StatusCode)" -TargetObject $url }
            }
            catch {
                Write-Error "The Oracle at $url did not answer: $($_.Exception.Message)" -TargetObject $url
            }
        }
        if ($Parameters.Context -and $Parameters.Compute) {
            $scope = New-E2EScope -Name 'maintenance-health' -WhatIf:$false
            try {
                $cluster = New-E2ECluster -Provider Existing -Context $Parameters.Context -Force:$Parameters.AllowAnyContext -WhatIf:$false
                foreach ($name in $Parameters.Compute) {
                    $check = Get-E2ECompute -Cluster $cluster -Name $name -Namespace $Parameters.Namespace | Test-E2ECompute -TimeoutSec $Parameters.ProbeTimeoutSec
                    if ($check) {
                        Write-JobEvent -Kind 'probe' -Message "Compute $($Parameters.Namespace)/$name is $($check.Status)" -Data @{ target = "compute/$name"; status = "$($check.Status)" }
                        if ("$($check.Status)" -eq 'Serving') { $healthy++ } else { Write-Error "Compute $name is $($check.Status)" -TargetObject $name }
                    }
                }
            }
            finally {
                Remove-E2EScope -Scope $scope -WhatIf:$false
            }
        }
        @{ Done = $healthy }
    })
