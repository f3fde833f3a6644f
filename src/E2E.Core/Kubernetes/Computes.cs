using System.Text.Json.Nodes;
using E2E.Core.Errors;
using E2E.Core.Grpc;
using E2E.Core.Naming;

namespace E2E.Core.Kubernetes;

/// <summary>A volume as the Python client takes it: a claim of <c>Storage</c> mounted at <c>Path</c> in the server container.</summary>
public sealed record ComputeVolume(string Name, string Storage, string Path);

/// <summary>What New-E2ECompute builds: the Python client's Compute(...) arguments, plus metadata labels for the run.</summary>
public sealed record ComputeDefinition
{
    public required string Name { get; init; }
    public string? Namespace { get; init; }
    public string? Image { get; init; }
    public IReadOnlyList<string>? Command { get; init; }
    public IReadOnlyList<string>? Args { get; init; }
    public IReadOnlyDictionary<string, string>? Env { get; init; }
    public IReadOnlyDictionary<string, string>? Resources { get; init; }
    public IReadOnlyDictionary<string, string>? Labels { get; init; }
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }
    public bool Suspend { get; init; }
    public IReadOnlyList<ComputeVolume>? Volumes { get; init; }

    /// <summary>Labels on the Compute object itself (run id and expiry, for sweeps).</summary>
    public IReadOnlyDictionary<string, string>? MetadataLabels { get; init; }

    /// <summary>Annotations on the Compute object itself (such as the simulator's behaviour).</summary>
    public IReadOnlyDictionary<string, string>? MetadataAnnotations { get; init; }

    public JsonObject ToObject(string defaultNamespace)
    {
        var spec = new JsonObject { ["suspend"] = Suspend };
        if (Image is not null)
        {
            spec["image"] = Image;
        }
        if (Command is { Count: > 0 })
        {
            spec["command"] = Strings(Command);
        }
        if (Args is { Count: > 0 })
        {
            spec["args"] = Strings(Args);
        }
        if (Env is { Count: > 0 })
        {
            spec["env"] = new JsonArray(Env.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => (JsonNode)new JsonObject { ["name"] = e.Key, ["value"] = e.Value }).ToArray());
        }
        if (Resources is { Count: > 0 })
        {
            spec["resources"] = Map(Resources);
        }
        if (Labels is { Count: > 0 })
        {
            spec["labels"] = Map(Labels);
        }
        if (Annotations is { Count: > 0 })
        {
            spec["annotations"] = Map(Annotations);
        }
        if (Volumes is { Count: > 0 })
        {
            spec["volumeClaimTemplates"] = new JsonArray(Volumes.Select(v => (JsonNode)new JsonObject
            {
                ["metadata"] = new JsonObject { ["name"] = v.Name },
                ["spec"] = new JsonObject { ["accessModes"] = new JsonArray("ReadWriteOnce"), ["resources"] = new JsonObject { ["requests"] = new JsonObject { ["storage"] = v.Storage } } },
            }).ToArray());
            spec["override"] = new JsonObject
            {
                ["containers"] = new JsonArray(new JsonObject
                {
                    ["name"] = "server",
                    ["volumeMounts"] = new JsonArray(Volumes.Select(v => (JsonNode)new JsonObject { ["name"] = v.Name, ["mountPath"] = v.Path }).ToArray()),
                }),
            };
        }
        var metadata = new JsonObject { ["name"] = Name, ["namespace"] = Namespace ?? defaultNamespace };
        if (MetadataLabels is { Count: > 0 })
        {
            metadata["labels"] = Map(MetadataLabels);
        }
        if (MetadataAnnotations is { Count: > 0 })
        {
            metadata["annotations"] = Map(MetadataAnnotations);
        }
        return new JsonObject { ["apiVersion"] = Computes.ApiVersion, ["kind"] = "Compute", ["metadata"] = metadata, ["spec"] = spec };
    }

    private static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode?)JsonValue.Create(v)).ToArray());

    private static JsonObject Map(IReadOnlyDictionary<string, string> values)
    {
        var map = new JsonObject();
        foreach (var (key, value) in values.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            map[key] = value;
        }
        return map;
    }
}

