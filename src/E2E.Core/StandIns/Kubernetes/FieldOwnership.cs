using System.Text.Json.Nodes;

namespace E2E.Core.StandIns.Kubernetes;

/// <summary>
/// The field paths server-side apply reasons about: every leaf of an applied configuration (maps are walked,
/// lists and scalars are leaves), and managedFields in the FieldsV1 form ("f:spec": {"f:image": {}}).
/// Paths join keys with U+001F internally, because label keys contain dots.
/// </summary>
internal static class FieldOwnership
{
    private const char Separator = '\u001f';
    private static readonly HashSet<string> ServerMetadata = new(StringComparer.Ordinal) { "name", "namespace", "resourceVersion", "managedFields", "uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds" };

    public static Dictionary<string, JsonNode?> Leaves(JsonObject config)
    {
        var leaves = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        void Walk(JsonNode? node, string path)
        {
            if (node is JsonObject map && map.Count > 0)
            {
                foreach (var (key, value) in map)
                {
                    Walk(value, path + Separator + key);
                }
            }
            else
            {
                leaves[path] = node;
            }
        }
        foreach (var (key, value) in config)
        {
            if (key is "apiVersion" or "kind")
            {
                continue;
            }
            if (key == "metadata" && value is JsonObject metadata)
            {
                foreach (var (metadataKey, metadataValue) in metadata.Where(m => !ServerMetadata.Contains(m.Key)))
                {
                    Walk(metadataValue, "metadata" + Separator + metadataKey);
                }
                continue;
            }
            Walk(value, key);
        }
        return leaves;
    }

    public static JsonNode? ValueAt(JsonObject o, string path)
    {
        JsonNode? node = o;
        foreach (var part in path.Split(Separator))
        {
            node = node is JsonObject map ? map[part] : null;
        }
        return node;
    }

    /// <summary>Removes the field at <paramref name="path"/> and any map left empty above it.</summary>
    public static void RemoveAt(JsonObject o, string path)
    {
        var parts = path.Split(Separator);
        var chain = new List<JsonObject> { o };
        for (var i = 0; i < parts.Length - 1; i++)
        {
            if (chain[^1][parts[i]] is not JsonObject next)
            {
                return;
            }
            chain.Add(next);
        }
        chain[^1].Remove(parts[^1]);
        for (var i = chain.Count - 1; i > 0 && chain[i].Count == 0; i--)
        {
            chain[i - 1].Remove(parts[i - 1]);
        }
    }

    /// <summary>".spec.image", ".metadata.labels.app.kubernetes.io/name": how the API server names a field in conflicts.</summary>
    public static string Display(string path) => "." + path.Replace(Separator, '.');

    public static JsonArray ManagedFields(IReadOnlyDictionary<string, HashSet<string>> owners, string apiVersion, string time) =>
        new(owners.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o =>
        {
            var fields = new JsonObject();
            foreach (var path in o.Value.Order(StringComparer.Ordinal))
            {
                var node = fields;
                foreach (var part in path.Split(Separator))
                {
                    node = node["f:" + part] as JsonObject ?? (JsonObject)(node["f:" + part] = new JsonObject());
                }
            }
            return (JsonNode)new JsonObject { ["manager"] = o.Key, ["operation"] = "Apply", ["apiVersion"] = apiVersion, ["time"] = time, ["fieldsType"] = "FieldsV1", ["fieldsV1"] = fields };
        }).ToArray());
}
