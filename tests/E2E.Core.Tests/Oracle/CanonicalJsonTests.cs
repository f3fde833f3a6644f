using System.Diagnostics;
using System.Text;
using E2E.Core.Oracle;

namespace E2E.Core.Tests.Oracle;

public class CanonicalJsonTests
{
    [Theory]
    [InlineData(100.0, "100.0")]
    [InlineData(0.1, "0.1")]
    [InlineData(-0.0, "-0.0")]
    [InlineData(1e16, "1e+16")]
    [InlineData(1e15, "1000000000000000.0")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1e-05")]
    [InlineData(123.456, "123.456")]
    [InlineData(1.5e-7, "1.5e-07")]
    [InlineData(2.5e300, "2.5e+300")]
    public void Floats_are_written_as_python_repr(double value, string expected)
    {
        Assert.Equal(expected, CanonicalJson.PythonFloat(value));
    }

    [Fact]
    public void Matches_python_json_dumps_byte_for_byte_on_random_documents()
    {
        var random = new Random(7);
        var documents = Enumerable.Range(0, 300).Select(_ => RandomObject(random, 3)).ToArray();
        var ours = documents.Select(d => CanonicalJson.Serialize(d)).ToArray();
        // Python reads our (unsorted) serialisation and writes it canonically; both must agree exactly.
        var input = string.Join("\n", documents.Select(d => CanonicalJson.Serialize(d, sortKeys: false)));
        var script = "import sys, json\nfor line in sys.stdin.read().split('\\n'):\n    print(json.dumps(json.loads(line), sort_keys=True, separators=(',', ':')))";
        var python = Process.Start(new ProcessStartInfo("python3", new[] { "-c", script }) { RedirectStandardInput = true, RedirectStandardOutput = true, StandardOutputEncoding = Encoding.UTF8 })!;
        python.StandardInput.Write(input);
        python.StandardInput.Close();
        var theirs = python.StandardOutput.ReadToEnd().TrimEnd('\n').Split('\n');
        python.WaitForExit();
        Assert.Equal(0, python.ExitCode);
        Assert.Equal(ours.Length, theirs.Length);
        for (var i = 0; i < ours.Length; i++)
        {
            Assert.Equal(theirs[i], ours[i]);
        }
    }

    private static object? RandomValue(Random random, int depth) => random.Next(depth > 0 ? 8 : 6) switch
    {
        0 => (long)random.Next(-1_000_000, 1_000_000) * random.Next(1, 1000),
        1 => new PyFloat(Math.Round(random.NextDouble() * Math.Pow(10, random.Next(-8, 20)), random.Next(0, 6))),
        2 => random.Next(2) == 0,
        3 => null,
        4 or 5 => RandomString(random),
        6 => Enumerable.Range(0, random.Next(0, 4)).Select(_ => RandomValue(random, depth - 1)).ToList(),
        _ => RandomObject(random, depth - 1),
    };

    private static List<KeyValuePair<string, object?>> RandomObject(Random random, int depth) =>
        Enumerable.Range(0, random.Next(1, 6)).Select(i => new KeyValuePair<string, object?>(RandomString(random) + i, RandomValue(random, depth))).ToList();

    private static string RandomString(Random random)
    {
        const string alphabet = "abcXYZ_09 \"\\/\n\t\u0001é€😀漢";
        var length = random.Next(0, 8);
        var builder = new StringBuilder();
        while (builder.Length < length)
        {
            var i = random.Next(alphabet.Length);
            builder.Append(char.IsHighSurrogate(alphabet[i]) ? alphabet.Substring(i, 2) : char.IsLowSurrogate(alphabet[i]) ? "a" : alphabet[i].ToString());
        }
        return builder.ToString();
    }
}
