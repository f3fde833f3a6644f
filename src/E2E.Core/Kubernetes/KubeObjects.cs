using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using E2E.Core.Errors;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace E2E.Core.Kubernetes;

/// <summary>Kubernetes objects are kept as JSON trees; these helpers read the parts every caller needs.</summary>
public static class KubeObjects
{
    public static string ApiVersion(JsonObject o) => (string?)o["apiVersion"] ?? string.Empty;

    public static string Kind(JsonObject o) => (string?)o["kind"] ?? string.Empty;

    public static JsonObject Metadata(JsonObject o) => o["metadata"] as JsonObject ?? (JsonObject)(o["metadata"] = new JsonObject());

    public static string Name(JsonObject o) => (string?)o["metadata"]?["name"] ?? string.Empty;

    public static string? Namespace(JsonObject o) => (string?)o["metadata"]?["namespace"];

    public static string? Uid(JsonObject o) => (string?)o["metadata"]?["uid"];

    public static string ResourceVersion(JsonObject o) => (string?)o["metadata"]?["resourceVersion"] ?? string.Empty;

    public static IReadOnlyDictionary<string, string> Labels(JsonObject o) => StringMap(o["metadata"]?["labels"]);

    public static IReadOnlyList<string> Finalizers(JsonObject o) =>
        (o["metadata"]?["finalizers"] as JsonArray)?.Select(f => (string?)f ?? string.Empty).ToArray() ?? Array.Empty<string>();

    public static bool IsDeleting(JsonObject o) => o["metadata"]?["deletionTimestamp"] is not null;

    public static IReadOnlyDictionary<string, string> StringMap(JsonNode? node) =>
        node is JsonObject map ? map.ToDictionary(p => p.Key, p => p.Value?.ToString() ?? string.Empty, StringComparer.Ordinal) : new Dictionary<string, string>();

    /// <summary>"kind/name" or "kind/namespace/name", the way messages name an object.</summary>
    public static string Describe(JsonObject o) => Namespace(o) is { } ns ? $"{Kind(o)} {ns}/{Name(o)}" : $"{Kind(o)} {Name(o)}";

    /// <summary>The status condition of that type, or null.</summary>
    public static JsonObject? Condition(JsonObject o, string type) =>
        (o["status"]?["conditions"] as JsonArray)?.OfType<JsonObject>().FirstOrDefault(c => string.Equals((string?)c["type"], type, StringComparison.OrdinalIgnoreCase));

    /// <summary>"Ready=False (StatefulSetNotReady: StatefulSet has 0/1 ready replicas); Suspended=False", for messages.</summary>
    public static string ConditionSummary(JsonObject o)
    {
        var conditions = (o["status"]?["conditions"] as JsonArray)?.OfType<JsonObject>().ToArray() ?? Array.Empty<JsonObject>();
        return conditions.Length == 0 ? "no conditions"
            : string.Join("; ", conditions.Select(c => $"{c["type"]}={c["status"]}{(c["reason"] is null ? string.Empty : $" ({c["reason"]}: {c["message"]})")}"));
    }

    public static JsonObject Parse(string json) =>
        JsonNode.Parse(json) as JsonObject ?? throw new E2EException(ErrorCatalog.ManifestInvalid, "The document is not a JSON object.", json.Length > 80 ? json[..80] : json);

