using System.Management.Automation;
using System.Runtime.CompilerServices;

namespace E2E.Cmdlets.Infrastructure;

/// <summary>
/// Keeps E2E's Should operators (Should -MatchExpectedOutput) registered with whichever Pester is loaded,
/// whatever the import order: E2E before Pester, Pester re-imported with -Force (which empties its operator
/// table), E2E re-imported. Pester has no event for this, so E2E.psm1 installs a command-lookup hook: when a
/// Should from a Pester module instance not yet seen is looked up, the operators are registered with that
/// instance before the call binds its parameters. The hook's common path is one string comparison per
/// command lookup.
/// </summary>
public static class PesterShouldOperators
{
    /// <summary>Adds the hook to the engine's PostCommandLookupAction, after any other; returns it for <see cref="Uninstall"/>.</summary>
    /// <param name="engine">The importing session's $ExecutionContext.</param>
    /// <param name="register">Called with the Pester module (PSModuleInfo) to register the operators with.</param>
    public static object Install(EngineIntrinsics engine, ScriptBlock register)
    {
        var seen = new ConditionalWeakTable<PSModuleInfo, object>();
        EventHandler<CommandLookupEventArgs> hook = (_, lookup) =>
        {
            if (!IsShould(lookup.CommandName) || lookup.Command?.Module is not { Name: "Pester" } pester)
            {
                return;
            }
            lock (seen)
            {
                if (seen.TryGetValue(pester, out _))
                {
                    return;
                }
                seen.Add(pester, pester);
            }
            register.Invoke(pester);
        };
        var invoke = engine.InvokeCommand;
        invoke.PostCommandLookupAction = (EventHandler<CommandLookupEventArgs>)Delegate.Combine(invoke.PostCommandLookupAction, hook);
        return hook;
    }

    /// <summary>Removes a hook that <see cref="Install"/> added (the module's OnRemove).</summary>
    public static void Uninstall(EngineIntrinsics engine, object hook)
    {
        var invoke = engine.InvokeCommand;
        invoke.PostCommandLookupAction = (EventHandler<CommandLookupEventArgs>?)Delegate.Remove(invoke.PostCommandLookupAction, (Delegate)hook);
    }

    private static bool IsShould(string name) =>
        name.Equals("Should", StringComparison.OrdinalIgnoreCase) || name.EndsWith("\\Should", StringComparison.OrdinalIgnoreCase);
}
