using System.Management.Automation;
using System.Numerics;
using System.Text;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Chain;
using E2E.Core.Errors;
using E2E.Core.Ethereum;

namespace E2E.Cmdlets.Petals;

/// <summary>The chain parameters shared by cmdlets that send transactions.</summary>
public abstract class ChainCmdletBase : KeyCmdletBase
{
    public const string DefaultRpcVariable = "PLUMISE_RPC_URL";
    public const string DefaultRpcUrl = "http://localhost:26902";

    /// <summary>The chain's JSON-RPC URL; $env:PLUMISE_RPC_URL, else http://localhost:26902 (the Plumise default).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? RpcUrl { get; set; }

    /// <summary>The chain id the transaction is signed for (EIP-155); 41956 by default. It must match the chain's.</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long ChainId { get; set; } = 41956;

    /// <summary>Gas price in wei; the chain's eth_gasPrice by default.</summary>
    [Parameter]
    public BigInteger? GasPrice { get; set; }

    /// <summary>The nonce; the account's pending transaction count by default.</summary>
    [Parameter]
    public BigInteger? Nonce { get; set; }

    /// <summary>Seconds to wait for the receipt; 30 by default.</summary>
    [Parameter]
    [ValidateRange(0.1, 3600.0)]
    public double TimeoutSec { get; set; } = 30;

    protected string ResolvedRpcUrl => RpcUrl ?? Environment.GetEnvironmentVariable(DefaultRpcVariable) ?? DefaultRpcUrl;

    protected async Task<ChainTransactionResult> SendAsync(EthAddress to, byte[] data, long gas, string action)
    {
        using var key = LoadKey();
        if (!await ShouldProcessAsync($"{to} on chain {ChainId} ({ResolvedRpcUrl})", $"{action} from {key.Address}").ConfigureAwait(false))
        {
            return null!;
        }
        using var rpc = new ChainRpcClient(ResolvedRpcUrl, TimeSpan.FromSeconds(Math.Max(5, TimeoutSec)));
        var result = await WithProgressAsync(Activities.Chain, $"{action}: transaction to {to} (timeout {TimeoutSec:0} s)", () => "sent, waiting for the receipt",
            () => rpc.SendAsync(key, to, data, gas, ChainId, GasPrice, Nonce, TimeSpan.FromSeconds(TimeoutSec), CancelToken)).ConfigureAwait(false);
        Verbose($"{action}: {result.Hash} mined in block {result.BlockNumber} with status {result.Status}");
        return result;
    }
}

/// <summary>Registers an agent on chain through the 0x21 precompile.</summary>
/// <remarks>
/// <para>Sends a legacy EIP-155 transaction (gas 300000) to 0x0000000000000000000000000000000000000021 whose data is the agent name (UTF-8, truncated and zero-padded to 32 bytes), the model hash (32 bytes), the capability count (uint256) and each 32-byte capability, with no ABI selector. Waits for the receipt; status 0 is TransactionFailed, a chain with another chain id is ChainIdMismatch, a capability that is not exactly 32 bytes is InvalidCapability.</para>
/// </remarks>
/// <example>
/// <code>Register-ChainAgent -RpcUrl http://127.0.0.1:8545 -Name 'bloom-560m-51F7A03' -ModelName 'bigscience/bloom-560m'</code>
/// <para>Registers the agent of $env:PLUMISE_PRIVATE_KEY with the keccak-256 of the model name as model hash.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Register, "ChainAgent", SupportsShouldProcess = true, DefaultParameterSetName = "KeyVariable")]
[OutputType(typeof(ChainTransactionResult))]
public sealed class RegisterChainAgentCommand : ChainCmdletBase
{
    /// <summary>The agent's name, at most 32 bytes of UTF-8 (longer names are truncated, as upstream does).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>The model hash as 32 bytes of hex; zero by default (upstream's server registers a zero hash).</summary>
    [Parameter]
    public string? ModelHash { get; set; }

