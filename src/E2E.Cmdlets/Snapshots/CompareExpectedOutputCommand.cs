using System.Management.Automation;
using E2E.Core.Snapshots;

namespace E2E.Cmdlets.Snapshots;

/// <summary>Compares actual output files with committed expected output, one object per file.</summary>
/// <remarks>
/// <para>Compares a file or a directory tree with its expected counterpart and writes one object per file with its Path, Status (Equal, Changed, Missing, Extra), Kind (Text, Json, Toml, Binary, Archive, Link), Differences, Diff and review Warnings. Missing means expected but not produced; Extra means produced but not expected.</para>
/// <para>Text files are compared as text and get a unified diff. JSON and TOML files are compared structurally: member order is ignored, numbers compare as values, and each difference names its path, such as layers.frameworks[1].archive_size. Archives (zip, tar, tar.gz, tar.xz) are compared member by member. Files with identical bytes are Equal without being parsed.</para>
/// <para>Review warnings flag the changes reviewers should look at even when they are expected: ArchiveSizeChanged (beyond -ArchiveSizeThreshold), PackageLayerChanged (a package moved into or out of a lower layer in a pylock file), LockVersionDecreased, LayerAdded and LayerRemoved, HashChangedWithoutInputChange. Warnings are also written to the verbose stream.</para>
/// <para>A file that cannot be compared (invalid JSON or TOML: InvalidJson, InvalidToml; unreadable: OutputUnreadable) is a non-terminating error and the comparison carries on. Links are compared as links and never followed. -Quiet returns only $true when every file is Equal.</para>
/// </remarks>
/// <example>
/// <code>Compare-ExpectedOutput -Path ./build/requirements -ExpectedPath ./tests/sample_project/requirements | Where-Object Status -ne 'Equal'</code>
/// <para>Lists the lock files that changed, with a one-line summary of each.</para>
/// </example>
/// <example>
/// <code>Compare-ExpectedOutput ./build/manifests ./expected_manifests/linux_x86_64 -IgnorePath archive_size, archive_hashes -Quiet</code>
/// <para>A dry-run comparison that leaves out the archive-only keys and returns a single boolean.</para>
/// </example>
/// <example>
/// <code>Get-ChildItem ./out -Filter *.json | Compare-ExpectedOutput -ExpectedPath ./expected -Scrub Timestamp, TempPath | Format-List Path, Status, Diff</code>
/// <para>Compares piped files with the files of the same name in ./expected, hiding timestamps and temp paths.</para>
/// </example>
[Cmdlet(VerbsData.Compare, "ExpectedOutput", DefaultParameterSetName = "Rows")]
[OutputType(typeof(OutputComparison), ParameterSetName = new[] { "Rows" })]
[OutputType(typeof(bool), ParameterSetName = new[] { "Quiet" })]
public sealed class CompareExpectedOutputCommand : ComparisonCmdletBase
{
    private bool _allEqual = true;

    /// <summary>The actual output: a file or a directory.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName")]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>The expected output: a file, or a directory (a single actual file is compared with the file of the same name in it).</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? ExpectedPath { get; set; }

    /// <summary>Returns one boolean for all input: $true when every file is Equal.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Quiet")]
    public SwitchParameter Quiet { get; set; }

    protected override void Process()
    {
        var rows = ExpectedOutputComparer.Compare(FileSystemPath(Path!), FileSystemPath(ExpectedPath!), BuildOptions(), CancelToken, requireExpected: true);
        _allEqual &= WriteRows(rows, emit: !Quiet);
    }

    protected override void End()
    {
        if (Quiet)
        {
            WriteObject(_allEqual);
        }
    }
}
