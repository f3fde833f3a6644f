namespace E2E.Core.Scopes;

/// <summary>What an undo action is told about the removal that runs it.</summary>
/// <param name="Cancellation">Signalled on Ctrl-C; a long undo should give up promptly.</param>
/// <param name="AtProcessExit">True when the process is exiting or was signalled (SIGTERM, SIGHUP): the scope's PowerShell session can no longer run code, so script blocks run in a fresh runspace.</param>
public readonly record struct UndoContext(CancellationToken Cancellation, bool AtProcessExit);

/// <summary>One thing to undo when a scope is removed: delete a directory, stop a server, delete a remote resource.</summary>
public interface IUndoAction
{
    /// <summary>A short word for what is undone, such as Directory, Process, Server or Script.</summary>
    string Kind { get; }

    /// <summary>What exactly is undone, for reports; never contains secrets.</summary>
    string Description { get; }

    /// <summary>Runs synchronously on the thread that removes the scope (the pipeline thread for cmdlets).</summary>
    void Undo(UndoContext context);
}

/// <summary>An undo action made from a delegate.</summary>
public sealed class DelegateUndoAction(string kind, string description, Action<UndoContext> undo) : IUndoAction
{
    public string Kind { get; } = kind;

    public string Description { get; } = description;

    public void Undo(UndoContext context) => undo(context);
}
