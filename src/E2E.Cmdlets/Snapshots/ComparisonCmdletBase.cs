using System.Collections;

using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Snapshots;

namespace E2E.Cmdlets.Snapshots;

/// <summary>The comparison options shared by Compare-ExpectedOutput, Update-ExpectedOutput and Test-E2EReproducible.</summary>
public abstract class ComparisonCmdletBase : E2ECmdlet
{
    /// <summary>Structural paths left out of JSON and TOML comparisons. '*' is one key, '[*]' any index, '**' any depth; a bare name such as 'archive_size' matches that key at any depth.</summary>
    [Parameter]
    public string[] IgnorePath { get; set; } = Array.Empty<string>();

    /// <summary>Structural paths of arrays compared without regard to order, such as 'layers.*' or 'packages'.</summary>
    [Parameter]
    public string[] UnorderedPath { get; set; } = Array.Empty<string>();

    /// <summary>Built-in scrubbers applied to text and string values before comparing: Timestamp, Guid, TempPath.</summary>
    [Parameter]
    [ValidateSet("Timestamp", "Guid", "TempPath")]
    public string[] Scrub { get; set; } = Array.Empty<string>();

    /// <summary>Custom scrubbers: each key is a regular expression, each value its replacement.</summary>
    [Parameter]
    public Hashtable? ScrubPattern { get; set; }

    /// <summary>File name globs to compare; all files by default. A glob with '/' matches the relative path.</summary>
    [Parameter]
    public string[] Include { get; set; } = Array.Empty<string>();

    /// <summary>File name globs to leave out.</summary>
    [Parameter]
    public string[] Exclude { get; set; } = Array.Empty<string>();

    /// <summary>The relative change of an archive_size that raises an ArchiveSizeChanged warning; 0.2 (20%) by default.</summary>
    [Parameter]
    [ValidateRange(0.0, 1000.0)]
    public double ArchiveSizeThreshold { get; set; } = 0.2;

    /// <summary>Compares every file as this kind instead of choosing by extension and content.</summary>
    [Parameter]
    public OutputKind? Kind { get; set; }

    protected ComparisonOptions BuildOptions()
    {
        var scrubbers = Scrub.Select(Scrubber.Named).ToList();
        foreach (DictionaryEntry entry in ScrubPattern ?? new Hashtable())
        {
            scrubbers.Add(Scrubber.Custom(Convert.ToString(entry.Key, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty, Convert.ToString(entry.Value, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty));
        }
        return new ComparisonOptions
        {
            IgnorePaths = IgnorePath,
            UnorderedPaths = UnorderedPath,
            Scrubbers = scrubbers,
            Include = Include,
            Exclude = Exclude,
            ArchiveSizeThreshold = ArchiveSizeThreshold,
            Kind = Kind,
        };
    }

    /// <summary>Resolves a path as PowerShell users give it: provider paths, '~', relative to $PWD.</summary>
    protected string FileSystemPath(string path) => GetUnresolvedProviderPathFromPSPath(path);

    /// <summary>Writes each row; a row that could not be compared becomes a non-terminating error with its id.</summary>
    protected bool WriteRows(IEnumerable<OutputComparison> rows, bool emit)
    {
        var allEqual = true;
        var count = 0;
        const string activity = "Comparing expected output";
        foreach (var row in rows)
        {
            CancelToken.ThrowIfCancellationRequested();
            if (++count % 250 == 0)
            {
                WriteProgress(new ProgressRecord(Activities.Comparison, activity, $"{count} files compared"));
            }
            allEqual &= row.Status == OutputStatus.Equal;
            if (row.Status == OutputStatus.Error)
            {
                WriteE2EError(row.Error!);
                continue;
            }
            foreach (var warning in row.Warnings)
            {
                WriteVerbose($"{row.Path}: {warning}");
            }
            if (emit)
            {
                WriteObject(row);
            }
        }
        if (count >= 250)
        {
            WriteProgress(Activities.Completed(Activities.Comparison, activity));
        }
        return allEqual;
    }
}
