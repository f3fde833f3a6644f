#Requires -Version 7.4
# A fixture suite for the Should-operator meta-test (tests/E2E.Module.Tests/PesterHookTests.cs): it does not
# import E2E itself, so the test decides the import order.
Describe 'Should -MatchExpectedOutput' {
    BeforeAll {
        $expected = Join-Path $TestDrive 'expected'
        $actual = Join-Path $TestDrive 'actual'
        $null = New-Item -ItemType Directory -Path $expected, $actual
        Set-Content -LiteralPath (Join-Path $expected 'a.txt') -Value 'same'
        Set-Content -LiteralPath (Join-Path $actual 'a.txt') -Value 'same'
    }

    It 'passes for equal folders' {
        $actual | Should -MatchExpectedOutput -ExpectedPath $expected
    }

    It 'fails naming the file that differs' {
        Set-Content -LiteralPath (Join-Path $actual 'a.txt') -Value 'changed'
        { $actual | Should -MatchExpectedOutput -ExpectedPath $expected } | Should -Throw '*1 of 1 files differ*a.txt*'
    }
}
