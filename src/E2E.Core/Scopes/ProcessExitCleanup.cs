using System.Runtime.InteropServices;

namespace E2E.Core.Scopes;

/// <summary>
/// Last line of defence against leaks: when the process exits, or is told to end by SIGTERM (CI cancelling,
/// docker stop) or SIGHUP (a closed terminal), scopes still active are removed, last first, within
/// <see cref="Budget"/>. Undo actions see <see cref="UndoContext.AtProcessExit"/>: the scope's PowerShell session
/// can no longer run code, so script blocks run in a fresh runspace; processes, servers, clusters and temp
/// directories are undone as usual. A second signal ends the process at once. Failures are written to stderr.
/// Registries are held weakly so a closed session's registry can be collected.
/// </summary>
public static class ProcessExitCleanup
{
    private static readonly object Gate = new();
    private static readonly List<WeakReference<ScopeRegistry>> Registries = new();
    private static readonly List<PosixSignalRegistration> Signals = new();
    private static bool _hooked;
    private static int _signalled;

    /// <summary>How long exit or a signal may spend on cleanup in all.</summary>
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
                if (!OperatingSystem.IsWindows())
                {
                    // pwsh ends on SIGTERM and SIGHUP without raising ProcessExit: handle them here.
                    Signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal));
                    Signals.Add(PosixSignalRegistration.Create(PosixSignal.SIGHUP, OnSignal));
                }
                _hooked = true;
            }
        }
    }

    private static void OnSignal(PosixSignalContext context)
    {
        if (Interlocked.Increment(ref _signalled) > 1)
        {
            // A second signal: the default action, which ends the process now.
            return;
        }
        context.Cancel = true;
        var exitCode = 128 + (context.Signal == PosixSignal.SIGTERM ? 15 : 1);
        new Thread(() =>
        {
            try
            {
                RemoveEverything();
            }
            finally
            {
                Environment.Exit(exitCode);
            }
        }) { IsBackground = true, Name = "E2E signal cleanup" }.Start();
    }

    /// <summary>Removes every active scope of every live registry within <see cref="Budget"/>; writes failures to stderr.</summary>
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
            foreach (var result in registry.RemoveAll(budget.Token, atProcessExit: true))
            {
                foreach (var failure in result.Failed)
                {
                    try
                    {
                        Console.Error.WriteLine($"E2E: scope {result.ScopeId}: cleanup of {failure.Kind} '{failure.Description}' failed: {failure.Error?.Message}");
                    }
                    catch (IOException)
                    {
                        // stderr is gone (a closed terminal): nothing more to tell.
                    }
                }
            }
        }
    }
}
