namespace E2E.Core.Scopes;

/// <summary>
/// Last line of defence against leaks: when the process exits (including after Ctrl-C closes the host),
/// scopes still active are removed. Undo actions that need a live PowerShell session see
/// <see cref="UndoContext.AtProcessExit"/> and fail fast; everything else (processes, servers, temp
/// directories) is undone. Registries are held weakly so a closed session's registry can be collected.
/// </summary>
public static class ProcessExitCleanup
{
    private static readonly object Gate = new();
    private static readonly List<WeakReference<ScopeRegistry>> Registries = new();
    private static bool _hooked;

    /// <summary>How long process exit may spend on cleanup in all; the runtime gives ProcessExit little time.</summary>
    public static TimeSpan Budget { get; set; } = TimeSpan.FromSeconds(20);

    internal static void Track(ScopeRegistry registry)
    {
        lock (Gate)
        {
            Registries.RemoveAll(r => !r.TryGetTarget(out _));
            Registries.Add(new WeakReference<ScopeRegistry>(registry));
            if (!_hooked)
            {
                AppDomain.CurrentDomain.ProcessExit += (_, _) => RemoveEverything();
                _hooked = true;
            }
        }
    }

    /// <summary>Removes every active scope of every live registry within <see cref="Budget"/>.</summary>
    public static void RemoveEverything()
    {
        ScopeRegistry[] live;
        lock (Gate)
        {
            live = Registries.Select(r => r.TryGetTarget(out var reg) ? reg : null).OfType<ScopeRegistry>().ToArray();
        }
        using var budget = new CancellationTokenSource(Budget);
        foreach (var registry in live)
        {
            registry.RemoveAll(budget.Token, atProcessExit: true);
        }
    }
}
