using System.Numerics;
using System.Text;
using E2E.Core.Errors;

namespace E2E.Core.Ethereum;

/// <summary>
/// Calldata for the Plumise precompiles: raw concatenations, no ABI selector. Register (0x21):
/// name32 ‖ modelHash32 ‖ uint256 capability count ‖ 32-byte capabilities. Heartbeat (0x22): empty.
/// VerifyInference (0x20): modelHash ‖ inputHash ‖ outputHash ‖ leftpad32(agent) ‖ uint256 tokenCount (160 bytes).
/// </summary>
public static class AgentCalldata
{
    public static readonly EthAddress VerifyInferencePrecompile = Precompile(0x20);
    public static readonly EthAddress RegisterPrecompile = Precompile(0x21);
    public static readonly EthAddress HeartbeatPrecompile = Precompile(0x22);

    public const long RegisterGas = 300_000;
    public const long HeartbeatGas = 100_000;
    public const long VerifyInferenceGas = 200_000;

    /// <summary>The name is UTF-8, truncated to 32 bytes and right-padded with zeros.</summary>
    public static byte[] Register(string name, byte[] modelHash, IReadOnlyList<byte[]> capabilities)
    {
        Require32(modelHash, "model hash", ErrorCatalog.InvalidHex);
        foreach (var capability in capabilities)
        {
            Require32(capability, "capability", ErrorCatalog.InvalidCapability);
        }
        var name32 = new byte[32];
        var utf8 = Encoding.UTF8.GetBytes(name);
        Array.Copy(utf8, name32, Math.Min(32, utf8.Length));
        return name32.Concat(modelHash).Concat(Word(capabilities.Count)).Concat(capabilities.SelectMany(c => c)).ToArray();
    }

    public static byte[] VerifyInference(byte[] modelHash, byte[] inputHash, byte[] outputHash, EthAddress agent, long tokenCount)
    {
        foreach (var (hash, what) in new[] { (modelHash, "model hash"), (inputHash, "input hash"), (outputHash, "output hash") })
        {
            Require32(hash, what, ErrorCatalog.InvalidHex);
        }
        return modelHash.Concat(inputHash).Concat(outputHash).Concat(new byte[12]).Concat(agent.Bytes).Concat(Word(tokenCount)).ToArray();
    }

    /// <summary>A uint256 as 32 big-endian bytes.</summary>
    public static byte[] Word(BigInteger value)
    {
        var bytes = value.IsZero ? Array.Empty<byte>() : value.ToByteArray(isUnsigned: true, isBigEndian: true);
        var word = new byte[32];
        bytes.CopyTo(word, 32 - bytes.Length);
        return word;
    }

    private static void Require32(byte[] value, string what, ErrorId error)
    {
        if (value.Length != 32)
        {
            throw new E2EException(error, $"Each {what} must be exactly 32 bytes; got {value.Length}.", what);
        }
    }

    private static EthAddress Precompile(byte last)
    {
        var bytes = new byte[20];
        bytes[19] = last;
        return new EthAddress(bytes);
    }
}
