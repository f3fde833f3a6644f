using System.Globalization;
using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Processes;
using E2E.Core.Scopes;

namespace E2E.Core.Kubernetes;

/// <summary>Something a test run created and did not remove, found by its run label (or, for kind clusters, its marker file).</summary>
public sealed record Orphan(string Kind, string? Namespace, string Name, string RunId, DateTimeOffset Expires, string Where)
{
    /// <summary>What the dead run's ledger says never ran or failed (its cleanup blocks above all), for a person to act on.</summary>
    public IReadOnlyList<string> Unfinished { get; init; } = Array.Empty<string>();

    /// <summary>The engine's id of a Docker container, network or image (a tag can move to a newer image; the id cannot).</summary>
    public string? EngineId { get; init; }

    public bool IsExpired(DateTimeOffset now) => Expires <= now;

    public override string ToString() => $"{Kind} {(Namespace is null ? string.Empty : Namespace + "/")}{Name} (run {RunId}, expired {Expires:u})";
}

/// <summary>
/// The Ryuk idea for clusters: everything a scope creates carries e2e.dev/run-id and e2e.dev/expires labels,
/// so whatever a crashed or killed run left behind can be found and removed later, by any process.
/// Kind clusters cannot carry labels; New-E2ECluster writes a marker file for each one instead.
/// </summary>
public static class OrphanSweeper
{
    /// <summary>The kind of a dead run's temp root (found by its marker, see <see cref="LocalLeftovers"/>).</summary>
    public const string TempDirectoryKind = "TempDirectory";

    /// <summary>The kind of a process a dead session left running (found by its owner tag, see <see cref="OwnedProcesses"/>).</summary>
    public const string ProcessKind = "Process";

    /// <summary>Kinds on a Docker engine (found by their run labels, like cluster objects; see <see cref="Containers.DockerEngine.OwnedLabels"/>).</summary>
    public const string ContainerKind = "Container";
    public const string NetworkKind = "DockerNetwork";
    public const string ImageKind = "DockerImage";
    public const string VolumeKind = "DockerVolume";

    /// <summary>The kind of a kind cluster this machine created (found by its marker, see <see cref="WriteKindMarker"/>).</summary>
    public const string KindClusterKind = "KindCluster";

    /// <summary>Kinds swept in a cluster, in deletion order (instances before the namespaces that hold them).</summary>
    public static readonly (string ApiVersion, string Kind)[] SweptKinds =
    {
        (Computes.ApiVersion, "Compute"), ("v1", "PersistentVolumeClaim"), ("v1", "Namespace"),
    };

