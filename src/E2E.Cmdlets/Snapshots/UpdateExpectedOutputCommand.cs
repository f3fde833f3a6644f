using System.Management.Automation;
using E2E.Core.Snapshots;

namespace E2E.Cmdlets.Snapshots;

/// <summary>Makes expected output match actual output on purpose, and records why.</summary>
/// <remarks>
/// <para>Compares like Compare-ExpectedOutput, then copies each Changed file over its expected copy, adds Extra files and deletes Missing ones; Equal files are not touched. Each file is written through a temporary file and a rename, so no expected file is ever half-written, and links are recreated rather than followed. If any file cannot be compared, nothing is written.</para>
/// <para>When at least one file changed, the reason and the UTC time are recorded in the "# Last requested update:" comment of the config file: -ConfigPath, else the nearest expected-output-config.toml at or above the expected path (stopping at the repository root), else a new one beside it. Every other byte of that file is kept.</para>
/// <para>-WhatIf lists exactly which files would be added, replaced or deleted.</para>
/// </remarks>
/// <example>
/// <code>Update-ExpectedOutput -Path ./build/requirements -ExpectedPath ./tests/sample_project/requirements -Reason 'relock for scipy 1.16.2' -WhatIf</code>
/// <para>Shows which expected lock files would change.</para>
/// </example>
/// <example>
/// <code>Update-ExpectedOutput ./build/manifests ./expected_manifests/linux_x86_64 -Reason 'new archive_build field' -PassThru | Format-Table Action, Path</code>
/// <para>Updates the expected manifests and lists what was written.</para>
/// </example>
[Cmdlet(VerbsData.Update, "ExpectedOutput", SupportsShouldProcess = true)]
[OutputType(typeof(OutputUpdate))]
public sealed class UpdateExpectedOutputCommand : ComparisonCmdletBase
{
    /// <summary>The actual output: a file or a directory.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName")]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>The expected output to update: a file or a directory.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? ExpectedPath { get; set; }

    /// <summary>Why the expected output changes: one line, recorded with the time in the config file.</summary>
    [Parameter(Mandatory = true)]
    public string? Reason { get; set; }

    /// <summary>The config file that records the reason; found or created beside the expected output by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ConfigPath { get; set; }

    /// <summary>Returns one object per file written or deleted.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void Process()
    {
        var reason = ExpectedOutputUpdater.ValidateReason(Reason);
        var expected = FileSystemPath(ExpectedPath!);
        var plan = ExpectedOutputUpdater.Plan(FileSystemPath(Path!), expected, BuildOptions(), CancelToken);
        var confirmed = new List<OutputUpdate>();
        foreach (var update in plan)
        {
            var action = update.Action switch
            {
                UpdateAction.Add => $"Add expected output from {update.Source}",
                UpdateAction.Replace => $"Replace expected output with {update.Source}",
                _ => "Delete expected output that is no longer produced",
            };
            if (ShouldProcess(update.Target, action))
            {
                confirmed.Add(update);
            }
        }
        ExpectedOutputUpdater.ApplyAll(confirmed, CancelToken);
        if (PassThru)
        {
            WriteObject(confirmed, enumerateCollection: true);
        }
        if (confirmed.Count == 0)
        {
            WriteVerbose(plan.Count == 0 ? "Expected output already matches; nothing to update and no reason recorded." : "No file was updated; no reason recorded.");
            return;
        }
        var config = ConfigPath is null ? ExpectedOutputUpdater.FindConfig(expected) : FileSystemPath(ConfigPath);
        if (ShouldProcess(config, $"Record update reason '{reason}'"))
        {
            ExpectedOutputUpdater.RecordReason(config, reason, DateTimeOffset.UtcNow);
            WriteVerbose($"Updated {confirmed.Count} file(s); reason recorded in {config}.");
        }
    }
}
