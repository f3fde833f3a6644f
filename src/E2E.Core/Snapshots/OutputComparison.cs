using E2E.Core.Errors;

namespace E2E.Core.Snapshots;

public enum OutputStatus
{
    Equal,
    Changed,

    /// <summary>Expected but not produced.</summary>
    Missing,

    /// <summary>Produced but not expected.</summary>
    Extra,

    /// <summary>Could not be compared; <see cref="OutputComparison.Error"/> says why.</summary>
    Error,
}

public enum OutputKind
{
    Text,
    Json,
    Toml,
    Binary,
    Archive,
    Link,
}

/// <summary>A change a reviewer should look at even when it is expected: see <see cref="ReviewRules"/>.</summary>
public sealed record ReviewWarning(string Code, string Path, string Message)
{
    public override string ToString() => $"[{Code}] {Path}: {Message}";
}

/// <summary>The comparison of one file of an actual output tree with its expected counterpart.</summary>
public sealed class OutputComparison
{
    /// <summary>Path relative to the compared roots, with '/' separators.</summary>
    public required string Path { get; init; }

    public required OutputStatus Status { get; init; }

    public required OutputKind Kind { get; init; }

    public string? ExpectedFile { get; init; }

    public string? ActualFile { get; init; }

    public IReadOnlyList<OutputDifference> Differences { get; init; } = Array.Empty<OutputDifference>();

    /// <summary>A unified diff for text, or the list of differences for structured kinds.</summary>
    public string? Diff { get; init; }

    public IReadOnlyList<ReviewWarning> Warnings { get; init; } = Array.Empty<ReviewWarning>();

    public E2EException? Error { get; init; }

    /// <summary>One line for a table: the first warning, else the first difference, else the size of the diff.</summary>
    public string Summary => Error?.Message
        ?? (Warnings.Count > 0 ? Warnings[0] + (Warnings.Count > 1 ? $" (+{Warnings.Count - 1} more)" : string.Empty) : null)
        ?? (Differences.Count > 0 ? Differences[0] + (Differences.Count > 1 ? $" (+{Differences.Count - 1} more)" : string.Empty) : null)
        ?? (Diff is { } diff ? DiffSize(diff) : null)
        ?? string.Empty;

    private static string DiffSize(string diff)
    {
        var lines = diff.Split('\n');
        var added = lines.Count(l => l.StartsWith('+') && !l.StartsWith("+++", StringComparison.Ordinal));
        var removed = lines.Count(l => l.StartsWith('-') && !l.StartsWith("---", StringComparison.Ordinal));
        return $"+{added} -{removed} lines";
    }

    public override string ToString() => $"{Status} {Kind} {Path}";
}