    /// <summary>A model name whose keccak-256 becomes the model hash, instead of -ModelHash.</summary>
    [Parameter]
    public string? ModelName { get; set; }

    /// <summary>Capabilities, each exactly 32 bytes of hex.</summary>
    [Parameter]
    public string[] Capability { get; set; } = Array.Empty<string>();

    protected override async Task ProcessAsync()
    {
        var modelHash = ModelHash is not null ? Hex.Decode(ModelHash, 32, "model hash")
            : ModelName is not null ? Keccak.Hash(Encoding.UTF8.GetBytes(ModelName))
            : new byte[32];
        var capabilities = Capability.Select(c => Hex.Decode(c, "capability")).ToArray();
        var data = AgentCalldata.Register(Name!, modelHash, capabilities);
        var result = await SendAsync(AgentCalldata.RegisterPrecompile, data, AgentCalldata.RegisterGas, $"Register agent '{Name}'").ConfigureAwait(false);
        if (result is not null)
        {
            Output(result);
        }
    }
}

/// <summary>Sends an agent heartbeat through the 0x22 precompile.</summary>
/// <remarks>
/// <para>Sends a legacy EIP-155 transaction (gas 100000, empty data) to 0x0000000000000000000000000000000000000022 from the agent's account and waits for its receipt. The sender is the agent; status 0 is TransactionFailed.</para>
/// </remarks>
/// <example>
/// <code>Send-ChainHeartbeat -RpcUrl http://127.0.0.1:8545 -PrivateKeyPath ./node-a.key | Format-List Hash, Nonce, Status</code>
/// <para>One heartbeat; upstream nodes send one every 300 seconds.</para>
/// </example>
[Cmdlet(VerbsCommunications.Send, "ChainHeartbeat", SupportsShouldProcess = true, DefaultParameterSetName = "KeyVariable")]
[OutputType(typeof(ChainTransactionResult))]
public sealed class SendChainHeartbeatCommand : ChainCmdletBase
{
    protected override async Task ProcessAsync()
    {
        var result = await SendAsync(AgentCalldata.HeartbeatPrecompile, Array.Empty<byte>(), AgentCalldata.HeartbeatGas, "Heartbeat").ConfigureAwait(false);
        if (result is not null)
        {
            Output(result);
        }
    }
}

/// <summary>What New-ChainTransaction built: the raw signed bytes and the fields, ready for eth_sendRawTransaction.</summary>
public sealed record SignedChainTransaction(string Raw, string Hash, EthAddress From, EthAddress? To, TransactionType Type, BigInteger? ChainId, BigInteger Nonce, BigInteger GasLimit, string Data);

/// <summary>Builds and signs a transaction without sending it.</summary>
/// <remarks>
/// <para>Builds a legacy EIP-155 transaction (with -GasPrice; with -NoChainId a pre-EIP-155 one, replayable on any chain), an EIP-2930 one (with -GasPrice and -AccessList) or an EIP-1559 one (with -MaxFeePerGas and -MaxPriorityFeePerGas, and optionally -AccessList), signs it with RFC 6979 deterministic low-s signatures, and returns the raw bytes and hash. Nothing is sent, so no RPC URL is needed; give -Nonce. Signing the same fields with the same key always gives the same bytes.</para>
/// <para>Fields no valid transaction can carry are refused before anything is signed, with InvalidTransaction and the rule (a nonce of 2^64 - 1 or more, a value or fee beyond 256 bits, a negative field, a priority fee above the maximum fee, gas below the intrinsic cost); -GasPrice with -MaxFeePerGas, or -MaxPriorityFeePerGas without -MaxFeePerGas, is InvalidArgument.</para>
/// </remarks>
/// <example>
/// <code>New-ChainTransaction -To 0x0000000000000000000000000000000000000022 -Nonce 1 -GasLimit 100000 -GasPrice 1000000000 -PrivateKeyPath ./test.key</code>
/// <para>The signed heartbeat of the Plumise test vector.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "ChainTransaction", SupportsShouldProcess = true, DefaultParameterSetName = "KeyVariable")]
[OutputType(typeof(SignedChainTransaction))]
public sealed class NewChainTransactionCommand : KeyCmdletBase
{
    /// <summary>The recipient address; omit to create a contract.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    public string? To { get; set; }

