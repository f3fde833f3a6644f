using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Snapshots;

namespace E2E.Cmdlets.Snapshots;

/// <summary>Compares two archives member by member and says whether only metadata differs.</summary>
/// <remarks>
/// <para>Reads zip, tar, tar.gz and tar.xz archives (tar.xz through the xz program) without extracting them and reports missing and extra members, content differences (with a unified diff for text members), and metadata-only differences: modification times, modes, owners, member order, compression and container headers. The Verdict is Identical, MetadataOnly or ContentDiffers; MetadataOnly is what reproducibility debugging wants to know first.</para>
/// <para>An archive with a member whose name is absolute or climbs out with '..' is refused with UnsafeArchiveMember; a file that is not a readable archive gives UnsupportedArchive.</para>
/// </remarks>
/// <example>
/// <code>Compare-E2EArchive -Path ./ci/framework-scipy@5.tar.xz -ExpectedPath ./local/framework-scipy@5.tar.xz | Format-List Verdict, Summary</code>
/// <para>Tells whether a CI-built archive differs from a local build only in metadata.</para>
/// </example>
/// <example>
/// <code>(Compare-E2EArchive ./b.zip ./a.zip).Differences | Where-Object Change -eq 'Content' | ForEach-Object Diff</code>
/// <para>Shows the text diffs of members whose content changed.</para>
/// </example>
[Cmdlet(VerbsData.Compare, "E2EArchive")]
[OutputType(typeof(ArchiveComparison))]
public sealed class CompareE2EArchiveCommand : E2ECmdlet
{
    /// <summary>The archive under test.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName")]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>The archive it should match.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? ExpectedPath { get; set; }

    protected override void Process()
    {
        WriteObject(ArchiveComparer.Compare(GetUnresolvedProviderPathFromPSPath(ExpectedPath!), GetUnresolvedProviderPathFromPSPath(Path!)));
    }
}
