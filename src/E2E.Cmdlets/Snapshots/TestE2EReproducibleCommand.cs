using System.Management.Automation;
using E2E.Core.Errors;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Scopes;
using E2E.Core.Snapshots;

namespace E2E.Cmdlets.Snapshots;

/// <summary>Runs a build twice into fresh directories and compares every output file and archive.</summary>
/// <remarks>
/// <para>Creates two empty directories, invokes the script block once with each as its first argument ($args[0], or a param block's first parameter), and compares the two trees as Compare-ExpectedOutput does, archives member by member. The report says whether the build is Reproducible, lists every file that differs, and whether only archive metadata differs (timestamps, modes, member order), which is the usual first finding.</para>
/// <para>The directories belong to the current scope, so they stay for inspection until the scope is removed; without a current scope they are deleted when the cmdlet ends. -Quiet returns only $true or $false.</para>
/// </remarks>
/// <example>
/// <code>Test-E2EReproducible { param($out) venvstacks publish --output-dir $out ./venvstacks.toml } | Format-List Reproducible, OnlyArchiveMetadataDiffers</code>
/// <para>Builds the stack's archives twice and tells whether they match.</para>
/// </example>
[Cmdlet(VerbsDiagnostic.Test, "E2EReproducible", DefaultParameterSetName = "Report")]
[OutputType(typeof(ReproducibilityReport), ParameterSetName = new[] { "Report" })]
[OutputType(typeof(bool), ParameterSetName = new[] { "Quiet" })]
public sealed class TestE2EReproducibleCommand : ComparisonCmdletBase
{
    /// <summary>The build: invoked twice, each time with a fresh output directory as its first argument.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNull]
    public ScriptBlock? ScriptBlock { get; set; }

    /// <summary>Returns only $true when both runs produced identical files.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Quiet")]
    public SwitchParameter Quiet { get; set; }

    protected override void Process()
    {
        var options = BuildOptions();
        var owned = Scopes.Current is null ? new E2EScope("reproducibility") : null;
        var scope = owned ?? Scopes.Current!;
        try
        {
            var first = scope.CreateTempDirectory("repro-run1");
            var second = scope.CreateTempDirectory("repro-run2");
            const string activity = "Reproducibility: two builds, then a comparison";
            var run = 0;
            foreach (var dir in new[] { first, second })
            {
                WriteProgress(new ProgressRecord(Activities.Comparison, activity, $"build {++run} of 2 into {dir}") { PercentComplete = (run - 1) * 45 });
                WriteVerbose($"Building into {dir}");
                try
                {
                    ScriptBlock!.Invoke(dir);
                }
                catch (RuntimeException ex) when (ex is not PipelineStoppedException)
                {
                    // The build's own error text is not an id: BuildFailed is, with that text in the message.
                    throw new E2EException(ErrorCatalog.BuildFailed, $"Build {run} of 2 (into {dir}) failed: {SecretText.Redact(ex.Message)}", dir, ex);
                }
                CancelToken.ThrowIfCancellationRequested();
            }
            WriteProgress(new ProgressRecord(Activities.Comparison, activity, "comparing the two trees") { PercentComplete = 90 });
            var report = ReproducibilityReport.Compare(first, second, options, CancelToken);
            WriteProgress(Activities.Completed(Activities.Comparison, activity));
            WriteObject(Quiet ? report.Reproducible : report);
        }
        finally
        {
            owned?.Remove();
        }
    }
}
