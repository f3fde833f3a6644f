using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace E2E.Core.Kubernetes;

/// <summary>
/// Validates an object against a CRD's structural OpenAPI v3 schema, as the API server does before storing it:
/// type, properties, required, enum, pattern, lengths, item and property counts, minimum/maximum, nullable,
/// additionalProperties, x-kubernetes-preserve-unknown-fields and x-kubernetes-int-or-string. Of CEL
/// (x-kubernetes-validations) only two rule shapes are evaluated, the ones CRDs use for names:
/// <c>self.a.b.matches('re')</c> and <c>size(self.a.b) &lt;= n</c>; other rules are not checked here.
/// In strict mode, fields the schema does not know are errors (the server would prune them silently).
/// </summary>
public static partial class OpenApiSchema
{
    [GeneratedRegex(@"^\s*self((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\.matches\('(?<re>(?:[^'\\]|\\.)*)'\)\s*$")]
    private static partial Regex MatchesRule();

    [GeneratedRegex(@"^\s*size\(self((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\)\s*(?<op><=|<|>=|>|==)\s*(?<n>\d+)\s*$")]
    private static partial Regex SizeRule();

    public static IReadOnlyList<(string Field, string Message)> Validate(JsonObject schema, JsonNode? value, bool strict = false)
    {
        var errors = new List<(string, string)>();
        Check(schema, value, string.Empty, strict, errors, root: true);
        return errors;
    }

