#Requires -Version 7.4
<#
.SYNOPSIS
    Builds, tests and packages the E2E module, and runs its Pester suites.
.DESCRIPTION
    Build:   dotnet build, which assembles the importable module in out/E2E.
    Suites:  Build, then every Pester suite on the embedded default, in a fresh pwsh under Pester
             -PesterVersion (default: the first version tools/PesterPackages pins). The suites need python3
             (UDF workers) and node/npm (ganache for the chain scenarios, installed here).
    Test:    Build, the xunit tests, the static check of every PowerShell file, the suites under every
             pinned Pester (OxfordPets on both engines: Local, and Geneva against the stand-in module when
             geneva is not installed), the package installed with Install-PSResource and a suite run against it
             (tools/Test-InstalledPackage.ps1), and the PowerShell blocks and links of the README and docs/
             (tools/Test-DocBlocks.ps1); ends with one 'N passed, N failed' line.
             The Docker paths are tested on a real engine: $env:DOCKER_HOST, else one started here with
             tools/docker/dockerd.sh (root, Debian's docker.io), and the images tools/images/Build-TestImages.ps1 builds.
    Package: a Release build packed as out/packages/E2E.<version>.nupkg (PSResourceGet's Compress-PSResource), which
             Install-PSResource installs from a repository on that folder (tools/Test-InstalledPackage.ps1; Test does
             the same with the build it tested).
    On a machine without pwsh, './tools/pwsh ./build.ps1' runs this with the pinned PowerShell (and './test.sh'
    is './build.ps1 -Task Test').
.EXAMPLE
    ./tools/pwsh ./build.ps1 -Task Suites
.EXAMPLE
    ./tools/pwsh ./build.ps1 -Task Suites -PesterVersion 6.2.0 -Path ./Pester/SkyTorch.Tests.ps1
.EXAMPLE
    ./tools/pwsh ./build.ps1 -Task Suites -Path ./Pester/OxfordPets.Tests.ps1 -Engine Geneva
.EXAMPLE
    ./tools/pwsh ./build.ps1 -Task Package
#>
[CmdletBinding()]
param(
    [ValidateSet('Build', 'Suites', 'Test', 'Package')]
    [string[]] $Task = @('Build'),

    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Debug',

    [string[]] $PesterVersion = @(),

    [string[]] $Path = @(),

    # Tests left out; by default gpu and slow, and for Suites also docker unless $env:DOCKER_HOST names an engine.
    [string[]] $ExcludeTag = @(),

    # The engines of suites that take -Engine (OxfordPets): Local for Suites, Local and Geneva for Test unless given.
    [string[]] $Engine = @()
)

$ErrorActionPreference = 'Stop'
# 'pwsh -File' passes '-Engine Local,Geneva' as one string.
$Engine = @($Engine | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
if ($Engine | Where-Object { $_ -notin 'Local', 'Geneva' }) { throw "-Engine takes Local and Geneva, not '$($Engine -join ',')'." }
Set-StrictMode -Version Latest

function Invoke-Native {
    param(
        [Parameter(Mandatory)] [string] $FilePath,
        [string[]] $ArgumentList = @(),
        [switch] $NoThrow
    )
    & $FilePath @ArgumentList
    if ($LASTEXITCODE -ne 0 -and -not $NoThrow) {
        throw "'$FilePath $($ArgumentList -join ' ')' failed with exit code $LASTEXITCODE."
    }
}

$solution = Join-Path $PSScriptRoot 'E2E.sln'
Import-Module (Join-Path $PSScriptRoot 'tools' 'BuildTools.psm1') -Force
$pinned = Get-PinnedPesterVersion

if (-not $ExcludeTag) {
    $ExcludeTag = @('gpu', 'slow')
    # The embedded default needs no Docker engine; the test command brings one (Initialize-DockerEngine).
    if ($Task -notcontains 'Test' -and -not $env:DOCKER_HOST) { $ExcludeTag += 'docker' }
}

# The docker-tagged tests and the xunit tests of the Docker paths run against a real engine: $env:DOCKER_HOST, else
# the project's own dockerd (tools/docker/dockerd.sh, as root with Debian's docker.io), stopped again at the end. Then
# the images they use, built offline and cached by content (tools/images/Build-TestImages.ps1).
function Initialize-DockerEngine {
    $started = $false
    if (-not $env:DOCKER_HOST) {
        if (-not (Get-Command dockerd -ErrorAction SilentlyContinue)) {
            throw 'The tests need a Docker engine: set DOCKER_HOST, or install Debian''s docker.io and busybox-static (as .ci/run does) so that tools/docker/dockerd.sh can start one.'
        }
        $env:DOCKER_HOST = (& (Join-Path $PSScriptRoot 'tools' 'docker' 'dockerd.sh') start | Select-Object -Last 1)
        if ($LASTEXITCODE -ne 0) { throw 'tools/docker/dockerd.sh could not start a Docker engine.' }
        $started = $true
    }
    Write-Host "Docker engine: $env:DOCKER_HOST"
    & (Join-Path $PSScriptRoot 'tools' 'images' 'Build-TestImages.ps1') -BuiltConfiguration $Configuration
    $started
}

# The PlumisePetals chain scenarios start a real local chain: tools/ganache's lock file, installed with npm ci once per
# lock file and node version into the user's cache (Get-BuildCacheFolder) and linked into the clone as its node_modules;
# npm ci took 12 s in every fresh clone. Written under another name first, so that a killed install is never used.
function Install-Ganache {
    $ganache = Join-Path $PSScriptRoot 'tools' 'ganache'
    $modules = Join-Path $ganache 'node_modules'
    if (-not (Test-Path (Join-Path $modules '.bin' 'ganache'))) {
        $lock = Join-Path $ganache 'package-lock.json'
        $key = '{0}-node{1}' -f (Get-FileHash -Algorithm SHA256 $lock).Hash.Substring(0, 24).ToLowerInvariant(), (& node --version).TrimStart('v')
        $installed = Join-Path (Get-BuildCacheFolder 'ganache') $key
        if (-not (Test-Path (Join-Path $installed 'node_modules'))) {
            $partial = "$installed.partial-$PID"
            Remove-Item -Recurse -Force $partial -ErrorAction SilentlyContinue
            $null = New-Item -ItemType Directory -Path $partial
            Copy-Item $lock, (Join-Path $ganache 'package.json') $partial
            try {
                Invoke-Native -FilePath 'npm' -ArgumentList @('ci', '--prefix', $partial, '--no-audit', '--no-fund', '--loglevel=error')
                # Another run may have finished the same install first; then its copy is used and this one goes.
                try { [IO.Directory]::Move($partial, $installed) } catch { if (-not (Test-Path $installed)) { throw } }
            }
            finally {
                Remove-Item -Recurse -Force $partial -ErrorAction SilentlyContinue
            }
        }
        # What an earlier run left is replaced: a link to a cached install that has gone since, or an unfinished install.
        $existing = Get-Item -LiteralPath $modules -Force -ErrorAction SilentlyContinue
        if ($existing -and $existing.LinkType) { $existing.Delete() } elseif ($existing) { Remove-Item -LiteralPath $modules -Recurse -Force }
        $null = New-Item -ItemType SymbolicLink -Path $modules -Target (Join-Path $installed 'node_modules')
    }
    # A ganache the caller configured is used as it is.
    if (-not $env:E2E_GANACHE) {
        $env:E2E_GANACHE = Join-Path $ganache 'node_modules' '.bin' 'ganache'
    }
}

# The module folder out/E2E packed as out/packages/E2E.<version>.nupkg, the form Install-PSResource installs.
function New-ModulePackage {
    $packages = Join-Path $PSScriptRoot 'out' 'packages'
    Remove-Item -Recurse -Force $packages -ErrorAction SilentlyContinue
    $null = New-Item -ItemType Directory -Path $packages
    Compress-PSResource -Path (Join-Path $PSScriptRoot 'out' 'E2E') -DestinationPath $packages
    Get-ChildItem -LiteralPath $packages -Filter 'E2E.*.nupkg' | Select-Object -First 1
}

# dotnet build with the C# compiler server, which is shut down after it. Some environments turn the server off
# (UseSharedCompilation=false); then every project starts a compiler of its own: a clean build took 95-106 s of CPU
# that way, 73 s with the server. The shutdown leaves no compiler process behind (another build starts one when needed).
function Invoke-SolutionBuild([string] $BuildConfiguration) {
    try {
        Invoke-Native -FilePath 'dotnet' -ArgumentList @('build', $solution, '-c', $BuildConfiguration, '-nologo', '-v', 'quiet', '-clp:ErrorsOnly', '-p:UseSharedCompilation=true')
    }
    finally {
        Invoke-Native -FilePath 'dotnet' -ArgumentList @('build-server', 'shutdown', '--vbcscompiler') -NoThrow | Out-Null
    }
}

# Runs the suites under each version in its own pwsh; returns the summary lines Run.ps1 printed.
function Invoke-Suites([string[]] $Versions, [string[]] $Engines) {
    Install-Ganache
    $runner = Join-Path $PSScriptRoot 'Pester' 'Run.ps1'
    $pathArguments = if ($Path) { @('-Path', ($Path -join ',')) } else { @() }
    # Every pinned major at once: each is a process of its own with its own results folder (out/pester/<major>);
    # what the suites share on the machine (PlumisePetals' Docker block: fixed names and ports) they take turns at.
    # So that they do not meet there, the majors after the first start with PlumisePetals: in the same order both
    # reached the block together and one waited for the other, 30 s unloaded and 50-60 s under load, every run.
    $runs = @(for ($index = 0; $index -lt $Versions.Count; $index++) {
        $order = if ($index -gt 0) { @('-First', 'PlumisePetals') } else { @() }
        @{ ArgumentList = @('-File', $runner, '-PesterVersion', $Versions[$index], '-ExcludeTag', ($ExcludeTag -join ','), '-Engine', ($Engines -join ',')) + $order + $pathArguments; Label = "Pester $($Versions[$index])" }
    })
    if ($runs.Count -gt 1) { Invoke-FreshPwshConcurrently $runs }
    else { foreach ($run in $runs) { Invoke-FreshPwshWithSummary $run.ArgumentList $run.Label } }
}

if ($Task -contains 'Build' -or $Task -contains 'Suites' -or $Task -contains 'Test') {
    Invoke-SolutionBuild $Configuration
    # The pinned pwsh compiled ahead of time, once per version (tools/pwsh runs it from then on).
    $null = Initialize-ReadyToRunPwsh
}

if ($Task -contains 'Suites' -or $Task -contains 'Test') {
    # The tests start hundreds of short-lived .NET processes (pwsh per scheduled run, test hosts, nodes). In those, the
    # JIT's tiered PGO instrumentation and the re-compiling of every method called 30 times cost CPU the processes
    # never earn back: measured, the Maintenance suite took 57 s of CPU with the defaults and 42 s without them, the
    # xunit projects 128 s and 93 s. Hot methods of long runs still reach full optimization (after 1000 calls).
    # A value the caller set is kept.
    foreach ($setting in @{ DOTNET_TieredPGO = '0'; DOTNET_TC_CallCountThreshold = '1000' }.GetEnumerator()) {
        if (-not [Environment]::GetEnvironmentVariable($setting.Key)) { [Environment]::SetEnvironmentVariable($setting.Key, $setting.Value) }
    }
}

if ($Task -contains 'Suites' -and $Task -notcontains 'Test') {
    $versions = if ($PesterVersion) { $PesterVersion } else { @($pinned[0]) }
    $runs = @(Invoke-Suites $versions $(if ($Engine) { $Engine } else { @('Local') }))
    if ($runs | Where-Object { $_.PSObject.Properties['ExitCode'] -and $_.ExitCode -ne 0 }) { exit 1 }
}

if ($Task -contains 'Test') {
    $passed = 0; $failed = 0
    $lines = [System.Collections.Generic.List[string]]::new()

    $ownEngine = Initialize-DockerEngine
    try {
        # xunit: Core, cmdlet contracts, the module in a hosted engine, real-pwsh meta-tests of the Pester hooks.
        Install-Ganache
        $xunitLog = [IO.Path]::GetTempFileName()
        Remove-Item -Recurse -Force (Join-Path $PSScriptRoot 'out' 'test-summaries') -ErrorAction SilentlyContinue
        # One test project at a time (-m:1): orphan sweeps are machine-wide, and the module tests' New-E2EScope sweep
        # killed the Core tests' deliberately orphaned processes between their listing and their own sweep.
        # Kind=Stress: reproductions of runtime races that can end the test host (tools/Test-Repeat.ps1 runs them).
        & dotnet test $solution -c $Configuration --no-build -nologo -m:1 --filter 'Kind!=Stress' 2>&1 | Tee-Object -FilePath $xunitLog | Out-Host
        $xunitStatus = $LASTEXITCODE
        $xunitText = Get-Content -Raw $xunitLog; Remove-Item $xunitLog
        $xunitPassed = ([regex]::Matches($xunitText, 'Passed: +(\d+)') | ForEach-Object { [int] $_.Groups[1].Value } | Measure-Object -Sum).Sum
        $xunitFailed = ([regex]::Matches($xunitText, 'Failed: +(\d+)') | ForEach-Object { [int] $_.Groups[1].Value } | Measure-Object -Sum).Sum
        if ($xunitStatus -ne 0 -and $xunitFailed -eq 0) { $xunitFailed = 1 }
        $passed += $xunitPassed; $failed += $xunitFailed
        $lines.Add("xunit: $xunitPassed passed, $xunitFailed failed")
        # The names and first error line of failed tests, so the closing summary says what failed.
        foreach ($failure in [regex]::Matches($xunitText, '(?m)^\s+Failed (.+?) \[[^\]]*\]\s*\r?\n\s*Error Message:\s*\r?\n\s*(.*)$')) {
            $lines.Add("  xunit FAILED $($failure.Groups[1].Value): $($failure.Groups[2].Value.Trim())")
        }
        # Conformance counts written by the tests (toml-test, Ethereum vectors, ...).
        Get-ChildItem (Join-Path $PSScriptRoot 'out' 'test-summaries') -Filter '*.txt' -ErrorAction SilentlyContinue | ForEach-Object { Get-Content $_ } | ForEach-Object { $lines.Add($_) }

        # The static check of every PowerShell file, with PowerShell's own parser and binder.
        $checkStatus = Invoke-FreshPwsh @('-File', (Join-Path $PSScriptRoot 'tools' 'scriptcheck' 'Test-E2EScript.ps1'), '-SelfTest')
        if ($checkStatus -eq 0) { $passed++; $lines.Add('static check: passed') } else { $failed++; $lines.Add('static check: FAILED') }

        # Every suite under every pinned Pester.
        foreach ($run in Invoke-Suites $(if ($PesterVersion) { $PesterVersion } else { $pinned }) $(if ($Engine) { $Engine } else { @('Local', 'Geneva') })) {
            $run.Summary | ForEach-Object { $lines.Add($_) }
            $count = Get-PassFailCount $run.Summary[-1]
            $passed += $count.Passed; $failed += $count.Failed
            if ($run.ExitCode -ne 0 -and $count.Failed -eq 0) { $failed++ }
        }

        # The user's path: the package installed with Install-PSResource, imported by name, a suite run against it.
        $package = New-ModulePackage
        Write-Host "packed $($package.FullName) ($([math]::Round($package.Length / 1MB, 1)) MB)"
        $install = Invoke-FreshPwshWithSummary @('-File', (Join-Path $PSScriptRoot 'tools' 'Test-InstalledPackage.ps1'), '-PesterVersion', $pinned[0]) 'installed package'
        $lines.Add($install.Summary[-1])
        $count = Get-PassFailCount $install.Summary[-1]
        $passed += $count.Passed; $failed += $count.Failed

        # The PowerShell blocks of the README and docs/, as a newcomer pastes them, and their links.
        $docs = Invoke-FreshPwshWithSummary @('-File', (Join-Path $PSScriptRoot 'tools' 'Test-DocBlocks.ps1'), '-PesterVersion', ($pinned -join ',')) 'doc blocks'
        $lines.Add($docs.Summary[-1])
        $count = Get-PassFailCount $docs.Summary[-1]
        $passed += $count.Passed; $failed += $count.Failed

        Write-Host ''
        $lines | Write-Host
        # The one closing line CI reads.
        Write-Host "$passed passed, $failed failed"
        if ($failed -gt 0) { exit 1 }
    }
    finally {
        # An engine this run started goes with it (one given by DOCKER_HOST is left alone).
        if ($ownEngine) { & (Join-Path $PSScriptRoot 'tools' 'docker' 'dockerd.sh') stop | Out-Null }
    }
}

if ($Task -contains 'Package') {
    Invoke-SolutionBuild 'Release'
    $package = New-ModulePackage
    Write-Information "Packaged $($package.FullName)" -InformationAction Continue
}
