#Requires -Version 7.4
# Plumise Petals. Part 1: metrics collection on a node, signed Oracle reports in both formats against a
# verifying mock Oracle, and agent registration and heartbeats on a real local chain (ganache).
# Part 2: the seed's multi-node pipeline with real node processes (blocks 0-11 and 12-23) whose output is
# checked against a single-process run, concurrent requests, every node's reports verified by the mock
# Oracle, registration and heartbeats of each node, a node killed mid-generation and its replica taking
# over, and upstream's docker-compose stack (mock Oracle and two nodes) run as local processes beside an
# override file (tag docker: the same stack on a real Docker engine, with images tools/images/Build-TestImages.ps1
# builds, and two nodes in containers reporting to a mock Oracle on this host).
#
# Container data:
#   ModulePath      the built module (default: out/E2E/E2E.psd1)
#   NodeKey         node A's key (default: the upstream test key 0xab..ab)
#   OtherNodeKey    node B's key (default: 0xbb..bb)
#   VectorKey       the key of the upstream chain vectors (default: 0x1234..cdef)
#   RpcUrl          a running chain to use instead of starting ganache (default: start one)
# The keys are upstream's public test keys; they reach cmdlets only through environment variables.
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '..' 'out' 'E2E' 'E2E.psd1'),
    [string] $NodeKey = ('0x' + ('ab' * 32)),
    [string] $OtherNodeKey = ('0x' + ('bb' * 32)),
    [string] $VectorKey = ('0x' + ('1234567890abcdef' * 4)),
    [string] $RpcUrl = ''
)

BeforeAll {
    Import-Module $ModulePath -Force -ErrorAction Stop
    $suiteScope = New-E2EScope -Name 'plumise-petals' -Label @{ suite = 'plumise-petals' }
    $env:E2E_PETALS_NODE_A_KEY = $NodeKey
    $env:E2E_PETALS_NODE_B_KEY = $OtherNodeKey
    $env:E2E_PETALS_VECTOR_KEY = $VectorKey
    # The seed's swarm keys (docker-compose.test.yml and the multi-node tests): 0xaa..aa and 0xbb..bb.
    $env:E2E_PETALS_SWARM_A_KEY = '0x' + ('aa' * 32)
    $env:E2E_PETALS_SWARM_B_KEY = '0x' + ('bb' * 32)
    Register-E2ECleanup -Name 'test key variables' -ScriptBlock {
        $env:E2E_PETALS_NODE_A_KEY = $null
        $env:E2E_PETALS_NODE_B_KEY = $null
        $env:E2E_PETALS_VECTOR_KEY = $null
        $env:E2E_PETALS_SWARM_A_KEY = $null
        $env:E2E_PETALS_SWARM_B_KEY = $null
    }
    $nodeA = (Get-E2EAccount -PrivateKeyVariable E2E_PETALS_NODE_A_KEY).Address.ToString()
    $nodeB = (Get-E2EAccount -PrivateKeyVariable E2E_PETALS_NODE_B_KEY).Address.ToString()
    $swarmA = (Get-E2EAccount -PrivateKeyVariable E2E_PETALS_SWARM_A_KEY).Address.ToString()
    $swarmB = (Get-E2EAccount -PrivateKeyVariable E2E_PETALS_SWARM_B_KEY).Address.ToString()
    # Every node process and port part 2 used, for the check that nothing is left behind.
    $script:nodePids = [System.Collections.Generic.List[int]]::new()
    $script:nodePorts = [System.Collections.Generic.List[int]]::new()

    function Test-PortOpen([int] $Port) {
        $client = [System.Net.Sockets.TcpClient]::new()
        try { $client.Connect('127.0.0.1', $Port); $true } catch { $false } finally { $client.Dispose() }
    }

    function Get-FreePort {
        $probe = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
        $probe.Start()
        try { $probe.LocalEndpoint.Port } finally { $probe.Stop() }
    }

    # The mock Oracle's log once it names both swarm agents (run_e2e.sh step 7 greps it), or at the timeout.
    function Wait-ReportsOfBothSwarmNodes($Stack, [int] $TimeoutSec) {
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
        do {
            Start-Sleep -Milliseconds 250
            $log = Get-E2EServiceLog -Stack $Stack -Service mock-oracle
        } while (-not (($log -match [regex]::Escape($swarmA)) -and ($log -match [regex]::Escape($swarmB))) -and [DateTime]::UtcNow -lt $deadline)
        $log
    }

    function Add-NodeForLeakCheck([Parameter(ValueFromPipeline)] $Node) {
        process {
            if ($Node.ProcessId) { $script:nodePids.Add($Node.ProcessId) }
            $script:nodePorts.Add($Node.Port)
            $Node
        }
    }
}

