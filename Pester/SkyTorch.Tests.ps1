#Requires -Version 7.4
# SkyTorch: Compute resources on a cluster with the SkyTorch operator and Gateway API. The upstream compute,
# cluster and init scenarios (managed, manual, events, resource status, parallel pair, namespace from the
# kubeconfig), plus the failures a suite must report well (never Ready, crash loop, deletion held by a finalizer).
#
# Container data:
#   ModulePath   the built module (default: out/E2E/E2E.psd1)
#   Provider     Local (default: in-process API server, simulated operator and Gateway), Kind or Existing;
#                $env:E2E_CLUSTER_PROVIDER when set
#   KindConfig   the kind configuration for -Provider Kind (SkyTorch's tests/e2e/kind.yaml)
#   Context      the kubeconfig context for -Provider Existing
#   Image        the server image (default: $env:SKYTORCH_TEST_IMAGE, else ghcr.io/astefanutti/skytorch-server)
#   ManifestPath SkyTorch's config/e2e folder, applied with -Kustomize on real clusters (the operator,
#                CRD, Gateway); the local cluster has them built in
# Tests tagged 'local' run on the local cluster and on real ones (the simulated failures are skipped, with the
# reason, on real clusters); tests tagged 'cluster' need a real cluster and are skipped, with the reason, locally. The upstream tensor-operation checks (x+y, matmul on the sky device) are not
# here: the module has no client for the skytorch.torch protocol yet. Failed tests save diagnostics under $env:E2E_EXPORT_TEST_ARTIFACTS.
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '..' 'out' 'E2E' 'E2E.psd1'),
    [string] $Provider = $(if ($env:E2E_CLUSTER_PROVIDER) { $env:E2E_CLUSTER_PROVIDER } else { 'Local' }),
    [string] $KindConfig = '',
    [string] $Context = '',
    [string] $Image = $(if ($env:SKYTORCH_TEST_IMAGE) { $env:SKYTORCH_TEST_IMAGE } else { 'ghcr.io/astefanutti/skytorch-server' }),
    [string] $ManifestPath = ''
)

