namespace E2E.Core.Scopes;

/// <summary>What one removal of a scope did: every entry it ran, in the order it ran them.</summary>
public sealed class ScopeRemovalResult
{
    internal ScopeRemovalResult(string scopeId, IReadOnlyList<ScopeEntry> ran, int stillPending, bool alreadyRemoved, bool cancelled, TimeSpan elapsed)
    {
        ScopeId = scopeId;
        Ran = ran;
        StillPending = stillPending;
        AlreadyRemoved = alreadyRemoved;
        Cancelled = cancelled;
        Elapsed = elapsed;
    }

    public string ScopeId { get; }

    /// <summary>The entries this removal ran, last registered first.</summary>
    public IReadOnlyList<ScopeEntry> Ran { get; }

    public IReadOnlyList<ScopeEntry> Failed => Ran.Where(e => e.State == UndoState.Failed).ToArray();

    public int Undone => Ran.Count(e => e.State == UndoState.Done);

    /// <summary>Entries left to undo because the removal was cancelled; a later removal runs them.</summary>
    public int StillPending { get; }

    /// <summary>True when the scope had been removed before: nothing ran, and that is not an error.</summary>
    public bool AlreadyRemoved { get; }

    public bool Cancelled { get; }

    public TimeSpan Elapsed { get; }

    public bool Succeeded => !Cancelled && Failed.Count == 0;
}
