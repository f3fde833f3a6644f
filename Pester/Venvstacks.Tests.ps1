#Requires -Version 7.4
# Venvstacks: committed lock files and artifact metadata compared with freshly generated ones, reviewed
# changes flagged, expected output updated with a recorded reason, artifacts exported when a test fails,
# and (tag 'slow') the real sample project built and checked for reproducibility.
#
# Container data:
#   ModulePath         the built module (default: out/E2E/E2E.psd1)
#   FixturePath        committed venvstacks outputs (default: Pester/TestData/venvstacks)
#   VenvstacksProject  a venvstacks checkout's tests/sample_project, for the 'slow' tests
#   Platform           the expected-manifest platform to compare (default: linux_x86_64)
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '..' 'out' 'E2E' 'E2E.psd1'),
    [string] $FixturePath = (Join-Path $PSScriptRoot 'TestData' 'venvstacks'),
    [string] $VenvstacksProject = '',
    [string] $Platform = 'linux_x86_64'
)

BeforeAll {
    Import-Module $ModulePath -Force -ErrorAction Stop
    $suiteScope = New-E2EScope -Name 'venvstacks' -Label @{ suite = 'venvstacks' }

    # A fresh copy of the committed outputs: requirements/ and expected_manifests/<platform>/.
    function New-SampleCopy {
        param(
            [Parameter(Mandatory)]
            [string] $Prefix
        )
        $target = New-E2ETempDirectory -Prefix $Prefix
        Copy-Item -Path (Join-Path $FixturePath 'sample_project' 'requirements') -Destination $target.FullName -Recurse
        $manifests = New-Item -ItemType Directory -Path (Join-Path $target.FullName 'expected_manifests')
        Copy-Item -Path (Join-Path $FixturePath 'sample_project' 'expected_manifests' $Platform) -Destination $manifests.FullName -Recurse
        $target.FullName
    }

    function Edit-SampleFile {
        param(
            [Parameter(Mandatory)]
            [string] $Path,
            [Parameter(Mandatory)]
            [string] $Find,
            [string] $Replace = ''
        )
        $text = [System.IO.File]::ReadAllText($Path)
        if (-not $text.Contains($Find)) {
            throw "'$Find' is not in '$Path'"
        }
        [System.IO.File]::WriteAllText($Path, $text.Replace($Find, $Replace))
    }
}

AfterAll {
    Remove-E2EScope -Scope $suiteScope
}

Describe 'Committed expected output' -Tag 'local', 'expected_output' {
    BeforeAll {
        $expected = New-SampleCopy -Prefix 'expected'
        $actual = New-SampleCopy -Prefix 'actual'
    }

    AfterEach {
        Export-E2EArtifact -Path $actual -Suite 'Venvstacks'      # only for a failed test, in a folder named after it
    }

    It 'compares unchanged copies as Equal' {
        Compare-ExpectedOutput -Path $actual -ExpectedPath $expected -Quiet | Should -BeTrue
        $actual | Should -MatchExpectedOutput -ExpectedPath $expected
    }

    It 'compares lock files and metadata structurally and summaries as text' {
        $rows = Compare-ExpectedOutput -Path $actual -ExpectedPath $expected
        @($rows | Where-Object Kind -eq 'Toml').Count | Should -BeGreaterThan 5
        @($rows | Where-Object Kind -eq 'Json').Count | Should -BeGreaterThan 5
        @($rows | Where-Object Kind -eq 'Text').Count | Should -BeGreaterThan 5
    }
}

