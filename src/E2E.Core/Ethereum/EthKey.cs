using System.Security.Cryptography;
using E2E.Core.Errors;

namespace E2E.Core.Ethereum;

/// <summary>
/// A secp256k1 private key. It is never shown: <see cref="ToString"/> gives the address, errors never quote
/// the key, and <see cref="Dispose"/> zeroes it. Keys come from hex (a SecureString's contents), a file, or
/// an environment variable, so none has to be typed on a command line.
/// </summary>
public sealed class EthKey : IDisposable
{
    private readonly byte[] _secret;

    private EthKey(byte[] secret)
    {
        if (!Secp256k1.IsValidPrivateKey(secret))
        {
            CryptographicOperations.ZeroMemory(secret);
            throw new E2EException(ErrorCatalog.InvalidKey, "The private key must be 32 bytes (64 hex digits) and within the secp256k1 range.");
        }
        _secret = secret;
        PublicKey = Secp256k1.PublicKey(secret);
        Address = EthAddress.FromPublicKey(PublicKey);
    }

    public byte[] PublicKey { get; }

    public EthAddress Address { get; }

    public static EthKey FromBytes(ReadOnlySpan<byte> secret) => new(secret.ToArray());

    /// <summary>From 64 hex digits with or without 0x; surrounding whitespace (a trailing newline in a key file) is ignored.</summary>
    public static EthKey FromHex(string hex)
    {
        var digits = hex.Trim();
        digits = digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? digits[2..] : digits;
        if (digits.Length != 64 || !digits.All(char.IsAsciiHexDigit))
        {
            throw new E2EException(ErrorCatalog.InvalidKey, "The private key must be 64 hexadecimal digits (optionally 0x-prefixed).");
        }
        return new EthKey(Convert.FromHexString(digits));
    }

    public static EthKey FromFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new E2EException(ErrorCatalog.InvalidKey, $"The key file '{path}' does not exist.", path);
        }
        return FromHex(File.ReadAllText(path));
    }

    public static EthKey FromEnvironment(string variable)
    {
        var value = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new E2EException(ErrorCatalog.InvalidKey, $"The environment variable '{variable}' holds no private key.", variable);
        }
        return FromHex(value);
    }

    public EcdsaSignature Sign(ReadOnlySpan<byte> hash) => Secp256k1.Sign(hash, _secret);

    public override string ToString() => $"key for {Address}";

    public void Dispose() => CryptographicOperations.ZeroMemory(_secret);
}

/// <summary>What Get-E2EAccount shows of a key: only public parts.</summary>
public sealed record E2EAccount(EthAddress Address, string PublicKey);
