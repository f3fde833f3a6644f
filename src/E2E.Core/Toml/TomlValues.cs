using System.Collections;
using System.Globalization;

namespace E2E.Core.Toml;

/// <summary>
/// A TOML table: keys in document order. Values are string, long, double, bool, <see cref="TomlDateTime"/>,
/// <see cref="TomlArray"/> or <see cref="TomlTable"/>.
/// </summary>
public sealed class TomlTable : IEnumerable<KeyValuePair<string, object>>
{
    private readonly Dictionary<string, object> _values = new(StringComparer.Ordinal);
    private readonly List<string> _order = new();

    internal TomlTable(TableOrigin origin) => Origin = origin;

    public TomlTable()
        : this(TableOrigin.Header)
    {
    }

    /// <summary>How the table came to be; decides what may still be added to it (TOML 1.0's table rules).</summary>
    internal TableOrigin Origin { get; set; }

    public int Count => _order.Count;

    public IEnumerable<string> Keys => _order;

    public object this[string key] => _values[key];

    public bool ContainsKey(string key) => _values.ContainsKey(key);

    public bool TryGetValue(string key, out object value) => _values.TryGetValue(key, out value!);

    internal void Add(string key, object value)
    {
        _values.Add(key, value);
        _order.Add(key);
    }

    /// <summary>The value at a dotted path of keys, or null when any part is missing.</summary>
    public object? Find(params string[] path)
    {
        object current = this;
        foreach (var key in path)
        {
            if (current is not TomlTable table || !table.TryGetValue(key, out current!))
            {
                return null;
            }
        }
        return current;
    }

    public IEnumerator<KeyValuePair<string, object>> GetEnumerator() =>
        _order.Select(k => new KeyValuePair<string, object>(k, _values[k])).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

internal enum TableOrigin
{
    /// <summary>Defined by a [header], or the root.</summary>
    Header,

    /// <summary>Created on the way to a deeper [header]; a later [header] may still define it.</summary>
    Implicit,

    /// <summary>Created by a dotted key; only more dotted keys in the same place may add to it.</summary>
    Dotted,

    /// <summary>An inline table: complete once written.</summary>
    Inline,
}

/// <summary>A TOML array; <see cref="IsArrayOfTables"/> when built by [[header]]s, which alone may grow later.</summary>
public sealed class TomlArray : List<object>
{
    internal TomlArray(bool isArrayOfTables) => IsArrayOfTables = isArrayOfTables;

    public bool IsArrayOfTables { get; }
}

public enum TomlDateTimeKind
{
    OffsetDateTime,
    LocalDateTime,
    LocalDate,
    LocalTime,
}

/// <summary>
/// A TOML date/time value. <see cref="Text"/> is the value in RFC 3339 form ('T' separator, upper-case
/// 'Z'), fractional seconds kept as written; <see cref="Value"/> is the same instant for arithmetic (a leap
/// second :60 is held as :59 there, and local kinds carry a zero offset).
/// </summary>
public sealed record TomlDateTime(TomlDateTimeKind Kind, string Text, DateTimeOffset Value)
{
    public override string ToString() => Text;
}

internal static class TomlFormat
{
    public static string Double(double value) =>
        double.IsNaN(value) ? "nan"
        : double.IsPositiveInfinity(value) ? "inf"
        : double.IsNegativeInfinity(value) ? "-inf"
        : value.ToString("R", CultureInfo.InvariantCulture);
}
