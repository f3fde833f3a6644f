# Should operators for Pester 5 and 6, dot-sourced by E2E.psm1 only when Pester is loaded,
# so the module never depends on Pester.

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
    $rows = @(Compare-ExpectedOutput -Path $actualPath -ExpectedPath $ExpectedPath -IgnorePath $IgnorePath -ErrorAction Stop)
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

try {
    Add-ShouldOperator -Name MatchExpectedOutput -InternalName 'Should-MatchExpectedOutput' -Test ${function:Test-E2EMatchExpectedOutput}
}
catch {
    # Pester refuses a second registration when the module is imported again with -Force; the first one stands.
    Write-Verbose "Should -MatchExpectedOutput was not registered again: $_"
}