Describe 'Reviewed changes' -Tag 'local', 'expected_output' {
    BeforeAll {
        $expected = New-SampleCopy -Prefix 'expected'
        $actual = New-SampleCopy -Prefix 'actual'
        $configDir = New-E2ETempDirectory -Prefix 'config'
        $config = Join-Path $configDir.FullName 'expected-output-config.toml'
        Copy-Item -Path (Join-Path $FixturePath 'expected-output-config.toml') -Destination $config

        $scipyLock = 'requirements/framework-scipy/pylock.framework-scipy.toml'
        $scipyMeta = "expected_manifests/$Platform/env_metadata/framework-scipy.json"
        $importLock = 'requirements/app-scipy-import/pylock.app-scipy-import.toml'

        # A relocked package, an archive that grew by a third, and numpy moved out of its lower layer.
        Edit-SampleFile -Path (Join-Path $actual $scipyLock) -Find 'version = "1.16.1"' -Replace 'version = "1.16.2"'
        Edit-SampleFile -Path (Join-Path $actual $scipyMeta) -Find '"archive_size": 22401800' -Replace '"archive_size": 30000000'
        Edit-SampleFile -Path (Join-Path $actual $importLock) `
            -Find "name = `"numpy`"`nversion = `"2.3.2`"`nmarker = `"sys_platform == 'from_lower_layer'`"`n" `
            -Replace "name = `"numpy`"`nversion = `"2.3.2`"`n"

        $changed = @(Compare-ExpectedOutput -Path $actual -ExpectedPath $expected | Where-Object Status -ne 'Equal')
    }

    AfterEach {
        Export-E2EArtifact -Path $actual, $expected -Suite 'Venvstacks'
    }

    It 'reports exactly the three changed files' {
        $changed.Path | Should -Be @($scipyMeta, $importLock, $scipyLock)
        $changed.Status | Should -Be @('Changed', 'Changed', 'Changed')
    }

    It 'names the relocked package by its path in the lock' {
        $lock = $changed | Where-Object Path -eq $scipyLock
        $lock.Differences.Path | Should -Be 'packages[1].version'
        $lock.Differences.Actual | Should -Be '"1.16.2"'
    }

    It 'warns that the archive grew by more than 20%' {
        ($changed | Where-Object Path -eq $scipyMeta).Warnings.Code | Should -Be 'ArchiveSizeChanged'
    }

    It 'warns that numpy moved out of a lower layer' {
        $warning = ($changed | Where-Object Path -eq $importLock).Warnings
        $warning.Code | Should -Be 'PackageLayerChanged'
        $warning.Message | Should -BeLike "*'numpy' moved out of a lower layer*"
    }

    It 'passes a dry-run comparison that leaves out archive-only keys' {
        $manifests = 'expected_manifests'
        Compare-ExpectedOutput -Path (Join-Path $actual $manifests) -ExpectedPath (Join-Path $expected $manifests) -IgnorePath 'archive_size', 'archive_hashes' -Quiet |
            Should -BeTrue
    }

    It 'writes nothing under -WhatIf' {
        Update-ExpectedOutput -Path $actual -ExpectedPath $expected -Reason 'scipy 1.16.2 relock' -ConfigPath $config -WhatIf
        Compare-ExpectedOutput -Path $actual -ExpectedPath $expected -Quiet | Should -BeFalse
    }

    It 'updates the expected output and records the reason' {
        $written = Update-ExpectedOutput -Path $actual -ExpectedPath $expected -Reason 'scipy 1.16.2 relock' -ConfigPath $config -PassThru
        $written | Should -HaveCount 3
        $actual | Should -MatchExpectedOutput -ExpectedPath $expected
        Get-Content -Path $config -Raw | Should -Match '# Last requested update: scipy 1\.16\.2 relock \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)'
        Get-Content -Path $config -Raw | Should -Match 'pbs-installer="2025\.8\.27"'
    }

    It 'rejects a reason of more than one line' {
        { Update-ExpectedOutput -Path $actual -ExpectedPath $expected -Reason "one`ntwo" -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidReason,*'
    }
}

Describe 'Real build of the sample project' -Tag 'slow', 'expected_output' {
    BeforeAll {
        $spec = if ($VenvstacksProject) { Join-Path $VenvstacksProject 'venvstacks.toml' } else { '' }
        $canBuild = [bool](Get-Command -Name 'venvstacks' -ErrorAction Ignore) -and $spec -and (Test-Path -LiteralPath $spec)
        $skipReason = 'needs venvstacks on PATH and -Data @{ VenvstacksProject = <venvstacks checkout>/tests/sample_project }'
    }

    It 'publishes artifact metadata that matches the committed manifests' {
        if (-not $canBuild) {
            Set-ItResult -Skipped -Because $skipReason
            return
        }
        $out = New-E2ETempDirectory -Prefix 'venvstacks-build'
        & venvstacks build --publish $spec $out.FullName
        $LASTEXITCODE | Should -Be 0
        Join-Path $out.FullName '__venvstacks__' | Should -MatchExpectedOutput -ExpectedPath (Join-Path $VenvstacksProject 'expected_manifests' $Platform)
    }

    It 'builds the same archives twice' {
        if (-not $canBuild) {
            Set-ItResult -Skipped -Because $skipReason
            return
        }
        $report = Test-E2EReproducible -ScriptBlock {
            param($OutputDirectory)
            & venvstacks build --publish $spec $OutputDirectory
        }
        $report.Reproducible | Should -BeTrue -Because ($report.Differences | ForEach-Object { "$($_.Path): $($_.Summary)" } | Out-String)
    }
}
