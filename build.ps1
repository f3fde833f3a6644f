#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests and packages the E2E module.
.DESCRIPTION
    Build:   dotnet build, which assembles the importable module in out/E2E.
    Test:    Build, the xunit tests and the static check of .ps1 files, then the Pester suites in a
             fresh pwsh (so the module's assemblies are loaded anew). The suites need python3 (UDF
             workers) and node/npm (ganache for the chain scenarios, installed here).
    Package: a Release build zipped as out/E2E-<version>.zip.
    Without pwsh, '.ci/run' does the Build and Test steps except Pester.
.EXAMPLE
    ./build.ps1 -Task Test
.EXAMPLE
    ./build.ps1 -Task Package -Configuration Release
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Test', 'Package')]
    [string[]] $Task = @('Build'),

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Debug',

    [string[]] $ExcludeTag = @('gpu', 'slow')
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

function Invoke-Native {
    param(
        [Parameter(Mandatory)] [string] $FilePath,
        [string[]] $ArgumentList = @()
    )
    & $FilePath @ArgumentList
    if ($LASTEXITCODE -ne 0) {
        throw "'$FilePath $($ArgumentList -join ' ')' failed with exit code $LASTEXITCODE."
    }
}

$solution = Join-Path $PSScriptRoot 'E2E.sln'
$pscheck = Join-Path $PSScriptRoot 'tools' 'pscheck'

if ($Task -contains 'Build' -or $Task -contains 'Test') {
    Invoke-Native -FilePath 'dotnet' -ArgumentList @('build', $solution, '-c', $Configuration)
}

if ($Task -contains 'Test') {
    Invoke-Native -FilePath 'dotnet' -ArgumentList @('test', $solution, '-c', $Configuration, '--no-build')
    Invoke-Native -FilePath 'npm' -ArgumentList @('ci', '--prefix', $pscheck, '--no-audit', '--no-fund')
    Invoke-Native -FilePath 'node' -ArgumentList @((Join-Path $pscheck 'check.mjs'), '--self-test')
    # The PlumisePetals chain scenarios start a real local chain; use the repository's ganache unless one is configured.
    $ganache = Join-Path $PSScriptRoot 'tools' 'ganache'
    Invoke-Native -FilePath 'npm' -ArgumentList @('ci', '--prefix', $ganache, '--no-audit', '--no-fund')
    if (-not $env:E2E_GANACHE) {
        $env:E2E_GANACHE = Join-Path $ganache 'node_modules' '.bin' 'ganache'
    }
    $runner = Join-Path $PSScriptRoot 'Pester' 'Run.ps1'
    Invoke-Native -FilePath (Join-Path $PSHOME 'pwsh') -ArgumentList @('-NoProfile', '-NonInteractive', '-File', $runner, '-ExcludeTag', ($ExcludeTag -join ','))
}

if ($Task -contains 'Package') {
    Invoke-Native -FilePath 'dotnet' -ArgumentList @('build', $solution, '-c', 'Release')
    $manifest = Import-PowerShellDataFile -Path (Join-Path $PSScriptRoot 'out' 'E2E' 'E2E.psd1')
    $archive = Join-Path $PSScriptRoot 'out' "E2E-$($manifest.ModuleVersion).zip"
    Compress-Archive -Path (Join-Path $PSScriptRoot 'out' 'E2E') -DestinationPath $archive -Force
    Write-Information "Packaged $archive" -InformationAction Continue
}
