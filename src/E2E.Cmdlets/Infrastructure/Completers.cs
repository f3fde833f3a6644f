using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using E2E.Core.Backfill;
using E2E.Core.Kubernetes;
using E2E.Core.Tables;
using E2E.Core.Udf;

namespace E2E.Cmdlets.Infrastructure;

/// <summary>
/// Tab completion of live names: from the session (scopes, clusters), the cluster (Computes, namespaces,
/// resources, with a short timeout so a slow server never freezes the prompt), the table store named by
/// -Database and the manifest store named by -Store or -Destination. A completer that cannot reach its
/// source offers nothing rather than an error.
/// </summary>
public abstract class LiveCompleter : IArgumentCompleter
{
    /// <summary>How long a completion may wait for a cluster or a store.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var word = wordToComplete.Trim('\'', '"');
        IEnumerable<(string Value, string Tip)> candidates;
        try
        {
            using var deadline = new CancellationTokenSource(Timeout);
            candidates = Candidates(word, fakeBoundParameters, deadline.Token).ToList();
        }
        catch (Exception ex) when (ex is not (OutOfMemoryException or StackOverflowException))
        {
            return Array.Empty<CompletionResult>();
        }
        return candidates
            .Where(c => c.Value.StartsWith(word, StringComparison.OrdinalIgnoreCase))
            .DistinctBy(c => c.Value)
            .OrderBy(c => c.Value, StringComparer.OrdinalIgnoreCase)
            .Select(c => new CompletionResult(Quote(c.Value), c.Value, CompletionResultType.ParameterValue, c.Tip))
            .ToList();
    }

    protected abstract IEnumerable<(string Value, string Tip)> Candidates(string word, IDictionary bound, CancellationToken cancellation);

    private static string Quote(string value) => value.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '$' or '`' or ';' or '(' or ')' or '{' or '}' or ',' or '&' or '|' or '@')
        ? $"'{value.Replace("'", "''")}'"
        : value;

    protected static string? Bound(IDictionary bound, string name) => bound.Contains(name) ? (bound[name] as PSObject)?.BaseObject as string ?? bound[name] as string : null;

    /// <summary>-Cluster when given, else the session's current cluster.</summary>
    protected static E2ECluster? Cluster(IDictionary bound) =>
        (bound.Contains("Cluster") ? ((bound["Cluster"] as PSObject)?.BaseObject ?? bound["Cluster"]) as E2ECluster : null) ?? SessionClusters.ForCurrentRunspace().Current;

    protected static string? Database(IDictionary bound) =>
        Bound(bound, "Database") is { } database ? Path.GetFullPath(database) : null;

    protected static T Wait<T>(Task<T> task, CancellationToken cancellation)
    {
        task.Wait(cancellation);
        return task.Result;
    }
}

/// <summary>Compute names in -Namespace (or the context's namespace) of the cluster in use.</summary>
public sealed class ComputeNameCompleter : LiveCompleter
{
    protected override IEnumerable<(string, string)> Candidates(string word, IDictionary bound, CancellationToken cancellation)
    {
        var cluster = Cluster(bound);
        if (cluster is null || cluster.IsDisposed)
        {
            return Array.Empty<(string, string)>();
        }
        var client = cluster.Client;
        var resource = Wait(Computes.ResourceAsync(client, cancellation), cancellation);
        var items = Wait(client.ListAsync(resource, Bound(bound, "Namespace") ?? client.DefaultNamespace, cancellation: cancellation), cancellation).Items;
        return items.Select(o => (KubeObjects.Name(o), $"Compute {KubeObjects.Namespace(o)}/{KubeObjects.Name(o)}: {KubeObjects.ConditionSummary(o)}"));
    }
}

/// <summary>Namespaces of the cluster in use.</summary>
public sealed class NamespaceCompleter : LiveCompleter
{
    protected override IEnumerable<(string, string)> Candidates(string word, IDictionary bound, CancellationToken cancellation)
    {
        var cluster = Cluster(bound);
        if (cluster is null || cluster.IsDisposed)
        {
            return Array.Empty<(string, string)>();
        }
        var client = cluster.Client;
        var resource = Wait(client.FindAsync("namespaces", cancellation), cancellation);
        return Wait(client.ListAsync(resource, null, cancellation: cancellation), cancellation).Items.Select(o => (KubeObjects.Name(o), $"namespace {KubeObjects.Name(o)}"));
    }
}

/// <summary>kind/name as kubectl takes it: kinds from discovery, then, after the '/', the objects of that kind.</summary>
public sealed class ResourceCompleter : LiveCompleter
{
    protected override IEnumerable<(string, string)> Candidates(string word, IDictionary bound, CancellationToken cancellation)
    {
        var cluster = Cluster(bound);
        if (cluster is null || cluster.IsDisposed)
        {
            return Array.Empty<(string, string)>();
        }
        var client = cluster.Client;
        var slash = word.IndexOf('/');
        if (slash < 0)
        {
            return Wait(client.ResourcesAsync(refresh: false, cancellation), cancellation)
                .Where(r => !r.Plural.Contains('/'))
                .Select(r => ($"{r.Singular}/", $"{r.Kind} ({r.ApiVersion})"));
        }
        var kind = word[..slash];
        var resource = Wait(client.FindAsync(kind, cancellation), cancellation);
        var ns = resource.Namespaced ? Bound(bound, "Namespace") ?? client.DefaultNamespace : null;
        return Wait(client.ListAsync(resource, ns, cancellation: cancellation), cancellation).Items.Select(o => ($"{kind}/{KubeObjects.Name(o)}", $"{resource.Kind} {KubeObjects.Name(o)}"));
    }
}

