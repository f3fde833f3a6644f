using E2E.Core.Errors;

namespace E2E.Core.Ethereum;

/// <summary>0x-prefixed lowercase hex, as Ethereum writes bytes.</summary>
public static class Hex
{
    public static string Encode(ReadOnlySpan<byte> bytes) => "0x" + Convert.ToHexString(bytes).ToLowerInvariant();

    /// <summary>Decodes hex with or without 0x; an odd length or a non-hex character is InvalidHex.</summary>
    public static byte[] Decode(string hex, string what = "value")
    {
        var digits = hex.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? hex[2..] : hex;
        if (digits.Length % 2 != 0 || !digits.All(char.IsAsciiHexDigit))
        {
            throw new E2EException(ErrorCatalog.InvalidHex, $"The {what} is not an even number of hexadecimal digits.", what);
        }
        return Convert.FromHexString(digits);
    }

    public static byte[] Decode(string hex, int length, string what)
    {
        var bytes = Decode(hex, what);
        if (bytes.Length != length)
        {
            throw new E2EException(ErrorCatalog.InvalidHex, $"The {what} must be {length} bytes; it is {bytes.Length}.", what);
        }
        return bytes;
    }
}
