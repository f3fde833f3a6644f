using System.Numerics;
using E2E.Core.Errors;

namespace E2E.Core.Ethereum;

public enum TransactionType
{
    Legacy = 0,
    AccessList = 1,
    DynamicFee = 2,
}

public sealed record AccessListEntry(EthAddress Address, IReadOnlyList<byte[]> StorageKeys);

/// <summary>
/// A legacy (pre-EIP-155 or EIP-155), EIP-2930 (type 1) or EIP-1559 (type 2) transaction: built and signed
/// here, or decoded from raw bytes with the validity rules of the current fork (Cancun): canonical RLP,
/// field widths, chain id, low-s signatures, fee caps, intrinsic gas and the init-code size limit.
/// </summary>
public sealed class EthTransaction
{
    private static readonly BigInteger MaxUInt64 = ulong.MaxValue;
    private static readonly BigInteger TwoTo256 = BigInteger.One << 256;
    private static readonly BigInteger HalfN = BigInteger.Parse("07FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0", System.Globalization.NumberStyles.HexNumber);
    private static readonly BigInteger N = BigInteger.Parse("0FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", System.Globalization.NumberStyles.HexNumber);

    public TransactionType Type { get; init; }

    /// <summary>Null only for a pre-EIP-155 legacy transaction.</summary>
    public BigInteger? ChainId { get; init; }

    public BigInteger Nonce { get; init; }

    /// <summary>Gas price of legacy and type-1 transactions.</summary>
    public BigInteger GasPrice { get; init; }

    public BigInteger MaxPriorityFeePerGas { get; init; }

    public BigInteger MaxFeePerGas { get; init; }

    public BigInteger GasLimit { get; init; }

    /// <summary>Null for contract creation.</summary>
    public EthAddress? To { get; init; }

    public BigInteger Value { get; init; }

    public byte[] Data { get; init; } = Array.Empty<byte>();

    public IReadOnlyList<AccessListEntry> AccessList { get; init; } = Array.Empty<AccessListEntry>();

    /// <summary>The signature; null until signed.</summary>
    public EcdsaSignature? Signature { get; init; }

    /// <summary>The hash that is signed: keccak of the unsigned fields (with chain id, 0, 0 for EIP-155).</summary>
    public byte[] SigningHash()
    {
        return Type switch
        {
            TransactionType.Legacy => Keccak.Hash(Rlp.Encode(RlpItem.List(LegacyFields().Concat(ChainId is { } id
                ? new[] { RlpItem.Of(id), RlpItem.Of(BigInteger.Zero), RlpItem.Of(BigInteger.Zero) }
                : Array.Empty<RlpItem>())))),
            _ => Keccak.HashConcat(new[] { (byte)Type }, Rlp.Encode(RlpItem.List(TypedFields()))),
        };
    }

    /// <summary>Signs the transaction; fields that no valid transaction can carry are InvalidTransaction, before anything is signed.</summary>
    public EthTransaction Sign(EthKey key)
    {
        CheckFields();
        return new()
        {
            Type = Type, ChainId = ChainId, Nonce = Nonce, GasPrice = GasPrice, MaxPriorityFeePerGas = MaxPriorityFeePerGas,
            MaxFeePerGas = MaxFeePerGas, GasLimit = GasLimit, To = To, Value = Value, Data = Data, AccessList = AccessList,
            Signature = key.Sign(SigningHash()),
        };
    }

    /// <summary>The signed transaction as sent with eth_sendRawTransaction.</summary>
    public byte[] Encode()
    {
        var signature = Signature ?? throw new InvalidOperationException("Sign the transaction before encoding it.");
        var r = RlpItem.Of(new BigInteger(signature.R, isUnsigned: true, isBigEndian: true));
        var s = RlpItem.Of(new BigInteger(signature.S, isUnsigned: true, isBigEndian: true));
        if (Type == TransactionType.Legacy)
        {
            var v = ChainId is { } id ? id * 2 + 35 + signature.RecoveryId : 27 + signature.RecoveryId;
            return Rlp.Encode(RlpItem.List(LegacyFields().Append(RlpItem.Of(v)).Append(r).Append(s)));
        }
        return new[] { (byte)Type }.Concat(Rlp.Encode(RlpItem.List(TypedFields().Append(RlpItem.Of(signature.RecoveryId)).Append(r).Append(s)))).ToArray();
    }

