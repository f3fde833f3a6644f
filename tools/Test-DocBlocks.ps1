#Requires -Version 7.4
<#
.SYNOPSIS
    Runs the README's PowerShell blocks as a newcomer pastes them, so that they cannot rot.
.DESCRIPTION
    Every ```powershell block of README.md runs, in order, in one pwsh session started in the repository
    root, with the pinned Pester imported (the README tells a newcomer to have Pester). A block that holds
    Pester tests (Describe/It) is saved as its own .Tests.ps1 file in a temporary folder and run with
    Invoke-Pester, as the README says to; every other block is run as typed, with errors stopping it. Prints
    one line per block and 'README blocks: N passed, N failed'; once per -PesterVersion, each in its own pwsh.
.EXAMPLE
    ./tools/pwsh ./tools/Test-ReadmeBlocks.ps1 -PesterVersion 5.7.1
#>
[CmdletBinding()]
param(
    [string[]] $PesterVersion = @('5.7.1'),
    [string] $ReadmePath = (Join-Path $PSScriptRoot '..' 'README.md'),
    [string] $SummaryPath = '',
    # Set by this script when it runs itself once per version.
    [switch] $InSession
)

$ErrorActionPreference = 'Stop'
$PesterVersion = @($PesterVersion | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
$repo = (Resolve-Path (Join-Path $PSScriptRoot '..')).Path

Import-Module (Join-Path $PSScriptRoot 'BuildTools.psm1') -Force
if (-not $InSession) {
    # One fresh session per Pester version, as one major per process is all Pester allows.
    $passed = 0; $failed = 0
    foreach ($version in $PesterVersion) {
        $run = Invoke-FreshPwshWithSummary @('-File', $PSCommandPath, '-InSession', '-PesterVersion', $version, '-ReadmePath', $ReadmePath) "README blocks, Pester $version"
        $count = Get-PassFailCount $run.Summary[-1]
        $passed += $count.Passed; $failed += $count.Failed
    }
    $total = "README blocks: $passed passed, $failed failed"
    Write-Host $total
    if ($SummaryPath) { Set-Content -LiteralPath $SummaryPath -Value $total }
    exit ([int] ($failed -gt 0))
}

Import-Module (Get-PesterManifest $PesterVersion[0]) -Force

$__readme_blocks = [System.Collections.Generic.List[object]]::new()
$heading = ''; $current = $null; $number = 0
foreach ($line in Get-Content -LiteralPath $ReadmePath) {
    $number++
    if ($null -eq $current) {
        if ($line -match '^#+\s+(.+)$') { $heading = $Matches[1] }
        elseif ($line -match '^```powershell\s*$') { $current = [pscustomobject]@{ Heading = $heading; Line = $number; Text = [System.Text.StringBuilder]::new() } }
    }
    elseif ($line -match '^```\s*$') { $__readme_blocks.Add($current); $current = $null }
    else { $null = $current.Text.AppendLine($line) }
}

$__readme_work = Join-Path ([IO.Path]::GetTempPath()) "e2e-readme-$PID"
$null = New-Item -ItemType Directory -Path $__readme_work -Force
$__readme_passedBlocks = 0; $__readme_failedBlocks = 0
# The runner's own variables are prefixed: the blocks are dot-sourced into this scope, as pasted lines would be.
Set-Location -LiteralPath $repo
try {
    foreach ($__readme_readmeBlock in $__readme_blocks) {
        $__readme_label = "README.md:$($__readme_readmeBlock.Line) ($($__readme_readmeBlock.Heading))"
        $__readme_readmeText = $__readme_readmeBlock.Text.ToString()
        try {
            if ($__readme_readmeText -match '(?m)^\s*(Describe|It)\s') {
                $__readme_file = Join-Path $__readme_work "readme-$($__readme_readmeBlock.Line).Tests.ps1"
                Set-Content -LiteralPath $__readme_file -Value $__readme_readmeText
                $__readme_result = Invoke-Pester -Path $__readme_file -PassThru -Output Detailed
                if ($__readme_result.Result -ne 'Passed' -or $__readme_result.PassedCount -eq 0) { throw "Invoke-Pester: $($__readme_result.Result), $($__readme_result.PassedCount) passed, $($__readme_result.FailedCount) failed" }
            }
            else {
                . ([scriptblock]::Create($__readme_readmeText)) | Out-Host
            }
            $__readme_passedBlocks++
            Write-Host "[+] $__readme_label"
        }
        catch {
            $__readme_failedBlocks++
            Write-Host "[-] ${label}: $_"
        }
    }
}
finally {
    Set-Location -LiteralPath $__readme_work/..
    Remove-Item -LiteralPath $__readme_work -Recurse -Force -ErrorAction SilentlyContinue
}
$__readme_summary = "README blocks, Pester $($PesterVersion[0]): $__readme_passedBlocks passed, $__readme_failedBlocks failed"
Write-Host $__readme_summary
if ($SummaryPath) { Set-Content -LiteralPath $SummaryPath -Value $__readme_summary }
exit ([int] ($__readme_failedBlocks -gt 0))
