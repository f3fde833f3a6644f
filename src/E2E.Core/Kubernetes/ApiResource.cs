using System.Text.Json.Nodes;

namespace E2E.Core.Kubernetes;

/// <summary>One resource type as discovery lists it: where its objects live in the REST tree.</summary>
public sealed record ApiResource(string Group, string Version, string Kind, string Plural, string Singular, bool Namespaced, IReadOnlyList<string> ShortNames)
{
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    /// <summary>"computes.compute.skytorch.dev", or "pods" for the core group.</summary>
    public string FullName => Group.Length == 0 ? Plural : $"{Plural}.{Group}";

    public string GroupVersionPath => Group.Length == 0 ? $"/api/{Version}" : $"/apis/{Group}/{Version}";

    /// <summary>The REST path of the collection (name null) or of one object, optionally a subresource of it.</summary>
    public string Path(string? @namespace, string? name = null, string? subresource = null)
    {
        var path = GroupVersionPath;
        if (Namespaced && !string.IsNullOrEmpty(@namespace))
        {
            path += "/namespaces/" + Uri.EscapeDataString(@namespace);
        }
        path += "/" + Plural;
        if (name is not null)
        {
            path += "/" + Uri.EscapeDataString(name);
            if (subresource is not null)
            {
                path += "/" + subresource;
            }
        }
        return path;
    }

    public bool Matches(string name)
    {
        var dot = name.IndexOf('.');
        var bare = dot < 0 ? name : name[..dot];
        var group = dot < 0 ? null : name[(dot + 1)..];
        if (group is not null && !string.Equals(group, Group, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        return string.Equals(bare, Plural, StringComparison.OrdinalIgnoreCase)
            || string.Equals(bare, Singular, StringComparison.OrdinalIgnoreCase)
            || string.Equals(bare, Kind, StringComparison.OrdinalIgnoreCase)
            || ShortNames.Contains(bare, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The entry of an APIResourceList for this resource (what discovery serves).</summary>
    public JsonObject ToDiscovery() => new()
    {
        ["name"] = Plural,
        ["singularName"] = Singular,
        ["namespaced"] = Namespaced,
        ["kind"] = Kind,
        ["verbs"] = new JsonArray("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
        ["shortNames"] = new JsonArray(ShortNames.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray()),
    };

    public override string ToString() => FullName;
}