    /// <summary>The transaction hash: keccak of the signed encoding.</summary>
    public byte[] Hash() => Keccak.Hash(Encode());

    public EthAddress RecoverSender()
    {
        var signature = Signature ?? throw new InvalidOperationException("The transaction is not signed.");
        var publicKey = Secp256k1.Recover(SigningHash(), signature)
            ?? throw Invalid("EC_RECOVERY_FAIL", "no public key can be recovered from the signature");
        return EthAddress.FromPublicKey(publicKey);
    }

    /// <summary>Gas charged before execution: 21000, calldata (4 per zero byte, 16 per other), creation (32000 plus 2 per init-code word), access list.</summary>
    public BigInteger IntrinsicGas()
    {
        BigInteger gas = 21000;
        foreach (var b in Data)
        {
            gas += b == 0 ? 4 : 16;
        }
        if (To is null)
        {
            gas += 32000 + 2 * ((Data.Length + 31) / 32);
        }
        foreach (var entry in AccessList)
        {
            gas += 2400 + 1900 * entry.StorageKeys.Count;
        }
        return gas;
    }

    private IEnumerable<RlpItem> LegacyFields() => new[]
    {
        RlpItem.Of(Nonce), RlpItem.Of(GasPrice), RlpItem.Of(GasLimit),
        RlpItem.Of(To?.Bytes ?? Array.Empty<byte>()), RlpItem.Of(Value), RlpItem.Of(Data),
    };

    private IEnumerable<RlpItem> TypedFields()
    {
        var fees = Type == TransactionType.DynamicFee
            ? new[] { RlpItem.Of(MaxPriorityFeePerGas), RlpItem.Of(MaxFeePerGas) }
            : new[] { RlpItem.Of(GasPrice) };
        return new[] { RlpItem.Of(ChainId ?? 0), RlpItem.Of(Nonce) }
            .Concat(fees)
            .Concat(new[] { RlpItem.Of(GasLimit), RlpItem.Of(To?.Bytes ?? Array.Empty<byte>()), RlpItem.Of(Value), RlpItem.Of(Data) })
            .Append(RlpItem.List(AccessList.Select(e => RlpItem.List(RlpItem.Of(e.Address.Bytes), RlpItem.List(e.StorageKeys.Select(RlpItem.Of))))));
    }

    /// <summary>
    /// Decodes and validates a signed transaction as the given chain would accept it; the exception message
    /// names the rule broken (the ethereum/tests exception names, such as INTRINSIC_GAS_TOO_LOW).
    /// </summary>
    public static EthTransaction Decode(ReadOnlySpan<byte> raw, BigInteger expectedChainId)
    {
        if (raw.Length == 0)
        {
            throw Invalid("RLP", "empty input");
        }
        EthTransaction tx;
        try
        {
            tx = raw[0] switch
            {
                1 => DecodeTyped(TransactionType.AccessList, Rlp.Decode(raw[1..])),
                2 => DecodeTyped(TransactionType.DynamicFee, Rlp.Decode(raw[1..])),
                >= 0xC0 => DecodeLegacy(Rlp.Decode(raw)),
                _ => throw Invalid("TYPE_NOT_SUPPORTED", $"transaction type 0x{raw[0]:x2} is not supported"),
            };
        }
        catch (E2EException ex) when (ex.Error == ErrorCatalog.InvalidRlp)
        {
            throw new E2EException(ErrorCatalog.InvalidTransaction, $"Invalid transaction: {ex.Message}", null, ex);
        }
        tx.Validate(expectedChainId);
        return tx;
    }

    private static EthTransaction DecodeLegacy(RlpItem item)
    {
        var fields = item.AsList("transaction");
        if (fields.Count != 9)
        {
            throw Invalid("RLP", $"a legacy transaction has 9 fields, not {fields.Count}");
        }
        var v = Integer(fields[6], "V", 32);
        var (chainId, recovery) = v == 27 || v == 28 ? ((BigInteger?)null, (int)(v - 27))
            : v >= 35 ? ((v - 35) / 2, (int)((v - 35) % 2))
            : throw Invalid("INVALID_SIGNATURE_VRS", $"v = {v} is neither 27/28 nor an EIP-155 value");
        return new EthTransaction
        {
            Type = TransactionType.Legacy,
            ChainId = chainId,
            Nonce = Integer(fields[0], "NONCE", 32),
            GasPrice = Integer(fields[1], "GASPRICE", 32),
            GasLimit = Integer(fields[2], "GASLIMIT", 32),
            To = Address(fields[3]),
            Value = Integer(fields[4], "VALUE", 32),
            Data = fields[5].AsBytes("data"),
            Signature = SignatureOf(fields[7], fields[8], recovery),
        };
    }