AfterAll {
    Remove-E2EScope -Scope $suiteScope
}

Describe 'Single node metrics' -Tag 'local' {
    It 'starts empty and records inferences' {
        $collector = New-E2EMetricsCollector
        $collector.Snapshot().TotalRequests | Should -Be 0
        $collector.RecordInference(100, 50.0)
        $collector.RecordInference(200, 150.0)
        $snapshot = $collector.Snapshot()
        $snapshot.TotalTokensProcessed | Should -Be 300
        $snapshot.TotalRequests | Should -Be 2
        $snapshot.AvgLatencyMs | Should -Be 100.0
    }

    It 'counts every record from five parallel runspaces' {
        $collector = New-E2EMetricsCollector
        1..5 | ForEach-Object -ThrottleLimit 5 -Parallel {
            $c = $using:collector
            foreach ($i in 1..100) {
                $c.RecordInference(1, 10.0)
            }
        }
        $collector.Snapshot().TotalRequests | Should -Be 500
    }

    It 'reports the upstream payload vector for node key ab..ab' {
        $report = New-OracleReport -PrivateKeyVariable E2E_PETALS_NODE_A_KEY -TokensProcessed 600 -RequestCount 3 -TotalLatencyMs 300 -UptimeSec 42 -Timestamp 1770000000
        $report.Agent.ToString() | Should -Be '0xe239cdc5fbe977a8a141B72194D3CF8c41bC5BC6'
        $report.SignedMessage | Should -Be '{"agent":"0xe239cdc5fbe977a8a141B72194D3CF8c41bC5BC6","processed_tokens":600,"timestamp":1770000000}'
        $report.Signature | Should -Be '0x3ee7143d98371848c232baa4db859b75237c749dc71c6139b077bc82a46e5b8a33addcdc199b064961f7240b824cf321497c29f364d81f72d39906713bc3e7f91c'
    }

    It 'signs the whole payload in the legacy format, floats as Python writes them' {
        $report = New-OracleReport -PrivateKeyVariable E2E_PETALS_NODE_A_KEY -Format Legacy -TokensProcessed 600 -RequestCount 3 -TotalLatencyMs 300 -UptimeSec 42 -Timestamp 1770000000
        $report.Route | Should -Be '/api/v1/report'
        $report.SignedMessage | Should -Be '{"agent":"0xe239cdc5fbe977a8a141B72194D3CF8c41bC5BC6","avg_latency_ms":100.0,"processed_tokens":600,"tasks_completed":3,"timestamp":1770000000,"uptime_seconds":42}'
        $report.Signature | Should -Be '0x236d0317f201c623a73a80f9076ab9970908e6802cf4cfa610facfab80bfe9e80e732f46004cd554b2eae8304286e20fc920673d13b9ea4a58eb07f9a2ce50111c'
    }
}

