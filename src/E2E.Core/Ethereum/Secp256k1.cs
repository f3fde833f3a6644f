using E2E.Core.Errors;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.EC;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Math.EC;
using Org.BouncyCastle.Math.EC.Multiplier;
using BcInteger = Org.BouncyCastle.Math.BigInteger;

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
/// secp256k1 signing, verification and public-key recovery on BouncyCastle's optimized curve
/// (<see cref="CustomNamedCurves"/>): RFC 6979 deterministic nonces, low-s signatures with the recovery id
/// taken from the nonce point, so signing needs no trial recovery.
/// </summary>
public static class Secp256k1
{
    private static readonly X9ECParameters Curve = CustomNamedCurves.GetByName("secp256k1");
    private static readonly ECDomainParameters Domain = new(Curve.Curve, Curve.G, Curve.N, Curve.H);
    private static readonly BcInteger N = Curve.N;
    private static readonly BcInteger HalfN = Curve.N.ShiftRight(1);
    private static readonly FixedPointCombMultiplier BaseMultiplier = new();
    private static readonly System.Numerics.BigInteger Order = new(N.ToByteArrayUnsigned(), isUnsigned: true, isBigEndian: true);

    public static bool IsValidPrivateKey(ReadOnlySpan<byte> key) =>
        key.Length == 32 && new BcInteger(1, key.ToArray()) is var d && d.SignValue > 0 && d.CompareTo(N) < 0;

    /// <summary>The 64-byte uncompressed public key (x ‖ y, without the 0x04 prefix).</summary>
    public static byte[] PublicKey(ReadOnlySpan<byte> privateKey)
    {
        var d = Scalar(privateKey);
        var point = BaseMultiplier.Multiply(Domain.G, d).Normalize();
        return Encode(point);
    }

    public static EcdsaSignature Sign(ReadOnlySpan<byte> hash, ReadOnlySpan<byte> privateKey)
    {
        if (hash.Length != 32)
        {
            throw new ArgumentException("Sign a 32-byte hash.", nameof(hash));
        }
        var d = Scalar(privateKey);
        var message = hash.ToArray();
        var e = new BcInteger(1, message);
        var nonces = new HMacDsaKCalculator(new Sha256Digest());
        nonces.Init(N, d, message);
        while (true)
        {
            var k = nonces.NextK();
            var point = BaseMultiplier.Multiply(Domain.G, k).Normalize();
            var x = point.AffineXCoord.ToBigInteger();
            var r = x.Mod(N);
            if (r.SignValue == 0)
            {
                continue;
            }
            var s = BlindedInverse(k).Multiply(e.Add(d.Multiply(r))).Mod(N);
            if (s.SignValue == 0)
            {
                continue;
            }
            var recovery = (point.AffineYCoord.TestBitZero() ? 1 : 0) | (x.CompareTo(N) >= 0 ? 2 : 0);
            if (s.CompareTo(HalfN) > 0)
            {
                s = N.Subtract(s);
                recovery ^= 1;
            }
            return new EcdsaSignature(To32(r), To32(s), recovery);
        }
    }

    /// <summary>The public key that made a signature, or null when none can (r or s out of range, x not on the curve).</summary>
    public static byte[]? Recover(ReadOnlySpan<byte> hash, EcdsaSignature signature)
    {
        var r = new BcInteger(1, signature.R);
        var s = new BcInteger(1, signature.S);
        if (r.SignValue <= 0 || r.CompareTo(N) >= 0 || s.SignValue <= 0 || s.CompareTo(N) >= 0 || signature.RecoveryId is < 0 or > 3)
        {
            return null;
        }
        var x = r.Add(N.Multiply(BcInteger.ValueOf(signature.RecoveryId >> 1)));
        if (x.CompareTo(Curve.Curve.Field.Characteristic) >= 0)
        {
            return null;
        }
        ECPoint nonce;
        try
        {
            var compressed = new byte[33];
            compressed[0] = (byte)((signature.RecoveryId & 1) == 1 ? 0x03 : 0x02);
            To32(x).CopyTo(compressed, 1);
            nonce = Curve.Curve.DecodePoint(compressed);
        }
        catch (ArgumentException)
        {
            return null;
        }
        var e = new BcInteger(1, hash.ToArray());
        var rInverse = Inverse(r);
        var q = ECAlgorithms.SumOfTwoMultiplies(Domain.G, e.Negate().Mod(N).Multiply(rInverse).Mod(N), nonce, s.Multiply(rInverse).Mod(N)).Normalize();
        return q.IsInfinity ? null : Encode(q);
    }

