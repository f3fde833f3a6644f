#Requires -Version 7.4
using namespace System.Management.Automation.Language
<#
.SYNOPSIS
    The static check of the repository's PowerShell files, with PowerShell's own parser and binder.
.DESCRIPTION
    1. syntax: every .ps1/.psm1/.psd1 parses without errors ([System.Management.Automation.Language.Parser]);
    2. commands: every command named like an E2E command (Verb-E2E..., or module-qualified E2E\...) exists
       in the built module;
    3. parameters: every parameter given to an E2E command binds, by name, alias or unambiguous prefix, as
       StaticParameterBinder (the binder PowerShell uses for completion and analysis) judges it;
    4. Pester: 'Should -Throw -ErrorId' is compared with -like against the whole FullyQualifiedErrorId
       ('Id,Namespace.Command'), so a literal id without ',' or a wildcard can never match.
    With -SelfTest, first checks that each file in fixtures/ yields exactly the problems its
    '# expect: <kind>: <text>' lines name. Exits non-zero on any problem.
.EXAMPLE
    ./tools/pwsh ./tools/scriptcheck/Test-E2EScript.ps1 -SelfTest
#>
[CmdletBinding()]
param(
    [string[]] $Path = @(),
    [string] $ModulePath = (Join-Path $PSScriptRoot '..' '..' 'out' 'E2E' 'E2E.psd1'),
    [switch] $SelfTest
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$repo = (Resolve-Path (Join-Path $PSScriptRoot '..' '..')).Path
$fixtures = Join-Path $PSScriptRoot 'fixtures'
$skippedDirectories = @('.git', 'node_modules', 'out', 'bin', 'obj', 'TestResults')

if (-not (Test-Path -LiteralPath $ModulePath)) {
    throw "No module at '$ModulePath'. Run 'dotnet build' first."
}
# Imported globally, so that StaticParameterBinder resolves the commands from the current runspace.
$module = Import-Module $ModulePath -Force -Global -PassThru
$commands = [System.Collections.Generic.HashSet[string]]::new([string[]] @($module.ExportedCommands.Keys), [StringComparer]::OrdinalIgnoreCase)

function Get-ErrorIdProblem([CommandAst] $Should) {
    $elements = $Should.CommandElements
    for ($i = 1; $i -lt $elements.Count; $i++) {
        $element = $elements[$i]
        if ($element -isnot [CommandParameterAst] -or $element.ParameterName -ne 'ErrorId') { continue }
        $argument = if ($element.Argument) { $element.Argument } elseif ($i + 1 -lt $elements.Count) { $elements[$i + 1] } else { $null }
        $literal = $argument -is [StringConstantExpressionAst] -or ($argument -is [ExpandableStringExpressionAst] -and $argument.NestedExpressions.Count -eq 0)
        if ($literal -and $argument.Value -notmatch '[,*?]') {
            return [pscustomobject]@{ Extent = $argument.Extent; Message = "Should -ErrorId '$($argument.Value)' cannot match: Pester compares it with -like against the full id ('$($argument.Value),<Namespace.Command>'); write '$($argument.Value),*'" }
        }
    }
}

function Test-ScriptText([string] $Text, [string] $File) {
    $tokens = $null; $errors = $null
    $ast = [Parser]::ParseInput($Text, $File, [ref] $tokens, [ref] $errors)
    $uses = 0
    $problems = [System.Collections.Generic.List[object]]::new()
    $add = { param($extent, $kind, $message) $problems.Add([pscustomobject]@{ Where = "${File}:$($extent.StartLineNumber):$($extent.StartColumnNumber)"; Kind = $kind; Message = $message }) }
    foreach ($e in $errors) { & $add $e.Extent 'syntax' $e.Message }
    foreach ($command in $ast.FindAll({ param($a) $a -is [CommandAst] }, $true)) {
        $name = $command.GetCommandName()
        if (-not $name) { continue }
        if ($name -eq 'Should') {
            if ($p = Get-ErrorIdProblem $command) { & $add $p.Extent 'pester' $p.Message }
            continue
        }
        $bare = $name -replace '^E2E\\', ''
        if (-not $commands.Contains($bare)) {
            if ($bare -match '^[A-Za-z]+-E2E\w*$' -or $name -match '^E2E\\') {
                & $add $command.CommandElements[0].Extent 'command' "$bare is not a command of module E2E"
            }
            continue
        }
        $uses++
        $binding = [StaticParameterBinder]::BindCommand($command, $true)
        foreach ($entry in $binding.BindingExceptions.GetEnumerator()) {
            $exception = $entry.Value.BindingException
            $id = if ($exception -is [System.Management.Automation.ParameterBindingException]) { $exception.ErrorId } else { '' }
            switch ($id) {
                'NamedParameterNotFound' { & $add $entry.Value.CommandElement.Extent 'parameter' "$bare has no parameter -$($entry.Key)" }
                'AmbiguousParameter' { & $add $entry.Value.CommandElement.Extent 'parameter' "parameter -$($entry.Key) of $bare is ambiguous: $($exception.Message)" }
            }
        }
    }
    [pscustomobject]@{ Problems = $problems; Uses = $uses }
}

$failed = $false
if ($SelfTest) {
    $cases = @(Get-ChildItem -LiteralPath $fixtures -Filter '*.ps1' | Sort-Object Name)
    $bad = 0
    foreach ($case in $cases) {
        $text = Get-Content -LiteralPath $case.FullName -Raw
        $expected = @([regex]::Matches($text, '(?m)^# expect: (\w+): (.+)$') | ForEach-Object { [pscustomobject]@{ Kind = $_.Groups[1].Value; Text = $_.Groups[2].Value.Trim() } })
        $found = @((Test-ScriptText $text $case.Name).Problems)
        $unmatched = @($expected | Where-Object { $e = $_; -not ($found | Where-Object { $_.Kind -eq $e.Kind -and $_.Message.Contains($e.Text) }) })
        $unexpected = @($found | Where-Object { $p = $_; -not ($expected | Where-Object { $p.Kind -eq $_.Kind -and $p.Message.Contains($_.Text) }) })
        if ($unmatched.Count -or $unexpected.Count) {
            $bad++
            Write-Host "self-test FAILED $($case.Name)"
            $unmatched | ForEach-Object { Write-Host "  expected $($_.Kind): $($_.Text)" }
            $unexpected | ForEach-Object { Write-Host "  unexpected $($_.Where) $($_.Kind): $($_.Message)" }
        }
    }
    Write-Host "scriptcheck self-test: $($cases.Count - $bad) of $($cases.Count) fixtures as expected"
    if ($bad -or -not $cases.Count) { $failed = $true }
}

$files = if ($Path) { @($Path | ForEach-Object { (Resolve-Path $_).Path }) } else {
    @(Get-ChildItem -LiteralPath $repo -Recurse -File -Include '*.ps1', '*.psm1', '*.psd1' |
        Where-Object { $relative = [IO.Path]::GetRelativePath($repo, $_.FullName); -not ($relative.Split([IO.Path]::DirectorySeparatorChar) | Where-Object { $_ -in $skippedDirectories }) } |
        Where-Object { -not $_.FullName.StartsWith($fixtures, [StringComparison]::Ordinal) } |
        ForEach-Object FullName | Sort-Object)
}
$problemCount = 0; $useCount = 0
foreach ($file in $files) {
    $result = Test-ScriptText (Get-Content -LiteralPath $file -Raw) ([IO.Path]::GetRelativePath($repo, $file))
    $useCount += $result.Uses
    foreach ($p in $result.Problems) { Write-Host "$($p.Where): $($p.Kind): $($p.Message)"; $problemCount++ }
}
Write-Host "scriptcheck: $($files.Count) files, $useCount uses of $($commands.Count) E2E commands checked, $problemCount problems"
if ($problemCount) { $failed = $true }
exit ([int] $failed)
