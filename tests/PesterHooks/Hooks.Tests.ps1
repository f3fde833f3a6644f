#Requires -Version 7.4
# A fixture suite for the failure-hook meta-test (tests/E2E.Module.Tests/PesterHookTests.cs), not one of the
# suites: tests that pass, fail an assertion, throw, fail in BeforeEach, are skipped (two ways), are pending,
# and a data-driven one. Each test writes a file; the AfterEach exports it and saves the namespace's
# diagnostics, both of which must happen for the failed tests only. Failures here are on purpose.
param(
    [Parameter(Mandatory)] [string] $ModulePath
)

BeforeAll {
    Import-Module $ModulePath -Force -ErrorAction Stop
    $hookScope = New-E2EScope -Name 'hooks'
    $null = New-E2ECluster -Name ('hooks' + [guid]::NewGuid().ToString('N').Substring(0, 6))
}

AfterAll {
    Remove-E2EScope -Scope $hookScope
}

Describe 'hooks' {
    BeforeEach {
        $work = New-E2ETempDirectory -Prefix 'hook'
        Set-Content -LiteralPath (Join-Path $work 'output.txt') -Value 'what the test wrote'
    }

    AfterEach {
        Export-E2EArtifact -Suite 'hooks' -Path (Join-Path $work 'output.txt')
        Get-E2EDiagnostic -Namespace 'default' -Suite 'hooks' -OnFailure | Out-Null
    }

    It 'passes' { 1 | Should -Be 1 }
    It 'fails an assertion' { 1 | Should -Be 2 }
    It 'throws' { throw 'the server never answered' }
    It 'is skipped with -Skip' -Skip { throw 'never runs' }
    It 'is skipped from inside' { Set-ItResult -Skipped -Because 'not on this machine' }
    It 'writes a non-terminating error and passes' { Write-Error 'only a warning sign' -ErrorAction Continue 2>$null }
    It 'is named <Name>' -ForEach @(@{ Name = 'alpha'; Value = 1 }, @{ Name = 'beta'; Value = 2 }) { $Value | Should -Be 1 }

    Context 'with a failing BeforeEach' {
        BeforeEach { throw 'setup broke' }
        It 'never reaches its body' { 1 | Should -Be 1 }
    }
}
