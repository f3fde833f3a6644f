using System.Numerics;
using E2E.Core.Errors;
using Secp256k1Net;
using Native = Secp256k1Net.Secp256k1;

namespace E2E.Core.Ethereum;

/// <summary>An ECDSA signature over secp256k1: r and s as 32 big-endian bytes, and the recovery id (0 or 1 for low-s Ethereum signatures).</summary>
public sealed record EcdsaSignature(byte[] R, byte[] S, int RecoveryId)
{
    /// <summary>r ‖ s ‖ v, with v = <paramref name="vOffset"/> + recovery id (27 for personal_sign).</summary>
    public byte[] ToBytes(int vOffset = 27) => R.Concat(S).Append((byte)(vOffset + RecoveryId)).ToArray();

    /// <summary>Reads r ‖ s ‖ v; v may be 27/28 or 0/1.</summary>
    public static EcdsaSignature FromBytes(ReadOnlySpan<byte> signature)
    {
        if (signature.Length != 65)
        {
            throw new E2EException(ErrorCatalog.InvalidSignature, $"A signature must be 65 bytes (r, s, v); this one is {signature.Length}.");
        }
        var v = signature[64];
        var recovery = v >= 27 ? v - 27 : v;
        if (recovery is not (0 or 1))
        {
            throw new E2EException(ErrorCatalog.InvalidSignature, $"Signature v must be 27 or 28 (or 0 or 1); it is {v}.");
        }
        return new EcdsaSignature(signature[..32].ToArray(), signature[32..64].ToArray(), recovery);
    }
}

/// <summary>
/// secp256k1 signing, verification and public-key recovery through Secp256k1.Net, a thin wrapper of Bitcoin
/// Core's native libsecp256k1 (constant-time signing, RFC 6979 nonces, low-s signatures). Measured with
/// `bench crypto` on the 2-core build machine (README, Benchmarks): the design card's Nethereum.Signer on
/// NBitcoin.Secp256k1 (a C# port of the same library) signed about 3,400/s and verified about 3,300/s, 1.65x and
/// 1.41x OpenSSL, short of the 2x goal; the native library does about 8x that. The range checks on r, s and keys
/// stay here: callers decode untrusted signatures, and a bad one must become "no key", not a crash.
/// </summary>
public static class Secp256k1
{
    private static readonly BigInteger N = BigInteger.Parse("0FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", System.Globalization.NumberStyles.HexNumber);

    // One context for the process: libsecp256k1 only reads it while signing, verifying and recovering, so
    // threads share it (the wrapper's own static helpers do the same).
    private static readonly Native Library = new();

    public static bool IsValidPrivateKey(ReadOnlySpan<byte> key) => key.Length == 32 && InRange(key);

    /// <summary>The 64-byte uncompressed public key (x ‖ y, without the 0x04 prefix).</summary>
    public static byte[] PublicKey(ReadOnlySpan<byte> privateKey)
    {
        RequireValid(privateKey);
        Span<byte> parsed = stackalloc byte[64];
        if (!Library.EcPubkeyCreate(parsed, privateKey))
        {
            throw InvalidKey();
        }
        return Serialize(parsed);
    }

    public static EcdsaSignature Sign(ReadOnlySpan<byte> hash, ReadOnlySpan<byte> privateKey)
    {
        if (hash.Length != 32)
        {
            throw new ArgumentException("Sign a 32-byte hash.", nameof(hash));
        }
        RequireValid(privateKey);
        Span<byte> recoverable = stackalloc byte[65];
        Span<byte> compact = stackalloc byte[64];
        if (!Library.EcdsaSignRecoverable(recoverable, hash, privateKey)
            || !Library.EcdsaRecoverableSignatureSerializeCompact(compact, out var recoveryId, recoverable))
        {
            throw InvalidKey();
        }
        return new EcdsaSignature(compact[..32].ToArray(), compact[32..].ToArray(), recoveryId);
    }

    /// <summary>The public key that made a signature, or null when none can (r or s out of range, x not on the curve, the point at infinity).</summary>
    /// <remarks>
    /// libsecp256k1's recovery, not Nethereum's EthECKey.RecoverFromSignature: that one recovered a key for two
    /// ethereum/tests vectors that must fail (ttRSValue/TransactionWithRvalueHigh, ttSignature/PointAtInfinity);
    /// libsecp256k1 rejects both, as geth (which uses it) does.
    /// </remarks>
    public static byte[]? Recover(ReadOnlySpan<byte> hash, EcdsaSignature signature)
    {
        if (!InRange(signature.R) || !InRange(signature.S) || signature.RecoveryId is < 0 or > 3 || hash.Length != 32)
        {
            return null;
        }
        Span<byte> recoverable = stackalloc byte[65];
        Span<byte> parsed = stackalloc byte[64];
        if (!Library.EcdsaRecoverableSignatureParseCompact(recoverable, Compact(signature), signature.RecoveryId)
            || !Library.EcdsaRecover(parsed, recoverable, hash))
        {
            return null;
        }
        return Serialize(parsed);
    }

    /// <summary>Standard ECDSA verification against a known 64-byte public key (s and n - s both verify, as in ECDSA itself).</summary>
    public static bool Verify(ReadOnlySpan<byte> hash, EcdsaSignature signature, ReadOnlySpan<byte> publicKey)
    {
        if (!InRange(signature.R) || !InRange(signature.S) || publicKey.Length != 64 || hash.Length != 32)
        {
            return false;
        }
        Span<byte> encoded = stackalloc byte[65];
        encoded[0] = 0x04;
        publicKey.CopyTo(encoded[1..]);
        Span<byte> key = stackalloc byte[64];
        Span<byte> parsed = stackalloc byte[64];
        if (!Library.EcPubkeyParse(key, encoded) || !Library.EcdsaSignatureParseCompact(parsed, Compact(signature)))
        {
            return false;
        }
        // libsecp256k1 verifies only low-s signatures; normalising first keeps plain ECDSA semantics.
        Library.EcdsaSignatureNormalize(parsed, parsed);
        return Library.EcdsaVerify(parsed, hash, key);
    }

    private static byte[] Compact(EcdsaSignature signature) => To32(signature.R).Concat(To32(signature.S)).ToArray();

    // libsecp256k1's opaque 64-byte public key to x ‖ y.
    private static byte[] Serialize(ReadOnlySpan<byte> parsed)
    {
        Span<byte> encoded = stackalloc byte[65];
        nuint length = 65;
        Library.EcPubkeySerialize(encoded, ref length, parsed, Secp256k1EcFlags.Uncompressed);
        return encoded[1..].ToArray();
    }

    private static void RequireValid(ReadOnlySpan<byte> privateKey)
    {
        if (!IsValidPrivateKey(privateKey))
        {
            throw InvalidKey();
        }
    }

    private static E2EException InvalidKey() => new(ErrorCatalog.InvalidKey, "A private key must be 32 bytes between 1 and n - 1.");

    // 0 < value < n, for scalars read from untrusted input.
    private static bool InRange(ReadOnlySpan<byte> value)
    {
        if (value.Length > 32)
        {
            return false;
        }
        var number = new BigInteger(value, isUnsigned: true, isBigEndian: true);
        return number.Sign > 0 && number < N;
    }

    private static byte[] To32(byte[] value)
    {
        var trimmed = value.AsSpan().TrimStart((byte)0);
        var padded = new byte[32];
        trimmed.CopyTo(padded.AsSpan(32 - trimmed.Length));
        return padded;
    }
}
