#Requires -Version 7.4
# Plumise Petals, part 1: metrics collection on a node, signed Oracle reports in both formats against a
# verifying mock Oracle, and agent registration and heartbeats on a real local chain (ganache).
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
    Register-E2ECleanup -Name 'test key variables' -ScriptBlock {
        $env:E2E_PETALS_NODE_A_KEY = $null
        $env:E2E_PETALS_NODE_B_KEY = $null
        $env:E2E_PETALS_VECTOR_KEY = $null
    }
    $nodeA = (Get-E2EAccount -PrivateKeyVariable E2E_PETALS_NODE_A_KEY).Address.ToString()
    $nodeB = (Get-E2EAccount -PrivateKeyVariable E2E_PETALS_NODE_B_KEY).Address.ToString()
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
