#Requires -Version 7.4
<#
.SYNOPSIS
    Installs the built package the way PowerShell users install modules, imports it by name, and runs suites
    against the installed copy.
.DESCRIPTION
    In a fresh pwsh whose user folders are temporary (XDG_DATA_HOME, XDG_CONFIG_HOME and XDG_CACHE_HOME point into a
    new folder, and PSModulePath is left for pwsh to compute), so that neither the user's modules nor PSResourceGet's
    list of repositories is read or changed:
      Register-PSResourceRepository on -PackageDirectory (the folder of .nupkg files 'build.ps1 -Task Package' writes),
      Install-PSResource -Name E2E into that user scope,
      Import-Module E2E by name, checking that the copy loaded is the installed one and not this clone's,
      and Pester/Run.ps1 with -ModulePath E2E for each -Suite.
    Prints the suites' summary lines and 'installed package: N passed, N failed'; the temporary folder is removed.
.EXAMPLE
    ./tools/pwsh ./build.ps1 -Task Package; ./tools/pwsh ./tools/Test-InstalledPackage.ps1
#>
[CmdletBinding()]
param(
    [string] $PackageDirectory = (Join-Path $PSScriptRoot '..' 'out' 'packages'),
    [string[]] $Suite = @('Foundation', 'OxfordPets'),
    [string] $PesterVersion = '',
    [string] $SummaryPath = '',
    # Set when this script runs itself in the fresh pwsh.
    [string] $InSession = ''
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
$repo = (Resolve-Path (Join-Path $PSScriptRoot '..')).Path
Import-Module (Join-Path $PSScriptRoot 'BuildTools.psm1') -Force
$Suite = @($Suite | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
if (-not $PesterVersion) { $PesterVersion = (Get-PinnedPesterVersion)[0] }

if (-not $InSession) {
    $PackageDirectory = (Resolve-Path -LiteralPath $PackageDirectory).Path
    if (-not (Get-ChildItem -LiteralPath $PackageDirectory -Filter 'E2E.*.nupkg')) {
        throw "No E2E package in $PackageDirectory; run './build.ps1 -Task Package' first."
    }
    $run = Invoke-WithTemporaryUserHome {
        param($userHome)
        Invoke-FreshPwshWithSummary @('-File', $PSCommandPath, '-InSession', $userHome, '-PackageDirectory', $PackageDirectory, '-Suite', ($Suite -join ','), '-PesterVersion', $PesterVersion) 'installed package'
    }
    $count = Get-PassFailCount $run.Summary[-1]
    $total = "installed package: $($count.Passed) passed, $($count.Failed) failed"
    $run.Summary | Select-Object -SkipLast 1 | Write-Host
    Write-Host $total
    if ($SummaryPath) { Set-Content -LiteralPath $SummaryPath -Value (@($run.Summary | Select-Object -SkipLast 1) + $total) }
    exit ([int] ($count.Failed -gt 0 -or $run.ExitCode -ne 0))
}

# In the fresh pwsh: the user's path, install, import by name, suites.
$summary = [System.Collections.Generic.List[string]]::new()
try {
    Register-PSResourceRepository -Name E2ELocal -Uri $PackageDirectory -Trusted
    Install-PSResource -Name E2E -Repository E2ELocal -Scope CurrentUser -TrustRepository -Quiet
    $installed = Get-InstalledPSResource -Name E2E -Scope CurrentUser
    Write-Host "installed E2E $($installed.Version) in $($installed.InstalledLocation)"
    Import-Module E2E
    $module = Get-Module E2E
    if (-not $module.ModuleBase.StartsWith($InSession, [StringComparison]::Ordinal)) {
        throw "Import-Module E2E loaded $($module.ModuleBase), not the copy installed under $InSession."
    }
    Remove-Module E2E
    $paths = $Suite | ForEach-Object { Join-Path $repo 'Pester' "$_.Tests.ps1" }
    $suiteLog = Join-Path $InSession 'suites.txt'
    & (Join-Path $repo 'Pester' 'Run.ps1') -Path ($paths -join ',') -ModulePath E2E -PesterVersion $PesterVersion -SummaryPath $suiteLog -ResultDirectory (Join-Path $InSession 'results') | Out-Host
    $lines = @(Get-Content -LiteralPath $suiteLog)
    $lines | ForEach-Object { $summary.Add("installed $_") }
    $summary.Add($lines[-1])
}
catch {
    Write-Host "installed package: $($_.Exception.Message)"
    $summary.Add('installed package: 0 passed, 1 failed')
}
Set-Content -LiteralPath $SummaryPath -Value $summary
