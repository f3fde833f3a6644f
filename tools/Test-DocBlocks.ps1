#Requires -Version 7.4
<#
.SYNOPSIS
    Runs the PowerShell blocks of README.md and of every page under docs/ as a newcomer pastes them, so that they
    cannot rot; checks that every relative link in them leads somewhere.
.DESCRIPTION
    Every ```powershell block runs, file by file (README.md first, then docs/ in name order) and in order within a
    file, in one pwsh session started in the repository root with the pinned Pester imported, and with a throwaway
    user home (Invoke-WithTemporaryUserHome): the README installs the package with PSResourceGet as a newcomer
    does, and that must not touch the real user's modules. A block that holds Pester tests (Describe/It) is saved
    as its own .Tests.ps1 file in a temporary folder and run with Invoke-Pester; every other block runs as typed,
    with errors stopping it. Links to files that do not exist, or to headings a page does not have, count as
    failures too. Prints one line per block and 'doc blocks: N passed, N failed'; once per -PesterVersion, each in
    its own pwsh. The README's install block needs out/packages (./build.ps1 -Task Package).
.EXAMPLE
    ./tools/pwsh ./tools/Test-DocBlocks.ps1 -PesterVersion 5.7.1
#>
[CmdletBinding()]
param(
    [string[]] $PesterVersion = @('5.7.1'),
    [string] $SummaryPath = '',
    # Set by this script when it runs itself once per version.
    [switch] $InSession
)

$ErrorActionPreference = 'Stop'
$PesterVersion = @($PesterVersion | ForEach-Object { $_ -split ',' } | Where-Object { $_ })
$repo = (Resolve-Path (Join-Path $PSScriptRoot '..')).Path
$__doc_files = @(Join-Path $repo 'README.md') + @(Get-ChildItem -LiteralPath (Join-Path $repo 'docs') -Recurse -Filter '*.md' | Sort-Object FullName | ForEach-Object FullName)

Import-Module (Join-Path $PSScriptRoot 'BuildTools.psm1') -Force
if (-not $InSession) {
    # One fresh session per Pester version, as one major per process is all Pester allows.
    $passed = 0; $failed = 0
    foreach ($version in $PesterVersion) {
        $run = Invoke-WithTemporaryUserHome { Invoke-FreshPwshWithSummary @('-File', $PSCommandPath, '-InSession', '-PesterVersion', $version) "doc blocks, Pester $version" }
        $count = Get-PassFailCount $run.Summary[-1]
        $passed += $count.Passed; $failed += $count.Failed
    }
    $total = "doc blocks: $passed passed, $failed failed"
    Write-Host $total
    if ($SummaryPath) { Set-Content -LiteralPath $SummaryPath -Value $total }
    exit ([int] ($failed -gt 0))
}

Import-Module (Get-PesterManifest $PesterVersion[0]) -Force

$__doc_blocks = [System.Collections.Generic.List[object]]::new()
$__doc_brokenLinks = [System.Collections.Generic.List[string]]::new()
# GitHub's anchor of a heading: lower case, punctuation but '-' and '_' dropped, spaces as '-'.
function ConvertTo-__DocAnchor([string] $Heading) { (($Heading.ToLowerInvariant() -replace '[^\p{L}\p{Nd} _-]', '') -replace ' ', '-') }
$__doc_anchors = @{}
foreach ($file in $__doc_files) {
    # Headings only: a '#' line inside a code block is a comment.
    $inCode = $false
    $__doc_anchors[$file] = @(foreach ($line in Get-Content -LiteralPath $file) {
        if ($line -match '^```') { $inCode = -not $inCode }
        elseif (-not $inCode -and $line -match '^#+\s+(.+)$') { ConvertTo-__DocAnchor $Matches[1] }
    })
}
foreach ($file in $__doc_files) {
    $relative = [IO.Path]::GetRelativePath($repo, $file)
    $heading = ''; $current = $null; $number = 0; $fence = $false
    foreach ($line in Get-Content -LiteralPath $file) {
        $number++
        if ($null -eq $current) {
            if ($line -match '^```powershell\s*$') { $current = [pscustomobject]@{ File = $relative; Heading = $heading; Line = $number; Text = [System.Text.StringBuilder]::new() }; continue }
            if ($line -match '^```') { $fence = -not $fence; continue }
            if ($fence) { continue }
            if ($line -match '^#+\s+(.+)$') { $heading = $Matches[1] }
            # Relative links: the file (or folder) must exist, and a #heading must be one of the page's.
            foreach ($link in [regex]::Matches($line, '\]\(([^)\s]+)\)')) {
                $target = $link.Groups[1].Value
                if ($target -match '^[a-z]+:') { continue }
                $path, $anchor = $target -split '#', 2
                $resolved = if ($path) { [IO.Path]::GetFullPath((Join-Path (Split-Path $file) $path)) } else { $file }
                if (-not (Test-Path -LiteralPath $resolved)) { $__doc_brokenLinks.Add("${relative}:$number links to $target, which does not exist") }
                elseif ($anchor -and $__doc_anchors.ContainsKey($resolved) -and $__doc_anchors[$resolved] -notcontains $anchor) { $__doc_brokenLinks.Add("${relative}:$number links to $target, a heading the page does not have") }
            }
        }
        elseif ($line -match '^```\s*$') { $__doc_blocks.Add($current); $current = $null }
        else { $null = $current.Text.AppendLine($line) }
    }
}

