using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Errors;
using E2E.Core.Kubernetes;

namespace E2E.Cmdlets.Kubernetes;

/// <summary>Cmdlets that work on a cluster: -Cluster, else the cluster created last in this session.</summary>
public abstract class ClusterCmdletBase : AsyncE2ECmdlet
{
    /// <summary>The cluster to use; by default the one New-E2ECluster created last in this session.</summary>
    [Parameter]
    [ValidateNotNull]
    public E2ECluster? Cluster { get; set; }

    /// <summary>The cluster in effect (resolved on the pipeline thread before each record's work).</summary>
    protected E2ECluster TargetCluster { get; set; } = null!;

    protected override void PrepareRecord() => TargetCluster = ResolveCluster(Cluster);

    protected static E2ECluster ResolveCluster(E2ECluster? given)
    {
        if (given is not null)
        {
            return given.IsDisposed ? throw new E2EException(ErrorCatalog.ClusterNotFound, $"The cluster '{given.Name}' was removed.", given.Name) : given;
        }
        return SessionClusters.ForCurrentRunspace().Current ?? throw new E2EException(ErrorCatalog.ClusterNotFound, "No cluster in this session: create one with New-E2ECluster, or pass -Cluster.", null);
    }

    /// <summary>Resolves "kind/name" as kubectl does (kind, plural, short name, with or without group) and the namespace it lives in.</summary>
    protected async Task<(ApiResource Resource, string? Namespace, string Name)> ResolveKindNameAsync(KubeClient client, string kindName, string? @namespace)
    {
        var slash = kindName.IndexOf('/');
        if (slash <= 0 || slash == kindName.Length - 1)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, $"'{kindName}' is not kind/name (for example deployment/skytorch-operator).", kindName);
        }
        var resource = await client.FindAsync(kindName[..slash], CancelToken).ConfigureAwait(false);
        return (resource, resource.Namespaced ? @namespace ?? client.DefaultNamespace : null, kindName[(slash + 1)..]);
    }
}
