using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;

namespace E2E.Cmdlets.Infrastructure;

/// <summary>
/// Session state kept per runspace, so parallel runspaces (Pester 6 Run.Parallel, ForEach-Object -Parallel)
/// keep their own; it goes with the runspace. Read it on the pipeline thread, where the runspace is known.
/// </summary>
public sealed class RunspaceLocal<T>
    where T : class
{
    private readonly ConditionalWeakTable<Runspace, T> _values = new();
    private readonly ConditionalWeakTable<Runspace, T>.CreateValueCallback _create;
    private readonly T _withoutRunspace;

    public RunspaceLocal(Func<Runspace, T> create, T withoutRunspace)
    {
        _create = runspace => create(runspace);
        _withoutRunspace = withoutRunspace;
    }

    /// <summary>The value of the calling thread's runspace, created on first use.</summary>
    public T Current => Runspace.DefaultRunspace is { } runspace ? _values.GetValue(runspace, _create) : _withoutRunspace;
}
