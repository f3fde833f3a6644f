using System.Globalization;
using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Toml;
using Xunit.Abstractions;

namespace E2E.Core.Tests.Toml;

/// <summary>
/// Every TOML 1.0.0 case of toml-test (tests/files-toml-1.0.0): valid documents must decode to the expected
/// tagged JSON, invalid ones must be rejected with a line and column. The totals are printed.
/// </summary>
public class TomlTestSuite(ITestOutputHelper output)
{
    private static readonly string Tests = Fixtures.Path("toml-test", "tests");

    private static IReadOnlyList<string> Listed(string prefix) =>
        File.ReadAllLines(Path.Combine(Tests, "files-toml-1.0.0"))
            .Where(l => l.StartsWith(prefix, StringComparison.Ordinal) && l.EndsWith(".toml", StringComparison.Ordinal))
            .ToArray();

    [Fact]
    public void All_valid_cases_decode_to_the_expected_values()
    {
        var cases = Listed("valid/");
        var failures = new List<string>();
        foreach (var file in cases)
        {
            try
            {
                var table = TomlParser.Parse(File.ReadAllBytes(Path.Combine(Tests, file)), file);
                var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Tests, Path.ChangeExtension(file, ".json")))).RootElement;
                var problem = Compare(expected, TaggedJson.Encode(table), "$");
                if (problem is not null)
                {
                    failures.Add($"{file}: {problem}");
                }
            }
            catch (TomlException ex)
            {
                failures.Add($"{file}: rejected: {ex.Message}");
            }
        }
        output.WriteLine($"toml-test 1.0.0 valid: {cases.Count - failures.Count} passed, {failures.Count} failed");
        TestSummary.Report("toml-test-1.0.0-valid", cases.Count - failures.Count, failures.Count);
        Assert.Equal(210, cases.Count);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void All_invalid_cases_are_rejected_with_line_and_column()
    {
        var cases = Listed("invalid/");
        var failures = new List<string>();
        foreach (var file in cases)
        {
            try
            {
                TomlParser.Parse(File.ReadAllBytes(Path.Combine(Tests, file)), file);
                failures.Add($"{file}: accepted");
            }
            catch (TomlException ex)
            {
                if (ex.Line < 1 || ex.Column < 1 || !ex.Message.StartsWith($"{file}:{ex.Line}:{ex.Column}: ", StringComparison.Ordinal) || ex.Error != ErrorCatalog.InvalidToml)
                {
                    failures.Add($"{file}: bad error shape: {ex.Message}");
                }
            }
        }
        output.WriteLine($"toml-test 1.0.0 invalid: {cases.Count - failures.Count} passed, {failures.Count} failed");
        TestSummary.Report("toml-test-1.0.0-invalid", cases.Count - failures.Count, failures.Count);
        Assert.Equal(499, cases.Count);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>Compares as toml-test does: same structure and tags, integers and floats by value, date-times to the millisecond.</summary>
    private static string? Compare(JsonElement expected, JsonElement actual, string path)
    {
        if (expected.ValueKind == JsonValueKind.Array)
        {
            if (actual.ValueKind != JsonValueKind.Array || actual.GetArrayLength() != expected.GetArrayLength())
            {
                return $"{path}: expected an array of {expected.GetArrayLength()}, got {actual}";
            }
            return expected.EnumerateArray().Zip(actual.EnumerateArray()).Select((p, i) => Compare(p.First, p.Second, $"{path}[{i}]")).FirstOrDefault(p => p is not null);
        }
        if (expected.ValueKind != JsonValueKind.Object || actual.ValueKind != JsonValueKind.Object)
        {
            return $"{path}: expected {expected}, got {actual}";
        }
        if (expected.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && expected.TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.String && expected.EnumerateObject().Count() == 2)
        {
            if (!actual.TryGetProperty("type", out var actualType) || actualType.GetString() != type.GetString())
            {
                return $"{path}: expected type {type}, got {actual}";
            }
            var a = actual.GetProperty("value").GetString()!;
            var e = value.GetString()!;
            var same = type.GetString() switch
            {
                "integer" => long.Parse(e, CultureInfo.InvariantCulture) == long.Parse(a, CultureInfo.InvariantCulture),
                "float" => SameFloat(e, a),
                "datetime" => DateTimeOffset.Parse(e, CultureInfo.InvariantCulture).UtcTicks / 10_000 == DateTimeOffset.Parse(a, CultureInfo.InvariantCulture).UtcTicks / 10_000,
                "datetime-local" => DateTime.Parse(e, CultureInfo.InvariantCulture).Ticks / 10_000 == DateTime.Parse(a, CultureInfo.InvariantCulture).Ticks / 10_000,
                "time-local" => TimeSpan.Parse(e, CultureInfo.InvariantCulture).Ticks / 10_000 == TimeSpan.Parse(a, CultureInfo.InvariantCulture).Ticks / 10_000,
                _ => e == a,
            };
            return same ? null : $"{path}: expected {type}:{e}, got {a}";
        }
        var expectedKeys = expected.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray();
        var actualKeys = actual.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray();
        if (!expectedKeys.SequenceEqual(actualKeys))
        {
            return $"{path}: expected keys [{string.Join(",", expectedKeys)}], got [{string.Join(",", actualKeys)}]";
        }
        return expectedKeys.Select(k => Compare(expected.GetProperty(k), actual.GetProperty(k), $"{path}.{k}")).FirstOrDefault(p => p is not null);
    }

    private static bool SameFloat(string expected, string actual)
    {
        static double Read(string s) => s switch
        {
            "nan" or "+nan" or "-nan" => double.NaN,
            "inf" or "+inf" => double.PositiveInfinity,
            "-inf" => double.NegativeInfinity,
            _ => double.Parse(s, CultureInfo.InvariantCulture),
        };
        var e = Read(expected);
        var a = Read(actual);
        return double.IsNaN(e) ? double.IsNaN(a) : e == a;
    }
}

/// <summary>toml-test's tagged JSON: every scalar as {"type", "value"} strings.</summary>
internal static class TaggedJson
{
    public static JsonElement Encode(TomlTable table) => JsonSerializer.SerializeToElement(Convert(table));

    private static object Convert(object value) => value switch
    {
        TomlTable t => t.ToDictionary(p => p.Key, p => Convert(p.Value)),
        TomlArray a => a.Select(Convert).ToArray(),
        string s => Tag("string", s),
        long l => Tag("integer", l.ToString(CultureInfo.InvariantCulture)),
        double d => Tag("float", double.IsNaN(d) ? "nan" : double.IsPositiveInfinity(d) ? "inf" : double.IsNegativeInfinity(d) ? "-inf" : d.ToString("R", CultureInfo.InvariantCulture)),
        bool b => Tag("bool", b ? "true" : "false"),
        TomlDateTime dt => Tag(dt.Kind switch
        {
            TomlDateTimeKind.OffsetDateTime => "datetime",
            TomlDateTimeKind.LocalDateTime => "datetime-local",
            TomlDateTimeKind.LocalDate => "date-local",
            _ => "time-local",
        }, dt.Text),
        _ => throw new InvalidOperationException(value.GetType().Name),
    };

    private static Dictionary<string, string> Tag(string type, string value) => new() { ["type"] = type, ["value"] = value };
}