    /// <summary>The call data as hex.</summary>
    [Parameter]
    public string Data { get; set; } = "0x";

    /// <summary>Value in wei.</summary>
    [Parameter]
    public BigInteger Value { get; set; }

    /// <summary>The nonce.</summary>
    [Parameter(Mandatory = true)]
    public BigInteger Nonce { get; set; }

    /// <summary>The gas limit.</summary>
    [Parameter(Mandatory = true)]
    public BigInteger GasLimit { get; set; }

    /// <summary>Gas price in wei, for a legacy transaction.</summary>
    [Parameter]
    public BigInteger? GasPrice { get; set; }

    /// <summary>Maximum fee per gas in wei, for an EIP-1559 transaction.</summary>
    [Parameter]
    public BigInteger? MaxFeePerGas { get; set; }

    /// <summary>Maximum priority fee per gas in wei, for an EIP-1559 transaction.</summary>
    [Parameter]
    public BigInteger? MaxPriorityFeePerGas { get; set; }

    /// <summary>The chain id; 41956 by default.</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long ChainId { get; set; } = 41956;

    /// <summary>A pre-EIP-155 legacy transaction, without a chain id in its signature (valid on any chain).</summary>
    [Parameter]
    public SwitchParameter NoChainId { get; set; }

    /// <summary>EIP-2930 access list: entries like @{ address = '0x...'; storageKeys = @('0x' + 64 hex digits) }, as JSON-RPC writes them.</summary>
    [Parameter]
    public System.Collections.IDictionary[]? AccessList { get; set; }

    protected override async Task ProcessAsync()
    {
        if (GasPrice is not null && MaxFeePerGas is not null)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, "Give -GasPrice (a legacy or EIP-2930 transaction) or -MaxFeePerGas with -MaxPriorityFeePerGas (EIP-1559), not both.", "GasPrice");
        }
        if (MaxPriorityFeePerGas is not null && MaxFeePerGas is null)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, "-MaxPriorityFeePerGas needs -MaxFeePerGas (an EIP-1559 transaction).", "MaxPriorityFeePerGas");
        }
        var accessList = (AccessList ?? Array.Empty<System.Collections.IDictionary>()).Select(ParseAccessListEntry).ToArray();
        var dynamicFee = MaxFeePerGas is not null;
        if (NoChainId && (dynamicFee || AccessList is not null))
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, "-NoChainId makes a pre-EIP-155 legacy transaction; typed transactions (-MaxFeePerGas, -AccessList) always carry a chain id.", "NoChainId");
        }
        using var key = LoadKey();
        var tx = new EthTransaction
        {
            Type = dynamicFee ? TransactionType.DynamicFee : AccessList is not null ? TransactionType.AccessList : TransactionType.Legacy,
            ChainId = NoChainId ? null : ChainId,
            AccessList = accessList,
            Nonce = Nonce,
            GasPrice = GasPrice ?? 0,
            MaxFeePerGas = MaxFeePerGas ?? 0,
            MaxPriorityFeePerGas = MaxPriorityFeePerGas ?? 0,
            GasLimit = GasLimit,
            To = To is null ? null : EthAddress.Parse(To),
            Value = Value,
            Data = Hex.Decode(Data, "data"),
        };
        if (!await ShouldProcessAsync(To ?? "(contract creation)", $"Sign a transaction from {key.Address}").ConfigureAwait(false))
        {
            return;
        }
        var signed = tx.Sign(key);
        Output(new SignedChainTransaction(Hex.Encode(signed.Encode()), Hex.Encode(signed.Hash()), key.Address, signed.To, signed.Type, signed.ChainId, Nonce, GasLimit, Hex.Encode(signed.Data)));
    }

    private static AccessListEntry ParseAccessListEntry(System.Collections.IDictionary entry)
    {
        object? Field(string name) => entry.Keys.Cast<object>().FirstOrDefault(k => string.Equals(k?.ToString(), name, StringComparison.OrdinalIgnoreCase)) is { } k ? entry[k] : null;
        var address = Field("address")?.ToString()
            ?? throw new E2EException(ErrorCatalog.InvalidArgument, "Each -AccessList entry needs an 'address'.", "AccessList");
        var keys = Field("storageKeys") switch
        {
            null => Array.Empty<byte[]>(),
            string one => new[] { Hex.Decode(one, 32, "storage key") },
            System.Collections.IEnumerable many => many.Cast<object?>().Select(k => Hex.Decode(k?.ToString() ?? string.Empty, 32, "storage key")).ToArray(),
            var other => new[] { Hex.Decode(other.ToString() ?? string.Empty, 32, "storage key") },
        };
        return new AccessListEntry(EthAddress.Parse(address), keys);
    }
}

