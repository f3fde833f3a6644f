using System.Numerics;
using E2E.Core.Errors;
using E2E.Core.Ethereum;

namespace E2E.Core.Tests.Ethereum;

/// <summary>The Plumise vectors (SYSTEMS.md 5.3 and 5.5, plumise-vectors.txt) and the EIP-155 example.</summary>
public class PlumiseVectorTests
{
    public const string KeyAb = "0xabababababababababababababababababababababababababababababababab";

    [Theory]
    [InlineData(KeyAb, "0xe239cdc5fbe977a8a141B72194D3CF8c41bC5BC6")]
    [InlineData("0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "0x8fd379246834eac74B8419FfdA202CF8051F7A03")]
    [InlineData("0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "0x88f9B82462f6C4bf4a0Fb15e5c3971559a316e7f")]
    [InlineData("0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef", "0x1Be31A94361a391bBaFB2a4CCd704F57dc04d4bb")]
    public void Keys_give_the_checksummed_addresses(string key, string address)
    {
        using var k = EthKey.FromHex(key);
        Assert.Equal(address, k.Address.ToString());
        Assert.Equal(k.Address, EthAddress.Parse(address));
        Assert.Equal(k.Address, EthAddress.Parse(address.ToLowerInvariant()));
    }

    [Fact]
    public void A_wrong_checksum_is_rejected()
    {
        var ex = Assert.Throws<E2EException>(() => EthAddress.Parse("0xE239cdc5fbe977a8a141B72194D3CF8c41bC5BC6"));
        Assert.Same(ErrorCatalog.InvalidHex, ex.Error);
    }

    [Fact]
    public void Personal_sign_matches_the_head_and_old_format_vectors()
    {
        using var key = EthKey.FromHex(KeyAb);
        const string head = "{\"agent\":\"0xe239cdc5fbe977a8a141B72194D3CF8c41bC5BC6\",\"processed_tokens\":600,\"timestamp\":1770000000}";
        Assert.Equal("0xcead34844e697953b3b6f3024e3e075bfce3d3e640a5543712acce4c806e54aa", Hex.Encode(PersonalSign.Hash(head)));
        Assert.Equal("0x3ee7143d98371848c232baa4db859b75237c749dc71c6139b077bc82a46e5b8a33addcdc199b064961f7240b824cf321497c29f364d81f72d39906713bc3e7f91c", PersonalSign.Sign(key, head));
        const string old = "{\"agent\":\"0xe239cdc5fbe977a8a141B72194D3CF8c41bC5BC6\",\"avg_latency_ms\":100.0,\"processed_tokens\":600,\"tasks_completed\":3,\"timestamp\":1770000000,\"uptime_seconds\":42}";
        Assert.Equal("0xe50dcc83d532c4e47128135f771303833b03087872a23cbc2f96fdf3566f3130", Hex.Encode(PersonalSign.Hash(old)));
        var signature = PersonalSign.Sign(key, old);
        Assert.Equal("0x236d0317f201c623a73a80f9076ab9970908e6802cf4cfa610facfab80bfe9e80e732f46004cd554b2eae8304286e20fc920673d13b9ea4a58eb07f9a2ce50111c", signature);
        Assert.Equal(key.Address, PersonalSign.Recover(old, signature));
        Assert.True(PersonalSign.Verify(old, signature, key.Address));
        Assert.False(PersonalSign.Verify(old.Replace("600", "601", StringComparison.Ordinal), signature, key.Address));
        Assert.False(PersonalSign.Verify(old, signature[..^2] + "1d", key.Address));
    }

    [Fact]
    public void Verify_accepts_only_the_matching_hash_signature_and_key()
    {
        using var key = EthKey.FromHex(KeyAb);
        using var other = EthKey.FromHex("0x" + new string('b', 64));
        for (var i = 0; i < 50; i++)
        {
            var hash = Keccak.Hash(BitConverter.GetBytes(i));
            var signature = key.Sign(hash);
            Assert.True(Secp256k1.Verify(hash, signature, key.PublicKey));
            Assert.Equal(key.PublicKey, Secp256k1.Recover(hash, signature));
            Assert.False(Secp256k1.Verify(Keccak.Hash(BitConverter.GetBytes(i + 1000)), signature, key.PublicKey));
            Assert.False(Secp256k1.Verify(hash, signature, other.PublicKey));
            var flipped = signature.S.ToArray();
            flipped[31] ^= 1;
            Assert.False(Secp256k1.Verify(hash, signature with { S = flipped }, key.PublicKey));
        }
        Assert.False(Secp256k1.Verify(new byte[32], new EcdsaSignature(new byte[32], new byte[32], 0), key.PublicKey));
    }

    [Fact]
    public void Web3js_sign_vector()
    {
        using var key = EthKey.FromHex("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");
        Assert.Equal("0xb91467e570a6466aa9e9876cbcd013baba02900b8979d43fe208a4a4f339f5fd6007e74cd82e037b800186422fc2da167c747ef045e5d18a5f5d4300f8e1a0291c", PersonalSign.Sign(key, "Some data"));
    }

    [Fact]
    public void Eip155_reference_example()
    {
        using var key = EthKey.FromHex("0x4646464646464646464646464646464646464646464646464646464646464646");
        var tx = new EthTransaction
        {
            ChainId = 1, Nonce = 9, GasPrice = 20_000_000_000, GasLimit = 21000,
            To = EthAddress.Parse("0x3535353535353535353535353535353535353535"), Value = BigInteger.Parse("1000000000000000000"),
        }.Sign(key);
        Assert.Equal("0xf86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd939bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b297fb1966a3b6d83", Hex.Encode(tx.Encode()));
    }

    [Fact]
    public void Register_and_heartbeat_transactions_match_the_plumise_vectors()
    {
        using var key = EthKey.FromHex("0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef");
        var calldata = AgentCalldata.Register("test-agent", new byte[32], Array.Empty<byte[]>());
        Assert.Equal(96, calldata.Length);
        Assert.Equal("0x746573742d6167656e74" + new string('0', 172), Hex.Encode(calldata));

        var register = new EthTransaction { ChainId = 41956, Nonce = 0, GasPrice = 1_000_000_000, GasLimit = 300000, To = AgentCalldata.RegisterPrecompile, Data = calldata };
        Assert.Equal("0xecd52276d1d92d5d73526d5fc64a8d5b22507ca642ca2fb76397cd0d78845285", Hex.Encode(register.SigningHash()));
        var signed = register.Sign(key);
        Assert.Equal("0xf8c880843b9aca00830493e094000000000000000000000000000000000000002180b860746573742d6167656e740000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000830147eba0db37f60e785d76aca505c1f05f569b15e004fcb2cf2daf2363cf8df2de6defc3a023b55c3d5203f49b40d00d2d26f890559dcc9d6ce7886d5ced40e983378031f3", Hex.Encode(signed.Encode()));
        Assert.Equal("0xd749f3a99f80be9a584241259e3f75534613f2b7085fe3d0627de6480a52dc18", Hex.Encode(signed.Hash()));

        var heartbeat = new EthTransaction { ChainId = 41956, Nonce = 1, GasPrice = 1_000_000_000, GasLimit = 100000, To = AgentCalldata.HeartbeatPrecompile }.Sign(key);
        Assert.Equal("0xf86701843b9aca00830186a09400000000000000000000000000000000000000228080830147eca037dab5b74ecf610d42f51853326fed1b14ef3aee12851a786cb7e375ab96f126a03bf120f18783bc3ae9f0e4cc8b2be784b2e97bc911449f3bca6b1fcfcbdd434f", Hex.Encode(heartbeat.Encode()));
        Assert.Equal("0x7d84bbb1ab8c24661d184ca52954bd267a9457c80622abe003f654ae1591507a", Hex.Encode(heartbeat.Hash()));
        Assert.Equal(key.Address, EthTransaction.Decode(heartbeat.Encode(), 41956).RecoverSender());
    }

    [Fact]
    public void Capabilities_must_be_exactly_32_bytes()
    {
        var ex = Assert.Throws<E2EException>(() => AgentCalldata.Register("agent", new byte[32], new[] { new byte[16] }));
        Assert.Same(ErrorCatalog.InvalidCapability, ex.Error);
        Assert.Contains("exactly 32 bytes", ex.Message);
        Assert.Equal(96 + 3 * 32, AgentCalldata.Register("agent", new byte[32], new[] { new byte[32], new byte[32], new byte[32] }).Length);
    }

    [Fact]
    public void Verify_inference_calldata_is_160_bytes()
    {
        var agent = EthAddress.Parse("0xe239cdc5fbe977a8a141B72194D3CF8c41bC5BC6");
        var data = AgentCalldata.VerifyInference(Keccak.Hash("bloom"u8), new byte[32], new byte[32], agent, 600);
        Assert.Equal(160, data.Length);
        Assert.Equal(agent.Bytes, data[108..128]);
        Assert.Equal(600, (int)new BigInteger(data[128..], isUnsigned: true, isBigEndian: true));
    }

    [Fact]
    public void Dynamic_fee_transactions_round_trip()
    {
        using var key = EthKey.FromHex(KeyAb);
        var tx = new EthTransaction
        {
            Type = TransactionType.DynamicFee, ChainId = 41956, Nonce = 3, MaxPriorityFeePerGas = 1_000_000_000, MaxFeePerGas = 30_000_000_000,
            GasLimit = 21000, To = key.Address, Value = 5,
        }.Sign(key);
        var decoded = EthTransaction.Decode(tx.Encode(), 41956);
        Assert.Equal(TransactionType.DynamicFee, decoded.Type);
        Assert.Equal(key.Address, decoded.RecoverSender());
        Assert.Equal(tx.Hash(), decoded.Hash());
        Assert.Equal(0x02, tx.Encode()[0]);
    }

    [Fact]
    public void Keys_never_show_themselves()
    {
        using var key = EthKey.FromHex(KeyAb);
        Assert.DoesNotContain("abab", key.ToString());
        var bad = Assert.Throws<E2EException>(() => EthKey.FromHex("0xabab"));
        Assert.DoesNotContain("abab", bad.Message);
        Assert.Same(ErrorCatalog.InvalidKey, bad.Error);
        Assert.Same(ErrorCatalog.InvalidKey, Assert.Throws<E2EException>(() => EthKey.FromHex(new string('0', 64))).Error);
    }
}
