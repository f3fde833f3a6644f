using System.Text.RegularExpressions;
using E2E.Core.Errors;

namespace E2E.Core.Snapshots;

/// <summary>Replaces volatile text (timestamps, temp paths, GUIDs) with a placeholder before comparing.</summary>
public sealed record Scrubber(string Name, Regex Pattern, string Replacement)
{
    public static readonly Scrubber Timestamp = new("Timestamp",
        new Regex(@"\b[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?\b", RegexOptions.CultureInvariant), "<timestamp>");

    public static readonly Scrubber Guid = new("Guid",
        new Regex(@"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", RegexOptions.CultureInvariant), "<guid>");

    public static readonly Scrubber TempPath = new("TempPath",
        new Regex(TempPathPattern(), RegexOptions.CultureInvariant), "<tmp>");

    public static IReadOnlyList<Scrubber> BuiltIn { get; } = new[] { Timestamp, Guid, TempPath };

    public string Apply(string text) => Pattern.Replace(text, Replacement);

    public static Scrubber Named(string name) =>
        BuiltIn.FirstOrDefault(s => s.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? throw new E2EException(ErrorCatalog.InvalidName, $"Unknown scrubber '{name}'. Built-in scrubbers: {string.Join(", ", BuiltIn.Select(s => s.Name))}.", name);

    public static Scrubber Custom(string pattern, string replacement)
    {
        try
        {
            return new Scrubber("Custom", new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)), replacement);
        }
        catch (ArgumentException ex)
        {
            throw new E2EException(ErrorCatalog.InvalidName, $"Scrub pattern '{pattern}' is not a valid regular expression: {ex.Message}", pattern, ex);
        }
    }

    /// <summary>This machine's temp folder plus the usual ones elsewhere, followed by the rest of the path.</summary>
    private static string TempPathPattern()
    {
        var here = Regex.Escape(Path.GetTempPath().TrimEnd('/', '\\'));
        return $@"(?:{here}|/tmp|/var/folders/[^/\s]+/[^/\s]+/T|[A-Za-z]:\\Users\\[^\\\s]+\\AppData\\Local\\Temp)(?:[/\\][^\s""',;)\]}}]*)?";
    }
}

/// <summary>How to compare: what to ignore, which arrays are unordered, what to scrub, when to warn.</summary>
public sealed record ComparisonOptions
{
    /// <summary>Structural paths (globs) left out of JSON/TOML comparison, such as <c>archive_size</c>.</summary>
    public IReadOnlyList<string> IgnorePaths { get; init; } = Array.Empty<string>();

    /// <summary>Structural paths (globs) of arrays compared as multisets.</summary>
    public IReadOnlyList<string> UnorderedPaths { get; init; } = Array.Empty<string>();

    public IReadOnlyList<Scrubber> Scrubbers { get; init; } = Array.Empty<Scrubber>();

    /// <summary>File name globs to compare (default all) and to leave out.</summary>
    public IReadOnlyList<string> Include { get; init; } = Array.Empty<string>();

    public IReadOnlyList<string> Exclude { get; init; } = Array.Empty<string>();

    /// <summary>Relative change in an <c>archive_size</c> above which a review warning is raised.</summary>
    public double ArchiveSizeThreshold { get; init; } = 0.2;

    /// <summary>Forces one kind for every file instead of choosing by extension and content.</summary>
    public OutputKind? Kind { get; init; }

    internal Regex[] IgnoreRegexes => _ignore ??= IgnorePaths.Select(DataPath.Glob).ToArray();

    internal Regex[] UnorderedRegexes => _unordered ??= UnorderedPaths.Select(DataPath.Glob).ToArray();

    private Regex[]? _ignore;
    private Regex[]? _unordered;

    internal bool Ignored(string path) => IgnoreRegexes.Any(r => r.IsMatch(path));

    internal bool Unordered(string path) => UnorderedRegexes.Any(r => r.IsMatch(path));

    internal string Scrub(string text) => Scrubbers.Aggregate(text, (t, s) => s.Apply(t));
}