    private static void Check(JsonObject schema, JsonNode? value, string path, bool strict, List<(string, string)> errors, bool root = false)
    {
        var field = path.Length == 0 ? "<root>" : path;
        if (value is null)
        {
            if ((bool?)schema["nullable"] != true && !root)
            {
                errors.Add((field, "Invalid value: \"null\": must not be null"));
            }
            return;
        }
        var type = (string?)schema["type"];
        var intOrString = (bool?)schema["x-kubernetes-int-or-string"] == true;
        var kind = value.GetValueKind();
        if (intOrString)
        {
            if (kind is not (JsonValueKind.Number or JsonValueKind.String))
            {
                errors.Add((field, $"Invalid value: must be an integer or a string, not {Describe(kind)}"));
            }
            return;
        }
        var typeOk = type switch
        {
            null => true,
            "object" => kind == JsonValueKind.Object,
            "array" => kind == JsonValueKind.Array,
            "string" => kind == JsonValueKind.String,
            "boolean" => kind is JsonValueKind.True or JsonValueKind.False,
            "integer" => kind == JsonValueKind.Number && value.GetValue<JsonElement>().TryGetInt64(out _),
            "number" => kind == JsonValueKind.Number,
            _ => true,
        };
        if (!typeOk)
        {
            errors.Add((field, $"Invalid value: \"{Short(value)}\": {field} in body must be of type {type}: \"{Describe(kind)}\""));
            return;
        }
        if (schema["enum"] is JsonArray options && !options.Any(o => JsonNode.DeepEquals(o, value)))
        {
            errors.Add((field, $"Unsupported value: \"{Short(value)}\": supported values: {string.Join(", ", options.Select(o => $"\"{o}\""))}"));
        }
        switch (kind)
        {
            case JsonValueKind.String:
                var text = value.GetValue<string>();
                if (KubeObjects.Integer(schema["maxLength"]) is { } maxLength && text.Length > maxLength)
                {
                    errors.Add((field, $"Too long: may not be more than {maxLength} bytes"));
                }
                if (KubeObjects.Integer(schema["minLength"]) is { } minLength && text.Length < minLength)
                {
                    errors.Add((field, $"Invalid value: \"{text}\": {field} in body should be at least {minLength} chars long"));
                }
                if ((string?)schema["pattern"] is { } pattern && !Regex.IsMatch(text, pattern))
                {
                    errors.Add((field, $"Invalid value: \"{text}\": {field} in body should match '{pattern}'"));
                }
                break;
            case JsonValueKind.Number:
                var number = value.GetValue<JsonElement>().GetDouble();
                if (KubeObjects.Number(schema["maximum"]) is { } maximum && number > maximum)
                {
                    errors.Add((field, $"Invalid value: {number}: {field} in body should be less than or equal to {maximum}"));
                }
                if (KubeObjects.Number(schema["minimum"]) is { } minimum && number < minimum)
                {
                    errors.Add((field, $"Invalid value: {number}: {field} in body should be greater than or equal to {minimum}"));
                }
                break;
            case JsonValueKind.Array:
                var items = (JsonArray)value;
                if (KubeObjects.Integer(schema["maxItems"]) is { } maxItems && items.Count > maxItems)
                {
                    errors.Add((field, $"Too many: {items.Count}: must have at most {maxItems} items"));
                }
                if (KubeObjects.Integer(schema["minItems"]) is { } minItems && items.Count < minItems)
                {
                    errors.Add((field, $"Invalid value: {items.Count}: {field} in body should have at least {minItems} items"));
                }
                if (schema["items"] is JsonObject itemSchema)
                {
                    for (var i = 0; i < items.Count; i++)
                    {
                        Check(itemSchema, items[i], $"{path}[{i}]", strict, errors);
                    }
                }
                break;
            case JsonValueKind.Object:
                CheckObject(schema, (JsonObject)value, path, strict, errors, root);
                break;
        }
        CheckRules(schema, value, field, errors);
    }

    private static void CheckObject(JsonObject schema, JsonObject o, string path, bool strict, List<(string, string)> errors, bool root)
    {
        var properties = schema["properties"] as JsonObject;
        if (KubeObjects.Integer(schema["minProperties"]) is { } minProperties && o.Count < minProperties)
        {
            errors.Add((path.Length == 0 ? "<root>" : path, $"Invalid value: {o.Count}: {path} in body should have at least {minProperties} properties"));
        }
        if (KubeObjects.Integer(schema["maxProperties"]) is { } maxProperties && o.Count > maxProperties)
        {
            errors.Add((path, $"Too many: {o.Count}: must have at most {maxProperties} items"));
        }
        foreach (var required in (schema["required"] as JsonArray ?? new JsonArray()).Select(r => (string?)r).OfType<string>())
        {
            if (!o.ContainsKey(required))
            {
                errors.Add((Join(path, required), "Required value"));
            }
        }
        var preserveUnknown = (bool?)schema["x-kubernetes-preserve-unknown-fields"] == true;
        foreach (var (name, child) in o)
        {
            var childPath = Join(path, name);
            if (properties?[name] is JsonObject childSchema)
            {
                // The server validates metadata itself; a CRD schema only describes name and generateName there.
                if (root && name == "metadata")
                {
                    continue;
                }
                Check(childSchema, child, childPath, strict, errors);
            }
            else if (schema["additionalProperties"] is JsonObject valueSchema)
            {
                Check(valueSchema, child, childPath, strict, errors);
            }
            else if (strict && !preserveUnknown && properties is not null && !(root && name is "apiVersion" or "kind" or "metadata")
                && (bool?)schema["additionalProperties"] != true)
            {
                errors.Add((childPath, "Unknown field: the schema has no such field (the API server would drop it)"));
            }
        }
    }

    private static void CheckRules(JsonObject schema, JsonNode value, string field, List<(string, string)> errors)
    {
        foreach (var rule in (schema["x-kubernetes-validations"] as JsonArray ?? new JsonArray()).OfType<JsonObject>())
        {
            var text = (string?)rule["rule"] ?? string.Empty;
            var message = (string?)rule["message"] ?? $"failed rule: {text}";
            if (MatchesRule().Match(text) is { Success: true } matches)
            {
                var target = Select(value, matches.Groups[1].Value);
                var pattern = Regex.Unescape(matches.Groups["re"].Value.Replace("\\\\", "\\", StringComparison.Ordinal));
                if (target is string s && !Regex.IsMatch(s, pattern))
                {
                    errors.Add((field, $"Invalid value: \"object\": {message}"));
                }
            }
            else if (SizeRule().Match(text) is { Success: true } size)
            {
                var target = Select(value, size.Groups[1].Value);
                var length = target switch { string s => s.Length, JsonArray a => a.Count, JsonObject m => m.Count, _ => (int?)null };
                var n = long.Parse(size.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture);
                var ok = length is null || size.Groups["op"].Value switch
                {
                    "<=" => length <= n,
                    "<" => length < n,
                    ">=" => length >= n,
                    ">" => length > n,
                    _ => length == n,
                };
                if (!ok)
                {
                    errors.Add((field, $"Invalid value: \"object\": {message}"));
                }
            }
        }
    }

    private static object? Select(JsonNode value, string dotted)
    {
        JsonNode? node = value;
        foreach (var part in dotted.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            node = node is JsonObject o ? o[part] : null;
        }
        // (object) keeps the string a string: JsonNode converts implicitly from string.
        return node is JsonValue v && v.TryGetValue<string>(out var s) ? (object)s : node;
    }

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "null",
    };

    private static string Short(JsonNode value)
    {
        var text = value is JsonValue v && v.TryGetValue<string>(out var s) ? s : value.ToJsonString();
        return text.Length > 60 ? text[..60] + "..." : text;
    }
}
