using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using E2E.Core.Kubernetes;

namespace E2E.Cmdlets.Infrastructure;

/// <summary>One <see cref="ClusterRegistry"/> per runspace, as <see cref="SessionScopes"/> keeps scopes: a parallel runspace's default cluster is its own.</summary>
public static class SessionClusters
{
    private static readonly ConditionalWeakTable<Runspace, ClusterRegistry> Registries = new();
    private static readonly ClusterRegistry NoRunspace = new();

    /// <summary>The registry of the calling thread's runspace (call on the pipeline thread).</summary>
    public static ClusterRegistry ForCurrentRunspace() =>
        Runspace.DefaultRunspace is { } runspace ? Registries.GetValue(runspace, _ => new ClusterRegistry()) : NoRunspace;
}
