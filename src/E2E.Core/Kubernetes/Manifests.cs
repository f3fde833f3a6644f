using System.Text.Json.Nodes;
using E2E.Core.Errors;
using E2E.Core.Processes;

namespace E2E.Core.Kubernetes;

/// <summary>One object a manifest install applied.</summary>
public sealed record AppliedObject(string ApiVersion, string Kind, string? Namespace, string Name, string Source, string ResourceVersion)
{
    public override string ToString() => $"{Kind} {(Namespace is null ? string.Empty : Namespace + "/")}{Name}";
}

/// <summary>
/// Reads manifests (files, folders in name order, multi-document YAML or JSON, Lists, kustomize directories
/// through kubectl kustomize) and server-side applies them: CustomResourceDefinitions and Namespaces first,
/// CRDs waited Established before any instance of them is sent, then everything else in file order.
/// Every document is parsed and checked before the first one is sent, so a broken file changes nothing.
/// </summary>
public static class Manifests
{
    public static async Task<IReadOnlyList<(JsonObject Object, string Source)>> ReadAsync(IEnumerable<string> paths, bool kustomize, CancellationToken cancellation)
    {
        var documents = new List<(JsonObject, string)>();
        foreach (var path in paths)
        {
            if (kustomize)
            {
                var kubectl = ExternalTool.FindOnPath("kubectl") ?? throw new E2EException(ErrorCatalog.ToolNotFound, "-Kustomize needs kubectl on PATH (it runs 'kubectl kustomize').", "kubectl");
                var text = await ExternalTool.RunAsync(kubectl, new[] { "kustomize", path }, null, ErrorCatalog.ManifestInvalid, cancellation).ConfigureAwait(false);
                documents.AddRange(Parse(text, path));
                continue;
            }
            IEnumerable<string> files = Directory.Exists(path)
                ? Directory.EnumerateFiles(path).Where(f => f.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".yml", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".json", StringComparison.OrdinalIgnoreCase))
                    .Where(f => !Path.GetFileName(f).StartsWith("kustomization.", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal)
                : File.Exists(path) ? new[] { path } : throw new E2EException(ErrorCatalog.ManifestInvalid, $"The manifest '{path}' does not exist.", path);
            foreach (var file in files)
            {
                documents.AddRange(Parse(await File.ReadAllTextAsync(file, cancellation).ConfigureAwait(false), file));
            }
        }
        return documents;
    }

    private static IEnumerable<(JsonObject, string)> Parse(string text, string source)
    {
        foreach (var o in KubeObjects.ParseYaml(text, source))
        {
            // The fields every object is read by must have their shapes before anything reads them.
            foreach (var (field, node) in new[] { ("apiVersion", o["apiVersion"]), ("kind", o["kind"]), ("metadata", o["metadata"]) })
            {
                var expected = field == "metadata" ? System.Text.Json.JsonValueKind.Object : System.Text.Json.JsonValueKind.String;
                if (node is not null && node.GetValueKind() != expected)
                {
                    throw new E2EException(ErrorCatalog.ManifestInvalid, $"{source}: a document's {field} must be {(field == "metadata" ? "an object" : "a string")}.", source);
                }
            }
            if (o["metadata"] is System.Text.Json.Nodes.JsonObject metadata)
            {
                foreach (var field in new[] { "name", "namespace" })
                {
                    if (metadata[field] is { } value && value.GetValueKind() != System.Text.Json.JsonValueKind.String)
                    {
                        throw new E2EException(ErrorCatalog.ManifestInvalid, $"{source}: a document's metadata.{field} must be a string.", source);
                    }
                }
                foreach (var field in new[] { "labels", "annotations" })
                {
                    if (metadata[field] is { } map && map.GetValueKind() != System.Text.Json.JsonValueKind.Object)
                    {
                        throw new E2EException(ErrorCatalog.ManifestInvalid, $"{source}: a document's metadata.{field} must be a map of strings.", source);
                    }
                }
            }
            var missing = new[] { ("apiVersion", KubeObjects.ApiVersion(o)), ("kind", KubeObjects.Kind(o)), ("metadata.name", KubeObjects.Name(o)) }.Where(f => f.Item2.Length == 0).Select(f => f.Item1).ToArray();
            if (missing.Length > 0)
            {
                throw new E2EException(ErrorCatalog.ManifestInvalid, $"{source}: a document has no {string.Join(", ", missing)}.", source);
            }
            yield return (o, source);
        }
    }

    /// <summary>Applies the documents in a safe order and returns what was applied.</summary>
    public static async Task<IReadOnlyList<AppliedObject>> ApplyAsync(KubeClient client, IReadOnlyList<(JsonObject Object, string Source)> documents, string? @namespace, string fieldManager,
        TimeSpan establishTimeout, Action<string>? progress, CancellationToken cancellation)
    {
        static int Rank(JsonObject o) => KubeObjects.Kind(o) switch { "CustomResourceDefinition" => 0, "Namespace" => 1, _ => 2 };
        var ordered = documents.Select((d, i) => (d.Object, d.Source, Index: i)).OrderBy(d => Rank(d.Object)).ThenBy(d => d.Index).ToArray();
        var applied = new List<AppliedObject>();
        var crds = await client.ResolveAsync("apiextensions.k8s.io/v1", "CustomResourceDefinition", cancellation).ConfigureAwait(false);
        var waitedEstablished = false;
        async Task WaitForCrds()
        {
            waitedEstablished = true;
            foreach (var crd in applied.Where(a => a.Kind == "CustomResourceDefinition").ToArray())
            {
                progress?.Invoke($"waiting for CRD {crd.Name} to be Established");
                await ResourceWaiter.WaitAsync(client, crds, null, crd.Name, WaitCondition.Parse("condition=Established"), establishTimeout, cancellation).ConfigureAwait(false);
            }
        }
        foreach (var (o, source, _) in ordered)
        {
            if (Rank(o) == 2 && !waitedEstablished)
            {
                await WaitForCrds().ConfigureAwait(false);
            }
            var copy = (JsonObject)o.DeepClone();
            if (@namespace is not null && KubeObjects.Namespace(copy) is null && Rank(copy) == 2)
            {
                var resource = await client.ResolveAsync(KubeObjects.ApiVersion(copy), KubeObjects.Kind(copy), cancellation).ConfigureAwait(false);
                if (resource.Namespaced)
                {
                    KubeObjects.Metadata(copy)["namespace"] = @namespace;
                }
            }
            progress?.Invoke($"applying {KubeObjects.Describe(copy)} from {source}");
            var result = await client.ApplyAsync(copy, fieldManager, force: true, cancellation: cancellation).ConfigureAwait(false);
            applied.Add(new AppliedObject(KubeObjects.ApiVersion(result), KubeObjects.Kind(result), KubeObjects.Namespace(result), KubeObjects.Name(result), source, KubeObjects.ResourceVersion(result)));
        }
        if (!waitedEstablished)
        {
            await WaitForCrds().ConfigureAwait(false);
        }
        return applied;
    }
}