/// <summary>A Compute as the cmdlets show it: state and reason at a glance, the object underneath.</summary>
public sealed record ComputeInfo(string Name, string Namespace, string State, bool Ready, bool Suspended, string? Reason, string? Message, string? Address, string? Image, DateTimeOffset? Created, string Cluster, JsonObject Object)
{
    public static ComputeInfo From(JsonObject o, string cluster)
    {
        var ready = KubeObjects.Condition(o, "Ready");
        var suspendedCondition = KubeObjects.Condition(o, "Suspended");
        var isReady = (string?)ready?["status"] == "True";
        var suspended = (string?)suspendedCondition?["status"] == "True" || (bool?)o["spec"]?["suspend"] == true;
        var state = KubeObjects.IsDeleting(o) ? "Deleting" : suspended ? "Suspended" : isReady ? "Ready" : ready is null ? "Pending" : "NotReady";
        var address = (string?)(o["status"]?["addresses"] as JsonArray)?.OfType<JsonObject>().FirstOrDefault()?["value"];
        var created = DateTimeOffset.TryParse((string?)o["metadata"]?["creationTimestamp"], System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var at) ? at : (DateTimeOffset?)null;
        return new ComputeInfo(KubeObjects.Name(o), KubeObjects.Namespace(o) ?? "default", state, isReady, suspended, (string?)ready?["reason"], (string?)ready?["message"], address, (string?)o["spec"]?["image"], created, cluster, o);
    }

    public string Id => $"{Namespace}/{Name}";

    /// <summary>The whole Compute as indented JSON, for ConvertFrom-Json.</summary>
    public string Json => Object.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });

    public override string ToString() => $"{Id} ({State})";
}

/// <summary>Where to reach a Compute's gRPC server, as the Python client computes it (status.addresses[0], port 50051, compute-id header).</summary>
public sealed record ComputeEndpoint(string Name, string Namespace, string Host, int Port, IReadOnlyDictionary<string, string> Metadata)
{
    public Uri Url => new($"http://{(Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host)}:{Port}");

    public override string ToString() => $"{Url} (compute-id: {Metadata["compute-id"]})";
}

/// <summary>Compute lifecycle against any cluster, with the same semantics as SkyTorch's Python client.</summary>
public static class Computes
{
    public const string ApiVersion = "compute.skytorch.dev/v1alpha1";
    public const string HealthService = "skytorch.torch.Service";
    public const int GrpcPort = 50051;