    /// <summary>
    /// Every document of a YAML (or JSON) stream as a JSON object; empty documents are skipped and a List's
    /// items are returned one by one. Scalars are typed as YAML 1.2's core schema does (quoted values stay strings).
    /// </summary>
    public static IReadOnlyList<JsonObject> ParseYaml(string text, string source)
    {
        E2E.Core.Limits.InputLimits.CheckYaml(text, source);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            throw new E2EException(ErrorCatalog.ManifestInvalid, $"{source}: invalid YAML at line {ex.Start.Line}, column {ex.Start.Column}: {ex.InnerException?.Message ?? ex.Message}", source, ex);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet throws these, not a YamlException, on some malformed input (found by the fuzz test).
            throw new E2EException(ErrorCatalog.ManifestInvalid, $"{source}: invalid YAML: {ex.Message}", source, ex);
        }
        var objects = new List<JsonObject>();
        foreach (var document in stream.Documents)
        {
            var node = ToJson(document.RootNode);
            if (node is null)
            {
                continue;
            }
            if (node is not JsonObject o)
            {
                throw new E2EException(ErrorCatalog.ManifestInvalid, $"{source}: document at line {document.RootNode.Start.Line} is not a mapping.", source);
            }
            if (o["kind"] is JsonValue kind && kind.TryGetValue<string>(out var kindName) && kindName.EndsWith("List", StringComparison.Ordinal) && o["items"] is JsonArray items)
            {
                objects.AddRange(items.OfType<JsonObject>().Select(i => (JsonObject)i.DeepClone()));
                continue;
            }
            objects.Add(o);
        }
        return objects;
    }

    private static JsonNode? ToJson(YamlNode node)
    {
        switch (node)
        {
            case YamlMappingNode mapping:
                var o = new JsonObject();
                foreach (var (key, value) in mapping.Children)
                {
                    o[((YamlScalarNode)key).Value ?? string.Empty] = ToJson(value);
                }
                return o;
            case YamlSequenceNode sequence:
                return new JsonArray(sequence.Children.Select(ToJson).ToArray());
            case YamlScalarNode scalar:
                return Scalar(scalar);
            default:
                return null;
        }
    }

    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        var value = scalar.Value ?? string.Empty;
        if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any) || scalar.Tag == "tag:yaml.org,2002:str")
        {
            return JsonValue.Create(value);
        }
        switch (value)
        {
            case "" or "~" or "null" or "Null" or "NULL":
                return null;
            case "true" or "True" or "TRUE":
                return JsonValue.Create(true);
            case "false" or "False" or "FALSE":
                return JsonValue.Create(false);
        }
        if (System.Text.RegularExpressions.Regex.IsMatch(value, "^[-+]?[0-9]+$") && long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
        {
            return JsonValue.Create(integer);
        }
        if (System.Text.RegularExpressions.Regex.IsMatch(value, "^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
            && double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var real))
        {
            return JsonValue.Create(real);
        }
        return JsonValue.Create(value);
    }

    /// <summary>RFC 7386 JSON merge patch: maps merge, null removes, everything else replaces.</summary>
    public static JsonNode? MergePatch(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }
        var result = target is JsonObject targetObject ? (JsonObject)targetObject.DeepClone() : new JsonObject();
        foreach (var (key, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(key);
            }
            else
            {
                result[key] = MergePatch(result[key], value);
            }
        }
        return result;
    }

    /// <summary>The value at a dotted path such as "metadata.name" or "involvedObject.kind" (for field selectors).</summary>
    public static string? Field(JsonObject o, string path)
    {
        JsonNode? node = o;
        foreach (var part in path.Split('.'))
        {
            node = node is JsonObject map ? map[part] : null;
        }
        return node switch
        {
            null => null,
            JsonValue v when v.TryGetValue<string>(out var s) => s,
            _ => node.ToJsonString(),
        };
    }

    /// <summary>A whole number however the node holds it (parsed JSON, or a value built in code as int or long); null otherwise.</summary>
    public static long? Integer(JsonNode? node) => node is not JsonValue v ? null
        : v.TryGetValue<long>(out var l) ? l
        : v.TryGetValue<int>(out var i) ? i
        : v.TryGetValue<JsonElement>(out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out var x) ? x
        : null;

    /// <summary>A number however the node holds it; null otherwise.</summary>
    public static double? Number(JsonNode? node) => node is not JsonValue v ? null
        : v.TryGetValue<double>(out var d) ? d
        : Integer(node) is { } whole ? whole
        : v.TryGetValue<JsonElement>(out var e) && e.ValueKind == JsonValueKind.Number ? e.GetDouble()
        : null;

    /// <summary>Now, as the API server writes timestamps (RFC 3339, UTC, whole seconds).</summary>
    public static string Timestamp() => DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    public static string Compact(JsonNode node) => node.ToJsonString(new JsonSerializerOptions { WriteIndented = false });
}

/// <summary>Any Kubernetes object as the cmdlets show it; <see cref="Json"/> gives the whole object for ConvertFrom-Json.</summary>
public sealed record KubeResourceInfo(string ApiVersion, string Kind, string? Namespace, string Name, string ResourceVersion, string Conditions, JsonObject Object)
{
    public static KubeResourceInfo From(JsonObject o) =>
        new(KubeObjects.ApiVersion(o), KubeObjects.Kind(o), KubeObjects.Namespace(o), KubeObjects.Name(o), KubeObjects.ResourceVersion(o), KubeObjects.ConditionSummary(o), o);

    public string Json => Object.ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    public override string ToString() => KubeObjects.Describe(Object);
}
