using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Artifacts;

namespace E2E.Cmdlets.Artifacts;

/// <summary>Copies a test's files into the artifact export folder when the test failed.</summary>
/// <remarks>
/// <para>Copies each -Path (file or directory) into $env:E2E_EXPORT_TEST_ARTIFACTS/&lt;Suite&gt;/&lt;Test&gt;/. By default only when the test failed; when $env:E2E_FORCE_TEST_EXPORT is non-empty, always. Suite and test names are made safe as single folder names.</para>
/// <para>Problems never become errors, because a cleanup step must not mask the test's own result: when the export folder is not configured the cmdlet says so on the verbose stream; when it does not exist (ArtifactExportDirMissing), a source is missing (ArtifactSourceNotFound) or a copy fails (ArtifactExportFailed), it writes a warning that starts with the error id. -PassThru returns one result per path.</para>
/// <para>Whether the test failed comes from -Failed. Without it, inside a Pester AfterEach the cmdlet asks Pester whether the running test has failed so far (an assertion, an exception, a failing BeforeEach; skipped and pending tests have not), and outside Pester it treats the test as passed. -Test defaults to the running test's name.</para>
/// </remarks>
/// <example>
/// <code>AfterEach {
///     Export-E2EArtifact -Suite Venvstacks -Path $outputDir
/// }</code>
/// <para>Exports the test's output folder to a folder named after the test, only when the test failed.</para>
/// </example>
/// <example>
/// <code>$env:E2E_EXPORT_TEST_ARTIFACTS = './export'; $env:E2E_FORCE_TEST_EXPORT = '1'
/// Get-ChildItem ./out/*.json | Export-E2EArtifact -Suite nightly -Test backfill -PassThru</code>
/// <para>Exports files from the pipeline unconditionally and lists where each went.</para>
/// </example>
[Cmdlet(VerbsData.Export, "E2EArtifact", SupportsShouldProcess = true)]
[OutputType(typeof(ArtifactExportResult))]
public sealed class ExportE2EArtifactCommand : E2ECmdlet
{
    private readonly List<string> _paths = new();

    /// <summary>Files or directories to export.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>The suite's name: the first folder level under the export root.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string? Suite { get; set; }

    /// <summary>The test's name: the second folder level. Inside Pester, the running test's expanded name by default; "manual" outside it.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Test { get; set; }

    /// <summary>Whether the test failed. Exports happen for failed tests unless E2E_FORCE_TEST_EXPORT is set.</summary>
    [Parameter]
    public SwitchParameter Failed { get; set; }

    /// <summary>Returns one result per path.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void Process()
    {
        foreach (var path in Path)
        {
            // Provider paths (PSPath from Get-ChildItem) resolve to file system paths; plain relative paths resolve against $PWD.
            _paths.Add(GetUnresolvedProviderPathFromPSPath(path));
        }
    }

    protected override void End()
    {
        var failed = MyInvocation.BoundParameters.ContainsKey(nameof(Failed)) ? Failed.IsPresent : PesterTestFailed();
        var settings = ArtifactExportSettings.FromEnvironment(Environment.GetEnvironmentVariable);
        var wanted = _paths.Where(p => ShouldProcess(p, $"Export artifact to {settings.ExportRoot ?? "(not configured)"}")).ToArray();
        foreach (var result in ArtifactExporter.Export(wanted, Suite!, Test ?? PesterTestName() ?? "manual", failed, settings))
        {
            if (result.Error is { } error)
            {
                WriteWarning($"[{error.Id}] {result.Reason}");
            }
            else
            {
                WriteVerbose(result.Reason);
            }
            if (PassThru)
            {
                WriteObject(result);
            }
        }
    }
}
