namespace E2E.Core.Waiting;

/// <summary>One probe's answer: whether the condition holds, and what was seen, for the timeout message.</summary>
public readonly record struct Observation(bool Satisfied, string? State, object? Value = null)
{
    public static Observation Met(object? value = null, string? state = null) => new(true, state, value);

    public static Observation NotYet(string? state, object? value = null) => new(false, state, value);
}

/// <summary>The outcome of a wait that succeeded.</summary>
public sealed record WaitResult(string Description, int Attempts, TimeSpan Elapsed, string? LastState, object? LastValue);