    private static EthTransaction DecodeTyped(TransactionType type, RlpItem item)
    {
        var fields = item.AsList("transaction");
        var expected = type == TransactionType.DynamicFee ? 12 : 11;
        if (fields.Count != expected)
        {
            throw Invalid("RLP", $"a type-{(int)type} transaction has {expected} fields, not {fields.Count}");
        }
        var i = 0;
        var chainId = Integer(fields[i++], "CHAINID", 32);
        var nonce = Integer(fields[i++], "NONCE", 32);
        BigInteger priority = 0, maxFee = 0, gasPrice = 0;
        if (type == TransactionType.DynamicFee)
        {
            priority = Integer(fields[i++], "PRIORITY_FEE", 32, overflow: "PRIORITY_OVERFLOW");
            maxFee = Integer(fields[i++], "BASEFEE", 32, overflow: "GASPRICE_OVERFLOW");
        }
        else
        {
            gasPrice = Integer(fields[i++], "GASPRICE", 32);
        }
        var gasLimit = Integer(fields[i++], "GASLIMIT", 32);
        var to = Address(fields[i++]);
        var value = Integer(fields[i++], "VALUE", 32);
        var data = fields[i++].AsBytes("data");
        var accessList = fields[i++].AsList("access list").Select(AccessEntry).ToArray();
        var parity = Integer(fields[i++], "V", 32);
        if (parity > 1)
        {
            throw Invalid("INVALID_SIGNATURE_VRS", $"y parity must be 0 or 1, not {parity}");
        }
        return new EthTransaction
        {
            Type = type, ChainId = chainId, Nonce = nonce, GasPrice = gasPrice, MaxPriorityFeePerGas = priority, MaxFeePerGas = maxFee,
            GasLimit = gasLimit, To = to, Value = value, Data = data, AccessList = accessList,
            Signature = SignatureOf(fields[i], fields[i + 1], (int)parity),
        };
    }

    private static AccessListEntry AccessEntry(RlpItem item)
    {
        var pair = item.AsList("access list entry");
        if (pair.Count != 2)
        {
            throw Invalid("RLP", "an access list entry is [address, storage keys]");
        }
        var address = pair[0].AsBytes("access list address");
        if (address.Length != 20)
        {
            throw Invalid(address.Length > 20 ? "RLP_INVALID_ACCESS_LIST_ADDRESS_TOO_LONG" : "RLP_INVALID_ACCESS_LIST_ADDRESS_TOO_SHORT", "an access list address is 20 bytes");
        }
        var keys = pair[1].AsList("storage keys").Select(k => k.AsBytes("storage key")).ToArray();
        foreach (var key in keys.Where(k => k.Length != 32))
        {
            throw Invalid(key.Length > 32 ? "RLP_INVALID_ACCESS_LIST_STORAGE_TOO_LONG" : "RLP_INVALID_ACCESS_LIST_STORAGE_TOO_SHORT", "a storage key is 32 bytes");
        }
        return new AccessListEntry(new EthAddress(address), keys);
    }

    private static EcdsaSignature SignatureOf(RlpItem r, RlpItem s, int recovery)
    {
        var rValue = Integer(r, "R", 32);
        var sValue = Integer(s, "S", 32);
        return new EcdsaSignature(To32(rValue), To32(sValue), recovery);
    }

    private void Validate(BigInteger expectedChainId)
    {
        if (ChainId is { } id && id != expectedChainId)
        {
            throw Invalid("INVALID_CHAINID", $"chain id {id} is not {expectedChainId}");
        }
        var r = new BigInteger(Signature!.R, isUnsigned: true, isBigEndian: true);
        var s = new BigInteger(Signature.S, isUnsigned: true, isBigEndian: true);
        if (r.IsZero || r >= N || s.IsZero || s > HalfN)
        {
            throw Invalid("INVALID_SIGNATURE_VRS", "r must be in [1, n) and s in [1, n/2]");
        }
        CheckFields();
        RecoverSender();
    }

