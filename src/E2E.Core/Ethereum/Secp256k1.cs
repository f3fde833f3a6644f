using System.Numerics;
using E2E.Core.Errors;
using NBitcoin.Secp256k1;
using Nethereum.Signer;

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
/// secp256k1 signing, verification and public-key recovery through Nethereum.Signer on its NBitcoin.Secp256k1
/// backend (a C# port of libsecp256k1: RFC 6979 nonces, low-s signatures, constant-time signing). Nethereum's
/// default BouncyCastle path signs about 14x slower (DESIGN.md section 4), so the NBitcoin one is switched on.
/// Recovery and verification call NBitcoin.Secp256k1 itself (see Recover). The range checks on r, s and keys stay here: callers decode untrusted signatures, and a library exception
/// must become "no key", not a crash.
/// </summary>
public static class Secp256k1
{
    private static readonly BigInteger N = BigInteger.Parse("0FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", System.Globalization.NumberStyles.HexNumber);

    static Secp256k1() => EthECKey.SignRecoverable = true;

    public static bool IsValidPrivateKey(ReadOnlySpan<byte> key) => key.Length == 32 && InRange(key);

    /// <summary>The 64-byte uncompressed public key (x ‖ y, without the 0x04 prefix).</summary>
    public static byte[] PublicKey(ReadOnlySpan<byte> privateKey) => PrivateKey(privateKey).GetPubKeyNoPrefix();

    public static EcdsaSignature Sign(ReadOnlySpan<byte> hash, ReadOnlySpan<byte> privateKey)
    {
        if (hash.Length != 32)
        {
            throw new ArgumentException("Sign a 32-byte hash.", nameof(hash));
        }
        var signature = PrivateKey(privateKey).SignAndCalculateV(hash.ToArray());
        return new EcdsaSignature(To32(signature.R), To32(signature.S), signature.V[0] - 27);
    }

    /// <summary>The public key that made a signature, or null when none can (r or s out of range, x not on the curve, the point at infinity).</summary>
    /// <remarks>
    /// NBitcoin.Secp256k1 directly, not Nethereum's EthECKey.RecoverFromSignature: that one recovered a key for two
    /// ethereum/tests vectors that must fail (ttRSValue/TransactionWithRvalueHigh, ttSignature/PointAtInfinity);
    /// libsecp256k1's recovery rejects both, as geth does.
    /// </remarks>
    public static byte[]? Recover(ReadOnlySpan<byte> hash, EcdsaSignature signature)
    {
        if (!InRange(signature.R) || !InRange(signature.S) || signature.RecoveryId is < 0 or > 3 || hash.Length != 32)
        {
            return null;
        }
        if (!SecpRecoverableECDSASignature.TryCreateFromCompact(Compact(signature), signature.RecoveryId, out var recoverable) || recoverable is null
            || !ECPubKey.TryRecover(Context.Instance, recoverable, hash, out var publicKey) || publicKey is null)
        {
            return null;
        }
        return Uncompressed(publicKey);
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
        if (!ECPubKey.TryCreate(encoded, Context.Instance, out _, out var key) || key is null
            || !SecpECDSASignature.TryCreateFromCompact(Compact(signature), out var parsed) || parsed is null)
        {
            return false;
        }
        // libsecp256k1 verifies only low-s signatures; normalising first keeps plain ECDSA semantics.
        parsed.TryNormalize(out var normalised);
        return key.SigVerify(normalised ?? parsed, hash);
    }

    private static byte[] Compact(EcdsaSignature signature) => To32(signature.R).Concat(To32(signature.S)).ToArray();

    private static byte[] Uncompressed(ECPubKey key)
    {
        var encoded = new byte[65];
        key.WriteToSpan(compressed: false, encoded, out _);
        return encoded[1..];
    }

    private static EthECKey PrivateKey(ReadOnlySpan<byte> privateKey)
    {
        if (!IsValidPrivateKey(privateKey))
        {
            throw new E2EException(ErrorCatalog.InvalidKey, "A private key must be 32 bytes between 1 and n - 1.");
        }
        return new EthECKey(privateKey.ToArray(), true);
    }

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
