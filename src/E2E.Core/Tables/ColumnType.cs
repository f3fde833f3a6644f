using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.RegularExpressions;
using E2E.Core.Errors;

namespace E2E.Core.Tables;

/// <summary>
/// A column's type, as Geneva names them: int64, float64, string, binary, bool, struct (JSON) and
/// vector[float32, N] (a fixed-size float vector stored as N little-endian floats).
/// </summary>
public sealed partial record ColumnType(string Name, int VectorSize = 0)
{
    public static ColumnType Parse(string text)
    {
        var name = text.Trim().ToLowerInvariant();
        if (name is "int64" or "float64" or "string" or "binary" or "bool" or "struct")
        {
            return new ColumnType(name);
        }
        var vector = VectorPattern().Match(name);
        if (vector.Success && int.TryParse(vector.Groups[1].Value, CultureInfo.InvariantCulture, out var size) && size > 0)
        {
            return new ColumnType("vector", size);
        }
        throw new E2EException(ErrorCatalog.InvalidColumnType, $"'{text}' is not a column type: use int64, float64, string, binary, bool, struct or vector[float32, N].", text);
    }

    /// <summary>The type of a record's value: integers int64, other numbers float64, bool, byte arrays binary, anything else string.</summary>
    public static ColumnType Infer(object? value) => new(value switch
    {
        long or int or short or byte => "int64",
        double or float or decimal => "float64",
        bool => "bool",
        byte[] => "binary",
        _ => "string",
    });

    public string SqlType => Name switch
    {
        "int64" or "bool" => "INTEGER",
        "float64" => "REAL",
        "binary" or "vector" => "BLOB",
        _ => "TEXT",
    };

    /// <summary>How a float64 NaN is stored (SQLite would make a NaN REAL a NULL); read back as double.NaN.</summary>
    public const string StoredNaN = "NaN";

    /// <summary>The value as read back: a float64 column's stored NaN becomes double.NaN again.</summary>
    public object? FromStored(object? stored) => Name == "float64" && stored is string text && text == StoredNaN ? double.NaN : stored;

    public override string ToString() => Name == "vector" ? $"vector[float32, {VectorSize}]" : Name;

    /// <summary>
    /// Converts a UDF result from the worker protocol (long, double, bool, string, byte[], a JsonElement for dicts,
    /// lists and big integers, or null) into the stored value; UdfTypeMismatch when it does not fit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public object ToStored(object? value)
    {
        switch (Name, value)
        {
            case (_, JsonElement json):
                return ToStored(json);
            case ("int64", long l):
                return l;
            case ("float64", double d):
                // SQLite turns a NaN REAL into NULL (an empty row, filled again by every backfill): NaN is kept as the text NaN.
                return double.IsNaN(d) ? StoredNaN : d;
            case ("float64", long l):
                return (double)l;
            case ("bool", bool b):
                return b ? 1L : 0L;
            case ("string", string text):
                return text;
            case ("binary", byte[] bytes):
                return bytes;
        }
        var shown = value switch
        {
            null => "null",
            long or double => $"the number {Convert.ToString(value, CultureInfo.InvariantCulture)}",
            bool => "a boolean",
            string => "a string",
            byte[] b => $"{b.Length} bytes",
            _ => value.GetType().Name,
        };
        var sample = Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty;
        throw new E2EException(ErrorCatalog.UdfTypeMismatch, $"The UDF returned {shown}, which does not fit a {this} column.", sample.Length > 80 ? sample[..80] : sample);
    }

    /// <summary>The double of an {"f64": ...} form (module/python/e2e_json.py): "nan", "inf" or "-inf".</summary>
    public static bool TryParseSpecialFloat(JsonElement form, out double value)
    {
        (var known, value) = (form.ValueKind == JsonValueKind.String ? form.GetString() : null) switch
        {
            "nan" => (true, double.NaN),
            "inf" => (true, double.PositiveInfinity),
            "-inf" => (true, double.NegativeInfinity),
            _ => (false, 0d),
        };
        return known;
    }

    /// <summary>Converts a UDF result (decoded JSON) into the stored value; UdfTypeMismatch when it does not fit.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public object ToStored(JsonElement value)
    {
        try
        {
            switch (Name)
            {
                case "int64" when value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var l):
                    return l;
                case "float64" when value.ValueKind == JsonValueKind.Number:
                    return value.GetDouble();
                case "float64" when value.ValueKind == JsonValueKind.Object && value.TryGetProperty("f64", out var special):
                    // SQLite turns a NaN REAL into NULL (an empty row, filled again by every backfill): NaN is kept as the text NaN.
                    return TryParseSpecialFloat(special, out var number) ? double.IsNaN(number) ? StoredNaN : number : throw new FormatException("unknown f64 value");
                case "bool" when value.ValueKind is JsonValueKind.True or JsonValueKind.False:
                    return value.GetBoolean() ? 1L : 0L;
                case "string" when value.ValueKind == JsonValueKind.String:
                    return value.GetString()!;
                case "binary" when value.ValueKind == JsonValueKind.Object && value.TryGetProperty("b64", out var b64):
                    return Convert.FromBase64String(b64.GetString()!);
                case "struct" when value.ValueKind == JsonValueKind.Object:
                    return value.GetRawText();
                case "vector" when value.ValueKind == JsonValueKind.Array && value.GetArrayLength() == VectorSize:
                    var floats = value.EnumerateArray().Select(v => v.GetSingle()).ToArray();
                    var bytes = new byte[floats.Length * 4];
                    Buffer.BlockCopy(floats, 0, bytes, 0, bytes.Length);
                    return bytes;
            }
        }
        catch (Exception ex) when (ex is FormatException or InvalidOperationException)
        {
            // falls through to the mismatch below
        }
        throw new E2EException(ErrorCatalog.UdfTypeMismatch, $"The UDF returned {Describe(value)}, which does not fit a {this} column.", value.GetRawText().Length > 80 ? value.GetRawText()[..80] : value.GetRawText());
    }

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number => $"the number {value.GetRawText()}",
        JsonValueKind.String => "a string",
        JsonValueKind.Array => $"a list of {value.GetArrayLength()}",
        JsonValueKind.Object => "an object",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    [GeneratedRegex(@"^vector\[\s*float32\s*,\s*(\d+)\s*\]$")]
    private static partial Regex VectorPattern();
}
