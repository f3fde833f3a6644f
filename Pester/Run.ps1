#Requires -Version 7.4
<#
.SYNOPSIS
    Runs the E2E Pester suites, under a pinned Pester, against the module folder that 'dotnet build' assembled.
.DESCRIPTION
    Imports Pester -PesterVersion from the NuGet packages folder, where 'dotnet restore' puts the versions that
    tools/PesterPackages pins (restoring it first when that version is missing). One Pester major per pwsh
    process: run this script once per version.

    By default runs every suite on the embedded default and leaves out tests tagged 'gpu' or 'slow' (and 'docker'
    unless $env:DOCKER_HOST names a Docker engine; tools/docker/dockerd.sh starts one). -Engine
    Local,Geneva runs each suite that takes an -Engine parameter (OxfordPets) once per engine; its summary line
    names an engine other than Local ('OxfordPets[Geneva]'). Suites run in name order; -First names suites to run
    before the others. Results go
    to out/pester/<major>/results.xml as NUnit XML. Prints one line per suite ('Pester 5.7.1 SkyTorch: 16
    passed, 0 failed, 2 skipped') and exits non-zero when a test or a container failed, or a suite ran no test.
.EXAMPLE
    ./tools/pwsh ./Pester/Run.ps1
.EXAMPLE
    ./tools/pwsh ./Pester/Run.ps1 -PesterVersion 6.2.0 -Path ./Pester/Foundation.Tests.ps1
.EXAMPLE
    ./tools/pwsh ./Pester/Run.ps1 -Path ./Pester/OxfordPets.Tests.ps1 -Engine Geneva
#>
[CmdletBinding()]
param(
    [string[]] $Path = @($PSScriptRoot),
    [string[]] $Tag = @(),
    # By default gpu and slow, and docker unless $env:DOCKER_HOST names an engine (the embedded default needs none).
    [string[]] $ExcludeTag = @('gpu', 'slow') + @(if (-not $env:DOCKER_HOST) { 'docker' }),
    [string] $PesterVersion = '5.7.1',
    [string] $ModulePath = (Join-Path $PSScriptRoot '..' 'out' 'E2E' 'E2E.psd1'),
    [string] $ResultDirectory = '',
    [string] $Verbosity = 'Normal',
    # The engines of suites that take -Engine; the others run once.
    [string[]] $Engine = @('Local'),
    # Also write the summary lines to this file (build.ps1 collects them).
    [string] $SummaryPath = '',
    # Suites to run before the others, by name ('PlumisePetals'); the rest run in name order.
    [string[]] $First = @()
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

# 'pwsh -File' passes '-ExcludeTag gpu,slow' as one string; accept comma-separated lists either way.
$Tag = @($Tag | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
$ExcludeTag = @($ExcludeTag | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
$Path = @($Path | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
$Engine = @($Engine | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
$First = @($First | ForEach-Object { $_ -split ',' } | Where-Object { $_ } | ForEach-Object ToLowerInvariant)
$repo = Split-Path -Parent $PSScriptRoot

# A path, or the name of an installed module (tools/Test-InstalledPackage.ps1 runs the suites against 'E2E').
if (-not (Test-Path -LiteralPath $ModulePath) -and -not (Get-Module -ListAvailable -Name $ModulePath)) {
    throw "No module at '$ModulePath' and none installed by that name. Run 'dotnet build' first."
}

Import-Module (Join-Path $repo 'tools' 'BuildTools.psm1') -Force
Import-Module (Get-PesterManifest $PesterVersion) -Force

$major = ([version]$PesterVersion).Major
if (-not $ResultDirectory) {
    $ResultDirectory = Join-Path $repo 'out' 'pester' $major
}
$null = New-Item -ItemType Directory -Path $ResultDirectory -Force

$suites = @(Get-ChildItem -Path $Path -Filter '*.Tests.ps1' -Recurse -File | Sort-Object -Property @(
    @{ Expression = { $position = [array]::IndexOf($First, ($_.Name -replace '\.Tests\.ps1$', '').ToLowerInvariant()); if ($position -ge 0) { $position } else { $First.Count } } }
    'Name'))
$configuration = New-PesterConfiguration
$containers = @(foreach ($file in $suites) {
    $parameters = (Get-Command -Name $file.FullName).Parameters
    $data = @{ ModulePath = $ModulePath }
    # A suite's report goes under this run's results, so that runs of two Pester majors at once never share a folder.
    if ($parameters.ContainsKey('ReportPath')) { $data.ReportPath = Join-Path $ResultDirectory (($file.Name -replace '\.Tests\.ps1$', '').ToLowerInvariant() + '-report') }
    if ($parameters.ContainsKey('Engine')) {
        foreach ($name in $Engine) { New-PesterContainer -Path $file.FullName -Data ($data + @{ Engine = $name }) }
    }
    else {
        New-PesterContainer -Path $file.FullName -Data $data
    }
})
$configuration.Run.Container = $containers
$configuration.Run.PassThru = $true
$configuration.Filter.Tag = $Tag
$configuration.Filter.ExcludeTag = $ExcludeTag
$configuration.Output.Verbosity = $Verbosity
$configuration.TestResult.Enabled = $true
$configuration.TestResult.OutputFormat = 'NUnitXml'
$configuration.TestResult.OutputPath = Join-Path $ResultDirectory 'results.xml'

$run = Invoke-Pester -Configuration $configuration

$problems = 0
$summary = [System.Collections.Generic.List[string]]::new()
foreach ($container in $run.Containers) {
    $name = [IO.Path]::GetFileName($container.Item) -replace '\.Tests\.ps1$', ''
    if ($container.Data -and $container.Data.ContainsKey('Engine') -and $container.Data.Engine -ne 'Local') { $name += "[$($container.Data.Engine)]" }
    $passed = $container.PassedCount; $failed = $container.FailedCount; $skipped = $container.SkippedCount
    $note = ''
    if ($container.Result -ne 'Passed') { $problems++; $note = " (container $($container.Result))" }
    elseif ($passed -eq 0) { $problems++; $note = ' (ran no test)' }
    $summary.Add("Pester $PesterVersion ${name}: $passed passed, $failed failed, $skipped skipped$note")
}
if ($run.Containers.Count -ne $containers.Count) {
    $problems++
    $summary.Add("Pester ${PesterVersion}: $($containers.Count) suite runs planned, $($run.Containers.Count) run")
}
$summary.Add("Pester ${PesterVersion}: $($run.PassedCount) passed, $($run.FailedCount + $problems) failed, $($run.SkippedCount) skipped")
$summary | Write-Host
if ($SummaryPath) { Set-Content -LiteralPath $SummaryPath -Value $summary }
exit ([Math]::Min(255, $run.FailedCount + $problems))
