using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using E2E.Core.Errors;

namespace E2E.Core.Kubernetes;

/// <summary>A core/v1 Event, flattened for assertions and tables.</summary>
public sealed record KubeEvent(string Type, string Reason, string Message, string ObjectKind, string ObjectName, string? Namespace, long Count, DateTimeOffset LastTimestamp, string? Source)
{
    public static KubeEvent From(JsonObject e)
    {
        var stamp = KubeObjects.Field(e, "lastTimestamp") ?? KubeObjects.Field(e, "eventTime") ?? KubeObjects.Field(e, "metadata.creationTimestamp");
        return new KubeEvent((string?)e["type"] ?? "Normal", (string?)e["reason"] ?? string.Empty, (string?)e["message"] ?? string.Empty,
            KubeObjects.Field(e, "involvedObject.kind") ?? string.Empty, KubeObjects.Field(e, "involvedObject.name") ?? string.Empty, KubeObjects.Namespace(e),
            KubeObjects.Integer(e["count"]) ?? 1,
            DateTimeOffset.TryParse(stamp, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at) ? at : DateTimeOffset.MinValue,
            KubeObjects.Field(e, "source.component") ?? KubeObjects.Field(e, "reportingComponent"));
    }

    public override string ToString() => $"{Type} {Reason} ({ObjectKind.ToLowerInvariant()} {ObjectName}): {Message}";
}

/// <summary>What was collected about a resource or a namespace: a summary that names likely causes, and files to save.</summary>
public sealed record DiagnosticReport(string Target, string Summary, IReadOnlyDictionary<string, string> Files, IReadOnlyList<string> Causes)
{
    /// <summary>Writes every file under <paramref name="directory"/> (created if needed) and returns their paths.</summary>
    public IReadOnlyList<string> WriteTo(string directory)
    {
        var written = new List<string>();
        foreach (var (name, content) in Files.Prepend(new KeyValuePair<string, string>("summary.txt", Summary)))
        {
            var path = Path.GetFullPath(Path.Combine(directory, name));
            if (!path.StartsWith(Path.GetFullPath(directory), StringComparison.Ordinal))
            {
                continue; // Names come from the cluster; never let one escape the folder.
            }
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, content);
            written.Add(path);
        }
        return written;
    }

    public override string ToString() => $"{Target}: {Causes.Count} finding(s), {Files.Count + 1} file(s)";
}

