# Helpers shared by build.ps1, Pester/Run.ps1 and tools/Test-ReadmeBlocks.ps1: one place that knows how to
# start a fresh pwsh and where the pinned Pester versions are.

$repo = Split-Path -Parent $PSScriptRoot

function Get-PinnedPesterVersion {
    # The versions tools/PesterPackages restores, in the order its PackageDownload item lists them.
    $project = [xml](Get-Content -Raw (Join-Path $repo 'tools' 'PesterPackages' 'PesterPackages.csproj'))
    @($project.Project.ItemGroup.PackageDownload | Where-Object Include -eq 'Pester' |
        ForEach-Object { $_.Version -split ';' } | ForEach-Object { $_.Trim('[', ']', ' ') })
}

function Get-PesterManifest([Parameter(Mandatory)] [string] $Version) {
    # Pester.psd1 of a pinned version in the NuGet packages folder, restoring tools/PesterPackages if it is missing.
    $find = {
        $packages = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { (& dotnet nuget locals global-packages --list) -replace '^global-packages:\s*', '' }
        Join-Path $packages.Trim() 'pester' $Version 'tools' 'Pester.psd1'
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

function Invoke-FreshPwsh([string[]] $ArgumentList) {
    # A new pwsh process with the same engine as this one (under the dotnet tool, 'dotnet pwsh.dll'); returns its exit code.
    $process = [Environment]::ProcessPath
    $prefix = @(if ([IO.Path]::GetFileNameWithoutExtension($process) -eq 'dotnet') { Join-Path $PSHOME 'pwsh.dll' })
    & $process @prefix -NoProfile -NonInteractive @ArgumentList | Out-Host
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

function Get-PassFailCount([string] $Line) {
    # The counts of an 'N passed, N failed' line; a line without them counts as one failure.
    if ($Line -match '(\d+) passed, (\d+) failed') { [pscustomobject]@{ Passed = [int] $Matches[1]; Failed = [int] $Matches[2] } }
    else { [pscustomobject]@{ Passed = 0; Failed = 1 } }
}

Export-ModuleMember -Function Get-PinnedPesterVersion, Get-PesterManifest, Invoke-FreshPwsh, Invoke-FreshPwshWithSummary, Get-PassFailCount