    /// <summary>Where kind cluster markers live: $E2E_STATE_DIR/kind-clusters, else ~/.local/state/e2e/kind-clusters.</summary>
    public static string MarkerDirectory =>
        Path.Combine(Environment.GetEnvironmentVariable("E2E_STATE_DIR") is { Length: > 0 } state ? state
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state", "e2e"), "kind-clusters");

    public static void WriteKindMarker(string cluster, IReadOnlyDictionary<string, string> labels)
    {
        if (!labels.TryGetValue(E2EScope.RunIdLabel, out var runId) || !labels.TryGetValue(E2EScope.ExpiresLabel, out var expires))
        {
            return;
        }
        Directory.CreateDirectory(MarkerDirectory);
        // The session's tag too: once that session is gone, the cluster is a dead run's and need not wait for its expiry.
        File.WriteAllText(Path.Combine(MarkerDirectory, cluster + ".json"), JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["cluster"] = cluster, ["runId"] = runId, ["expires"] = expires, ["host"] = Environment.MachineName, ["session"] = OwnedProcesses.SessionTag,
        }));
    }

    public static void RemoveKindMarker(string cluster)
    {
        var path = Path.Combine(MarkerDirectory, cluster + ".json");
        if (File.Exists(path))
        {
            File.Delete(path);
        }
    }

    /// <summary>Every labelled object (and kind cluster marker), expired or not; callers filter with <see cref="Orphan.IsExpired"/>.</summary>
    public static async Task<IReadOnlyList<Orphan>> FindAsync(KubeClient? client, string? runId, CancellationToken cancellation, string? tempBase = null, Uri? docker = null)
    {
        var found = new List<Orphan>();
        if (docker is not null || Containers.DockerEngine.IsConfigured())
        {
            found.AddRange(await DockerOrphansAsync(docker, runId, cancellation).ConfigureAwait(false));
        }
        // Temp roots of runs whose process is gone: dead is as good as expired, so they count as expired now.
        foreach (var leftover in LocalLeftovers.Sweep(tempBase ?? E2EScope.DefaultTempBase, remove: false))
        {
            if (runId is null || leftover.RunId == runId)
            {
                found.Add(new Orphan(TempDirectoryKind, null, leftover.Path, leftover.RunId, DateTimeOffset.MinValue, $"pid {leftover.ProcessId} (gone)") { Unfinished = leftover.Unfinished });
            }
        }
        // Processes carry their session's pid, not a run id: they are listed unless one run is asked for.
        if (runId is null)
        {
            foreach (var process in OwnedProcesses.Sweep(kill: false))
            {
                found.Add(new Orphan(ProcessKind, null, process.ProcessId.ToString(CultureInfo.InvariantCulture), string.Empty, DateTimeOffset.MinValue,
                    $"started by session pid {process.OwnerProcessId} (gone): {process.Command}"));
            }
        }
        var selector = runId is null ? E2EScope.RunIdLabel : $"{E2EScope.RunIdLabel}={runId}";
        if (client is not null)
        {
            foreach (var (apiVersion, kind) in SweptKinds)
            {
                ApiResource resource;
                try
                {
                    resource = await client.ResolveAsync(apiVersion, kind, cancellation).ConfigureAwait(false);
                }
                catch (E2EException ex) when (ex.Error == ErrorCatalog.KindNotServed)
                {
                    continue;
                }
                var list = await client.ListAsync(resource, resource.Namespaced ? string.Empty : null, selector, cancellation: cancellation).ConfigureAwait(false);
                foreach (var o in list.Items)
                {
                    var labels = KubeObjects.Labels(o);
                    found.Add(new Orphan(kind, KubeObjects.Namespace(o), KubeObjects.Name(o), labels[E2EScope.RunIdLabel], Expiry(labels.GetValueOrDefault(E2EScope.ExpiresLabel)), client.Server));
                }
            }
        }
        if (Directory.Exists(MarkerDirectory))
        {
            foreach (var file in Directory.EnumerateFiles(MarkerDirectory, "*.json"))
            {
                try
                {
                    var marker = JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(file))!;
                    if (runId is null || marker["runId"] == runId)
                    {
                        var dead = OwnedProcesses.IsSessionAlive(marker.GetValueOrDefault("host"), marker.GetValueOrDefault("session")) == false;
                        found.Add(new Orphan(KindClusterKind, null, marker["cluster"], marker["runId"], dead ? DateTimeOffset.MinValue : Expiry(marker["expires"]), dead ? $"{file} (its session is gone)" : file));
                    }
                }
                catch (Exception ex) when (ex is JsonException or KeyNotFoundException or IOException)
                {
                    // A marker someone broke: leave it, it names nothing we can trust.
                }
            }
        }
        return found;
    }

    /// <summary>
    /// Containers (networks after them) with a run label on the engine; a dead session's are expired at once. An engine
    /// that does not answer is skipped with nothing found: a sweep must still clean the rest.
    /// </summary>
    private static async Task<IReadOnlyList<Orphan>> DockerOrphansAsync(Uri? endpoint, string? runId, CancellationToken cancellation)
    {
        using var engine = Containers.DockerEngine.Connect(endpoint);
        var selector = new Dictionary<string, string?> { [E2EScope.RunIdLabel] = runId };
        try
        {
            var containers = runId is null
                ? await engine.ListAsync(new Dictionary<string, string>(), cancellation).ConfigureAwait(false)
                : await engine.ListAsync(new Dictionary<string, string> { [E2EScope.RunIdLabel] = runId }, cancellation).ConfigureAwait(false);
            var networks = await engine.ListNetworksAsync(selector, cancellation).ConfigureAwait(false);
            var images = await engine.ListImagesAsync(selector, cancellation).ConfigureAwait(false);
            var volumes = await engine.ListVolumesAsync(selector, cancellation).ConfigureAwait(false);
            Orphan Found(string kind, Containers.ContainerSummary item)
            {
                var dead = OwnedProcesses.IsSessionAlive(item.Labels.GetValueOrDefault(Containers.DockerEngine.HostLabel), item.Labels.GetValueOrDefault(Containers.DockerEngine.SessionLabel)) == false;
                var shortId = item.Id.Replace("sha256:", string.Empty, StringComparison.Ordinal);
                return new Orphan(kind, null, item.Name, item.Labels[E2EScope.RunIdLabel], dead ? DateTimeOffset.MinValue : Expiry(item.Labels.GetValueOrDefault(E2EScope.ExpiresLabel)),
                    $"{engine.Endpoint} ({shortId[..Math.Min(12, shortId.Length)]}{(dead ? ", its session is gone" : string.Empty)})") { EngineId = item.Id };
            }
            // Containers first, then the networks they were on and the images they ran: the order removal needs.
            return containers.Where(c => c.Labels.ContainsKey(E2EScope.RunIdLabel)).Select(c => Found(ContainerKind, c))
                .Concat(networks.Where(n => n.Labels.ContainsKey(E2EScope.RunIdLabel)).Select(n => Found(NetworkKind, n)))
                .Concat(volumes.Where(v => v.Labels.ContainsKey(E2EScope.RunIdLabel)).Select(v => Found(VolumeKind, v)))
                .Concat(images.Where(i => i.Labels.ContainsKey(E2EScope.RunIdLabel)).Select(i => Found(ImageKind, i))).ToArray();
        }
        catch (E2EException ex) when (ex.Error == ErrorCatalog.DockerEngineUnreachable)
        {
            return Array.Empty<Orphan>();
        }
    }

    /// <summary>
    /// What New-E2EScope sweeps on the Docker engine: containers, networks and images of sessions that are gone (whatever
    /// their expiry), removed in that order. Nothing when no engine is configured or it does not answer within
    /// <paramref name="budget"/>; a leftover that cannot go is reported, and the rest still go.
    /// </summary>
    public static async Task<IReadOnlyList<(Orphan Orphan, string? Error)>> SweepDeadSessionsOnDockerAsync(TimeSpan budget, CancellationToken cancellation, Uri? docker = null)
    {
        if (docker is null && !Containers.DockerEngine.IsConfigured())
        {
            return Array.Empty<(Orphan, string?)>();
        }
        using var within = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        within.CancelAfter(budget);
        var swept = new List<(Orphan, string?)>();
        try
        {
            foreach (var orphan in (await DockerOrphansAsync(docker, null, within.Token).ConfigureAwait(false)).Where(o => o.Expires == DateTimeOffset.MinValue))
            {
                try
                {
                    await RemoveAsync(null, orphan, within.Token, docker).ConfigureAwait(false);
                    swept.Add((orphan, null));
                }
                catch (E2EException ex)
                {
                    swept.Add((orphan, ex.Message));
                }
            }
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            // The engine is slow to answer: the next sweep, or Remove-E2EOrphan, takes the rest.
        }
        return swept;
    }

    /// <summary>Deletes one orphan; false when it was already gone.</summary>
    public static async Task<bool> RemoveAsync(KubeClient? client, Orphan orphan, CancellationToken cancellation, Uri? docker = null)
    {
        if (orphan.Kind is ContainerKind or NetworkKind or VolumeKind or ImageKind)
        {
            using var engine = Containers.DockerEngine.Connect(docker);
            var id = orphan.EngineId ?? orphan.Name;
            switch (orphan.Kind)
            {
                case ContainerKind:
                    return await engine.RemoveContainerAsync(id, cancellation).ConfigureAwait(false);
                case NetworkKind:
                    await engine.RemoveNetworkAsync(id, cancellation).ConfigureAwait(false);
                    return true;
                case VolumeKind:
                    return await engine.RemoveVolumeAsync(id, cancellation).ConfigureAwait(false);
                default:
                    return await engine.RemoveImageAsync(id, cancellation).ConfigureAwait(false);
            }
        }
        if (orphan.Kind == TempDirectoryKind)
        {
            if (!Directory.Exists(orphan.Name))
            {
                return false;
            }
            return LocalLeftovers.Remove(orphan.Name) is not { } why ? true
                : throw new E2EException(ErrorCatalog.ScopeCleanupFailed, $"The temp root {orphan.Name} of dead run {orphan.RunId} cannot be removed: {why}", orphan.Name);
        }
        if (orphan.Kind == ProcessKind)
        {
            var pid = int.Parse(orphan.Name, CultureInfo.InvariantCulture);
            // Checked again by pid, so that only a process that still carries a dead owner's tag is killed.
            var swept = OwnedProcesses.KillIfOrphan(pid);
            return swept is null ? false : swept.Killed ? true
                : throw new E2EException(ErrorCatalog.ScopeCleanupFailed, $"Process {pid} left by a dead session cannot be killed: {swept.Error}", orphan.Name);
        }
        if (orphan.Kind == KindClusterKind)
        {
            var kind = ExternalTool.FindOnPath("kind") ?? throw new E2EException(ErrorCatalog.ToolNotFound, "Removing a leftover kind cluster needs the kind CLI on PATH.", "kind");
            await ExternalTool.RunAsync(kind, new[] { "delete", "cluster", "--name", orphan.Name }, null, ErrorCatalog.KubeApiFailed, cancellation).ConfigureAwait(false);
            RemoveKindMarker(orphan.Name);
            return true;
        }
        var (apiVersion, kindName) = SweptKinds.First(k => k.Kind == orphan.Kind);
        var resource = await client!.ResolveAsync(apiVersion, kindName, cancellation).ConfigureAwait(false);
        return await client.DeleteAsync(resource, orphan.Namespace, orphan.Name, "Background", cancellation: cancellation).ConfigureAwait(false);
    }

    private static DateTimeOffset Expiry(string? seconds) =>
        long.TryParse(seconds, NumberStyles.None, CultureInfo.InvariantCulture, out var unix) ? DateTimeOffset.FromUnixTimeSeconds(unix) : DateTimeOffset.MaxValue;
}