# One Describe around everything: real Pester refuses AfterEach at the root of a file.
Describe 'SkyTorch' {
    BeforeAll {
        Import-Module $ModulePath -Force -ErrorAction Stop
        $suiteScope = New-E2EScope -Name 'skytorch' -Label @{ suite = 'skytorch' }
        $clusterArguments = @{ Name = 'skytorch'; Provider = $Provider }
        if ($Provider -eq 'Kind' -and $KindConfig) { $clusterArguments.Config = $KindConfig }
        if ($Provider -eq 'Existing' -and $Context) { $clusterArguments.Context = $Context }
        $cluster = New-E2ECluster @clusterArguments
        if ($ManifestPath -and $cluster.Provider -ne 'Local') {
            Install-E2EManifest -Path $ManifestPath -Kustomize | Out-Null
        }
        Wait-E2EResource 'deployment/skytorch-operator' -Namespace 'skytorch-system' -For 'condition=Available' -TimeoutSec 60 | Out-Null
        Wait-E2EResource 'gateway/skytorch-gateway' -Namespace 'skytorch-system' -For 'condition=Programmed' -TimeoutSec 60 | Out-Null
        $isLocal = $cluster.Provider -eq 'Local'
        $simulationReason = 'failure behaviours are simulated on the local cluster only'
    }

    AfterEach {
        # The failure hook: diagnostics for the namespace, saved only when the test failed.
        Get-E2EDiagnostic -Namespace $cluster.Namespace -Suite 'skytorch' -OnFailure | Out-Null
    }

    AfterAll {
        Remove-E2EScope -Scope $suiteScope
    }

    Describe 'Compute' -Tag 'local' {
        It 'managed: created, Ready, serving through the Gateway, deleted and then not ready' {
            $compute = New-E2ECompute -Name 'test-managed' -Image $Image -Wait -TimeoutSec 300
            $compute.Name | Should -Be 'test-managed'
            $compute.State | Should -Be 'Ready'
            $compute | Test-E2ECompute -Quiet | Should -BeTrue
            $compute | Remove-E2ECompute -Confirm:$false
            { Get-E2ECompute -Name 'test-managed' -ErrorAction Stop } | Should -Throw -ErrorId 'KubeResourceNotFound,*'
            (Get-E2EComputeEndpoint -Name 'test-managed' -ErrorAction SilentlyContinue) | Should -BeNullOrEmpty
        }

        It 'manual: ready within the timeout, then deleted' {
            New-E2ECompute -Name 'test-manual' -Image $Image | Out-Null
            $ready = Wait-E2ECompute -Name 'test-manual' -TimeoutSec 300
            $ready.Ready | Should -BeTrue
            Remove-E2ECompute -Name 'test-manual' -Confirm:$false
            @(Get-E2ECompute | Where-Object Name -EQ 'test-manual').Count | Should -Be 0
        }

        It 'events: the pod''s events are visible' {
            New-E2ECompute -Name 'test-events' -Image $Image -Wait -TimeoutSec 300 | Out-Null
            $events = Get-E2ECompute -Name 'test-events' | Get-E2EEvent
            @($events | Where-Object { $_.ObjectKind -eq 'Pod' -and $_.ObjectName -eq 'test-events-0' }).Count | Should -BeGreaterThan 0
            @($events | Where-Object Reason -In 'Scheduled', 'Started').Count | Should -BeGreaterThan 0
            Remove-E2ECompute -Name 'test-events' -Confirm:$false
        }

        It 'resource: metadata and status are present and Ready is True' {
            $compute = New-E2ECompute -Name 'test-resource' -Image $Image -Wait -TimeoutSec 300
            $json = $compute.Json | ConvertFrom-Json
            $json.metadata.name | Should -Be 'test-resource'
            $json.status | Should -Not -BeNullOrEmpty
            ($json.status.conditions | Where-Object type -EQ 'Ready').status | Should -Be 'True'
            $endpoint = $compute | Get-E2EComputeEndpoint
            $endpoint.Metadata['compute-id'] | Should -Be "$($compute.Namespace)/test-resource"
            $compute | Remove-E2ECompute -Confirm:$false
        }

        It 'suspend and resume' {
            $compute = New-E2ECompute -Name 'test-suspend' -Image $Image -Wait -TimeoutSec 300
            $compute | Suspend-E2ECompute
            Wait-E2EResource 'compute/test-suspend' -For 'condition=Suspended' -TimeoutSec 60 | Out-Null
            (Get-E2ECompute -Name 'test-suspend').State | Should -Be 'Suspended'
            $compute | Resume-E2ECompute -PassThru | Wait-E2ECompute -TimeoutSec 300 | ForEach-Object State | Should -Be 'Ready'
            $compute | Remove-E2ECompute -Confirm:$false
        }
    }

    Describe 'Cluster of computes' -Tag 'local' {
        It 'managed pair: both Ready in parallel, both serving, both removed' {
            $pair = New-E2ECompute -Name 'pair-a', 'pair-b' -Image $Image -Wait -TimeoutSec 300
            @($pair).Count | Should -Be 2
            @($pair | Test-E2ECompute -Quiet) | Should -Be @($true, $true)
            $pair | Remove-E2ECompute -Confirm:$false
            @(Get-E2ECompute | Where-Object Name -Like 'pair-*').Count | Should -Be 0
        }

        It 'manual pair: created, waited together, deleted together' {
            New-E2ECompute -Name 'manual-a', 'manual-b' -Image $Image | Out-Null
            $ready = Wait-E2ECompute -Name 'manual-a', 'manual-b' -TimeoutSec 300
            @($ready | Where-Object Ready).Count | Should -Be 2
            Remove-E2ECompute -Name 'manual-a', 'manual-b' -Confirm:$false
        }

        It 'a failing member is reported with the others still done' {
            if (-not $isLocal) { Set-ItResult -Skipped -Because $simulationReason }
            New-E2ECompute -Name 'member-ok' -Image $Image | Out-Null
            New-E2ECompute -Name 'member-stuck' -Image $Image -Simulate NeverReady | Out-Null
            $errors = $null
            $ready = Wait-E2ECompute -Name 'member-ok', 'member-stuck' -TimeoutSec 3 -ErrorVariable errors -ErrorAction SilentlyContinue
            @($ready).Count | Should -Be 1
            $errors[0].FullyQualifiedErrorId | Should -BeLike 'ComputeNotReady,*'
            Remove-E2ECompute -Name 'member-ok', 'member-stuck' -Confirm:$false
        }
    }

    Describe 'Init' -Tag 'local' {
        It 'takes the namespace from the kubeconfig context' {
            $cluster.Namespace | Should -Be 'default'
            $cluster.KubeconfigPath | Should -Exist
        }

        It 'connects to the same cluster through its kubeconfig as an existing cluster' {
            if (-not $isLocal) { Set-ItResult -Skipped -Because 'the kubeconfig of a real cluster may name a context the guard refuses' }
            $again = New-E2ECluster -Provider Existing -Kubeconfig $cluster.KubeconfigPath
            $again.Server | Should -Be $cluster.Server
            $again | Remove-E2ECluster -Confirm:$false
        }

        It 'refuses a second cluster with the same name' {
            { New-E2ECluster -Name 'skytorch' -Provider $Provider -ErrorAction Stop } | Should -Throw -ErrorId 'ResourceBusy,*'
        }
    }

    Describe 'Real cluster' -Tag 'cluster' {
        It 'loads the locally built server image into kind' {
            if ($cluster.Provider -ne 'Kind') { Set-ItResult -Skipped -Because 'needs -Provider Kind and a Docker engine holding the image' }
            Import-E2EImage -Image $Image
        }

        It 'the kubelet reports the server pod Ready through its gRPC readiness probe' {
            if ($isLocal) { Set-ItResult -Skipped -Because 'pod readiness is simulated on the local cluster; this needs a real kubelet running the server image' }
            New-E2ECompute -Name 'test-probe' -Image $Image -Wait -TimeoutSec 300 | Out-Null
            (Wait-E2EResource 'pod/test-probe-0' -For 'condition=Ready' -TimeoutSec 60).Name | Should -Be 'test-probe-0'
            Remove-E2ECompute -Name 'test-probe' -Confirm:$false
        }
    }

    Describe 'Failures are reported with their cause' -Tag 'local' {
        It 'a compute that never becomes Ready times out with its conditions and events' {
            if (-not $isLocal) { Set-ItResult -Skipped -Because $simulationReason }
            { New-E2ECompute -Name 'never-ready' -Image $Image -Simulate NeverReady -Wait -TimeoutSec 2 -ErrorAction Stop } |
                Should -Throw -ErrorId 'ComputeNotReady,*' -ExpectedMessage '*Readiness probe failed*'
            Remove-E2ECompute -Name 'never-ready' -Confirm:$false
        }

        It 'a crash loop is diagnosed with the previous container log' {
            if (-not $isLocal) { Set-ItResult -Skipped -Because $simulationReason }
            New-E2ECompute -Name 'crash-loop' -Image $Image -Simulate CrashLoop | Out-Null
            Wait-E2EResource 'pod/crash-loop-0' -For 'jsonpath={.status.containerStatuses[0].restartCount}=3' -TimeoutSec 30 | Out-Null
            $report = Get-E2ECompute -Name 'crash-loop' | Get-E2EDiagnostic -OutputPath (New-E2ETempDirectory -Prefix 'crash').FullName
            $report.Causes -join "`n" | Should -Match 'CrashLoopBackOff'
            $report.Files['logs/crash-loop-0-server.previous.log'] | Should -Match 'ImportError'
            Remove-E2ECompute -Name 'crash-loop' -Confirm:$false
        }

        It 'a deletion held by a finalizer names the finalizer' {
            if (-not $isLocal) { Set-ItResult -Skipped -Because $simulationReason }
            New-E2ECompute -Name 'held' -Image $Image -Simulate HoldFinalizer | Out-Null
            Wait-E2EResource 'compute/held' -For 'jsonpath={.metadata.finalizers[0]}' -TimeoutSec 30 | Out-Null
            { Remove-E2ECompute -Name 'held' -TimeoutSec 1 -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'DeletionBlocked,*' -ExpectedMessage '*compute.skytorch.dev/simulated-hold*'
            Remove-E2ECompute -Name 'held' -TimeoutSec 10 -RemoveFinalizers -Confirm:$false
            @(Get-E2ECompute | Where-Object Name -EQ 'held').Count | Should -Be 0
        }

        It 'waits ride out an API server restart and load shedding' {
            if (-not $isLocal) { Set-ItResult -Skipped -Because 'faults are injected into the local API server only' }
            New-E2ECompute -Name 'weathered' -Image $Image | Out-Null
            $cluster.FakeServer.Restart([TimeSpan]::FromMilliseconds(100))
            $cluster.FakeServer.FailNext(3, 429, [TimeSpan]::FromMilliseconds(200))
            (Wait-E2ECompute -Name 'weathered' -TimeoutSec 30).State | Should -Be 'Ready'
            Remove-E2ECompute -Name 'weathered' -Confirm:$false
        }

        It 'an invalid name is refused before anything is sent' {
            { New-E2ECompute -Name 'Not_A_Label' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidName,*'
            { New-E2ECompute -Name 'labelled' -Label @{ 'not a key!' = 'x' } -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidLabel,*'
            @(Get-E2ECompute | Where-Object Name -In 'x', 'labelled').Count | Should -Be 0
        }
    }
}
