using Org.BouncyCastle.Crypto.Digests;

namespace E2E.Core.Ethereum;

/// <summary>Keccak-256 (the pre-standard SHA-3 padding Ethereum uses).</summary>
public static class Keccak
{
    public static byte[] Hash(ReadOnlySpan<byte> data)
    {
        var digest = new KeccakDigest(256);
        digest.BlockUpdate(data.ToArray(), 0, data.Length);
        var output = new byte[32];
        digest.DoFinal(output, 0);
        return output;
    }

    /// <summary>Keccak-256 of the parts concatenated.</summary>
    public static byte[] HashConcat(params byte[][] parts) => Hash(parts.SelectMany(p => p).ToArray().AsSpan());
}
