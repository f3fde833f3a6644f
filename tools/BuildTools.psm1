# Helpers shared by build.ps1, Pester/Run.ps1 and the tools' scripts: one place that knows how to
# start a fresh pwsh and where the pinned Pester versions are.

$repo = Split-Path -Parent $PSScriptRoot

function Get-PinnedPesterVersion {
    # The versions tools/PesterPackages restores, in the order its PackageDownload item lists them.
    $project = [xml](Get-Content -Raw (Join-Path $repo 'tools' 'PesterPackages' 'PesterPackages.csproj'))
    @($project.Project.ItemGroup.PackageDownload | Where-Object Include -eq 'Pester' |
        ForEach-Object { $_.Version -split ';' } | ForEach-Object { $_.Trim('[', ']', ' ') })
}

function Get-NuGetPackagesFolder {
    # Where NuGet keeps packages (the pinned pwsh and Pester among them): NUGET_PACKAGES, else what dotnet says.
    if ($env:NUGET_PACKAGES) { return $env:NUGET_PACKAGES }
    ((& dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', '').Trim()
}

function Get-PesterManifest([Parameter(Mandatory)] [string] $Version) {
    # Pester.psd1 of a pinned version in the NuGet packages folder, restoring tools/PesterPackages if it is missing.
    $find = {
        Join-Path (Get-NuGetPackagesFolder) 'pester' $Version 'tools' 'Pester.psd1'
    }
    $manifest = & $find
    if (-not (Test-Path -LiteralPath $manifest)) {
        & dotnet restore (Join-Path $repo 'tools' 'PesterPackages') -nologo -v quiet | Out-Host
        $manifest = & $find
    }
    if (-not (Test-Path -LiteralPath $manifest)) {
        throw "Pester $Version is not pinned in tools/PesterPackages/PesterPackages.csproj (looked for '$manifest')."
    }
    $manifest
}

# A folder of the user's cache for what the build makes once and keeps: $XDG_CACHE_HOME/e2e/<name>, else ~/.cache/e2e/<name>.
function Get-BuildCacheFolder([Parameter(Mandatory)] [string] $Name) {
    Join-Path $(if ($env:XDG_CACHE_HOME) { $env:XDG_CACHE_HOME } else { Join-Path $HOME '.cache' }) 'e2e' $Name
}

# The folder of the pinned pwsh compiled ahead of time (tools/pwsh runs it where it is complete).
function Get-ReadyToRunPwshFolder {
    $cache = if ($env:E2E_PWSH_CACHE) { $env:E2E_PWSH_CACHE } else { Get-BuildCacheFolder 'pwsh' }
    Join-Path $cache (Get-PinnedPwshVersion)
}

function Get-PinnedPwshVersion {
    $manifest = Get-Content -Raw (Join-Path $PSScriptRoot '..' '.config' 'dotnet-tools.json') | ConvertFrom-Json
    $manifest.tools.powershell.version
}

# Whether a file is a managed assembly with IL only (no ReadyToRun code yet).
function Test-ILOnlyAssembly([string] $Path) {
    $stream = [IO.File]::OpenRead($Path)
    try {
        $headers = [Reflection.PortableExecutable.PEReader]::new($stream).PEHeaders
        $null -ne $headers.CorHeader -and $headers.CorHeader.ManagedNativeHeaderDirectory.Size -eq 0
    }
    catch [BadImageFormatException] { $false }
    finally { $stream.Dispose() }
}

function Initialize-ReadyToRunPwsh {
    # The dotnet tool ships PowerShell as IL only, so every pwsh start JIT-compiled the engine again: about 0.7 s of CPU
    # a start, and the tests start hundreds. This compiles the pinned pwsh's assemblies once with crossgen2 (restored
    # by tools/PwshReadyToRun) into a cache folder, keyed by the pwsh and crossgen2 versions; tools/pwsh runs that copy
    # where it is complete. The IL is the same, and the runtime falls back to the JIT for any code it will not use.
    # Returns the folder, or nothing where crossgen2 is not restored.
    $version = Get-PinnedPwshVersion
    $target = Get-ReadyToRunPwshFolder
    $assets = Join-Path $PSScriptRoot 'PwshReadyToRun' 'obj' 'project.assets.json'
    if (-not (Test-Path -LiteralPath $assets)) { Write-Warning "crossgen2 is not restored ($assets): pwsh runs JIT-compiled."; return }
    $download = (Get-Content -Raw $assets | ConvertFrom-Json).project.frameworks.'net10.0'.downloadDependencies | Where-Object name -like 'Microsoft.NETCore.App.Crossgen2.*' | Select-Object -First 1
    $crossgenVersion = $download.version.Trim('[', ']').Split(',')[0].Trim()
    $packages = Get-NuGetPackagesFolder
    $crossgen = Join-Path $packages $download.name.ToLowerInvariant() $crossgenVersion 'tools' 'crossgen2'
    $key = "pwsh $version, $($download.name) $crossgenVersion"
    $stamp = Join-Path $target 'readytorun.txt'
    if ((Test-Path -LiteralPath $stamp) -and (Get-Content -Raw -LiteralPath $stamp).Trim() -eq $key) { return $target }

    $engine = Join-Path $packages 'powershell' $version 'tools' 'net10.0' 'any' 'unix'
    if (-not (Test-Path -LiteralPath (Join-Path $engine 'pwsh.dll'))) { throw "The pinned pwsh is not restored at $engine (dotnet tool restore)." }
    $clock = [Diagnostics.Stopwatch]::StartNew()
    $partial = "$target.partial-$PID"
    Remove-Item -Recurse -Force -LiteralPath $partial -ErrorAction SilentlyContinue
    $null = New-Item -ItemType Directory -Force -Path (Split-Path $target)
    Copy-Item -Recurse -LiteralPath $engine -Destination $partial
    try {
        $framework = [Runtime.InteropServices.RuntimeEnvironment]::GetRuntimeDirectory()
        $arch = [Runtime.InteropServices.RuntimeInformation]::OSArchitecture.ToString().ToLowerInvariant()
        # The assemblies every start loads (listed from a start that imports the module and runs the suites' kind of
        # commands). The rest (Roslyn for Add-Type, WCF, ...) stay IL: compiling every file took 110 s of CPU, these 32 s.
        $inputs = @(Get-ChildItem -LiteralPath $partial -Recurse -Filter '*.dll' -File | Where-Object {
                $_.Name -in 'pwsh.dll', 'System.Management.Automation.dll', 'Microsoft.PowerShell.ConsoleHost.dll', 'Microsoft.PowerShell.Commands.Utility.dll',
                'Microsoft.PowerShell.Commands.Management.dll', 'Microsoft.PowerShell.Security.dll', 'Microsoft.PowerShell.MarkdownRender.dll', 'Newtonsoft.Json.dll',
                'Microsoft.ApplicationInsights.dll', 'Microsoft.Management.Infrastructure.dll' -and $_.FullName -notmatch '[\\/](ref|runtimes[\\/]win[^\\/]*)[\\/]' })
        $compiled = 0
        # The references in a response file: pwsh would expand the wildcards itself, as a shell does.
        $references = Join-Path $partial 'crossgen2-references.rsp'
        Set-Content -LiteralPath $references -Value @("-r:$(Join-Path $framework '*.dll')", "-r:$(Join-Path $engine '*.dll')")
        foreach ($assembly in $inputs | Where-Object { Test-ILOnlyAssembly $_.FullName }) {
            # Compiled from the package's copy: crossgen2 refuses an input whose name is also among the references.
            $source = Join-Path $engine ([IO.Path]::GetRelativePath($partial, $assembly.FullName))
            $output = "$($assembly.FullName).r2r"
            $log = & $crossgen $source -o $output "@$references" --targetos linux --targetarch $arch -O 2>&1
            # An assembly crossgen2 cannot compile stays IL: it is still correct, only JIT-compiled.
            if ($LASTEXITCODE -eq 0 -and (Test-Path -LiteralPath $output)) { Move-Item -Force -LiteralPath $output -Destination $assembly.FullName; $compiled++ }
            else { Remove-Item -LiteralPath $output -ErrorAction SilentlyContinue; Write-Verbose "crossgen2 left $($assembly.Name) as IL: $($log | Select-Object -Last 1)" }
        }
        Remove-Item -LiteralPath $references
        Set-Content -LiteralPath (Join-Path $partial 'readytorun.txt') -Value $key
        # Whole or not at all: tools/pwsh never sees a half-compiled folder.
        Remove-Item -Recurse -Force -LiteralPath $target -ErrorAction SilentlyContinue
        Move-Item -LiteralPath $partial -Destination $target
        Write-Host ("pwsh {0} compiled ahead of time ({1} assemblies) in {2:0.0} s: {3}" -f $version, $compiled, $clock.Elapsed.TotalSeconds, $target)
        $target
    }
    finally {
        Remove-Item -Recurse -Force -LiteralPath $partial -ErrorAction SilentlyContinue
    }
}

function Invoke-FreshPwsh([string[]] $ArgumentList) {
    # A new pwsh process: the pinned engine, through tools/pwsh (its ahead-of-time copy where there is one); returns its exit code.
    & (Join-Path $PSScriptRoot 'pwsh') -NoProfile -NonInteractive @ArgumentList | Out-Host
    $LASTEXITCODE
}

function Invoke-FreshPwshWithSummary([string[]] $ArgumentList, [string] $Label) {
    # Runs a script that takes -SummaryPath in a fresh pwsh; returns its exit code and the summary lines it
    # wrote, or one failing line when it ended before writing them.
    $log = Join-Path ([IO.Path]::GetTempPath()) "e2e-summary-$PID-$([guid]::NewGuid().ToString('N')).log"
    $status = Invoke-FreshPwsh ($ArgumentList + @('-SummaryPath', $log))
    $lines = if (Test-Path -LiteralPath $log) { @(Get-Content -LiteralPath $log); Remove-Item -LiteralPath $log } else { @("${Label}: 0 passed, 1 failed (the run ended before its summary)") }
    [pscustomobject]@{ ExitCode = $status; Summary = @($lines) }
}

function Invoke-FreshPwshConcurrently([object[]] $Runs) {
    # Runs several scripts that take -SummaryPath, each in a fresh pwsh, all at once; prints each one's output, whole
    # and in the order given, once all have ended; returns what Invoke-FreshPwshWithSummary returns, for each.
    # On two cores the suites of two Pester majors wait on processes, servers and disks much of the time, so side
    # by side they take little more than one alone.
    $started = foreach ($run in $Runs) {
        $summary = Join-Path ([IO.Path]::GetTempPath()) "e2e-summary-$PID-$([guid]::NewGuid().ToString('N')).log"
        $start = [System.Diagnostics.ProcessStartInfo]::new((Join-Path $PSScriptRoot 'pwsh'))
        foreach ($argument in @('-NoProfile', '-NonInteractive') + $run.ArgumentList + @('-SummaryPath', $summary)) { $start.ArgumentList.Add($argument) }
        $start.RedirectStandardOutput = $true
        $start.RedirectStandardError = $true
        $child = [System.Diagnostics.Process]::Start($start)
        [pscustomobject]@{ Label = $run.Label; Process = $child; Summary = $summary; Output = $child.StandardOutput.ReadToEndAsync(); Errors = $child.StandardError.ReadToEndAsync() }
    }
    foreach ($run in $started) {
        $run.Process.WaitForExit()
        $run.Output.GetAwaiter().GetResult() | Out-Host
        $errors = $run.Errors.GetAwaiter().GetResult()
        if ($errors) { $errors | Out-Host }
        $lines = if (Test-Path -LiteralPath $run.Summary) { @(Get-Content -LiteralPath $run.Summary); Remove-Item -LiteralPath $run.Summary } else { @("$($run.Label): 0 passed, 1 failed (the run ended before its summary)") }
        [pscustomobject]@{ ExitCode = $run.Process.ExitCode; Summary = @($lines) }
        $run.Process.Dispose()
    }
}

function Get-PassFailCount([string] $Line) {
    # The counts of an 'N passed, N failed' line; a line without them counts as one failure.
    if ($Line -match '(\d+) passed, (\d+) failed') { [pscustomobject]@{ Passed = [int] $Matches[1]; Failed = [int] $Matches[2] } }
    else { [pscustomobject]@{ Passed = 0; Failed = 1 } }
}

# Runs $Action with a throwaway user home for the processes it starts: HOME, XDG_DATA_HOME, XDG_CONFIG_HOME and
# XDG_CACHE_HOME in a new folder (PSResourceGet installs CurrentUser modules under HOME and keeps its list of
# repositories under XDG_DATA_HOME; pwsh finds user modules under XDG_DATA_HOME), and no PSModulePath, so that pwsh
# computes it from them. NuGet's packages folder stays the real one (NUGET_PACKAGES), where the pinned pwsh and Pester
# are. Nothing of the real user's is read or changed; the folder goes afterwards.
function Invoke-WithTemporaryUserHome([Parameter(Mandatory)] [scriptblock] $Action) {
    $root = Join-Path ([IO.Path]::GetTempPath()) "e2e-home-$PID-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
    $packages = Get-NuGetPackagesFolder
    $variables = @{
        HOME = $root; XDG_DATA_HOME = Join-Path $root '.local' 'share'; XDG_CONFIG_HOME = Join-Path $root '.config'; XDG_CACHE_HOME = Join-Path $root '.cache'
        PSModulePath = $null; NUGET_PACKAGES = $packages
        # The ahead-of-time pwsh stays where it is (tools/pwsh would look for it under the temporary cache folder).
        E2E_PWSH_CACHE = Split-Path (Get-ReadyToRunPwshFolder)
    }
    $saved = @{}
    try {
        foreach ($name in $variables.Keys) {
            $saved[$name] = [Environment]::GetEnvironmentVariable($name)
            if ($variables[$name]) { $null = New-Item -ItemType Directory -Force -Path $variables[$name] }
            [Environment]::SetEnvironmentVariable($name, $variables[$name])
        }
        & $Action $root
    }
    finally {
        foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
        Remove-Item -Recurse -Force -LiteralPath $root -ErrorAction SilentlyContinue
    }
}

# Busy processes that load the machine for soaks: stress-ng --cpu, or plain shell loops where it is missing. Each is
# started with setsid, a group of its own, so that Stop-BusyLoad ends all it started.
function Start-BusyLoad([int] $Count) {
    if ($Count -eq 0) { return @() }
    $stress = Get-Command stress-ng -ErrorAction SilentlyContinue
    if ($stress) { return @(Start-Process -PassThru -FilePath setsid -ArgumentList @($stress.Source, '--cpu', $Count, '--quiet') -RedirectStandardOutput '/dev/null') }
    @(1..$Count | ForEach-Object { Start-Process -PassThru -FilePath setsid -ArgumentList @('sh', '-c', 'while :; do :; done') -RedirectStandardOutput '/dev/null' })
}

function Stop-BusyLoad($Processes) {
    foreach ($process in $Processes) {
        & kill -KILL -- "-$($process.Id)" 2>$null
        $process.WaitForExit(10000) | Out-Null
    }
}

Export-ModuleMember -Function Get-BuildCacheFolder, Get-PinnedPesterVersion, Initialize-ReadyToRunPwsh, Get-PesterManifest, Invoke-FreshPwsh, Invoke-FreshPwshWithSummary, Invoke-FreshPwshConcurrently, Get-PassFailCount, Start-BusyLoad, Stop-BusyLoad, Invoke-WithTemporaryUserHome
