using System.Globalization;
using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Toml;

namespace E2E.Core.Snapshots;

/// <summary>
/// An object's members in document order; comparisons ignore that order. Built once; lookups by key are
/// constant time for wide objects (a linear scan over thousands of keys made comparisons quadratic). With a
/// repeated key (JSON allows it) the first one counts.
/// </summary>
public sealed class DataMap : IReadOnlyList<KeyValuePair<string, object?>>
{
    // Small objects (most of them) are scanned: cheaper than a dictionary in time and memory.
    private const int IndexFrom = 8;
    private readonly KeyValuePair<string, object?>[] _members;
    private readonly Dictionary<string, int>? _index;

    public DataMap(IEnumerable<KeyValuePair<string, object?>> members)
    {
        _members = members.ToArray();
        if (_members.Length >= IndexFrom)
        {
            _index = new Dictionary<string, int>(_members.Length, StringComparer.Ordinal);
            for (var i = 0; i < _members.Length; i++)
            {
                _index.TryAdd(_members[i].Key, i);
            }
        }
    }

    public int Count => _members.Length;

    public KeyValuePair<string, object?> this[int index] => _members[index];

    public object? Get(string key) => Find(key) is var i and >= 0 ? _members[i].Value : null;

    public bool Has(string key) => Find(key) >= 0;

    private int Find(string key)
    {
        if (_index is not null)
        {
            return _index.TryGetValue(key, out var found) ? found : -1;
        }
        for (var i = 0; i < _members.Length; i++)
        {
            if (_members[i].Key == key)
            {
                return i;
            }
        }
        return -1;
    }

    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)_members).GetEnumerator();

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>
/// JSON and TOML as one neutral tree, so both compare the same way: <see cref="DataMap"/>, List&lt;object?&gt;,
/// string, decimal (or double when a number does not fit), bool, null. TOML dates become their RFC 3339 text.
/// </summary>
public static class DataTree
{
    public static object? LoadJson(string path)
    {
        var json = JsonBytes(path);
        var reader = JsonReader(json);
        Next(ref reader, path);
        var value = Read(ref reader, path);
        End(ref reader, path);
        return value;
    }

    /// <summary>Reader options for every JSON document the comparisons read (the module's nesting limit, no comments).</summary>
    internal static Utf8JsonReader JsonReader(ReadOnlyMemory<byte> json) =>
        new(json.Span, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = E2E.Core.Limits.InputLimits.MaxNestingDepth });

    /// <summary>A JSON file's bytes, without a UTF-8 byte order mark (not JSON, but editors write it; TOML files with one are read too).</summary>
    internal static ReadOnlyMemory<byte> JsonBytes(string path)
    {
        var bytes = File.ReadAllBytes(path);
        return bytes.AsMemory(bytes.AsSpan().StartsWith("\uFEFF"u8) ? 3 : 0);
    }

    /// <summary>Advances to the next token; a malformed document is this file's InvalidJson, with line and byte.</summary>
    internal static bool Next(ref Utf8JsonReader reader, string path)
    {
        try
        {
            return reader.Read();
        }
        catch (JsonException ex)
        {
            throw new E2EException(ErrorCatalog.InvalidJson, $"{path}: line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1}: {ex.Message}", path, ex);
        }
    }

    /// <summary>After the root value: nothing but whitespace may follow.</summary>
    internal static void End(ref Utf8JsonReader reader, string path)
    {
        if (Next(ref reader, path))
        {
            throw new E2EException(ErrorCatalog.InvalidJson, $"{path}: content after the end of the document.", path);
        }
    }

    /// <summary>The value at the reader (which must be on its first token) as a tree; the reader ends on its last token.</summary>
    internal static object? Read(ref Utf8JsonReader reader, string path)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                var members = new List<KeyValuePair<string, object?>>();
                Next(ref reader, path);
                ReadMembers(ref reader, path, members);
                return new DataMap(members);
            case JsonTokenType.StartArray:
                var items = new List<object?>();
                while (Next(ref reader, path) && reader.TokenType != JsonTokenType.EndArray)
                {
                    items.Add(Read(ref reader, path));
                }
                return items;
            default:
                return Scalar(ref reader, path);
        }
    }

    /// <summary>An object's members from the reader's current token (a property name, or the object's end) to its end, added to <paramref name="into"/>.</summary>
    internal static void ReadMembers(ref Utf8JsonReader reader, string path, List<KeyValuePair<string, object?>> into)
    {
        while (reader.TokenType != JsonTokenType.EndObject)
        {
            var key = Text(ref reader, path);
            Next(ref reader, path);
            into.Add(new KeyValuePair<string, object?>(key, Read(ref reader, path)));
            Next(ref reader, path);
        }
    }

    /// <summary>A scalar token as the tree holds it: string, decimal (or double when a number does not fit), bool, null.</summary>
    internal static object? Scalar(ref Utf8JsonReader reader, string path) => reader.TokenType switch
    {
        JsonTokenType.String => Text(ref reader, path),
        JsonTokenType.Number => reader.TryGetDecimal(out var d) ? d : reader.GetDouble(),
        JsonTokenType.True => true,
        JsonTokenType.False => false,
        _ => null,
    };

    // A string that is not valid UTF-8 fails only when it is read: this file's error, not the whole comparison's.
    internal static string Text(ref Utf8JsonReader reader, string path)
    {
        try
        {
            return reader.GetString()!;
        }
        catch (InvalidOperationException ex)
        {
            throw new E2EException(ErrorCatalog.InvalidJson, $"{path}: {ex.Message}", path, ex);
        }
    }

    public static object? LoadToml(string path) => FromToml(TomlParser.ParseFile(path));

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

    private static DataMap ToMap(IEnumerable<KeyValuePair<string, object?>> members) => new(members);

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
