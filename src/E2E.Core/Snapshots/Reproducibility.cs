namespace E2E.Core.Snapshots;

/// <summary>Two builds of the same thing, compared file by file (archives member by member).</summary>
public sealed class ReproducibilityReport
{
    public required string FirstRun { get; init; }

    public required string SecondRun { get; init; }

    public required int FilesCompared { get; init; }

    /// <summary>Every file that is not Equal between the two runs.</summary>
    public required IReadOnlyList<OutputComparison> Differences { get; init; }

    public bool Reproducible => Differences.Count == 0;

    /// <summary>True when every difference is an archive that differs only in metadata (timestamps, modes, order, compression).</summary>
    public bool OnlyArchiveMetadataDiffers => Differences.Count > 0 && Differences.All(d => d.Kind == OutputKind.Archive && d.Status == OutputStatus.Changed && d.Diff?.StartsWith("differ only in metadata", StringComparison.Ordinal) == true);

    public static ReproducibilityReport Compare(string firstRun, string secondRun, ComparisonOptions options, CancellationToken cancellation = default)
    {
        var all = ExpectedOutputComparer.Compare(secondRun, firstRun, options, cancellation).ToArray();
        return new ReproducibilityReport
        {
            FirstRun = firstRun,
            SecondRun = secondRun,
            FilesCompared = all.Length,
            Differences = all.Where(c => c.Status != OutputStatus.Equal).ToArray(),
        };
    }
}
