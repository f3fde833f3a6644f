using System.Globalization;
using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Toml;

namespace E2E.Core.Snapshots;

/// <summary>An object's members in document order; comparisons ignore that order.</summary>
public sealed class DataMap : List<KeyValuePair<string, object?>>
{
    public object? Get(string key) => this.FirstOrDefault(p => p.Key == key).Value;

    public bool Has(string key) => this.Any(p => p.Key == key);
}

/// <summary>
/// JSON and TOML as one neutral tree, so both compare the same way: <see cref="DataMap"/>, List&lt;object?&gt;,
/// string, decimal (or double when a number does not fit), bool, null. TOML dates become their RFC 3339 text.
/// </summary>
public static class DataTree
{
    public static object? LoadJson(string path)
    {
        var bytes = File.ReadAllBytes(path);
        // A UTF-8 byte order mark is not JSON, but editors write it; TOML files with one are read too.
        var text = bytes.AsMemory(bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0);
        try
        {
            using var doc = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = E2E.Core.Limits.InputLimits.MaxNestingDepth });
            return FromJson(doc.RootElement);
        }
        catch (JsonException ex)
        {
            throw new E2EException(ErrorCatalog.InvalidJson, $"{path}: line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1}: {ex.Message}", path, ex);
        }
        catch (InvalidOperationException ex)
        {
            // A string that is not valid UTF-8 fails only when it is read: this file's error, not the whole comparison's.
            throw new E2EException(ErrorCatalog.InvalidJson, $"{path}: {ex.Message}", path, ex);
        }
    }

    public static object? LoadToml(string path) => FromToml(TomlParser.ParseFile(path));

    public static object? FromJson(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => ToMap(element.EnumerateObject().Select(p => new KeyValuePair<string, object?>(p.Name, FromJson(p.Value)))),
        JsonValueKind.Array => element.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number => element.TryGetDecimal(out var d) ? d : element.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    public static object? FromToml(object value) => value switch
    {
        TomlTable table => ToMap(table.Select(p => new KeyValuePair<string, object?>(p.Key, FromToml(p.Value)))),
        TomlArray array => array.Select(FromToml).ToList(),
        long l => (decimal)l,
        double d => d,
        TomlDateTime dt => Canonical(dt),
        _ => value,
    };

    /// <summary>
    /// A TOML date or time as one canonical text, so equal moments compare equal however they were written:
    /// offset date-times as the UTC instant ("+00:00" and "Z", "+02:00" two hours earlier), a space or a 'T'
    /// between date and time, trailing zeros of fractions.
    /// </summary>
    private static string Canonical(TomlDateTime dt) => dt.Kind switch
    {
        TomlDateTimeKind.OffsetDateTime => dt.Value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture),
        TomlDateTimeKind.LocalDateTime => dt.Value.DateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture),
        TomlDateTimeKind.LocalDate => dt.Value.DateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        _ => dt.Value.DateTime.ToString("HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture),
    };

    private static DataMap ToMap(IEnumerable<KeyValuePair<string, object?>> members)
    {
        var map = new DataMap();
        map.AddRange(members);
        return map;
    }

    /// <summary>Numbers equal as values (1 equals 1.0); everything else by type and value.</summary>
    public static bool ScalarEquals(object? a, object? b) => (a, b) switch
    {
        (decimal x, decimal y) => x == y,
        (decimal or double, decimal or double) => Convert.ToDouble(a, CultureInfo.InvariantCulture).Equals(Convert.ToDouble(b, CultureInfo.InvariantCulture)),
        _ => Equals(a, b),
    };

    public static bool IsNumber(object? value) => value is decimal or double;

    /// <summary>Short readable text of a value for difference listings.</summary>
    public static string Show(object? value) => value switch
    {
        null => "null",
        string s => JsonSerializer.Serialize(s),
        bool b => b ? "true" : "false",
        decimal d => d.ToString(CultureInfo.InvariantCulture),
        double d => double.IsNaN(d) ? "nan" : d.ToString("R", CultureInfo.InvariantCulture),
        DataMap m => $"{{{m.Count} members}}",
        List<object?> l => $"[{l.Count} items]",
        _ => value.ToString() ?? string.Empty,
    };
}
