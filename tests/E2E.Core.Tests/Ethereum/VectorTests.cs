using System.Numerics;
using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Ethereum;
using Xunit.Abstractions;

namespace E2E.Core.Tests.Ethereum;

/// <summary>ethereum/tests vectors: RLP encodings and every signed transaction of TransactionTests, judged for Cancun.</summary>
public class VectorTests(ITestOutputHelper output)
{
    private static readonly string Root = Fixtures.Path("ethereum");
    private static readonly string[] ForksNewestFirst = { "Cancun", "Shanghai", "Paris", "London", "Berlin", "Istanbul" };

    [Fact]
    public void Rlp_valid_vectors_encode_and_decode()
    {
        var cases = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "RLPTests", "rlptest.json"))).RootElement.EnumerateObject().ToArray();
        var failures = new List<string>();
        foreach (var test in cases)
        {
            var expected = test.Value.GetProperty("out").GetString()!;
            var encoded = Hex.Encode(Rlp.Encode(ToItem(test.Value.GetProperty("in"))));
            if (encoded != expected.ToLowerInvariant())
            {
                failures.Add($"{test.Name}: encoded {encoded}");
                continue;
            }
            var roundTrip = Hex.Encode(Rlp.Encode(Rlp.Decode(Hex.Decode(expected))));
            if (roundTrip != encoded)
            {
                failures.Add($"{test.Name}: decode/encode gave {roundTrip}");
            }
        }
        TestSummary.Report("ethereum-rlp-valid", cases.Length - failures.Count, failures.Count);
        output.WriteLine($"RLP valid: {cases.Length - failures.Count} passed, {failures.Count} failed");
        Assert.True(cases.Length >= 28);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void Rlp_invalid_vectors_are_rejected_and_random_ones_round_trip()
    {
        var invalid = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "RLPTests", "invalidRLPTest.json"))).RootElement.EnumerateObject().ToArray();
        var accepted = invalid.Where(t => Throws(() => Rlp.Decode(Hex.Decode(t.Value.GetProperty("out").GetString()!))) is not E2EException { Error.Id: "InvalidRlp" }).Select(t => t.Name).ToArray();
        TestSummary.Report("ethereum-rlp-invalid", invalid.Length - accepted.Length, accepted.Length);
        Assert.True(invalid.Length >= 26);
        Assert.True(accepted.Length == 0, "accepted: " + string.Join(", ", accepted));

        foreach (var test in JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "RLPTests", "RandomRLPTests", "example.json"))).RootElement.EnumerateObject())
        {
            var bytes = Hex.Decode(test.Value.GetProperty("out").GetString()!);
            Assert.Equal(bytes, Rlp.Encode(Rlp.Decode(bytes)));
        }
    }

    [Fact]
    public void Every_transaction_vector_decodes_or_is_rejected_as_the_fork_says()
    {
        var files = Directory.EnumerateFiles(Path.Combine(Root, "TransactionTests"), "*.json", SearchOption.AllDirectories).Order().ToArray();
        var failures = new List<string>();
        int valid = 0, invalid = 0;
        foreach (var file in files)
        {
            foreach (var test in JsonDocument.Parse(File.ReadAllText(file)).RootElement.EnumerateObject())
            {
                var name = $"{Path.GetFileName(Path.GetDirectoryName(file))}/{test.Name}";
                var results = test.Value.GetProperty("result");
                var fork = ForksNewestFirst.FirstOrDefault(f => results.TryGetProperty(f, out _));
                if (fork is null)
                {
                    failures.Add($"{name}: no result for a current fork");
                    continue;
                }
                var result = results.GetProperty(fork);
                var raw = TryHex(test.Value.GetProperty("txbytes").GetString()!);
                if (result.TryGetProperty("hash", out var hash))
                {
                    valid++;
                    try
                    {
                        var tx = EthTransaction.Decode(raw!, 1);
                        var sender = tx.RecoverSender().ToString().ToLowerInvariant();
                        var problems = new List<string>();
                        if (Hex.Encode(Keccak.Hash(raw!)) != hash.GetString())
                        {
                            problems.Add("hash");
                        }
                        if (sender != result.GetProperty("sender").GetString())
                        {
                            problems.Add($"sender {sender}");
                        }
                        if (tx.IntrinsicGas() != BigInteger.Parse("0" + result.GetProperty("intrinsicGas").GetString()![2..], System.Globalization.NumberStyles.HexNumber))
                        {
                            problems.Add($"intrinsic gas {tx.IntrinsicGas()}");
                        }
                        if (!Hex.Decode(Hex.Encode(tx.Encode())).SequenceEqual(raw!))
                        {
                            problems.Add("re-encoding differs");
                        }
                        if (problems.Count > 0)
                        {
                            failures.Add($"{name} ({fork}): {string.Join(", ", problems)}");
                        }
                    }
                    catch (E2EException ex)
                    {
                        failures.Add($"{name} ({fork}): rejected a valid transaction: {ex.Message}");
                    }
                }
                else
                {
                    invalid++;
                    if (raw is not null && Throws(() => EthTransaction.Decode(raw, 1)) is not E2EException { Error.Id: "InvalidTransaction" })
                    {
                        failures.Add($"{name} ({fork}): accepted, expected {result.GetProperty("exception").GetString()}");
                    }
                }
            }
        }
        TestSummary.Report("ethereum-transactions", valid + invalid - failures.Count, failures.Count);
        output.WriteLine($"transactions: {valid} valid, {invalid} invalid, {failures.Count} failures");
        Assert.True(valid >= 50 && invalid >= 100, $"{valid} valid, {invalid} invalid");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static byte[]? TryHex(string hex)
    {
        try
        {
            return Hex.Decode(hex);
        }
        catch (E2EException)
        {
            return null;
        }
    }

    private static Exception? Throws(Action action)
    {
        try
        {
            action();
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }

    private static RlpItem ToItem(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Array => RlpItem.List(value.EnumerateArray().Select(ToItem)),
        JsonValueKind.Number => RlpItem.Of(new BigInteger(value.GetUInt64())),
        JsonValueKind.String when value.GetString()!.StartsWith('#') => RlpItem.Of(BigInteger.Parse(value.GetString()![1..])),
        _ => RlpItem.Of(System.Text.Encoding.Latin1.GetBytes(value.GetString()!)),
    };
}