/// <summary>Scope ids of this session, newest first in the tip.</summary>
public sealed class ScopeIdCompleter : LiveCompleter
{
    protected override IEnumerable<(string, string)> Candidates(string word, IDictionary bound, CancellationToken cancellation) =>
        SessionScopes.ForCurrentRunspace().All.Select(s => (s.Id, $"{s.Name}: {s.State}, {s.PendingCount} pending"));
}

/// <summary>Names of the clusters this session created or uses.</summary>
public sealed class ClusterNameCompleter : LiveCompleter
{
    protected override IEnumerable<(string, string)> Candidates(string word, IDictionary bound, CancellationToken cancellation) =>
        SessionClusters.ForCurrentRunspace().All.Select(c => (c.Name, c.ToString()));
}

/// <summary>Tables of the store named by -Database.</summary>
public sealed class TableNameCompleter : LiveCompleter
{
    protected override IEnumerable<(string, string)> Candidates(string word, IDictionary bound, CancellationToken cancellation) =>
        Database(bound) is { } database && File.Exists(database)
            ? new TableStore(database).TableNames().Select(t => (t, $"table {t} in {Path.GetFileName(database)}"))
            : Array.Empty<(string, string)>();
}

/// <summary>Columns of -Table (or -Name) in the store named by -Database.</summary>
public sealed class ColumnNameCompleter : LiveCompleter
{
    protected override IEnumerable<(string, string)> Candidates(string word, IDictionary bound, CancellationToken cancellation)
    {
        var table = Bound(bound, "Table") ?? Bound(bound, "Name");
        if (Database(bound) is not { } database || !File.Exists(database) || table is null)
        {
            return Array.Empty<(string, string)>();
        }
        return new TableStore(database).Describe(table).Columns.Select(c => (c.Name, c.Udf is null ? $"{c.Type}" : $"{c.Type} = {c.Udf} ({c.ManifestName})"));
    }
}

/// <summary>Manifest names published in -Store or -Destination.</summary>
public sealed class ManifestNameCompleter : LiveCompleter
{
    protected override IEnumerable<(string, string)> Candidates(string word, IDictionary bound, CancellationToken cancellation)
    {
        if ((Bound(bound, "Store") ?? Bound(bound, "Destination")) is not { } uri)
        {
            return Array.Empty<(string, string)>();
        }
        using var store = ObjectStores.Open(uri);
        return Wait(ManifestStore.ListAsync(store, cancellation), cancellation).Select(m => (m.Name, $"{m.Name} {m.Version} ({m.Checksum[..12]})"));
    }
}

/// <summary>Backfill job ids recorded in the store named by -Database, newest first in the tip.</summary>
public sealed class BackfillJobIdCompleter : LiveCompleter
{
    protected override IEnumerable<(string, string)> Candidates(string word, IDictionary bound, CancellationToken cancellation) =>
        Database(bound) is { } database && File.Exists(database)
            ? BackfillEngine.Jobs(new TableStore(database)).Select(j => (j.Id, $"{j.Table}.{j.Column}: {j.Status}, {j.RowsDone} of {j.RowsPlanned} rows"))
            : Array.Empty<(string, string)>();
}

/// <summary>Contexts of the kubeconfig in -Kubeconfig (or KUBECONFIG, or ~/.kube/config), plus in-cluster.</summary>
public sealed class ContextCompleter : LiveCompleter
{
    protected override IEnumerable<(string, string)> Candidates(string word, IDictionary bound, CancellationToken cancellation) =>
        Kubeconfig.Load(Bound(bound, "Kubeconfig")).ContextNames.Select(c => (c, $"context {c}"))
            .Append((E2ECluster.InClusterContextName, "the pod's service account (in a CronJob)"));
}

/// <summary>Run ids of the store named by -Backend, or by -Kind and -Path, as Get-TrackedRun reads them.</summary>
public sealed class TrackedRunIdCompleter : LiveCompleter
{
    protected override IEnumerable<(string, string)> Candidates(string word, IDictionary bound, CancellationToken cancellation)
    {
        var backend = bound.Contains("Backend") ? ((bound["Backend"] as PSObject)?.BaseObject ?? bound["Backend"]) as E2E.Core.Tracking.TrackingBackend : null;
        var runs = backend is not null ? backend.ReadRuns(cancellation)
            : Bound(bound, "Path") is { } path && bound.Contains("Kind") && Enum.TryParse<E2E.Core.Tracking.TrackingBackendKind>(bound["Kind"]?.ToString(), ignoreCase: true, out var kind)
                ? E2E.Core.Tracking.TrackingStores.ReadRuns(kind, Path.GetFullPath(path))
                : Array.Empty<E2E.Core.Tracking.TrackedRun>();
        return runs.Select(r => (r.RunId, $"{r.Name ?? r.RunId}: {r.Status}, {r.MetricPointCount} points"));
    }
}
