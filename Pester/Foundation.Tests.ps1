#Requires -Version 7.4
# The foundation every suite stands on: cleanup scopes, waits and artifact export.
# Runs anywhere (tag 'local'): no cluster, no network, no GPU.
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '..' 'out' 'E2E' 'E2E.psd1')
)

BeforeAll {
    Import-Module $ModulePath -Force -ErrorAction Stop
}

Describe 'Cleanup scopes' -Tag 'local' {
    BeforeAll {
        $suiteScope = New-E2EScope -Name 'foundation' -Label @{ suite = 'foundation' }
    }

    AfterAll {
        Remove-E2EScope -Scope $suiteScope
    }

    It 'gives each scope a run id, labels and an expiry' {
        $suiteScope.Id | Should -Match '^e2e-[0-9a-f]{10}$'
        $suiteScope.ResourceLabels['e2e.dev/run-id'] | Should -Be $suiteScope.Id
        $suiteScope.ResourceLabels['suite'] | Should -Be 'foundation'
        $suiteScope.ExpiresAt | Should -BeGreaterThan $suiteScope.CreatedAt
    }

    It 'runs undo actions last first, keeps going past a failure and reports it with its id' {
        $scope = New-E2EScope -Name 'reverse-order'
        $order = [System.Collections.Generic.List[string]]::new()
        Register-E2ECleanup -Scope $scope -Name 'first' -ScriptBlock { $order.Add('first') }
        Register-E2ECleanup -Scope $scope -Name 'second' -ScriptBlock { throw 'second fails on purpose' }
        Register-E2ECleanup -Scope $scope -Name 'third' -ScriptBlock { $order.Add('third') }

        Remove-E2EScope -Scope $scope -ErrorVariable cleanupErrors -ErrorAction SilentlyContinue

        $order | Should -Be @('third', 'first')
        $cleanupErrors | Should -HaveCount 1
        $cleanupErrors[0].FullyQualifiedErrorId | Should -BeLike 'ScopeCleanupFailed,*'
        $cleanupErrors[0].TargetObject.Description | Should -Be 'second'
        $scope.State | Should -Be 'Removed'
    }

    It 'makes a failed undo a terminating error under -ErrorAction Stop' {
        $scope = New-E2EScope
        Register-E2ECleanup -Scope $scope -Name 'bad' -ScriptBlock { throw 'nope' }
        { Remove-E2EScope -Scope $scope -ErrorAction Stop } | Should -Throw -ErrorId 'ScopeCleanupFailed,*'
    }

    It 'does nothing when a scope is removed twice' {
        $scope = New-E2EScope
        Remove-E2EScope -Scope $scope
        { Remove-E2EScope -Scope $scope -ErrorAction Stop } | Should -Not -Throw
        (Remove-E2EScope -Scope $scope -PassThru).AlreadyRemoved | Should -BeTrue
    }

    It 'reports an unknown scope id as ScopeNotFound' {
        { Remove-E2EScope -Id 'e2e-0000000000' -ErrorAction Stop } | Should -Throw -ErrorId 'ScopeNotFound,*'
    }

    It 'deletes temporary directories with their scope' {
        $scope = New-E2EScope
        $dir = New-E2ETempDirectory -Prefix 'work' -Scope $scope
        Set-Content -Path (Join-Path $dir.FullName 'data.txt') -Value 'x'
        $dir.FullName | Should -Exist
        Remove-E2EScope -Scope $scope
        $dir.FullName | Should -Not -Exist
    }
}

Describe 'Waiting' -Tag 'local' {
    It 'returns as soon as the condition holds' {
        $script:probes = 0
        $result = Wait-E2ECondition { $script:probes++; $script:probes -ge 3 } -IntervalSec 0.01 -TimeoutSec 10 -PassThru
        $result.Attempts | Should -Be 3
    }

    It 'times out with WaitTimedOut and the last observed state' {
        $thrown = $null
        try {
            Wait-E2ECondition { 'phase=Pending'; $false } -TimeoutSec 0.3 -IntervalSec 0.05 -Description 'the pod' -ErrorAction Stop
        }
        catch {
            $thrown = $_
        }
        $thrown.FullyQualifiedErrorId | Should -BeLike 'WaitTimedOut,*'
        $thrown.CategoryInfo.Category | Should -Be 'OperationTimeout'
        $thrown.Exception.Message | Should -BeLike '*Last observed: phase=Pending; False'
    }

    It 'rejects a negative timeout with InvalidTimeout' {
        { Wait-E2ECondition { $true } -TimeoutSec -1 -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidTimeout,*'
    }
}

Describe 'Artifact export' -Tag 'local' {
    BeforeAll {
        $exportScope = New-E2EScope -Name 'artifacts'
        $exportRoot = New-E2ETempDirectory -Prefix 'export' -Scope $exportScope
        $source = New-E2ETempDirectory -Prefix 'source' -Scope $exportScope
        Set-Content -Path (Join-Path $source.FullName 'run.log') -Value 'log line'
        $savedExport = $env:E2E_EXPORT_TEST_ARTIFACTS
        $savedForce = $env:E2E_FORCE_TEST_EXPORT
    }

    AfterAll {
        $env:E2E_EXPORT_TEST_ARTIFACTS = $savedExport
        $env:E2E_FORCE_TEST_EXPORT = $savedForce
        Remove-E2EScope -Scope $exportScope
    }

    BeforeEach {
        $env:E2E_EXPORT_TEST_ARTIFACTS = $exportRoot.FullName
        $env:E2E_FORCE_TEST_EXPORT = ''
    }

    It 'exports a failed test''s files under suite and test' {
        $result = Export-E2EArtifact -Path (Join-Path $source.FullName 'run.log') -Suite 'Foundation' -Test 'fails' -Failed -PassThru
        $result.Status | Should -Be 'Exported'
        Join-Path $exportRoot.FullName 'Foundation' 'fails' 'run.log' | Should -Exist
    }

    It 'skips a passed test unless export is forced' {
        (Export-E2EArtifact -Path $source.FullName -Suite 'Foundation' -Test 'passes' -PassThru).Status | Should -Be 'SkippedTestPassed'
        $env:E2E_FORCE_TEST_EXPORT = '1'
        (Get-ChildItem -Path $source.FullName | Export-E2EArtifact -Suite 'Foundation' -Test 'forced' -PassThru).Status | Should -Be 'Exported'
    }

    It 'warns, without failing, when the export directory is missing' {
        $env:E2E_EXPORT_TEST_ARTIFACTS = Join-Path $exportRoot.FullName 'absent'
        Export-E2EArtifact -Path $source.FullName -Suite 'Foundation' -Test 'missing' -Failed -WarningVariable warnings -WarningAction SilentlyContinue
        $warnings | Should -HaveCount 1
        "$($warnings[0])" | Should -BeLike '`[ArtifactExportDirMissing`]*'
    }
}
