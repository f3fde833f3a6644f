#Requires -Version 7.4
<#
.SYNOPSIS
    Runs the E2E Pester suites against the module folder that 'dotnet build' assembled.
.DESCRIPTION
    By default runs every suite on the embedded default (tag 'local' and untagged tests) and leaves out
    tests tagged 'gpu' or 'slow'. Results go to out/pester/ as NUnit XML for CI.
.EXAMPLE
    ./Pester/Run.ps1
.EXAMPLE
    ./Pester/Run.ps1 -Path ./Pester/Foundation.Tests.ps1 -Tag local
#>
[CmdletBinding()]
param(
    [string[]] $Path = @($PSScriptRoot),
    [string[]] $Tag = @(),
    [string[]] $ExcludeTag = @('gpu', 'slow'),
    [string] $ModulePath = (Join-Path $PSScriptRoot '..' 'out' 'E2E' 'E2E.psd1'),
    [string] $ResultDirectory = (Join-Path $PSScriptRoot '..' 'out' 'pester')
)

$ErrorActionPreference = 'Stop'

# 'pwsh -File' passes '-ExcludeTag gpu,slow' as one string; accept comma-separated lists either way.
$Tag = @($Tag | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
$ExcludeTag = @($ExcludeTag | ForEach-Object { $_ -split ',' } | Where-Object { $_ })

if (-not (Test-Path -LiteralPath $ModulePath)) {
    throw "No module at '$ModulePath'. Run 'dotnet build' first."
}
if (-not (Get-Module -ListAvailable -Name Pester | Where-Object { $_.Version -ge [version]'5.5.0' })) {
    throw "Pester 5.5 or later is required: Install-Module Pester -MinimumVersion 5.5.0 -Scope CurrentUser"
}
Import-Module Pester -MinimumVersion 5.5.0

$null = New-Item -ItemType Directory -Path $ResultDirectory -Force

$configuration = New-PesterConfiguration
$configuration.Run.Container = @(
    foreach ($file in (Get-ChildItem -Path $Path -Filter '*.Tests.ps1' -Recurse)) {
        New-PesterContainer -Path $file.FullName -Data @{ ModulePath = $ModulePath }
    }
)
$configuration.Run.Exit = $true
$configuration.Filter.Tag = $Tag
$configuration.Filter.ExcludeTag = $ExcludeTag
$configuration.Output.Verbosity = 'Detailed'
$configuration.TestResult.Enabled = $true
$configuration.TestResult.OutputFormat = 'NUnitXml'
$configuration.TestResult.OutputPath = Join-Path $ResultDirectory 'results.xml'

Invoke-Pester -Configuration $configuration