Describe 'Metrics reporting to the Oracle' -Tag 'local' {
    BeforeAll {
        $oracle = Start-MockOracle
    }

    It 'answers its health check' {
        (Invoke-RestMethod -Uri "$($oracle.Url)/health").status | Should -Be 'ok'
    }

    It 'accepts a current-format report from each node' {
        $a = Send-OracleReport -OracleUrl $oracle.Url -PrivateKeyVariable E2E_PETALS_NODE_A_KEY -TokensProcessed 600 -RequestCount 3 -TotalLatencyMs 300
        $b = Send-OracleReport -OracleUrl $oracle.Url -PrivateKeyVariable E2E_PETALS_NODE_B_KEY -TokensProcessed 400 -RequestCount 2 -TotalLatencyMs 100
        $a.Outcome | Should -Be 'Delivered'
        $b.Outcome | Should -Be 'Delivered'
        (Get-MockOracleReport -Oracle $oracle -Agent $nodeA -Accepted).ProcessedTokens | Should -Be 600
        (Get-MockOracleReport -Oracle $oracle -Agent $nodeB -Accepted).ProcessedTokens | Should -Be 400
    }

    It 'accepts a legacy-format report on the legacy route' {
        $sent = Send-OracleReport -OracleUrl $oracle.Url -PrivateKeyVariable E2E_PETALS_NODE_A_KEY -Format Legacy -TokensProcessed 700 -Timestamp ([DateTimeOffset]::UtcNow.ToUnixTimeSeconds() + 5)
        $sent.Report.Route | Should -Be '/api/v1/report'
        @(Get-MockOracleReport -Oracle $oracle -Agent $nodeA -Accepted | Where-Object Route -eq '/api/v1/report').Count | Should -Be 1
    }

    It 'rejects a report whose signature does not cover its contents with 401' {
        $report = New-OracleReport -PrivateKeyVariable E2E_PETALS_NODE_B_KEY -TokensProcessed 10 -Timestamp ([DateTimeOffset]::UtcNow.ToUnixTimeSeconds() + 10)
        $tampered = $report.Body.Replace('"tokensProcessed":10', '"tokensProcessed":10000')
        $response = Invoke-WebRequest -Uri ($oracle.Url + $report.Route) -Method Post -Body $tampered -ContentType 'application/json' -SkipHttpErrorCheck
        $response.StatusCode | Should -Be 401
    }

    It 'rejects a replayed report with 409 and a stale one as OracleRejected' {
        $report = New-OracleReport -PrivateKeyVariable E2E_PETALS_NODE_B_KEY -TokensProcessed 20 -Timestamp ([DateTimeOffset]::UtcNow.ToUnixTimeSeconds() + 20)
        ($report | Send-OracleReport -OracleUrl $oracle.Url).Outcome | Should -Be 'Delivered'
        (Invoke-WebRequest -Uri ($oracle.Url + $report.Route) -Method Post -Body $report.Body -ContentType 'application/json' -SkipHttpErrorCheck).StatusCode | Should -Be 409
        { Send-OracleReport -OracleUrl $oracle.Url -PrivateKeyVariable E2E_PETALS_NODE_B_KEY -Timestamp 1770000000 -ErrorAction Stop } | Should -Throw -ErrorId 'OracleRejected,*'
    }

    It 'delivers through injected failures with retries' {
        Set-MockOracleFault -Oracle $oracle -FailNext 2 -StatusCode 503
        $sent = Send-OracleReport -OracleUrl $oracle.Url -PrivateKeyVariable E2E_PETALS_NODE_A_KEY -TokensProcessed 900 -Retries 3 -Timestamp ([DateTimeOffset]::UtcNow.ToUnixTimeSeconds() + 30)
        $sent.Result.Attempts | Should -Be 3
    }

    It 'reports OracleUnavailable when the Oracle is down' {
        $down = Start-MockOracle
        $url = $down.Url
        Stop-MockOracle -Oracle $down
        { Send-OracleReport -OracleUrl $url -PrivateKeyVariable E2E_PETALS_NODE_A_KEY -Retries 1 -TimeoutSec 2 -ErrorAction Stop } | Should -Throw -ErrorId 'OracleUnavailable,*'
    }
}

