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
# reason, on real clusters); tests tagged 'cluster' need a real cluster and are skipped, with the reason, locally.
# The upstream tensor checks (test_compute_managed/manual, the cluster pair) run through skytorch.torch.Service:
# tensors sent, operated on and read back, compared with the in-process reference (Invoke-E2ETensorOperation
# -Local) and, where $env:E2E_TORCH_PYTHON names a Python with torch, with torch itself. Failed tests save
# diagnostics under $env:E2E_EXPORT_TEST_ARTIFACTS.
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

        It 'suspend and resume: a suspended Compute is unavailable, and its tensors are gone after the resume' {
            $compute = New-E2ECompute -Name 'test-suspend' -Image $Image -Wait -TimeoutSec 300
            $kept = $compute | Send-E2ETensor -Value (1..4) -Shape 2, 2
            $compute | Suspend-E2ECompute
            Wait-E2EResource 'compute/test-suspend' -For 'condition=Suspended' -TimeoutSec 60 | Out-Null
            (Get-E2ECompute -Name 'test-suspend').State | Should -Be 'Suspended'
            { $kept | Receive-E2ETensor -ErrorAction Stop } | Should -Throw -ErrorId 'ComputeUnavailable,*'
            $compute | Resume-E2ECompute -PassThru | Wait-E2ECompute -TimeoutSec 300 | ForEach-Object State | Should -Be 'Ready'
            # The server's process restarted: what it held in memory went with it, as on a real cluster.
            { $kept | Receive-E2ETensor -ErrorAction Stop } | Should -Throw -ErrorId 'TensorNotFound,*'
            $compute | Remove-E2ECompute -Confirm:$false
        }
    }

    Describe 'Tensors on a Compute' -Tag 'local' {
        BeforeAll {
            $compute = New-E2ECompute -Name 'test-tensors' -Image $Image -Wait -TimeoutSec 300
            # Seeded values, as the seed's torch.randn: the same tensors every run.
            $random = [System.Random]::new(42)
            function New-Values([int] $Count) { [double[]] @(foreach ($i in 1..$Count) { [math]::Round($random.NextDouble() * 4 - 2, 6) }) }
            $xValues = New-Values 100; $yValues = New-Values 100
            $x = $compute | Send-E2ETensor -Value $xValues -Shape 10, 10 -DType Float32
            $y = $compute | Send-E2ETensor -Value $yValues -Shape 10, 10 -DType Float32
            # The reference tensors: the values as sent, in float32.
            $xLocal = New-E2ETensor -Value $xValues -Shape 10, 10 -DType Float32
            $yLocal = New-E2ETensor -Value $yValues -Shape 10, 10 -DType Float32
            # torch on CPU, where an interpreter has it: an independent judge of the same operations. All of them in one
            # process, which returns each expression's values by the expression (importing torch takes 1-2 s of CPU).
            function Invoke-Torch([string[]] $Expression) {
                $script = "import json, sys, torch`nx = torch.tensor(json.loads(sys.argv[1]), dtype=torch.float32).reshape(10, 10)`ny = torch.tensor(json.loads(sys.argv[2]), dtype=torch.float32).reshape(10, 10)`nprint(json.dumps([(e).flatten().tolist() for e in [$($Expression -join ', ')]]))"
                $values = & $env:E2E_TORCH_PYTHON -c $script ($xValues | ConvertTo-Json -Compress) ($yValues | ConvertTo-Json -Compress) | ConvertFrom-Json -NoEnumerate
                if ($LASTEXITCODE -ne 0) { throw "torch exited with $LASTEXITCODE." }
                $byExpression = @{}
                for ($i = 0; $i -lt $Expression.Count; $i++) { $byExpression[$Expression[$i]] = $values[$i] }
                $byExpression
            }
        }

        AfterAll {
            $compute | Remove-E2ECompute -Confirm:$false
        }

        It 'sends and reads back a tensor bit for bit, with its shape and type' {
            $x.Shape | Should -Be 10, 10
            $x.DType | Should -Be 'Float32'
            $back = $x | Receive-E2ETensor
            $back.Shape | Should -Be 10, 10
            $back.Values | Should -Be $xLocal.Values
        }

        It 'computes x + y and the 10x10 matmul as the local reference and torch do' {
            $sum = Invoke-E2ETensorOperation -Operation aten::add.Tensor -Argument $x, $y
            $sum.Shape | Should -Be 10, 10
            $sum | Should -BeAllClose -ExpectedValue (Invoke-E2ETensorOperation aten::add.Tensor -Argument $xLocal, $yLocal -Local)
            $product = Invoke-E2ETensorOperation -Operation aten::mm -Argument $x, $y
            $product | Should -BeAllClose -ExpectedValue (Invoke-E2ETensorOperation aten::mm -Argument $xLocal, $yLocal -Local) -RelativeTolerance 1e-5 -AbsoluteTolerance 1e-5
            if ($env:E2E_TORCH_PYTHON) {
                $torch = Invoke-Torch 'x + y', 'x @ y', 'x.sum(dim=1)', 'x / 3', 'y.exp()'
                $sum | Should -BeAllClose -ExpectedValue $torch['x + y']
                $product | Should -BeAllClose -ExpectedValue $torch['x @ y'] -AbsoluteTolerance 1e-5
                (Invoke-E2ETensorOperation aten::sum.dim_IntList -Argument $x -Dim 1) | Should -BeAllClose -ExpectedValue $torch['x.sum(dim=1)'] -AbsoluteTolerance 1e-5
                (Invoke-E2ETensorOperation aten::div.Scalar -Argument $x, 3) | Should -BeAllClose -ExpectedValue $torch['x / 3']
                (Invoke-E2ETensorOperation aten::exp -Argument $y) | Should -BeAllClose -ExpectedValue $torch['y.exp()']
            }
        }

        It 'Should -BeAllClose names the first value that differs, its index and both values' {
            $nudged = [double[]] $xValues.Clone(); $nudged[23] += 0.5
            $failure = { $x | Should -BeAllClose -ExpectedValue (New-E2ETensor $nudged 10, 10) } | Should -Throw -PassThru
            $failure.Exception.Message | Should -Match '1 of 100 values differ; the first at \[2, 3\] \(flat 23\)'
            { $x | Should -Not -BeAllClose -ExpectedValue $xLocal } | Should -Throw -ExpectedMessage '*not to be all close*'
            New-E2ETensor ([double]::NaN) | Should -Not -BeAllClose -ExpectedValue @([double]::NaN)
            New-E2ETensor ([double]::NaN) | Should -BeAllClose -ExpectedValue @([double]::NaN) -EqualNaN
        }

        It 'runs 100x100 operations and a streamed pipeline of them' {
            $big = $compute | Send-E2ETensor -Value (New-Values 10000) -Shape 100, 100
            $bigLocal = $big | Receive-E2ETensor
            $steps = @(
                [pscustomobject]@{ Operation = 'aten::mm'; Argument = @($big, $big) }
                [pscustomobject]@{ Operation = 'aten::mul.Scalar'; Argument = @($big, 2) }
                [pscustomobject]@{ Operation = 'aten::t'; Argument = @($big) }
                [pscustomobject]@{ Operation = 'aten::mean.dim'; Argument = @($big, [long[]] 0) }
            )
            $results = @($steps | Invoke-E2ETensorOperation)
            $results | Should -HaveCount 4
            $results[0] | Should -BeAllClose -ExpectedValue (Invoke-E2ETensorOperation aten::mm -Argument $bigLocal, $bigLocal -Local) -AbsoluteTolerance 1e-4
            $results[1] | Should -BeAllClose -ExpectedValue (Invoke-E2ETensorOperation aten::mul.Scalar -Argument $bigLocal, 2 -Local)
            $results[2].Shape | Should -Be 100, 100
            ($results[2] | Receive-E2ETensor).Values[1] | Should -Be $bigLocal.Values[100]
            $results[3].Shape | Should -Be @(100)
        }

        It 'names shape errors, unknown operations and removed tensors by their ids' {
            $row = $compute | Send-E2ETensor -Value (1..3) -Shape 1, 3
            { Invoke-E2ETensorOperation aten::mm -Argument $x, $row -ErrorAction Stop } | Should -Throw -ErrorId 'TensorShapeMismatch,*'
            { Invoke-E2ETensorOperation aten::add.Tensor -Argument $x, $row -ErrorAction Stop } | Should -Throw -ErrorId 'TensorShapeMismatch,*'
            { Invoke-E2ETensorOperation aten::no_such_op -Argument $x -ErrorAction Stop } | Should -Throw -ErrorId 'UnknownTensorOperation,*'
            { $compute | Send-E2ETensor -Value (1..5) -Shape 2, 2 -ErrorAction Stop } | Should -Throw -ErrorId 'TensorShapeMismatch,*'
            $row | Remove-E2ETensor
            { $row | Receive-E2ETensor -ErrorAction Stop } | Should -Throw -ErrorId 'TensorNotFound,*'
        }

        It 'round-trips a 64 MB tensor bit for bit' {
            $count = 16MB  # float32: 64 MB
            # 65,536 distinct values, tiled: a shifted or reordered chunk would not compare equal.
            $pattern = [double[]] @(foreach ($i in 0..65535) { ($i * 7919 % 65536) / 7.0 })
            $values = [double[]]::new($count)
            for ($offset = 0; $offset -lt $count; $offset += $pattern.Count) { [Array]::Copy($pattern, 0, $values, $offset, $pattern.Count) }
            $values[$count - 1] = -1.5
            $large = $compute | Send-E2ETensor -Value $values -Shape 4096, 4096 -DType Float32
            $large.DType | Should -Be Float32
            $back = $large | Receive-E2ETensor
            $back.Values.Count | Should -Be $count
            $expected = New-E2ETensor -Value $values -Shape 4096, 4096 -DType Float32
            [System.Linq.Enumerable]::SequenceEqual([double[]] $back.Values, [double[]] $expected.Values) | Should -BeTrue
            $large | Remove-E2ETensor
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

        It 'a pair computes: add on one, multiply on the other, and operations on both at once' {
            $pair = New-E2ECompute -Name 'math-a', 'math-b' -Image $Image -Wait -TimeoutSec 300
            $random = [System.Random]::new(7)
            $values = { param($n) [double[]] @(foreach ($i in 1..$n) { [math]::Round($random.NextDouble() * 2 - 1, 6) }) }
            $a = & $values 100; $b = & $values 100
            $onA = $pair[0] | Send-E2ETensor -Value $a -Shape 10, 10
            $onB = $pair[1] | Send-E2ETensor -Value $b -Shape 10, 10
            $aLocal = New-E2ETensor $a 10, 10; $bLocal = New-E2ETensor $b 10, 10
            Invoke-E2ETensorOperation aten::add.Tensor -Argument $onA, $onA | Should -BeAllClose -ExpectedValue (Invoke-E2ETensorOperation aten::add.Tensor -Argument $aLocal, $aLocal -Local)
            Invoke-E2ETensorOperation aten::mul.Tensor -Argument $onB, $onB | Should -BeAllClose -ExpectedValue (Invoke-E2ETensorOperation aten::mul.Tensor -Argument $bLocal, $bLocal -Local)
            { Invoke-E2ETensorOperation aten::add.Tensor -Argument $onA, $onB -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,*'

            # In parallel, as upstream's cluster test: 100x100 doubled on one, 50x50 @ its transpose on the other.
            $big = $pair[0] | Send-E2ETensor -Value (& $values 10000) -Shape 100, 100
            $square = $pair[1] | Send-E2ETensor -Value (& $values 2500) -Shape 50, 50
            $squareT = Invoke-E2ETensorOperation aten::t -Argument $square
            # Piped operations for two Computes go to both at once, each Compute's in one stream.
            $doubled, $gram = @(
                [pscustomobject]@{ Operation = 'aten::mul.Scalar'; Argument = @($big, 2) }
                [pscustomobject]@{ Operation = 'aten::mm'; Argument = @($square, $squareT) }
            ) | Invoke-E2ETensorOperation
            $doubled.Compute | Should -Be "$($pair[0].Namespace)/math-a"
            $gram.Shape | Should -Be 50, 50
            $bigLocal = $big | Receive-E2ETensor
            $squareLocal = $square | Receive-E2ETensor
            $doubled | Should -BeAllClose -ExpectedValue (Invoke-E2ETensorOperation aten::mul.Scalar -Argument $bigLocal, 2 -Local)
            $gram | Should -BeAllClose -ExpectedValue (Invoke-E2ETensorOperation aten::mm -Argument $squareLocal, (Invoke-E2ETensorOperation aten::t -Argument $squareLocal -Local) -Local) -AbsoluteTolerance 1e-5
            $pair | Remove-E2ECompute -Confirm:$false
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
