using System.Globalization;
using System.Text.Json;

namespace E2E.Core.Tracking;

/// <summary>JSON values from tracking stores as plain .NET values (dictionaries, lists, long, double, string, bool, null).</summary>
internal static class TrackingJson
{
    /// <summary>Parses one JSON value; Python's bare NaN/Infinity/-Infinity become doubles; text that is not JSON is kept as it is.</summary>
    public static object? Parse(string json)
    {
        switch (json.Trim())
        {
            case "NaN":
                return double.NaN;
            case "Infinity":
                return double.PositiveInfinity;
            case "-Infinity":
                return double.NegativeInfinity;
        }
        try
        {
            using var document = JsonDocument.Parse(QuoteNonFiniteLiterals(json));
            return Convert(document.RootElement);
        }
        catch (JsonException)
        {
            return json;
        }
    }

    /// <summary>
    /// Python's json.dumps writes NaN, Infinity and -Infinity bare, which is not JSON; this turns them
    /// into the strings "NaN", "Infinity", "-Infinity" (outside string literals only) so a JSON parser takes the text.
    /// </summary>
    public static string QuoteNonFiniteLiterals(string json)
    {
        if (!json.Contains("NaN", StringComparison.Ordinal) && !json.Contains("Infinity", StringComparison.Ordinal))
        {
            return json;
        }
        var output = new System.Text.StringBuilder(json.Length + 8);
        var inString = false;
        for (var i = 0; i < json.Length; i++)
        {
            var c = json[i];
            if (inString)
            {
                output.Append(c);
                if (c == '\\' && i + 1 < json.Length)
                {
                    output.Append(json[++i]);
                }
                else if (c == '"')
                {
                    inString = false;
                }
                continue;
            }
            if (c == '"')
            {
                inString = true;
                output.Append(c);
                continue;
            }
            var literal = json.AsSpan(i).StartsWith("NaN") ? "NaN" : json.AsSpan(i).StartsWith("Infinity") ? "Infinity" : json.AsSpan(i).StartsWith("-Infinity") ? "-Infinity" : null;
            if (literal is not null)
            {
                output.Append('"').Append(literal).Append('"');
                i += literal.Length - 1;
                continue;
            }
            output.Append(c);
        }
        return output.ToString();
    }

    public static object? Convert(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().Aggregate(new Dictionary<string, object?>(StringComparer.Ordinal), (d, p) => { d[p.Name] = Convert(p.Value); return d; }),
        JsonValueKind.Array => element.EnumerateArray().Select(Convert).ToList(),
        JsonValueKind.String => element.GetString() switch
        {
            "NaN" => double.NaN,
            "Infinity" => double.PositiveInfinity,
            "-Infinity" => double.NegativeInfinity,
            var text => text,
        },
        JsonValueKind.Number => element.TryGetInt64(out var l) ? (object)l : element.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    /// <summary>A parameter value as text, the way MLflow stores it (str(value)) for scalars, JSON for the rest.</summary>
    public static string ParameterText(object? value) => value switch
    {
        null => "None",
        string s => s,
        bool b => b ? "True" : "False",
        double d => PythonFloat(d),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => JsonSerializer.Serialize(value),
    };

    /// <summary>Python's repr of a float (shortest round-trip, always with a '.' or exponent).</summary>
    public static string PythonFloat(double value)
    {
        if (double.IsNaN(value))
        {
            return "nan";
        }
        if (double.IsInfinity(value))
        {
            return value > 0 ? "inf" : "-inf";
        }
        var text = value.ToString("R", CultureInfo.InvariantCulture);
        return text.Contains('.') || text.Contains('E') ? text.Replace("E+", "e+").Replace("E-", "e-") : text + ".0";
    }
}
