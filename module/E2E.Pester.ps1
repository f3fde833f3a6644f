# Should operators for Pester 5 and 6, dot-sourced by E2E.psm1; registered with Pester by the hook that
# E2E.psm1 installs (src/E2E.Cmdlets/Infrastructure/PesterShouldOperators.cs), so the module never depends on Pester.

function Test-E2EMatchExpectedOutput {
    param(
        $ActualValue,
        [switch] $Negate,
        [string] $ExpectedPath,
        [string[]] $IgnorePath = @(),
        [string] $Because
    )

    if (-not $ExpectedPath) {
        throw 'Should -MatchExpectedOutput needs -ExpectedPath.'
    }
    $actualPath = if ($ActualValue -is [System.IO.FileSystemInfo]) { $ActualValue.FullName } else { [string] $ActualValue }
    $rows = @(E2E\Compare-ExpectedOutput -Path $actualPath -ExpectedPath $ExpectedPath -IgnorePath $IgnorePath -ErrorAction Stop)
    $different = @($rows | Where-Object { $_.Status -ne 'Equal' })
    $matched = $different.Count -eq 0
    $succeeded = if ($Negate) { -not $matched } else { $matched }

    $message = $null
    if (-not $succeeded) {
        $why = if ($Because) { " because $Because" } else { '' }
        if ($Negate) {
            $message = "Expected '$actualPath' not to match the expected output in '$ExpectedPath'$why, but all $($rows.Count) files are equal."
        }
        else {
            $details = foreach ($row in $different) {
                "  $($row.Status) $($row.Path): $($row.Summary)"
                if ($row.Diff) {
                    $lines = @($row.Diff -split "`n")
                    ($lines[0..([Math]::Min(19, $lines.Count - 1))] | ForEach-Object { "    $_" }) -join "`n"
                }
            }
            $message = "Expected '$actualPath' to match the expected output in '$ExpectedPath'$why, but $($different.Count) of $($rows.Count) files differ:`n" + ($details -join "`n")
        }
    }

    [pscustomobject]@{
        Succeeded      = $succeeded
        FailureMessage = $message
    }
}

function Test-E2EBeAllClose {
    param(
        $ActualValue,
        [switch] $Negate,
        $ExpectedValue,
        [double] $RelativeTolerance = 1e-5,
        [double] $AbsoluteTolerance = 1e-8,
        [switch] $EqualNaN,
        [string] $Because
    )

    if ($null -eq $ActualValue -or $null -eq $ExpectedValue) { throw 'Should -BeAllClose needs a tensor and -ExpectedValue.' }
    $comparison = E2E\Compare-E2ETensor -Actual $ActualValue -Expected $ExpectedValue -RelativeTolerance $RelativeTolerance -AbsoluteTolerance $AbsoluteTolerance -EqualNaN:$EqualNaN -ErrorAction Stop
    $succeeded = if ($Negate) { -not $comparison.Close } else { $comparison.Close }
    $message = $null
    if (-not $succeeded) {
        $why = if ($Because) { " because $Because" } else { '' }
        $tolerance = "rtol $RelativeTolerance, atol $AbsoluteTolerance$(if ($EqualNaN) { ', NaN equal to NaN' })"
        $message = if ($Negate) { "Expected the $($comparison.Count) values not to be all close to the expected ones ($tolerance)$why, but they are." }
        else { "Expected every value close to the expected one ($tolerance)$why, but $comparison." }
    }
    [pscustomobject]@{
        Succeeded      = $succeeded
        FailureMessage = $message
    }
}

function Register-E2EShouldOperator {
    # Runs inside the given Pester module instance, so it reaches that instance's operator table. Pester
    # ignores a registration identical to one it has (same name and test text), e.g. after E2E's -Force re-import.
    param([System.Management.Automation.PSModuleInfo] $Pester)
    & $Pester {
        param($matchExpectedOutput, $beAllClose)
        Add-ShouldOperator -Name MatchExpectedOutput -InternalName 'Should-MatchExpectedOutput' -Test $matchExpectedOutput
        Add-ShouldOperator -Name BeAllClose -InternalName 'Should-BeAllClose' -Test $beAllClose
    } ${function:Test-E2EMatchExpectedOutput} ${function:Test-E2EBeAllClose}
}