$__doc_work = Join-Path ([IO.Path]::GetTempPath()) "e2e-docblocks-$PID"
$null = New-Item -ItemType Directory -Path $__doc_work -Force
$__doc_passedBlocks = 0; $__doc_failedBlocks = 0
# The runner's own variables are prefixed: the blocks are dot-sourced into this scope, as pasted lines would be.
Set-Location -LiteralPath $repo
try {
    $__doc_previousFile = ''
    foreach ($__doc_block in $__doc_blocks) {
        # Each page starts where a newcomer stands: the repository root.
        if ($__doc_block.File -ne $__doc_previousFile) { Set-Location -LiteralPath $repo; $__doc_previousFile = $__doc_block.File }
        $__doc_label = "$($__doc_block.File):$($__doc_block.Line) ($($__doc_block.Heading))"
        $__doc_text = $__doc_block.Text.ToString()
        try {
            if ($__doc_text -match '(?m)^\s*(Describe|It)\s') {
                $__doc_file = Join-Path $__doc_work "$($__doc_block.File -replace '[\\/.]', '-')-$($__doc_block.Line).Tests.ps1"
                Set-Content -LiteralPath $__doc_file -Value $__doc_text
                $__doc_result = Invoke-Pester -Path $__doc_file -PassThru -Output Detailed
                if ($__doc_result.Result -ne 'Passed' -or $__doc_result.PassedCount -eq 0) { throw "Invoke-Pester: $($__doc_result.Result), $($__doc_result.PassedCount) passed, $($__doc_result.FailedCount) failed" }
            }
            else {
                . ([scriptblock]::Create($__doc_text)) | Out-Host
            }
            $__doc_passedBlocks++
            Write-Host "[+] $__doc_label"
        }
        catch {
            $__doc_failedBlocks++
            Write-Host "[-] ${__doc_label}: $_"
        }
    }
}
finally {
    Set-Location -LiteralPath $__doc_work/..
    Remove-Item -LiteralPath $__doc_work -Recurse -Force -ErrorAction SilentlyContinue
}
foreach ($broken in $__doc_brokenLinks) { Write-Host "[-] $broken"; $__doc_failedBlocks++ }
$__doc_summary = "doc blocks, Pester $($PesterVersion[0]): $__doc_passedBlocks passed, $__doc_failedBlocks failed"
Write-Host $__doc_summary
if ($SummaryPath) { Set-Content -LiteralPath $SummaryPath -Value $__doc_summary }
exit ([int] ($__doc_failedBlocks -gt 0))
