using E2E.Core.Kubernetes;

namespace E2E.Cmdlets.Infrastructure;

/// <summary>One <see cref="ClusterRegistry"/> per runspace, as <see cref="SessionScopes"/> keeps scopes: a parallel runspace's default cluster is its own.</summary>
public static class SessionClusters
{
    private static readonly RunspaceLocal<ClusterRegistry> Registries = new(_ => new ClusterRegistry(), new ClusterRegistry());

    /// <summary>The registry of the calling thread's runspace (call on the pipeline thread).</summary>
    public static ClusterRegistry ForCurrentRunspace() => Registries.Current;
}