    /// <summary>Standard ECDSA verification against a known 64-byte public key.</summary>
    public static bool Verify(ReadOnlySpan<byte> hash, EcdsaSignature signature, ReadOnlySpan<byte> publicKey)
    {
        var r = new BcInteger(1, signature.R);
        var s = new BcInteger(1, signature.S);
        if (r.SignValue <= 0 || r.CompareTo(N) >= 0 || s.SignValue <= 0 || s.CompareTo(N) >= 0 || publicKey.Length != 64)
        {
            return false;
        }
        ECPoint q;
        try
        {
            q = Curve.Curve.DecodePoint(new byte[] { 0x04 }.Concat(publicKey.ToArray()).ToArray());
        }
        catch (ArgumentException)
        {
            return false;
        }
        var w = Inverse(s);
        var e = new BcInteger(1, hash.ToArray());
        var point = ECAlgorithms.SumOfTwoMultiplies(Domain.G, e.Multiply(w).Mod(N), q, r.Multiply(w).Mod(N));
        if (point.IsInfinity)
        {
            return false;
        }
        // Compare in Jacobian coordinates (x = X / Z²) instead of normalising, which would cost a field inversion:
        // accept when r·Z² = X, or (r + n)·Z² = X for the rare x between n and p.
        var zSquared = point.GetZCoord(0).Square();
        for (var candidate = r; Curve.Curve.IsValidFieldElement(candidate); candidate = candidate.Add(N))
        {
            if (Curve.Curve.FromBigInteger(candidate).Multiply(zSquared).Equals(point.XCoord))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// x⁻¹ mod n by the extended Euclidean algorithm on System.Numerics.BigInteger: about 16 µs where
    /// BouncyCastle's BigInteger.ModInverse takes about 39 µs (BouncyCastle's fast Mod class is internal).
    /// Variable-time, so only for public values (r, s); see <see cref="BlindedInverse"/> for secrets.
    /// </summary>
    private static BcInteger Inverse(BcInteger x)
    {
        var a = new System.Numerics.BigInteger(x.ToByteArrayUnsigned(), isUnsigned: true, isBigEndian: true);
        System.Numerics.BigInteger t = 0, newT = 1, r = Order, newR = a;
        while (!newR.IsZero)
        {
            var quotient = System.Numerics.BigInteger.DivRem(r, newR, out var remainder);
            (t, newT) = (newT, t - quotient * newT);
            (r, newR) = (newR, remainder);
        }
        if (t.Sign < 0)
        {
            t += Order;
        }
        return new BcInteger(1, t.ToByteArray(isUnsigned: true, isBigEndian: true));
    }

    /// <summary>The inverse of a secret (the nonce k) through a random blinding factor b: k⁻¹ = b·(k·b)⁻¹, so the variable-time inverse never sees k.</summary>
    private static BcInteger BlindedInverse(BcInteger k)
    {
        BcInteger blind;
        do
        {
            blind = new BcInteger(1, System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)).Mod(N);
        }
        while (blind.SignValue == 0);
        return Inverse(k.Multiply(blind).Mod(N)).Multiply(blind).Mod(N);
    }

    private static BcInteger Scalar(ReadOnlySpan<byte> privateKey)
    {
        if (!IsValidPrivateKey(privateKey))
        {
            throw new E2EException(ErrorCatalog.InvalidKey, "A private key must be 32 bytes and between 1 and the secp256k1 group order.");
        }
        return new BcInteger(1, privateKey.ToArray());
    }

    private static byte[] Encode(ECPoint point) => To32(point.AffineXCoord.ToBigInteger()).Concat(To32(point.AffineYCoord.ToBigInteger())).ToArray();

    private static byte[] To32(BcInteger value)
    {
        var bytes = value.ToByteArrayUnsigned();
        if (bytes.Length == 32)
        {
            return bytes;
        }
        var padded = new byte[32];
        bytes.CopyTo(padded, 32 - bytes.Length);
        return padded;
    }
}
