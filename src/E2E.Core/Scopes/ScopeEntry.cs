namespace E2E.Core.Scopes;

public enum UndoState
{
    Pending,
    Done,
    Failed,
}

/// <summary>A registered undo action and what became of it.</summary>
public sealed class ScopeEntry
{
    internal ScopeEntry(int sequence, IUndoAction action)
    {
        Sequence = sequence;
        Action = action;
        RegisteredAt = DateTimeOffset.UtcNow;
    }

    /// <summary>Registration order, from 1; removal runs the highest first.</summary>
    public int Sequence { get; }

    public string Kind => Action.Kind;

    public string Description => Action.Description;

    public DateTimeOffset RegisteredAt { get; }

    public UndoState State { get; internal set; }

    /// <summary>Why the undo failed, when it did.</summary>
    public Exception? Error { get; internal set; }

    internal IUndoAction Action { get; }

    public override string ToString() => $"#{Sequence} {Kind}: {Description} ({State})";
}
