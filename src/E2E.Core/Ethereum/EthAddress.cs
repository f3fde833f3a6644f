using System.Text;
using E2E.Core.Errors;

namespace E2E.Core.Ethereum;

/// <summary>A 20-byte account address; <see cref="ToString"/> gives the EIP-55 mixed-case checksum form.</summary>
public sealed class EthAddress : IEquatable<EthAddress>
{
    private readonly byte[] _bytes;

    public EthAddress(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != 20)
        {
            throw new E2EException(ErrorCatalog.InvalidHex, $"An address is 20 bytes; this one is {bytes.Length}.");
        }
        _bytes = bytes.ToArray();
    }

    public byte[] Bytes => _bytes.ToArray();

    public static EthAddress FromPublicKey(ReadOnlySpan<byte> publicKey64) => new(Keccak.Hash(publicKey64).AsSpan(12));

    /// <summary>Parses 0x + 40 hex digits. Mixed case must be a valid EIP-55 checksum; all-lower or all-upper is accepted as is.</summary>
    public static EthAddress Parse(string text)
    {
        var address = new EthAddress(Hex.Decode(text, 20, "address"));
        var digits = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
        var mixed = digits.Any(char.IsAsciiLetterUpper) && digits.Any(char.IsAsciiLetterLower);
        if (mixed && address.ToString()[2..] != digits)
        {
            throw new E2EException(ErrorCatalog.InvalidHex, $"Address '{text}' has an invalid EIP-55 checksum.", text);
        }
        return address;
    }

    /// <summary>EIP-55: a hex letter is upper case when the matching nibble of keccak(lowercase hex) is 8 or more.</summary>
    public override string ToString()
    {
        var lower = Convert.ToHexString(_bytes).ToLowerInvariant();
        var hash = Keccak.Hash(Encoding.ASCII.GetBytes(lower));
        var result = new StringBuilder("0x", 42);
        for (var i = 0; i < 40; i++)
        {
            var nibble = (hash[i / 2] >> (i % 2 == 0 ? 4 : 0)) & 0xF;
            result.Append(char.IsAsciiLetter(lower[i]) && nibble >= 8 ? char.ToUpperInvariant(lower[i]) : lower[i]);
        }
        return result.ToString();
    }

    public bool Equals(EthAddress? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);

    public override bool Equals(object? obj) => Equals(obj as EthAddress);

    public override int GetHashCode() => BitConverter.ToInt32(_bytes, 0);
}
