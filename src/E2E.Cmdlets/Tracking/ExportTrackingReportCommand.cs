using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Processes;
using E2E.Core.Tracking;

namespace E2E.Cmdlets.Tracking;

/// <summary>Writes the Tracelet report: JSON and Markdown with the seed runner's fields, a cross-backend comparison and one SVG plot per metric.</summary>
/// <remarks>
/// <para>Takes the results of Invoke-TrainingWorkflow, reads each run back from its backend's store and writes e2e_report_&lt;time&gt;.json and e2e_summary_&lt;time&gt;.md (the fields of tracelet's test_runner: summary, backend and workflow breakdowns, detailed results, performance, errors, environment) into -OutputDirectory. metrics_logged and final_accuracy count what the stores hold. Times, CPU and peak memory come from the measured runs.</para>
/// <para>Runs of the same workflow are compared by value against the first backend's run (or give -Difference from Compare-TrackedRun), and plots_&lt;time&gt;/&lt;metric&gt;.svg draws every backend's curve of each metric; the Markdown embeds them. Files are written whole (through a temporary name) or not at all.</para>
/// </remarks>
/// <example>
/// <code>$results | Export-TrackingReport -OutputDirectory ./e2e_test_results</code>
/// <para>Writes the JSON report, the Markdown summary and the plots, and returns the files.</para>
/// </example>
[Cmdlet(VerbsData.Export, "TrackingReport", SupportsShouldProcess = true)]
[OutputType(typeof(FileInfo))]
public sealed class ExportTrackingReportCommand : E2ECmdlet
{
    private readonly List<WorkflowRunResult> _results = new();

    /// <summary>The workflow runs to report.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    [ValidateNotNull]
    public WorkflowRunResult[] Result { get; set; } = Array.Empty<WorkflowRunResult>();

    /// <summary>The folder the report goes to; made if missing.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string? OutputDirectory { get; set; }

    /// <summary>Differences to report (from Compare-TrackedRun); by default the runs of each workflow are compared with its first backend's run.</summary>
    [Parameter]
    public TrackedRunDifference[]? Difference { get; set; }

    /// <summary>The relative tolerance of the default comparison; 1e-9.</summary>
    [Parameter]
    [ValidateRange(0, 1)]
    public double RelativeTolerance { get; set; } = 1e-9;

    /// <summary>The Python whose version and packages the report lists: E2E_TORCH_PYTHON when it is set (the one the PyTorch workflows ran with), else python3.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Python { get; set; } = E2E.Core.Python.TorchInterpreter.Configured ?? "python3";

    protected override void Process() => _results.AddRange(Result);

    protected override void End()
    {
        var folder = GetUnresolvedProviderPathFromPSPath(OutputDirectory!);
        if (!ShouldProcess(folder, $"Write tracking report of {_results.Count} runs"))
        {
            return;
        }
        var activity = $"Tracking report of {_results.Count} runs to {folder}";
        WriteProgress(new ProgressRecord(Activities.Tracking, activity, "reading the runs back from their stores"));
        var storeRuns = new Dictionary<TrackingBackend, IReadOnlyList<TrackedRun>>();
        var entries = new List<TrackingReportEntry>();
        foreach (var result in _results)
        {
            if (!storeRuns.TryGetValue(result.Backend, out var runs))
            {
                storeRuns[result.Backend] = runs = result.Backend.IsStopped && result.Backend.OwnsStore ? Array.Empty<TrackedRun>() : result.Backend.ReadRuns(CancelToken);
            }
            var run = runs.FirstOrDefault(r => r.RunId == result.RunId);
            if (run is null)
            {
                WriteWarning($"The {result.BackendName} store holds no run '{result.RunId}' of {result.Workflow}: it is reported with 0 metrics.");
            }
            entries.Add(new TrackingReportEntry(result, run));
        }
        var differences = Difference?.ToList() ?? entries.Where(e => e.Run is not null).GroupBy(e => e.Result.Workflow)
            .SelectMany(g => g.Skip(1).SelectMany(e => TrackedRunComparer.Compare(g.First().Run!, e.Run!, 0, RelativeTolerance)))
            .ToList();
        WriteProgress(new ProgressRecord(Activities.Tracking, activity, "comparing, then writing the JSON, the Markdown and the plots"));
        var files = TrackingReport.Write(entries, differences, EnvironmentInfo(), folder, DateTimeOffset.Now);
        WriteProgress(Activities.Completed(Activities.Tracking, activity));
        WriteObject(new FileInfo(files.JsonPath));
        WriteObject(new FileInfo(files.MarkdownPath));
        foreach (var plot in files.PlotPaths)
        {
            WriteObject(new FileInfo(plot));
        }
    }

    private IReadOnlyDictionary<string, object?> EnvironmentInfo()
    {
        try
        {
            var json = ExternalTool.RunAsync(Python, new[] { ModuleFiles.TrackingWorkflowScript, "environment" }, null, E2E.Core.Errors.ErrorCatalog.WorkflowFailed, CancelToken).GetAwaiter().GetResult();
            return TrackingReport.ParseEnvironment(json);
        }
        catch (E2E.Core.Errors.E2EException ex)
        {
            WriteWarning($"The environment section is empty: {ex.Message}");
            return new Dictionary<string, object?>();
        }
    }
}