    /// <summary>The rules on the fields themselves (EIP-2681 nonces, 64-bit gas, 256-bit amounts, EIP-1559 fee caps, EIP-3860 init code, intrinsic gas), for decoding and signing alike.</summary>
    private void CheckFields()
    {
        foreach (var (name, value) in new[] { ("nonce", Nonce), ("gas limit", GasLimit), ("value", Value), ("gas price", GasPrice), ("max fee per gas", MaxFeePerGas), ("max priority fee per gas", MaxPriorityFeePerGas) })
        {
            if (value.Sign < 0)
            {
                throw Invalid("NEGATIVE_FIELD", $"the {name} is negative ({value})");
            }
            if (value >= TwoTo256)
            {
                throw Invalid("FIELD_OVERFLOW", $"the {name} does not fit in 256 bits");
            }
        }
        if (ChainId is { } chain && (chain.Sign <= 0 || chain > MaxUInt64))
        {
            throw Invalid("INVALID_CHAINID", $"the chain id {chain} is not between 1 and 2^64 - 1");
        }
        if (Nonce > MaxUInt64 - 1)
        {
            throw Invalid("NONCE_TOO_BIG", "the nonce must be below 2^64 - 1");
        }
        if (GasLimit > MaxUInt64)
        {
            throw Invalid("GASLIMIT_OVERFLOW", "the gas limit must fit in 64 bits");
        }
        if (Type == TransactionType.DynamicFee && MaxPriorityFeePerGas > MaxFeePerGas)
        {
            throw Invalid("PRIORITY_GREATER_THAN_MAX_FEE_PER_GAS", "the priority fee exceeds the maximum fee");
        }
        if (Type != TransactionType.Legacy && ChainId is null)
        {
            throw Invalid("INVALID_CHAINID", "typed transactions always carry a chain id");
        }
        var price = Type == TransactionType.DynamicFee ? MaxFeePerGas : GasPrice;
        if (GasLimit * price >= TwoTo256)
        {
            throw Invalid("GASLIMIT_PRICE_PRODUCT_OVERFLOW", "gas limit times gas price overflows 256 bits");
        }
        if (To is null && Data.Length > 49152)
        {
            throw Invalid("INITCODE_SIZE_EXCEEDED", "init code is longer than 49152 bytes");
        }
        if (GasLimit < IntrinsicGas())
        {
            throw Invalid("INTRINSIC_GAS_TOO_LOW", $"the gas limit {GasLimit} is below the intrinsic gas {IntrinsicGas()}");
        }
    }

    private static BigInteger Integer(RlpItem item, string field, int maxBytes, string? overflow = null)
    {
        var bytes = item.AsBytes(field);
        if (bytes.Length > 0 && bytes[0] == 0)
        {
            throw Invalid($"RLP_LEADING_ZEROS_{field}", $"{field.ToLowerInvariant()} has a leading zero byte");
        }
        if (bytes.Length > maxBytes)
        {
            throw Invalid(overflow ?? $"{field}_OVERFLOW", $"{field.ToLowerInvariant()} is longer than {maxBytes} bytes");
        }
        return new BigInteger(bytes, isUnsigned: true, isBigEndian: true);
    }

    private static EthAddress? Address(RlpItem item)
    {
        var bytes = item.AsBytes("to");
        return bytes.Length switch
        {
            0 => null,
            20 => new EthAddress(bytes),
            > 20 => throw Invalid("ADDRESS_TOO_LONG", "the recipient address is longer than 20 bytes"),
            _ => throw Invalid("ADDRESS_TOO_SHORT", "the recipient address is shorter than 20 bytes"),
        };
    }

    private static byte[] To32(BigInteger value)
    {
        var bytes = value.IsZero ? Array.Empty<byte>() : value.ToByteArray(isUnsigned: true, isBigEndian: true);
        var padded = new byte[32];
        bytes.CopyTo(padded, 32 - bytes.Length);
        return padded;
    }

    private static E2EException Invalid(string rule, string problem) =>
        new(ErrorCatalog.InvalidTransaction, $"Invalid transaction ({rule}): {problem}.", rule);
}
