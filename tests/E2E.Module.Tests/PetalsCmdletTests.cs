using System.Management.Automation;
using System.Text.Json;

namespace E2E.Module.Tests;

/// <summary>The PlumisePetals cmdlets in a real engine, against the in-process mock Oracle and a real ganache chain.</summary>
public sealed class PetalsCmdletTests : IDisposable
{
    private const string KeyHex = "abababababababababababababababababababababababababababababababab";
    private const string Address = "0xe239cdc5fbe977a8a141B72194D3CF8c41bC5BC6";
    private readonly Pwsh _pwsh = new();

    public PetalsCmdletTests()
    {
        _pwsh.Run($"$env:E2E_TEST_NODE_KEY = '0x{KeyHex}'; $scope = New-E2EScope -Name petals").ShouldSucceed();
    }

    public void Dispose()
    {
        _pwsh.Run("Remove-E2EScope $scope; $env:E2E_TEST_NODE_KEY = $null");
        _pwsh.Dispose();
    }

    [Fact]
    public void Account_comes_from_a_variable_a_file_or_a_secure_string()
    {
        var file = Path.GetTempFileName();
        File.WriteAllText(file, "0x" + KeyHex + "\n");
        try
        {
            var result = _pwsh.Run($$"""
                (Get-E2EAccount -PrivateKeyVariable E2E_TEST_NODE_KEY).Address.ToString()
                (Get-E2EAccount -PrivateKeyPath '{{file}}').Address.ToString()
                $secure = [System.Security.SecureString]::new(); foreach ($c in '{{KeyHex}}'.ToCharArray()) { $secure.AppendChar($c) }
                (Get-E2EAccount -PrivateKey $secure).Address.ToString()
                """).ShouldSucceed();
            Assert.Equal(new[] { Address, Address, Address }, result.Strings);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("Invoke-DistributedInference -Prompt x -Node $null, $null")]
    [InlineData("Invoke-DistributedInference -Prompt x -Url $null")]
    [InlineData("Get-PetalsRoute -Node $null")]
    public void Null_nodes_or_urls_are_refused_with_an_error_id_not_a_NullReferenceException(string command)
    {
        var result = _pwsh.Run(command);
        Assert.StartsWith("ParameterArgumentValidationError,", result.ErrorId);
        Assert.DoesNotContain("NullReference", result.Error!.ToString());
    }

    [Fact]
    public void Bad_keys_are_InvalidKey_without_quoting_the_key()
    {
        var result = _pwsh.Run("$env:E2E_BAD_KEY = '0x1234abcd'; Get-E2EAccount -PrivateKeyVariable E2E_BAD_KEY; $env:E2E_BAD_KEY = $null");
        Assert.StartsWith("InvalidKey,", result.ErrorId);
        Assert.DoesNotContain("1234abcd", result.Error!.ToString());
        Assert.StartsWith("InvalidKey,", _pwsh.Run("Get-E2EAccount -PrivateKeyVariable E2E_NOT_SET_ANYWHERE").ErrorId);
    }

    [Fact]
    public void Reports_in_both_formats_reach_the_mock_oracle_and_faults_are_ridden_out()
    {
        var result = _pwsh.Run("""
            $oracle = Start-MockOracle
            $current = Send-OracleReport -OracleUrl $oracle.Url -PrivateKeyVariable E2E_TEST_NODE_KEY -TokensProcessed 600 -RequestCount 3 -TotalLatencyMs 300
            $legacy = Send-OracleReport -OracleUrl $oracle.Url -PrivateKeyVariable E2E_TEST_NODE_KEY -TokensProcessed 700 -Format Legacy -Timestamp ($current.Timestamp + 1)
            Set-MockOracleFault -Oracle $oracle -FailNext 2 -StatusCode 503
            $retried = Send-OracleReport -OracleUrl $oracle.Url -PrivateKeyVariable E2E_TEST_NODE_KEY -TokensProcessed 800 -Timestamp ($current.Timestamp + 2) -Retries 3
            $current.Outcome; $current.Report.Route; $legacy.Report.Route; $retried.Result.Attempts
            @(Get-MockOracleReport -Oracle $oracle -Accepted).Count
            (Get-MockOracleReport -Oracle $oracle -Agent $current.Agent.ToString() -Accepted | ForEach-Object ProcessedTokens) -join ','
            """).ShouldSucceed();
        Assert.Equal(new[] { "Delivered", "/api/v1/metrics/report", "/api/v1/report", "3", "3", "600,700,800" }, result.Strings);
    }

    [Fact]
    public void New_OracleReport_gives_the_vector_and_pipes_into_Send_OracleReport()
    {
        var result = _pwsh.Run("""
            $vector = New-OracleReport -PrivateKeyVariable E2E_TEST_NODE_KEY -TokensProcessed 600 -RequestCount 3 -TotalLatencyMs 300 -UptimeSec 42 -Timestamp 1770000000
            $vector.SignedMessage; $vector.Signature
            $collector = New-E2EMetricsCollector
            1..4 | ForEach-Object { $collector.RecordInference(25, 40.0) }
            $oracle = Start-MockOracle
            $sent = $collector.Snapshot() | New-OracleReport -PrivateKeyVariable E2E_TEST_NODE_KEY -Format Legacy | Send-OracleReport -OracleUrl $oracle.Url
            $sent.Outcome
            (Get-MockOracleReport $oracle -Accepted).ProcessedTokens
            """).ShouldSucceed();
        Assert.Equal(new[]
        {
            "{\"agent\":\"0xe239cdc5fbe977a8a141B72194D3CF8c41bC5BC6\",\"processed_tokens\":600,\"timestamp\":1770000000}",
            "0x3ee7143d98371848c232baa4db859b75237c749dc71c6139b077bc82a46e5b8a33addcdc199b064961f7240b824cf321497c29f364d81f72d39906713bc3e7f91c",
            "Delivered",
            "100",
        }, result.Strings);
    }

    [Fact]
    public void A_stale_report_is_OracleRejected_and_a_dead_oracle_is_OracleUnavailable()
    {
        var stale = _pwsh.Run("$oracle = Start-MockOracle; Send-OracleReport -OracleUrl $oracle.Url -PrivateKeyVariable E2E_TEST_NODE_KEY -Timestamp 1770000000");
        Assert.Equal("OracleRejected,E2E.Cmdlets.Petals.SendOracleReportCommand", stale.ErrorId);
        Assert.Equal(ErrorCategory.InvalidData, stale.Error!.CategoryInfo.Category);
        var dead = _pwsh.Run("$o = Start-MockOracle; $url = $o.Url; Stop-MockOracle $o; Send-OracleReport -OracleUrl $url -PrivateKeyVariable E2E_TEST_NODE_KEY -Retries 1 -TimeoutSec 2");
        Assert.Equal("OracleUnavailable,E2E.Cmdlets.Petals.SendOracleReportCommand", dead.ErrorId);
    }

    [Fact]
    public void Signed_transactions_match_the_plumise_heartbeat_vector()
    {
        var result = _pwsh.Run("""
            $env:E2E_VECTOR_KEY = '0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef'
            $tx = New-ChainTransaction -PrivateKeyVariable E2E_VECTOR_KEY -To 0x0000000000000000000000000000000000000022 -Nonce 1 -GasLimit 100000 -GasPrice 1000000000
            $env:E2E_VECTOR_KEY = $null
            $tx.Raw; $tx.Hash; $tx.From.ToString()
            """).ShouldSucceed();
        Assert.Equal(new[]
        {
            "0xf86701843b9aca00830186a09400000000000000000000000000000000000000228080830147eca037dab5b74ecf610d42f51853326fed1b14ef3aee12851a786cb7e375ab96f126a03bf120f18783bc3ae9f0e4cc8b2be784b2e97bc911449f3bca6b1fcfcbdd434f",
            "0x7d84bbb1ab8c24661d184ca52954bd267a9457c80622abe003f654ae1591507a",
            "0x1Be31A94361a391bBaFB2a4CCd704F57dc04d4bb",
        }, result.Strings);
    }

    [Fact]
    public void A_16_byte_capability_is_InvalidCapability()
    {
        var result = _pwsh.Run("Register-ChainAgent -RpcUrl http://127.0.0.1:1 -PrivateKeyVariable E2E_TEST_NODE_KEY -Name agent -Capability ('0x' + '00' * 16)");
        Assert.StartsWith("InvalidCapability,", result.ErrorId);
    }

    [Fact]
    public void New_ChainTransaction_builds_every_kind_and_refuses_impossible_fields_with_ids()
    {
        var result = _pwsh.Run("""
            $to = '0x0000000000000000000000000000000000000022'
            $base = @{ PrivateKeyVariable = 'E2E_TEST_NODE_KEY'; To = $to; Nonce = 1; GasLimit = 60000 }
            $list = @(@{ address = $to; storageKeys = @('0x' + '00' * 32) })
            (New-ChainTransaction @base -GasPrice 1000000000 -NoChainId) | ForEach-Object { "$($_.Type) chain [$($_.ChainId)] $($_.Raw.Substring(0, 4))" }
            (New-ChainTransaction @base -GasPrice 1000000000 -AccessList $list) | ForEach-Object { "$($_.Type) chain [$($_.ChainId)] $($_.Raw.Substring(0, 4))" }
            (New-ChainTransaction @base -MaxFeePerGas 2000000000 -MaxPriorityFeePerGas 1 -AccessList $list) | ForEach-Object { "$($_.Type) chain [$($_.ChainId)] $($_.Raw.Substring(0, 4))" }
            foreach ($bad in @(@{ Nonce = [bigint]::Pow(2, 64) }, @{ Value = [bigint]::Pow(2, 300); GasPrice = 1 }, @{ MaxFeePerGas = 10; MaxPriorityFeePerGas = 20 }, @{ GasPrice = 5; MaxFeePerGas = 10 }, @{ MaxPriorityFeePerGas = 1 }, @{ Nonce = -1 })) {
                $arguments = $base.Clone(); foreach ($k in $bad.Keys) { $arguments[$k] = $bad[$k] }
                try { $null = New-ChainTransaction @arguments -ErrorAction Stop; 'signed' } catch { "$($_.FullyQualifiedErrorId.Split(',')[0]) $($_.TargetObject)" }
            }
            """);
        Assert.Equal(new[]
        {
            "Legacy chain [] 0xf8",
            "AccessList chain [41956] 0x01",
            "DynamicFee chain [41956] 0x02",
            "InvalidTransaction NONCE_TOO_BIG",
            "InvalidTransaction FIELD_OVERFLOW",
            "InvalidTransaction PRIORITY_GREATER_THAN_MAX_FEE_PER_GAS",
            "InvalidArgument GasPrice",
            "InvalidArgument MaxPriorityFeePerGas",
            "InvalidTransaction NEGATIVE_FIELD",
        }, result.Strings);
    }

    [Fact]
    public void Full_run_registers_and_heartbeats_on_ganache_and_never_shows_the_key()
    {
        Repo.UseRepositoryGanache();
        var result = _pwsh.Run("""
            $chain = Start-E2EChain -PrivateKeyVariable E2E_TEST_NODE_KEY -Verbose
            $register = Register-ChainAgent -RpcUrl $chain.RpcUrl -PrivateKeyVariable E2E_TEST_NODE_KEY -Name 'bloom-560m-1bC5BC6' -ModelName 'bigscience/bloom-560m' -Verbose
            $beat = Send-ChainHeartbeat -RpcUrl $chain.RpcUrl -PrivateKeyVariable E2E_TEST_NODE_KEY -Verbose
            $oracle = Start-MockOracle -Verbose
            $sent = Send-OracleReport -OracleUrl $oracle.Url -PrivateKeyVariable E2E_TEST_NODE_KEY -TokensProcessed 42 -Verbose
            $bad = Send-OracleReport -OracleUrl $oracle.Url -PrivateKeyVariable E2E_TEST_NODE_KEY -Timestamp 1 -ErrorAction SilentlyContinue -ErrorVariable badErrors
            $register, $beat, $sent, (Get-MockOracleReport $oracle), (Get-E2EAccount -PrivateKeyVariable E2E_TEST_NODE_KEY), $chain, (Get-E2EScope -Current).Entries
            $badErrors
            "register status $($register.Status) to $($register.To) gas $($register.GasLimit)"
            "heartbeat status $($beat.Status) to $($beat.To) gas $($beat.GasLimit) nonce $($beat.Nonce)"
            """);
        Assert.Null(result.Terminating);
        var text = string.Join("\n", result.Strings);
        Assert.Contains("register status 1 to 0x0000000000000000000000000000000000000021 gas 300000", text);
        Assert.Contains("heartbeat status 1 to 0x0000000000000000000000000000000000000022 gas 100000 nonce 1", text);
        // Everything the run produced, object properties included, must be free of the key.
        var everything = new List<string>();
        everything.AddRange(result.Strings);
        everything.AddRange(result.Output.Where(o => o is not null).SelectMany(o => o.Properties.Select(p => SafeValue(p))));
        everything.AddRange(result.Errors.Select(e => e.ToString() + e.Exception + e.TargetObject));
        everything.AddRange(result.Warnings);
        everything.AddRange(result.Verbose);
        Assert.True(everything.Count > 30);
        Assert.All(everything, s => Assert.DoesNotContain(KeyHex, s, StringComparison.OrdinalIgnoreCase));
        Assert.Contains(result.Verbose, v => v.Contains("mined in block", StringComparison.Ordinal));
    }

    private static string SafeValue(PSPropertyInfo property)
    {
        try
        {
            var value = property.Value;
            return value is null ? string.Empty : value.ToString() + " " + TryJson(value);
        }
        catch (GetValueInvocationException)
        {
            return string.Empty;
        }
    }

    private static string TryJson(object value)
    {
        try
        {
            return JsonSerializer.Serialize(value, value.GetType(), new JsonSerializerOptions { MaxDepth = 4, ReferenceHandler = System.Text.Json.Serialization.ReferenceHandler.IgnoreCycles });
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException or JsonException or ArgumentException)
        {
            return string.Empty;
        }
    }
}
