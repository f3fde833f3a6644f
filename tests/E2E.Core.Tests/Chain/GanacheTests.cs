using System.Numerics;
using System.Text.Json;
using E2E.Core.Chain;
using E2E.Core.Errors;
using E2E.Core.Ethereum;
using E2E.Core.Tests.Ethereum;

namespace E2E.Core.Tests.Chain;

/// <summary>A real ganache chain (chain id 41956), installed by test.sh from the npm registry; found through E2E_GANACHE or PATH.</summary>
public sealed class GanacheFixture : IAsyncLifetime
{
    public LocalChain Chain { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var repositoryCopy = Path.Combine(FindRepository(), "tools", "ganache", "node_modules", ".bin", "ganache");
        var ganache = LocalChain.FindGanache() ?? (File.Exists(repositoryCopy) ? repositoryCopy : null)
            ?? throw new InvalidOperationException("ganache was not found: run ./test.sh (it installs tools/ganache and sets E2E_GANACHE) or install ganache on PATH.");
        Chain = await LocalChain.StartAsync(41956, new[] { new EthKeyMaterial(PlumiseVectorTests.KeyAb) }, ganache, TimeSpan.FromSeconds(60), CancellationToken.None);
    }

    private static string FindRepository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "E2E.psd1")))
            {
                return dir.FullName;
            }
        }
        throw new DirectoryNotFoundException("The repository root (E2E.psd1) was not found.");
    }

    public Task DisposeAsync()
    {
        Chain.Dispose();
        return Task.CompletedTask;
    }
}

public sealed class GanacheTests(GanacheFixture fixture) : IClassFixture<GanacheFixture>
{
    [Fact]
    public void The_funded_key_is_not_on_ganache_command_line()
    {
        // argv is world-readable (ps, /proc/<pid>/cmdline); the key travels in the environment.
        var cmdline = File.ReadAllText($"/proc/{fixture.Chain.ProcessId}/cmdline").Replace('\0', ' ');
        var key = new EthKeyMaterial(PlumiseVectorTests.KeyAb).Hex;
        Assert.Contains("ganache", File.ReadAllText($"/proc/{fixture.Chain.ProcessId}/environ"));
        Assert.DoesNotContain(key.TrimStart('0', 'x'), cmdline, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Register_then_heartbeat_are_mined_with_the_expected_sender_target_gas_and_status()
    {
        using var key = EthKey.FromHex(PlumiseVectorTests.KeyAb);
        using var rpc = new ChainRpcClient(fixture.Chain.RpcUrl);
        Assert.Equal(41956, (int)await rpc.ChainIdAsync(CancellationToken.None));
        var nonce = await rpc.NonceAsync(key.Address, CancellationToken.None);

        var register = await rpc.SendAsync(key, AgentCalldata.RegisterPrecompile, AgentCalldata.Register("bloom-560m-" + key.Address.ToString()[^8..], new byte[32], new[] { Keccak.Hash("text-generation"u8) }),
            AgentCalldata.RegisterGas, 41956, null, null, TimeSpan.FromSeconds(30), CancellationToken.None);
        var heartbeat = await rpc.SendAsync(key, AgentCalldata.HeartbeatPrecompile, Array.Empty<byte>(), AgentCalldata.HeartbeatGas, 41956, null, null, TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.Equal((1L, key.Address, AgentCalldata.RegisterPrecompile), (register.Status, register.From, register.To));
        Assert.Equal((1L, key.Address, AgentCalldata.HeartbeatPrecompile), (heartbeat.Status, heartbeat.From, heartbeat.To));
        Assert.Equal((nonce, nonce + 1), (register.Nonce, heartbeat.Nonce));

        foreach (var (result, gas, dataLength) in new[] { (register, 300000, 128), (heartbeat, 100000, 0) })
        {
            var tx = await rpc.CallAsync("eth_getTransactionByHash", new object[] { result.Hash }, CancellationToken.None);
            Assert.Equal(gas, (int)BigInteger.Parse("0" + tx.GetProperty("gas").GetString()![2..], System.Globalization.NumberStyles.HexNumber));
            Assert.Equal(dataLength, Hex.Decode(tx.GetProperty("input").GetString()!).Length);
            Assert.Equal(key.Address, EthAddress.Parse(tx.GetProperty("from").GetString()!));
        }
    }

    [Fact]
    public async Task Wrong_chain_id_and_rejected_transactions_have_ids()
    {
        using var key = EthKey.FromHex(PlumiseVectorTests.KeyAb);
        using var rpc = new ChainRpcClient(fixture.Chain.RpcUrl);
        var mismatch = await Assert.ThrowsAsync<E2EException>(() => rpc.SendAsync(key, AgentCalldata.HeartbeatPrecompile, Array.Empty<byte>(), 100000, 1, null, null, TimeSpan.FromSeconds(5), CancellationToken.None));
        Assert.Same(ErrorCatalog.ChainIdMismatch, mismatch.Error);
        // An account with no funds cannot pay for gas: the node refuses the transaction.
        using var poor = EthKey.FromBytes(Enumerable.Repeat((byte)0x42, 32).ToArray());
        var refused = await Assert.ThrowsAsync<E2EException>(() => rpc.SendAsync(poor, AgentCalldata.HeartbeatPrecompile, Array.Empty<byte>(), 100000, 41956, null, null, TimeSpan.FromSeconds(5), CancellationToken.None));
        Assert.Same(ErrorCatalog.ChainRpcFailed, refused.Error);
    }

    [Fact]
    public async Task Unreachable_rpc_is_ChainRpcFailed()
    {
        using var rpc = new ChainRpcClient("http://127.0.0.1:1", TimeSpan.FromSeconds(2));
        var ex = await Assert.ThrowsAsync<E2EException>(() => rpc.ChainIdAsync(CancellationToken.None));
        Assert.Same(ErrorCatalog.ChainRpcFailed, ex.Error);
    }
}
