using System.Numerics;
using E2E.Core.Errors;
using E2E.Core.Ethereum;

namespace E2E.Core.Tests.Ethereum;

/// <summary>Every kind of transaction we sign decodes under the strict rules with the signer as sender; impossible fields are refused before signing.</summary>
public sealed class SigningTests
{
    private static readonly EthKey Key = EthKey.FromHex("0x" + string.Concat(Enumerable.Repeat("ab", 32)));
    private static readonly EthAddress Precompile = EthAddress.Parse("0x0000000000000000000000000000000000000022");

    public static IEnumerable<object[]> Kinds() => new[]
    {
        new object[] { "pre-EIP-155 legacy", new EthTransaction { Type = TransactionType.Legacy, ChainId = null, Nonce = 3, GasPrice = 1_000_000_000, GasLimit = 30_000, To = Precompile } },
        new object[] { "EIP-155 legacy", new EthTransaction { Type = TransactionType.Legacy, ChainId = 41956, Nonce = 3, GasPrice = 1_000_000_000, GasLimit = 30_000, To = Precompile } },
        new object[] { "EIP-2930", new EthTransaction { Type = TransactionType.AccessList, ChainId = 41956, Nonce = 3, GasPrice = 1_000_000_000, GasLimit = 60_000, To = Precompile,
            AccessList = new[] { new AccessListEntry(Precompile, new[] { new byte[32], Enumerable.Repeat((byte)1, 32).ToArray() }) } } },
        new object[] { "EIP-1559 with an access list", new EthTransaction { Type = TransactionType.DynamicFee, ChainId = 41956, Nonce = 3, MaxFeePerGas = 2_000_000_000, MaxPriorityFeePerGas = 1_000_000, GasLimit = 60_000, To = Precompile,
            AccessList = new[] { new AccessListEntry(Precompile, new[] { new byte[32] }) } } },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Signed_transactions_decode_strictly_with_the_signer_as_sender(string kind, EthTransaction transaction)
    {
        var raw = transaction.Sign(Key).Encode();
        var decoded = EthTransaction.Decode(raw, 41956);
        Assert.Equal(Key.Address.ToString(), decoded.RecoverSender().ToString());
        Assert.Equal((kind, transaction.Type, transaction.ChainId, transaction.AccessList.Count), (kind, decoded.Type, decoded.ChainId, decoded.AccessList.Count));
    }

    [Theory]
    [InlineData("nonce", "NONCE_TOO_BIG")]
    [InlineData("value", "FIELD_OVERFLOW")]
    [InlineData("negative", "NEGATIVE_FIELD")]
    [InlineData("priority", "PRIORITY_GREATER_THAN_MAX_FEE_PER_GAS")]
    [InlineData("gas", "INTRINSIC_GAS_TOO_LOW")]
    public void Impossible_fields_are_refused_before_signing(string field, string rule)
    {
        var transaction = field switch
        {
            "nonce" => new EthTransaction { ChainId = 1, Nonce = BigInteger.One << 64, GasLimit = 21_000 },
            "value" => new EthTransaction { ChainId = 1, Value = BigInteger.One << 300, GasLimit = 21_000 },
            "negative" => new EthTransaction { ChainId = 1, Nonce = -1, GasLimit = 21_000 },
            "priority" => new EthTransaction { Type = TransactionType.DynamicFee, ChainId = 1, MaxFeePerGas = 10, MaxPriorityFeePerGas = 20, GasLimit = 21_000 },
            _ => new EthTransaction { ChainId = 1, GasLimit = 20_999 },
        };
        var ex = Assert.Throws<E2EException>(() => transaction.Sign(Key));
        Assert.Same(ErrorCatalog.InvalidTransaction, ex.Error);
        Assert.Equal(rule, ex.Target);
    }
}