/// <summary>Starts a real local EVM chain (ganache) for the suite's chain tests.</summary>
/// <remarks>
/// <para>Starts ganache on a free port of 127.0.0.1 with -ChainId (41956 by default) and funds the given key with 1000 ether, then waits until it answers. Ganache is found through $env:E2E_GANACHE, then PATH (npm install --global ganache); without it the error is ToolNotFound, which a suite turns into a skip with a clear reason. The chain is registered in the current scope and stopped when the scope is removed.</para>
/// </remarks>
/// <example>
/// <code>$chain = Start-E2EChain -PrivateKeyVariable PLUMISE_PRIVATE_KEY
/// Register-ChainAgent -RpcUrl $chain.RpcUrl -Name 'test-agent'</code>
/// <para>A funded local chain for one test file.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Start, "E2EChain", SupportsShouldProcess = true, DefaultParameterSetName = "KeyVariable")]
[OutputType(typeof(LocalChain))]
public sealed class StartE2EChainCommand : KeyCmdletBase
{
    /// <summary>The chain id; 41956 by default.</summary>
    [Parameter]
    [ValidateRange(1, long.MaxValue)]
    public long ChainId { get; set; } = 41956;

    /// <summary>Seconds to wait for the chain to answer; 60 by default.</summary>
    [Parameter]
    [ValidateRange(1.0, 3600.0)]
    public double TimeoutSec { get; set; } = 60;

    /// <summary>More accounts to fund: names of environment variables holding their keys (each node of a swarm needs gas).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] FundKeyVariable { get; set; } = Array.Empty<string>();

    private E2E.Core.Scopes.E2EScope? _scope;

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        _scope = Scopes.RequireCurrent("a local chain");
    }

    protected override async Task ProcessAsync()
    {
        // The hex goes to ganache by environment only, which funds the accounts.
        var funded = new List<EthKeyMaterial> { LoadKeyMaterial() };
        foreach (var variable in FundKeyVariable)
        {
            funded.Add(EthKeyMaterial.FromText(Environment.GetEnvironmentVariable(variable) is { Length: > 0 } text ? text
                : throw new E2EException(ErrorCatalog.InvalidKey, $"The environment variable '{variable}' holds no private key.", variable)));
        }
        using (var key = LoadKey())
        {
            if (!await ShouldProcessAsync($"chain {ChainId} on 127.0.0.1", $"Start ganache funding {key.Address}").ConfigureAwait(false))
            {
                return;
            }
        }
        var chain = await WithProgressAsync(Activities.Chain, $"Local chain {ChainId} (timeout {TimeoutSec:0} s)", () => "starting ganache and waiting for its RPC",
            () => LocalChain.StartAsync(ChainId, funded, null, TimeSpan.FromSeconds(TimeoutSec), CancelToken)).ConfigureAwait(false);
        _scope!.TrackDisposable(chain, "Process", chain.ToString());
        Output(chain);
    }
}