    /// <summary>Checks a definition before anything is sent: the name as an RFC 1035 label, then the whole object against the CRD's schema (unknown fields are errors here).</summary>
    public static JsonObject Validate(ComputeDefinition definition, string defaultNamespace, JsonObject? crdSchema)
    {
        if (!KubernetesNames.IsDnsLabel(definition.Name))
        {
            throw new E2EException(ErrorCatalog.InvalidName,
                $"'{definition.Name}' is not a valid Compute name: it must be an RFC 1035 label (1-63 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit).", definition.Name);
        }
        var o = definition.ToObject(defaultNamespace);
        foreach (var (key, value) in KubeObjects.Labels(o).Concat(definition.Labels ?? new Dictionary<string, string>()))
        {
            KubernetesNames.ValidateLabelKey(key);
            KubernetesNames.ValidateLabelValue(key, value);
        }
        if (crdSchema is not null)
        {
            var errors = OpenApiSchema.Validate(crdSchema, o, strict: true);
            if (errors.Count > 0)
            {
                throw new E2EException(ErrorCatalog.KubeResourceInvalid,
                    $"Compute {definition.Name} does not match the CRD schema (checked before sending): {string.Join("; ", errors.Select(e => $"{e.Field}: {e.Message}"))}", definition.Name);
            }
        }
        return o;
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, JsonObject> Schemas = new(StringComparer.Ordinal);

    /// <summary>The openAPIV3Schema of the Compute CRD in a CRD file, parsed once per file (it is 269 KB; callers only read it).</summary>
    public static JsonObject LoadSchema(string crdPath) => Schemas.GetOrAdd(Path.GetFullPath(crdPath), path =>
        KubeObjects.ParseYaml(File.ReadAllText(path), path).Select(c => c["spec"]?["versions"]?[0]?["schema"]?["openAPIV3Schema"]).OfType<JsonObject>().FirstOrDefault()
        ?? throw new E2EException(ErrorCatalog.ManifestInvalid, $"{path} holds no CRD with an openAPIV3Schema.", path));

    /// <summary>The live Compute; KubeResourceNotFound when it does not exist.</summary>
    public static async Task<JsonObject> GetAsync(KubeClient client, string @namespace, string name, CancellationToken cancellation) =>
        await client.GetAsync(await ResourceAsync(client, cancellation).ConfigureAwait(false), @namespace, name, cancellation).ConfigureAwait(false)
        ?? throw new E2EException(ErrorCatalog.KubeResourceNotFound, $"Compute {@namespace}/{name} does not exist on {client.Server}.", name);

    public static async Task<ApiResource> ResourceAsync(KubeClient client, CancellationToken cancellation) =>
        await client.ResolveAsync(ApiVersion, "Compute", cancellation).ConfigureAwait(false);

    /// <summary>Server-side applies the Compute (force), as the Python client does on construction.</summary>
    public static async Task<JsonObject> ApplyAsync(KubeClient client, JsonObject compute, CancellationToken cancellation) =>
        await client.ApplyAsync(compute, "skytorch-python-client", force: true, cancellation: cancellation).ConfigureAwait(false);

    /// <summary>Waits for Ready=True, driven by watch. A deletion while waiting, or the timeout, is ComputeNotReady with conditions, pod states and events.</summary>
    public static async Task<JsonObject> WaitReadyAsync(KubeClient client, string @namespace, string name, TimeSpan timeout, CancellationToken cancellation, Action<string>? observed = null)
    {
        var resource = await ResourceAsync(client, cancellation).ConfigureAwait(false);
        var seen = false;
        var ready = WaitCondition.Parse("condition=Ready");
        var condition = WaitConditionOrGone(ready, () => seen, o => seen |= o is not null);
        var result = await ResourceWaiter.WaitAsync(client, resource, @namespace, name, condition, timeout, cancellation, ErrorCatalog.ComputeNotReady,
            o => o is null ? "the Compute does not exist" : KubeObjects.ConditionSummary(o), observed).ConfigureAwait(false);
        return result ?? throw new E2EException(ErrorCatalog.ComputeNotReady, $"Compute {@namespace}/{name} was deleted while waiting for it to become Ready.", $"{@namespace}/{name}");
    }

    /// <summary>Ready, or the object went away after it was seen (so the wait ends at once instead of timing out).</summary>
    private static WaitCondition WaitConditionOrGone(WaitCondition ready, Func<bool> seen, Action<JsonObject?> observe) =>
        WaitCondition.Custom($"{ready} (or deleted)", o =>
        {
            var wasSeen = seen();
            observe(o);
            return ready.IsMet(o) || (o is null && wasSeen);
        });

    public static async Task<JsonObject> SetSuspendedAsync(KubeClient client, string @namespace, string name, bool suspend, CancellationToken cancellation)
    {
        var resource = await ResourceAsync(client, cancellation).ConfigureAwait(false);
        return await client.PatchAsync(resource, @namespace, name, new JsonObject { ["spec"] = new JsonObject { ["suspend"] = suspend } }, cancellation: cancellation).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes the Compute and waits until it is gone (the operator's children go by garbage collection), then
    /// deletes the PVCs made from its volumeClaimTemplates, which nothing owns. A deletion held past the timeout
    /// is DeletionBlocked, naming the finalizers and the owner chain. Returns the names of the claims removed.
    /// </summary>
    public static async Task<IReadOnlyList<string>> RemoveAsync(KubeClient client, string @namespace, string name, TimeSpan timeout, bool removeClaims, long? gracePeriodSeconds, CancellationToken cancellation, bool removeFinalizers = false)
    {
        var resource = await ResourceAsync(client, cancellation).ConfigureAwait(false);
        var live = await client.GetAsync(resource, @namespace, name, cancellation).ConfigureAwait(false);
        if (live is null)
        {
            return Array.Empty<string>();
        }
        var claims = (live["spec"]?["volumeClaimTemplates"] as JsonArray ?? new JsonArray()).OfType<JsonObject>().Select(t => (string?)t["metadata"]?["name"]).OfType<string>().ToArray();
        await client.DeleteAsync(resource, @namespace, name, "Background", gracePeriodSeconds, cancellation).ConfigureAwait(false);
        if (removeFinalizers)
        {
            // What an engineer does by hand when a controller is gone: clear the finalizers so the deletion completes.
            var current = await client.GetAsync(resource, @namespace, name, cancellation).ConfigureAwait(false);
            if (current is not null && KubeObjects.Finalizers(current).Count > 0)
            {
                await client.PatchAsync(resource, @namespace, name, new JsonObject { ["metadata"] = new JsonObject { ["finalizers"] = null } }, cancellation: cancellation).ConfigureAwait(false);
            }
        }
        try
        {
            await ResourceWaiter.WaitAsync(client, resource, @namespace, name, WaitCondition.Parse("delete"), timeout, cancellation, ErrorCatalog.DeletionBlocked,
                o => o is null ? "gone" : $"still present{(KubeObjects.IsDeleting(o) ? $" since {o["metadata"]!["deletionTimestamp"]}" : string.Empty)}, finalizers: {(KubeObjects.Finalizers(o).Count == 0 ? "none" : string.Join(", ", KubeObjects.Finalizers(o)))}").ConfigureAwait(false);
        }
        catch (E2EException ex) when (ex.Error == ErrorCatalog.DeletionBlocked)
        {
            var now = await client.GetAsync(resource, @namespace, name, CancellationToken.None).ConfigureAwait(false);
            var owners = now is null ? Array.Empty<string>() : await Diagnostics.OwnerChainAsync(client, now, CancellationToken.None).ConfigureAwait(false);
            throw new E2EException(ErrorCatalog.DeletionBlocked,
                ex.Message + $". Owner chain: {(owners.Count == 0 ? "none (nothing else holds it; the finalizers' controller must remove them)" : string.Join(" <- ", owners))}.", ex.Target, ex);
        }
        var removed = new SortedSet<string>(StringComparer.Ordinal);
        if (removeClaims && claims.Length > 0)
        {
            var pvcs = await client.ResolveAsync("v1", "PersistentVolumeClaim", cancellation).ConfigureAwait(false);
            // A reconcile that began before the Compute went can still write a claim after it; go round until none comes back.
            for (var round = 0; round < 3; round++)
            {
                foreach (var claim in claims)
                {
                    if (await client.DeleteAsync(pvcs, @namespace, claim, cancellation: cancellation).ConfigureAwait(false))
                    {
                        removed.Add(claim);
                    }
                    await ResourceWaiter.WaitAsync(client, pvcs, @namespace, claim, WaitCondition.Parse("delete"), timeout, cancellation, ErrorCatalog.DeletionBlocked).ConfigureAwait(false);
                }
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellation).ConfigureAwait(false);
                var back = false;
                foreach (var claim in claims)
                {
                    back |= await client.GetAsync(pvcs, @namespace, claim, cancellation).ConfigureAwait(false) is not null;
                }
                if (!back)
                {
                    break;
                }
            }
        }
        return removed.ToArray();
    }

    /// <summary>The endpoint the Python client would use: status.addresses[0].value (else localhost), the given port, and the compute-id header.</summary>
    public static ComputeEndpoint Endpoint(JsonObject compute, int port)
    {
        var host = (string?)(compute["status"]?["addresses"] as JsonArray)?.OfType<JsonObject>().FirstOrDefault()?["value"] ?? "localhost";
        var ns = KubeObjects.Namespace(compute) ?? "default";
        var name = KubeObjects.Name(compute);
        return new ComputeEndpoint(name, ns, host, port, new Dictionary<string, string> { ["compute-id"] = $"{ns}/{name}" });
    }

    public static Task<HealthCheckResult> CheckHealthAsync(ComputeEndpoint endpoint, string service, TimeSpan timeout, CancellationToken cancellation) =>
        GrpcHealthClient.CheckAsync(endpoint.Url, service, endpoint.Metadata, timeout, cancellation);
}
