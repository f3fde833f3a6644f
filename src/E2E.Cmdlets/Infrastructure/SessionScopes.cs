using System.Management.Automation.Runspaces;
using E2E.Core.Scopes;

namespace E2E.Cmdlets.Infrastructure;

/// <summary>
/// One <see cref="ScopeRegistry"/> per runspace, so that parallel runspaces (Pester 6 Run.Parallel,
/// ForEach-Object -Parallel) keep their own current scope. When a runspace closes, its active scopes are
/// removed, as at process exit.
/// </summary>
public static class SessionScopes
{
    private static readonly RunspaceLocal<ScopeRegistry> Registries = new(Attach, new ScopeRegistry());

    /// <summary>The registry of the calling thread's runspace (call on the pipeline thread).</summary>
    public static ScopeRegistry ForCurrentRunspace() => Registries.Current;

    private static ScopeRegistry Attach(Runspace runspace)
    {
        var registry = new ScopeRegistry();
        runspace.StateChanged += (_, args) =>
        {
            if (args.RunspaceStateInfo.State is RunspaceState.Closing or RunspaceState.Broken)
            {
                registry.RemoveAll(atProcessExit: true);
            }
        };
        return registry;
    }
}