/// <summary>
/// Collects what an engineer looks at when a test against a cluster fails: the object and its conditions,
/// finalizers and owner chain, events (of the object and of its pods), pod and container statuses, and
/// container logs including the previous instance's. Every part is best effort: a missing log is noted, not fatal.
/// </summary>
public static class Diagnostics
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>
    /// Events about the named objects and their StatefulSet pods (name-0, name-1, ...: what the Python client's
    /// on_events handler watches), oldest first, at most <paramref name="max"/> of the newest.
    /// </summary>
    public static async Task<IReadOnlyList<KubeEvent>> EventsAsync(KubeClient client, string? @namespace, IReadOnlyList<string> names, int max, CancellationToken cancellation)
    {
        var events = await client.ResolveAsync("v1", "Event", cancellation).ConfigureAwait(false);
        var list = await client.ListAsync(events, @namespace ?? string.Empty, cancellation: cancellation).ConfigureAwait(false);
        return list.Items
            .Where(e => KubeObjects.Field(e, "involvedObject.name") is { } involved && names.Any(n => involved == n || (involved.StartsWith(n + "-", StringComparison.Ordinal) && int.TryParse(involved[(n.Length + 1)..], out _))))
            .Select(KubeEvent.From)
            .OrderBy(e => e.LastTimestamp)
            .TakeLast(max)
            .ToArray();
    }

    /// <summary>"Warning BackOff (pod x-0): Back-off restarting failed container", for messages; empty when events cannot be read.</summary>
    public static async Task<IReadOnlyList<string>> RecentEventsAsync(KubeClient client, string? @namespace, IReadOnlyList<string> names, int max, CancellationToken cancellation)
    {
        try
        {
            return (await EventsAsync(client, @namespace, names, max, cancellation).ConfigureAwait(false)).Select(e => e.ToString()).ToArray();
        }
        catch (E2EException)
        {
            return Array.Empty<string>(); // Diagnostics never hide the original failure.
        }
    }

    /// <summary>Everything about one object (and, for a Compute or a workload, its pods).</summary>
    public static async Task<DiagnosticReport> CollectAsync(KubeClient client, ApiResource resource, string? @namespace, string name, CancellationToken cancellation)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var causes = new List<string>();
        var summary = new StringBuilder();
        var target = $"{resource.Kind} {(@namespace is null ? string.Empty : @namespace + "/")}{name}";
        summary.AppendLine(CultureInfo.InvariantCulture, $"Diagnostics for {target} on {client.Server}, {DateTime.UtcNow:u}");
        var o = await client.GetAsync(resource, @namespace, name, cancellation).ConfigureAwait(false);
        if (o is null)
        {
            summary.AppendLine("The object does not exist (already deleted, or never created).");
            causes.Add($"{target} does not exist");
        }
        else
        {
            files[$"{resource.Kind.ToLowerInvariant()}-{name}.json"] = o.ToJsonString(Indented);
            summary.AppendLine(CultureInfo.InvariantCulture, $"Conditions: {KubeObjects.ConditionSummary(o)}");
            foreach (var condition in (o["status"]?["conditions"] as JsonArray ?? new JsonArray()).OfType<JsonObject>()
                .Where(c => (string?)c["type"] is "Ready" or "Available" or "Programmed" or "Established" && (string?)c["status"] != "True"))
            {
                causes.Add($"{condition["type"]}={condition["status"]}: {condition["reason"]}: {condition["message"]}");
            }
            var finalizers = KubeObjects.Finalizers(o);
            if (finalizers.Count > 0)
            {
                summary.AppendLine(CultureInfo.InvariantCulture, $"Finalizers: {string.Join(", ", finalizers)}");
            }
            var chain = await OwnerChainAsync(client, o, cancellation).ConfigureAwait(false);
            if (KubeObjects.IsDeleting(o))
            {
                var held = $"deletion requested at {o["metadata"]!["deletionTimestamp"]} but held by finalizer(s) {string.Join(", ", finalizers)}";
                causes.Add(held + (chain.Count > 0 ? $"; owner chain: {string.Join(" <- ", chain)}" : "; no owners"));
            }
            summary.AppendLine(CultureInfo.InvariantCulture, $"Owner chain: {(chain.Count == 0 ? "none" : string.Join(" <- ", chain))}");
        }
        if (@namespace is not null)
        {
            await PodsAsync(client, @namespace, name, files, causes, summary, cancellation).ConfigureAwait(false);
        }
        var events = await RecentEventsAsync(client, @namespace, new[] { name }, 50, cancellation).ConfigureAwait(false);
        files["events.txt"] = string.Join("\n", events) + "\n";
        causes.AddRange(events.Where(e => e.StartsWith("Warning", StringComparison.Ordinal)).TakeLast(3));
        summary.AppendLine(CultureInfo.InvariantCulture, $"Events: {events.Count} (events.txt)");
        summary.AppendLine("Likely causes:");
        foreach (var cause in causes.Distinct())
        {
            summary.AppendLine("  - " + cause);
        }
        return new DiagnosticReport(target, summary.ToString(), files, causes.Distinct().ToArray());
    }

    /// <summary>Everything in a namespace: each pod's status and logs, every event, and the Computes.</summary>
    public static async Task<DiagnosticReport> CollectNamespaceAsync(KubeClient client, string @namespace, CancellationToken cancellation)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var causes = new List<string>();
        var summary = new StringBuilder();
        summary.AppendLine(CultureInfo.InvariantCulture, $"Diagnostics for namespace {@namespace} on {client.Server}, {DateTime.UtcNow:u}");
        await PodsAsync(client, @namespace, null, files, causes, summary, cancellation).ConfigureAwait(false);
        try
        {
            var computes = await client.ResolveAsync("compute.skytorch.dev/v1alpha1", "Compute", cancellation).ConfigureAwait(false);
            foreach (var compute in (await client.ListAsync(computes, @namespace, cancellation: cancellation).ConfigureAwait(false)).Items)
            {
                files[$"compute-{KubeObjects.Name(compute)}.json"] = compute.ToJsonString(Indented);
                summary.AppendLine(CultureInfo.InvariantCulture, $"Compute {KubeObjects.Name(compute)}: {KubeObjects.ConditionSummary(compute)}");
            }
        }
        catch (E2EException ex) when (ex.Error == ErrorCatalog.KindNotServed)
        {
            summary.AppendLine("No Compute CRD installed.");
        }
        var eventsResource = await client.ResolveAsync("v1", "Event", cancellation).ConfigureAwait(false);
        var events = (await client.ListAsync(eventsResource, @namespace, cancellation: cancellation).ConfigureAwait(false)).Items
            .Select(e => $"{e["lastTimestamp"]} {e["type"]} {e["reason"]} ({e["involvedObject"]?["kind"]} {e["involvedObject"]?["name"]}): {e["message"]}").ToArray();
        files["events.txt"] = string.Join("\n", events) + "\n";
        causes.AddRange(events.Where(e => e.Contains(" Warning ", StringComparison.Ordinal)).TakeLast(5));
        summary.AppendLine("Likely causes:");
        foreach (var cause in causes.Distinct())
        {
            summary.AppendLine("  - " + cause);
        }
        return new DiagnosticReport($"namespace {@namespace}", summary.ToString(), files, causes.Distinct().ToArray());
    }

    /// <summary>The owner chain ("StatefulSet x, then Compute x"), walking ownerReferences upwards (at most 10 levels).</summary>
    public static async Task<IReadOnlyList<string>> OwnerChainAsync(KubeClient client, JsonObject o, CancellationToken cancellation)
    {
        var chain = new List<string>();
        var current = o;
        for (var depth = 0; depth < 10; depth++)
        {
            var owner = (current["metadata"]?["ownerReferences"] as JsonArray)?.OfType<JsonObject>().OrderByDescending(r => (bool?)r["controller"] == true).FirstOrDefault();
            if (owner is null)
            {
                break;
            }
            var description = $"{owner["kind"]} {owner["name"]}";
            try
            {
                var resource = await client.ResolveAsync((string?)owner["apiVersion"] ?? "v1", (string?)owner["kind"] ?? string.Empty, cancellation).ConfigureAwait(false);
                var next = await client.GetAsync(resource, KubeObjects.Namespace(current), (string?)owner["name"] ?? string.Empty, cancellation).ConfigureAwait(false);
                chain.Add(next is null ? description + " (gone)" : description + (KubeObjects.IsDeleting(next) ? " (deleting)" : string.Empty));
                if (next is null)
                {
                    break;
                }
                current = next;
            }
            catch (E2EException)
            {
                chain.Add(description + " (kind not served)");
                break;
            }
        }
        return chain;
    }

    private static async Task PodsAsync(KubeClient client, string @namespace, string? owner, SortedDictionary<string, string> files, List<string> causes, StringBuilder summary, CancellationToken cancellation)
    {
        var podsResource = await client.ResolveAsync("v1", "Pod", cancellation).ConfigureAwait(false);
        var pods = (await client.ListAsync(podsResource, @namespace, owner is null ? null : $"app.kubernetes.io/instance={owner}", cancellation: cancellation).ConfigureAwait(false)).Items;
        if (owner is not null && pods.Count == 0)
        {
            // Not a SkyTorch workload label: fall back to the StatefulSet naming of pods.
            pods = (await client.ListAsync(podsResource, @namespace, cancellation: cancellation).ConfigureAwait(false)).Items
                .Where(p => KubeObjects.Name(p).StartsWith(owner + "-", StringComparison.Ordinal)).ToArray();
        }
        summary.AppendLine(CultureInfo.InvariantCulture, $"Pods: {pods.Count}");
        foreach (var pod in pods)
        {
            var podName = KubeObjects.Name(pod);
            var status = pod["status"] as JsonObject ?? new JsonObject();
            var line = new StringBuilder($"  {podName}: {status["phase"] ?? "Unknown"}");
            foreach (var container in (status["containerStatuses"] as JsonArray ?? new JsonArray()).OfType<JsonObject>())
            {
                var state = container["state"] as JsonObject;
                var waiting = state?["waiting"];
                var detail = waiting is not null ? $"waiting {waiting["reason"]}" : state?["terminated"] is { } terminated ? $"terminated {terminated["reason"]} (exit {terminated["exitCode"]})" : "running";
                line.Append(CultureInfo.InvariantCulture, $"; {container["name"]} {detail}, ready={container["ready"]}, restarts={container["restartCount"]}");
                if (waiting is not null)
                {
                    causes.Add($"pod {podName}: container {container["name"]} {detail}: {waiting["message"]}");
                }
                foreach (var previous in new[] { false, true })
                {
                    if (previous && KubeObjects.Integer(container["restartCount"]) is null or 0)
                    {
                        continue;
                    }
                    var file = $"logs/{podName}-{container["name"]}{(previous ? ".previous" : string.Empty)}.log";
                    try
                    {
                        files[file] = await client.PodLogAsync(@namespace, podName, (string?)container["name"] ?? string.Empty, previous, tailLines: 500, cancellation).ConfigureAwait(false);
                    }
                    catch (E2EException ex)
                    {
                        files[file] = $"(no log: {ex.Message})\n";
                    }
                }
            }
            summary.AppendLine(line.ToString());
            files[$"pod-{podName}.json"] = pod.ToJsonString(Indented);
        }
    }
}
