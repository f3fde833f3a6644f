using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using E2E.Core.Errors;

namespace E2E.Core.Oracle;

/// <summary>A JSON float that must be written as Python writes a float (100.0, 1e-05), even when integral.</summary>
public readonly record struct PyFloat(double Value);

/// <summary>
/// JSON byte-for-byte as Python's <c>json.dumps(value, sort_keys=True, separators=(",", ":"))</c> writes it
/// (ensure_ascii on): what the Oracle signs and verifies. Objects are dictionaries (keys sorted by code
/// point, as Python sorts str), integers are long/BigInteger, floats are <see cref="PyFloat"/> or double.
/// </summary>
public static class CanonicalJson
{
    public static string Serialize(object? value, bool sortKeys = true)
    {
        var builder = new StringBuilder();
        Write(builder, value, sortKeys);
        return builder.ToString();
    }

    private static void Write(StringBuilder output, object? value, bool sortKeys)
    {
        switch (value)
        {
            case null:
                output.Append("null");
                break;
            case bool b:
                output.Append(b ? "true" : "false");
                break;
            case string s:
                WriteString(output, s);
                break;
            case PyFloat f:
                output.Append(PythonFloat(f.Value));
                break;
            case double d:
                output.Append(PythonFloat(d));
                break;
            case float f:
                output.Append(PythonFloat(f));
                break;
            case int or long or BigInteger or uint or ulong or short:
                output.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
            case IEnumerable<KeyValuePair<string, object?>> members:
                var ordered = sortKeys ? members.OrderBy(m => m.Key, StringComparer.Ordinal) : members;
                output.Append('{');
                var first = true;
                foreach (var (key, member) in ordered)
                {
                    if (!first)
                    {
                        output.Append(',');
                    }
                    first = false;
                    WriteString(output, key);
                    output.Append(':');
                    Write(output, member, sortKeys);
                }
                output.Append('}');
                break;
            case System.Collections.IEnumerable items:
                output.Append('[');
                var firstItem = true;
                foreach (var item in items)
                {
                    if (!firstItem)
                    {
                        output.Append(',');
                    }
                    firstItem = false;
                    Write(output, item, sortKeys);
                }
                output.Append(']');
                break;
            default:
                throw new ArgumentException($"Cannot write a {value.GetType().Name} as JSON.", nameof(value));
        }
    }

    /// <summary>Python's repr(float): shortest round-trip digits, fixed notation when -4 &lt; exponent &lt;= 16, ".0" on integral values.</summary>
    public static string PythonFloat(double value)
    {
        if (double.IsNaN(value))
        {
            return "NaN";
        }
        if (double.IsInfinity(value))
        {
            return value > 0 ? "Infinity" : "-Infinity";
        }
        // Shortest round-trip digits: "R" may be fixed or exponent; normalise through its digits and exponent.
        var shortest = value.ToString("R", CultureInfo.InvariantCulture);
        var negative = shortest.StartsWith('-') || (value == 0 && double.IsNegative(value));
        var unsigned = shortest.TrimStart('-');
        string mantissa = unsigned;
        var exponent = 0;
        var e = unsigned.IndexOfAny(new[] { 'E', 'e' });
        if (e >= 0)
        {
            mantissa = unsigned[..e];
            exponent = int.Parse(unsigned[(e + 1)..], CultureInfo.InvariantCulture);
        }
        var dot = mantissa.IndexOf('.');
        var digits = dot >= 0 ? mantissa.Remove(dot, 1) : mantissa;
        var pointAt = (dot >= 0 ? dot : mantissa.Length) + exponent;
        var leadingZeros = digits.TakeWhile(c => c == '0').Count();
        if (leadingZeros == digits.Length)
        {
            return negative ? "-0.0" : "0.0";
        }
        digits = digits[leadingZeros..].TrimEnd('0');
        pointAt -= leadingZeros;
        string body;
        if (pointAt > -4 && pointAt <= 16)
        {
            body = pointAt <= 0 ? "0." + new string('0', -pointAt) + digits
                : pointAt >= digits.Length ? digits + new string('0', pointAt - digits.Length) + ".0"
                : digits[..pointAt] + "." + digits[pointAt..];
        }
        else
        {
            var exp = pointAt - 1;
            body = digits[..1] + (digits.Length > 1 ? "." + digits[1..] : string.Empty) + "e" + (exp < 0 ? "-" : "+") + Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture);
        }
        return negative ? "-" + body : body;
    }

    private static void WriteString(StringBuilder output, string value)
    {
        output.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': output.Append("\\\""); break;
                case '\\': output.Append("\\\\"); break;
                case '\n': output.Append("\\n"); break;
                case '\r': output.Append("\\r"); break;
                case '\t': output.Append("\\t"); break;
                case '\b': output.Append("\\b"); break;
                case '\f': output.Append("\\f"); break;
                default:
                    if (c < 0x20 || c > 0x7E)
                    {
                        output.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        output.Append(c);
                    }
                    break;
            }
        }
        output.Append('"');
    }

    /// <summary>
    /// Parses JSON keeping what Python would keep: integers stay integers, numbers written with '.' or an
    /// exponent stay floats, objects keep their members. Used to re-canonicalise a received payload.
    /// </summary>
    public static object? Parse(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return FromElement(doc.RootElement);
        }
        catch (JsonException ex)
        {
            throw new E2EException(ErrorCatalog.InvalidJson, $"The JSON is malformed: {ex.Message}", null, ex);
        }
    }

    private static object? FromElement(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().Select(p => new KeyValuePair<string, object?>(p.Name, FromElement(p.Value))).ToList(),
        JsonValueKind.Array => element.EnumerateArray().Select(FromElement).ToList(),
        JsonValueKind.String => element.GetString(),
        JsonValueKind.Number => element.GetRawText() is var raw && raw.IndexOfAny(new[] { '.', 'e', 'E' }) >= 0
            ? new PyFloat(double.Parse(raw, CultureInfo.InvariantCulture))
            : BigInteger.Parse(raw, CultureInfo.InvariantCulture),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };
}