Describe 'Chain registration' -Tag 'local', 'chain' {
    BeforeAll {
        $chainUrl = $RpcUrl
        $skipReason = $null
        if (-not $chainUrl) {
            try {
                $chain = Start-E2EChain -PrivateKeyVariable E2E_PETALS_NODE_A_KEY -ErrorAction Stop
                $chainUrl = $chain.RpcUrl
            }
            catch {
                if ($_.FullyQualifiedErrorId -notlike 'ToolNotFound*') {
                    throw
                }
                $skipReason = 'ganache is not installed (npm install --global ganache, or set E2E_GANACHE), and no -Data @{ RpcUrl = ... } was given'
            }
        }
    }

    It 'registers the agent through precompile 0x21' {
        if ($skipReason) {
            Set-ItResult -Skipped -Because $skipReason
            return
        }
        $name = 'bloom-560m-' + $nodeA.Substring($nodeA.Length - 8)
        $result = Register-ChainAgent -RpcUrl $chainUrl -PrivateKeyVariable E2E_PETALS_NODE_A_KEY -Name $name
        $result.Status | Should -Be 1
        $result.From.ToString() | Should -Be $nodeA
        $result.To.ToString() | Should -Be '0x0000000000000000000000000000000000000021'
        $result.GasLimit | Should -Be 300000
        $result.ChainId | Should -Be 41956
    }

    It 'sends heartbeats through precompile 0x22 with a fresh nonce each time' {
        if ($skipReason) {
            Set-ItResult -Skipped -Because $skipReason
            return
        }
        $first = Send-ChainHeartbeat -RpcUrl $chainUrl -PrivateKeyVariable E2E_PETALS_NODE_A_KEY
        $second = Send-ChainHeartbeat -RpcUrl $chainUrl -PrivateKeyVariable E2E_PETALS_NODE_A_KEY
        $first.To.ToString() | Should -Be '0x0000000000000000000000000000000000000022'
        $first.GasLimit | Should -Be 100000
        $second.Nonce | Should -Be ($first.Nonce + 1)
        $second.Status | Should -Be 1
    }

    It 'refuses a capability that is not exactly 32 bytes' {
        { Register-ChainAgent -RpcUrl 'http://127.0.0.1:1' -PrivateKeyVariable E2E_PETALS_NODE_A_KEY -Name 'agent' -Capability ('0x' + ('00' * 16)) -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidCapability,*'
    }

    It 'builds the upstream register and heartbeat transactions byte for byte' {
        $register = New-ChainTransaction -PrivateKeyVariable E2E_PETALS_VECTOR_KEY -To '0x0000000000000000000000000000000000000021' -Nonce 0 -GasLimit 300000 -GasPrice 1000000000 -Data ('0x746573742d6167656e74' + ('0' * 172))
        $register.Hash | Should -Be '0xd749f3a99f80be9a584241259e3f75534613f2b7085fe3d0627de6480a52dc18'
        $heartbeat = New-ChainTransaction -PrivateKeyVariable E2E_PETALS_VECTOR_KEY -To '0x0000000000000000000000000000000000000022' -Nonce 1 -GasLimit 100000 -GasPrice 1000000000
        $heartbeat.Hash | Should -Be '0x7d84bbb1ab8c24661d184ca52954bd267a9457c80622abe003f654ae1591507a'
        $heartbeat.Data | Should -Be '0x'
    }
}

Describe 'Multi-node pipeline' -Tag 'local' {
    BeforeAll {
        $swarmScope = New-E2EScope -Name 'petals-swarm'
        $swarmOracle = Start-MockOracle
        $chainUrl = $RpcUrl
        $chainSkip = $null
        if (-not $chainUrl) {
            try {
                $chainUrl = (Start-E2EChain -PrivateKeyVariable E2E_PETALS_SWARM_A_KEY -FundKeyVariable E2E_PETALS_SWARM_B_KEY -ErrorAction Stop).RpcUrl
            }
            catch {
                if ($_.FullyQualifiedErrorId -notlike 'ToolNotFound*') { throw }
                $chainSkip = 'ganache is not installed, and no -Data @{ RpcUrl = ... } was given'
            }
        }
        $chainArgs = if ($chainUrl) { @{ ChainRpc = $chainUrl; HeartbeatIntervalSec = 1 } } else { @{} }
        $a = Start-PetalsNode -Blocks 0..11 -OracleUrl $swarmOracle.Url -KeyVariable E2E_PETALS_SWARM_A_KEY -ReportIntervalSec 1 @chainArgs | Add-NodeForLeakCheck
        $b = Start-PetalsNode -Blocks 12..23 -OracleUrl $swarmOracle.Url -KeyVariable E2E_PETALS_SWARM_B_KEY -ReportIntervalSec 1 @chainArgs | Add-NodeForLeakCheck
    }

    AfterAll {
        Remove-E2EScope -Scope $swarmScope
    }

    It 'serves blocks 0-11 and 12-23: no overlap, and together all 24' {
        $a.BlockStart, ($a.BlockEnd - 1) | Should -Be 0, 11
        $b.BlockStart, ($b.BlockEnd - 1) | Should -Be 12, 23
        $route = Get-PetalsRoute -Node $a, $b
        $route.Hops.Blocks | Should -Be '0-11', '12-23'
        $covered = $route.Hops | ForEach-Object { $_.Start..($_.End - 1) }
        $covered.Count | Should -Be 24
        @($covered | Sort-Object -Unique).Count | Should -Be 24
        $a.Agent | Should -Be $swarmA
        $b.Agent | Should -Be $swarmB
    }

    It 'generates exactly the tokens a single-process run of all 24 blocks gives' {
        $swarm = Invoke-DistributedInference -Prompt 'The Plumise network' -MaxTokens 24 -Node $a, $b
        $reference = Invoke-DistributedInference -Prompt 'The Plumise network' -MaxTokens 24 -SingleProcess
        $swarm.Tokens | Should -Be $reference.Tokens
        $swarm.Text | Should -Be $reference.Text
        $swarm.Route | Should -Be "0-11@$($a.Url) -> 12-23@$($b.Url)"
        $swarm.Hops.Calls | Should -Be 24, 24
        $swarm.Hops.MeanMs | ForEach-Object { $_ | Should -BeGreaterThan 0 }
        $swarm.TokensPerSecond | Should -BeGreaterThan 0
        @($swarm.Failovers).Count | Should -Be 0
    }

    It 'answers concurrent requests, each exactly as the reference' {
        $prompts = 'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'
        $results = Invoke-DistributedInference -Prompt $prompts -MaxTokens 12 -ThrottleLimit 6
        $results.Prompt | Should -Be $prompts
        foreach ($result in $results) {
            $result.Text | Should -Be (Invoke-DistributedInference -Prompt $result.Prompt -MaxTokens 12 -SingleProcess).Text
        }
    }

    It 'registers each node once through 0x21 and sends heartbeats through 0x22' {
        if ($chainSkip) { Set-ItResult -Skipped -Because $chainSkip; return }
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        do {
            Start-Sleep -Milliseconds 250
            $metrics = $a, $b | Get-PetalsNodeMetric
        } while (($metrics | Where-Object { -not $_.RegistrationTx -or $_.Heartbeats -lt 2 }) -and [DateTime]::UtcNow -lt $deadline)
        foreach ($m in $metrics) {
            $m.LastChainError | Should -BeNullOrEmpty
            $m.Heartbeats | Should -BeGreaterOrEqual 2
            $tx = (Invoke-RestMethod -Uri $chainUrl -Method Post -ContentType 'application/json' -Body (@{ jsonrpc = '2.0'; id = 1; method = 'eth_getTransactionByHash'; params = @($m.RegistrationTx) } | ConvertTo-Json)).result
            $tx.to | Should -Be '0x0000000000000000000000000000000000000021'
            $tx.nonce | Should -Be '0x0' # registration first, once
        }
        $from = (Invoke-RestMethod -Uri $chainUrl -Method Post -ContentType 'application/json' -Body (@{ jsonrpc = '2.0'; id = 1; method = 'eth_getTransactionByHash'; params = @($metrics[1].RegistrationTx) } | ConvertTo-Json)).result.from
        $from | Should -Be $swarmB.ToLowerInvariant()
    }

    It "has every node's signed reports verified by the mock Oracle, with the tokens it served" {
        $served = $a, $b | Get-PetalsNodeMetric
        $a, $b | Stop-PetalsNode # each makes one last report
        foreach ($pair in @(@($swarmA, $served[0]), @($swarmB, $served[1]))) {
            $accepted = @(Get-MockOracleReport -Oracle $swarmOracle -Agent $pair[0] -Accepted)
            $accepted.Count | Should -BeGreaterOrEqual 1
            $accepted[-1].ProcessedTokens | Should -Be $pair[1].TotalTokensProcessed
            $pair[1].TotalTokensProcessed | Should -Be (24 + 6 * 12)
            @(Get-MockOracleReport -Oracle $swarmOracle -Agent $pair[0] -Rejected).Count | Should -Be 0
        }
    }
}

Describe 'Node failure' -Tag 'local' {
    BeforeAll {
        $failScope = New-E2EScope -Name 'petals-failover'
        $first = Start-PetalsNode -Blocks 0..11 | Add-NodeForLeakCheck
        $doomed = Start-PetalsNode -Blocks 12..23 -Name doomed | Add-NodeForLeakCheck
        $replica = Start-PetalsNode -Blocks 12..23 -Name replica | Add-NodeForLeakCheck
        $modulePath = $ModulePath
    }

    AfterAll {
        Remove-E2EScope -Scope $failScope
    }

    It 'composes in pipelines: a route or the nodes piped into Invoke-DistributedInference' {
        $reference = Invoke-DistributedInference -Prompt 'pipes' -MaxTokens 8 -SingleProcess
        $viaRoute = Get-PetalsRoute -Node $first, $replica | Invoke-DistributedInference -Prompt 'pipes' -MaxTokens 8
        $viaRoute.Tokens | Should -Be $reference.Tokens
        $viaRoute.Route | Should -Be "0-11@$($first.Url) -> 12-23@$($replica.Url)"
        $viaNodes = @($first, $replica | Invoke-DistributedInference -Prompt 'pipes' -MaxTokens 8)
        $viaNodes | Should -HaveCount 1
        $viaNodes[0].Tokens | Should -Be $reference.Tokens
        { (Get-PetalsRoute -Node $first, $replica), (Get-PetalsRoute -Node $first, $replica) | Invoke-DistributedInference -Prompt 'pipes' -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidArgument,*'
    }

    It 'reroutes to the replica when a node is killed mid-generation, and the output is unchanged' {
        $urls = $first.Url, $doomed.Url, $replica.Url
        $job = Start-ThreadJob -ArgumentList $modulePath, $urls -ScriptBlock {
            param($module, $urls)
            Import-Module $module
            Invoke-DistributedInference -Prompt 'Failover under load' -MaxTokens 400 -Url $urls
        }
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        while ((Get-PetalsNodeMetric -Url $doomed.Url).TotalTokensProcessed -lt 20 -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
        $doomed | Stop-PetalsNode -Kill
        $result = $job | Wait-Job -Timeout 120 | Receive-Job -ErrorAction Stop
        $job | Remove-Job -Force
        $result.Text | Should -Be (Invoke-DistributedInference -Prompt 'Failover under load' -MaxTokens 400 -SingleProcess).Text
        $failover = @($result.Failovers)
        $failover.Count | Should -Be 1
        $failover[0].FailedNode | Should -Be $doomed.Url
        $failover[0].Replacement | Should -Be $replica.Url
        $failover[0].Token | Should -BeGreaterOrEqual 20
        $result.Hops.Node | Should -Contain $replica.Url
    }

    It 'fails with the missing blocks named when no replica is left' {
        $replica | Stop-PetalsNode -Kill
        { Invoke-DistributedInference -Prompt 'x' -MaxTokens 4 -Url $first.Url, $doomed.Url, $replica.Url -ErrorAction Stop } |
            Should -Throw -ErrorId 'PetalsNodeUnreachable,*'
        $error = { Invoke-DistributedInference -Prompt 'x' -MaxTokens 4 -ErrorAction Stop } | Should -Throw -ErrorId 'PetalsBlocksUnavailable,*' -PassThru
        $error.Exception.Message | Should -Match 'blocks 12-23'
    }

    It 'refuses spans that are not consecutive, and names the gap in a route' {
        { Start-PetalsNode -Blocks 0, 2, 3 -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,*'
        { Start-PetalsNode -Blocks 20..30 -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidArgument,*'
        $gap = { Get-PetalsRoute -Node $first -ErrorAction Stop } | Should -Throw -ErrorId 'PetalsBlocksUnavailable,*' -PassThru
        $gap.Exception.Message | Should -Match 'blocks 12-23'
    }
}

Describe 'Compose stack (mock Oracle and two nodes)' -Tag 'local' {
    BeforeAll {
        $stackScope = New-E2EScope -Name 'petals-stack'
        $data = Join-Path $PSScriptRoot 'TestData' 'plumise'
        $ports = @{ ORACLE_PORT = Get-FreePort; NODE_A_PORT = Get-FreePort; NODE_B_PORT = Get-FreePort }
        $stack = Start-E2EStack -Path (Join-Path $data 'docker-compose.test.yml'), (Join-Path $data 'docker-compose.e2e.yml') -ProjectName 'plumise-e2e' -Variable $ports -StopGraceSec 5
        $ports.Values | ForEach-Object { $script:nodePorts.Add($_) }
        $stack.ServiceStates | ForEach-Object { $script:nodePids.Add([int] $_.Id) }
    }

    AfterAll {
        Remove-E2EScope -Scope $stackScope
    }

    It 'starts the mock Oracle first and the nodes once it is healthy' {
        $stack.Project.Services.Name | Should -Be 'mock-oracle', 'petals-node-a', 'petals-node-b'
        $stack.ServiceStates.State | Should -Be 'Healthy', 'Healthy', 'Healthy'
        (Invoke-RestMethod "http://127.0.0.1:$($ports.ORACLE_PORT)/health").status | Should -Be 'ok'
    }

    It 'has reports from both nodes in the mock Oracle log (run_e2e.sh step 7)' {
        $log = Wait-ReportsOfBothSwarmNodes -Stack $stack -TimeoutSec 20
        @($log | Select-String "Received report from agent: $swarmA").Count | Should -BeGreaterOrEqual 1
        @($log | Select-String "Received report from agent: $swarmB").Count | Should -BeGreaterOrEqual 1
        $log | Select-String 'Rejected' | Should -BeNullOrEmpty
    }

    It 'serves distributed inference through the stack, equal to the reference' {
        $result = Invoke-DistributedInference -Prompt 'compose' -MaxTokens 16 -Url "http://127.0.0.1:$($ports.NODE_A_PORT)", "http://127.0.0.1:$($ports.NODE_B_PORT)"
        $result.Text | Should -Be (Invoke-DistributedInference -Prompt 'compose' -MaxTokens 16 -SingleProcess).Text
    }

    It 'shows the last lines of each service (run_e2e.sh step 8) and stops leaving nothing' {
        $tail = Get-E2EServiceLog -Stack $stack -Service petals-node-a -Tail 20
        @($tail).Count | Should -BeLessOrEqual 20
        $tail | Select-String 'serving e2e/tiny-bloom-24 blocks 0-11' | Should -Not -BeNullOrEmpty
        Get-E2EStack plumise-e2e | Stop-E2EStack
        $stack.ServiceStates.State | Should -Be 'Stopped', 'Stopped', 'Stopped'
        $ports.Values | ForEach-Object { Test-PortOpen $_ | Should -BeFalse }
        Get-E2EStack | Where-Object Name -eq 'plumise-e2e' | Should -BeNullOrEmpty
    }
}

Describe 'The seed stack and nodes on a real Docker engine' -Tag 'docker' {
    BeforeAll {
        # The engine of $env:DOCKER_HOST (the test command starts one: tools/docker/dockerd.sh) and the images
        # tools/images/Build-TestImages.ps1 builds offline. Without them this block fails, saying what is missing.
        docker version --format '{{.Server.Version}}' *> $null
        if ($LASTEXITCODE -ne 0) { throw "The docker-tagged tests need a Docker engine at DOCKER_HOST ('$env:DOCKER_HOST'): tools/docker/dockerd.sh start, or leave them out with -ExcludeTag docker." }
        foreach ($image in 'plumise-petals:test', 'e2e-mock-oracle:test', 'e2e-busybox:test') {
            docker image inspect $image *> $null
            if ($LASTEXITCODE -ne 0) { throw "The image $image is missing: run tools/images/Build-TestImages.ps1." }
        }
        function Get-ContainerName([string] $Label) { @(docker ps -a --filter "label=$Label" --format '{{.Names}}') }
        # Upstream's compose file fixes container names and published ports, so one run at a time uses them on this
        # engine: a run of the other Pester major (the test command runs both at once) waits for this lock.
        $lockPath = Join-Path ([IO.Path]::GetTempPath()) 'e2e-plumise-docker.lock'
        $lockDeadline = [DateTime]::UtcNow.AddMinutes(10)
        $dockerLock = $null
        while (-not $dockerLock) {
            try { $dockerLock = [System.IO.FileStream]::new($lockPath, 'OpenOrCreate', 'ReadWrite', 'None') }
            catch [System.IO.IOException] {
                if ([DateTime]::UtcNow -gt $lockDeadline) { throw "Another run has held $lockPath for 10 minutes." }
                Start-Sleep -Milliseconds 200
            }
        }
        $dockerScope = New-E2EScope -Name 'petals-docker'
        $data = Join-Path $PSScriptRoot 'TestData' 'plumise'
    }

    AfterAll {
        try {
            Remove-E2EScope -Scope $dockerScope
            Get-ContainerName "e2e.dev/run-id=$($dockerScope.Id)" | Should -BeNullOrEmpty
        }
        finally {
            if ($dockerLock) { $dockerLock.Dispose() }
        }
    }

    It 'brings the seed stack up in dependency order, healthy, as run_e2e.sh does' {
        $script:stack = Start-E2EStack -Path (Join-Path $data 'docker-compose.test.yml'), (Join-Path $data 'docker-compose.docker.yml') -Runtime Docker -ProjectName 'plumise-docker' -StopGraceSec 5
        $stack.Project.Services.Name | Should -Be 'mock-oracle', 'petals-node-a', 'petals-node-b'
        $stack.ServiceStates.State | Should -Be 'Healthy', 'Healthy', 'Healthy'
        Get-ContainerName 'com.docker.compose.project=plumise-docker' | Sort-Object | Should -Be 'plumise-mock-oracle', 'plumise-petals-node-a', 'plumise-petals-node-b'
        (Invoke-RestMethod 'http://127.0.0.1:3100/health').status | Should -Be 'ok'
    }

    It "has each node's signed reports accepted by the mock Oracle (run_e2e.sh step 7)" {
        $log = Wait-ReportsOfBothSwarmNodes -Stack $stack -TimeoutSec 60
        @($log | Select-String "Received report from agent: $swarmA").Count | Should -BeGreaterOrEqual 1
        @($log | Select-String "Received report from agent: $swarmB").Count | Should -BeGreaterOrEqual 1
        $log | Select-String 'Rejected' | Should -BeNullOrEmpty
    }

    It 'serves distributed inference through the published ports, equal to the reference' {
        $result = Invoke-DistributedInference -Prompt 'docker' -MaxTokens 12 -Url 'http://127.0.0.1:31330', 'http://127.0.0.1:31331'
        $result.Text | Should -Be (Invoke-DistributedInference -Prompt 'docker' -MaxTokens 12 -SingleProcess).Text
    }

    It 'collects the logs (run_e2e.sh step 8) and stops quietly, leaving no container or network' {
        Get-E2EServiceLog -Stack $stack -Service petals-node-b -Tail 20 | Select-String 'serving e2e/tiny-bloom-24 blocks 12-23' | Should -Not -BeNullOrEmpty
        $stack | Stop-E2EStack -WarningVariable stopWarnings -WarningAction SilentlyContinue
        $stopWarnings | Should -BeNullOrEmpty
        Get-ContainerName 'com.docker.compose.project=plumise-docker' | Should -BeNullOrEmpty
        @(docker network ls --filter 'label=com.docker.compose.project=plumise-docker' --format '{{.Name}}') | Should -BeNullOrEmpty
    }

    It 'runs two nodes -Runtime Docker that report to a mock Oracle on this host, tokens equal to the reference' {
        $oracle = Start-MockOracle
        $script:rewrites = @()
        $a = Start-PetalsNode -Runtime Docker -Name 'docker-a' -Blocks (0..11) -OracleUrl $oracle.Url -PrivateKeyVariable E2E_PETALS_SWARM_A_KEY -ReportIntervalSec 1 -Verbose 4>&1 |
            ForEach-Object { if ($_ -is [System.Management.Automation.VerboseRecord]) { $script:rewrites += @($_.Message) } else { $_ } }
        $b = Start-PetalsNode -Runtime Docker -Name 'docker-b' -Blocks (12..23) -OracleUrl $oracle.Url -PrivateKeyVariable E2E_PETALS_SWARM_B_KEY -ReportIntervalSec 1
        $script:rewrites | Where-Object { $_ -match 'ORACLE_API_URL .* -> http://host\.docker\.internal:' } | Should -Not -BeNullOrEmpty
        (Invoke-DistributedInference -Prompt 'host oracle' -MaxTokens 10 -Node $a, $b).Text | Should -Be (Invoke-DistributedInference -Prompt 'host oracle' -MaxTokens 10 -SingleProcess).Text
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        do {
            Start-Sleep -Milliseconds 250
            $accepted = @(Get-MockOracleReport -Oracle $oracle | Where-Object Accepted | Select-Object -ExpandProperty Agent -Unique)
        } while (($accepted -notcontains $swarmA -or $accepted -notcontains $swarmB) -and [DateTime]::UtcNow -lt $deadline)
        $accepted | Should -Contain $swarmA
        $accepted | Should -Contain $swarmB
        Get-MockOracleReport -Oracle $oracle | Where-Object { -not $_.Accepted } | Should -BeNullOrEmpty
        $a, $b | Stop-PetalsNode
        Get-ContainerName 'e2e.dev/petals-node' | Should -BeNullOrEmpty
    }

    It 'runs a shell stack whose client reaches web by name, and removes it with the scope without an error' {
        $file = Join-Path $TestDrive 'web-client.yml'
        Set-Content -LiteralPath $file -Value @"
services:
  web:
    image: e2e-busybox:test
    command: ["sh", "-c", "mkdir -p /www && echo served-by-web > /www/index.html && httpd -f -p 8080 -h /www"]
    ports: ["8080"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 200ms
      retries: 50
  client:
    image: e2e-busybox:test
    command: ["sh", "-c", "wget -q -O - http://web:8080/ && sleep 600"]
    depends_on:
      web: { condition: service_healthy }
"@
        $shellScope = New-E2EScope -Name 'shell-stack'
        $shells = Start-E2EStack -Path $file -Runtime Docker -ProjectName 'shells' -StopGraceSec 1
        $deadline = [DateTime]::UtcNow.AddSeconds(20)
        while (-not (Get-E2EServiceLog -Stack $shells -Service client | Select-String 'served-by-web') -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        Get-E2EServiceLog -Stack $shells -Service client | Should -Be 'served-by-web'
        # Both PID-1 shells ignore SIGTERM: Docker kills them after the grace, the ordinary stop, and no error.
        { Remove-E2EScope -Scope $shellScope -ErrorAction Stop } | Should -Not -Throw
        Get-ContainerName 'com.docker.compose.project=shells' | Should -BeNullOrEmpty
    }
}

Describe 'Nothing left behind' -Tag 'local' {
    It 'leaves no node process and no port of part 2 open' {
        $script:nodePids.Count | Should -BeGreaterThan 5
        foreach ($id in $script:nodePids) {
            $stat = "/proc/$id/stat"
            if (Test-Path $stat) {
                # A zombie is gone for all purposes; it waits for its parent to reap it.
                (Get-Content -Raw $stat) -replace '^.*\) (\S).*$', '$1' | Should -Be 'Z' -Because "process $id must be gone"
            }
        }
        foreach ($port in $script:nodePorts) {
            Test-PortOpen $port | Should -BeFalse -Because "port $port must be closed"
        }
        @(Get-PetalsNode).Count | Should -Be 0
        @(Get-E2EStack).Count | Should -Be 0
    }
}
