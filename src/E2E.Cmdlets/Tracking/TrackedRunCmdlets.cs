using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Errors;
using E2E.Core.Tracking;

namespace E2E.Cmdlets.Tracking;

/// <summary>Reads runs back from a tracking store: parameters, tags, config, summary and every metric's history.</summary>
/// <remarks>
/// <para>Reads what the backend actually holds, not what the workflow says it logged: an MLflow FileStore (1.x and 2.x layouts) or tracking server (REST API), W&amp;B .wandb transaction logs (a damaged file is read up to the damage, each skip a warning), ClearML offline sessions (folder or zip).</para>
/// <para>Give a backend from Start-TrackingBackend, or -Kind with -Path for any store on disk. Piping the result of Invoke-TrainingWorkflow reads the run that workflow reported (its RunId).</para>
/// </remarks>
/// <example>
/// <code>Invoke-TrainingWorkflow -Backend $mlflow -Workflow simple_pytorch | Get-TrackedRun</code>
/// <para>The run the workflow just logged, read back from the MLflow store.</para>
/// </example>
/// <example>
/// <code>Get-TrackedRun -Kind WandB -Path ./wandb | Format-Table RunId, Name, Status, MetricPointCount</code>
/// <para>Every W&amp;B run under a folder.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "TrackedRun", DefaultParameterSetName = BackendSet)]
[OutputType(typeof(TrackedRun))]
public sealed class GetTrackedRunCommand : E2ECmdlet
{
    private const string BackendSet = "Backend";
    private const string PathSet = "Path";

    /// <summary>The backend whose store is read.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = BackendSet)]
   
    [ValidateNotNull]
    public TrackingBackend? Backend { get; set; }

    /// <summary>The kind of store at -Path.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PathSet)]
    public TrackingBackendKind Kind { get; set; }

    /// <summary>A store on disk: an mlruns folder, run or experiment folder; a .wandb file or folder; a ClearML session folder, zip or cache folder.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = PathSet)]
    [Alias("PSPath", "FullName")]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>Only the run with this id.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(TrackedRunIdCompleter))]
    public string? RunId { get; set; }

    /// <summary>Only runs whose name matches (wildcards allowed).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    public string? Name { get; set; }

    /// <summary>How ClearML (title, series) pairs are named with -Path; TitleSeries by default (a backend from Start-TrackingBackend names them the way tracelet does).</summary>
    [Parameter(ParameterSetName = PathSet)]
    public ClearmlMetricNaming ClearmlNaming { get; set; } = ClearmlMetricNaming.TitleSeries;

    protected override void Process()
    {
        // A store of a million points takes a second or two to read.
        var activity = $"Reading runs from {(object?)Backend ?? Path}";
        WriteProgress(new ProgressRecord(Activities.Tracking, activity, "reading the store"));
        IReadOnlyList<TrackedRun> runs;
        try
        {
            runs = Backend is not null
                ? Backend.ReadRuns(CancelToken)
                : TrackingStores.ReadRuns(Kind, GetUnresolvedProviderPathFromPSPath(Path!), ClearmlNaming);
        }
        finally
        {
            WriteProgress(Activities.Completed(Activities.Tracking, activity));
        }
        var pattern = Name is null ? null : WildcardPattern.Get(Name, WildcardOptions.IgnoreCase);
        var matched = runs.Where(r => (RunId is null || r.RunId == RunId) && (pattern is null || pattern.IsMatch(r.Name ?? string.Empty))).ToList();
        if (matched.Count == 0 && (RunId is not null || (Name is not null && !WildcardPattern.ContainsWildcardCharacters(Name))))
        {
            WriteE2EError(new E2EException(ErrorCatalog.TrackedRunNotFound, $"No run {(RunId is null ? $"named '{Name}'" : $"'{RunId}'")} in {(object?)Backend ?? Path}.", RunId ?? Name));
            return;
        }
        foreach (var run in matched)
        {
            foreach (var warning in run.Warnings)
            {
                WriteWarning(warning);
            }
            WriteObject(run);
        }
    }
}

/// <summary>Writes a run's metric series as objects, one per logged point.</summary>
/// <remarks>
/// <para>Each point has the backend, run id, metric, step, value (NaN and infinities kept) and the time it was logged, in the order the store holds them (several values at one step stay apart).</para>
/// </remarks>
/// <example>
/// <code>$run | Get-TrackedMetric -Metric train/epoch_loss | Select-Object Step, Value</code>
/// <para>The epoch losses as the store holds them.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "TrackedMetric")]
[OutputType(typeof(TrackedMetricPoint))]
public sealed class GetTrackedMetricCommand : E2ECmdlet
{
    /// <summary>The run whose metrics are written.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public TrackedRun? Run { get; set; }

    /// <summary>Metric names to write (wildcards allowed); all by default. Not -Name: a piped run's own Name would bind to it.</summary>
    [Parameter(Position = 1)]
    [SupportsWildcards]
    public string[] Metric { get; set; } = { "*" };

    protected override void Process()
    {
        var patterns = Metric.Select(n => WildcardPattern.Get(n, WildcardOptions.IgnoreCase)).ToList();
        foreach (var requested in Metric.Where(n => !WildcardPattern.ContainsWildcardCharacters(n) && !Run!.Metrics.ContainsKey(n)))
        {
            WriteE2EError(new E2EException(ErrorCatalog.TrackedRunNotFound, $"Run {Run!.RunId} ({Run.Backend}) has no metric '{requested}'; it has {string.Join(", ", Run.Metrics.Keys)}.", requested));
        }
        foreach (var series in Run!.Metrics.Values.Where(s => patterns.Any(p => p.IsMatch(s.Name))))
        {
            foreach (var point in TrackedMetricPoint.From(Run, series))
            {
                WriteObject(point);
            }
        }
    }
}

/// <summary>Compares runs of the same workflow on different backends by value, metric by metric and step by step.</summary>
/// <remarks>
/// <para>Writes one difference per disagreement: a metric or a step one side lacks, a different number of values at a step, or a value outside -AbsoluteTolerance + -RelativeTolerance x |value|. Each names the backend, metric, step and both values. NaN equals NaN and an infinity the same infinity. Nothing is written when the runs agree, so 'Should -BeNullOrEmpty' asserts equality.</para>
/// <para>The default tolerance (relative 1e-9) takes the same float64 values formatted by different stores; raise it for libraries that log float32.</para>
/// </remarks>
/// <example>
/// <code>Compare-TrackedRun -Reference $mlflowRun -Difference $wandbRun, $clearmlRun | Should -BeNullOrEmpty</code>
/// <para>Asserts that W&amp;B and ClearML hold exactly what MLflow holds.</para>
/// </example>
[Cmdlet(VerbsData.Compare, "TrackedRun")]
[OutputType(typeof(TrackedRunDifference))]
public sealed class CompareTrackedRunCommand : E2ECmdlet
{
    /// <summary>The run the others are compared with.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNull]
    public TrackedRun? Reference { get; set; }

    /// <summary>The runs compared with the reference.</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true)]
    [ValidateNotNull]
    public TrackedRun[] Difference { get; set; } = Array.Empty<TrackedRun>();

    /// <summary>The absolute tolerance; 0 by default.</summary>
    [Parameter]
    [ValidateRange(0, double.MaxValue)]
    public double AbsoluteTolerance { get; set; }

    /// <summary>The relative tolerance; 1e-9 by default.</summary>
    [Parameter]
    [ValidateRange(0, 1)]
    public double RelativeTolerance { get; set; } = 1e-9;

    /// <summary>Only these metrics (wildcards allowed); all by default.</summary>
    [Parameter]
    [SupportsWildcards]
    public string[] Metric { get; set; } = { "*" };

    protected override void Process()
    {
        var patterns = Metric.Select(n => WildcardPattern.Get(n, WildcardOptions.IgnoreCase)).ToList();
        foreach (var run in Difference.Where(r => !ReferenceEquals(r, Reference)))
        {
            foreach (var difference in TrackedRunComparer.Compare(Reference!, run, AbsoluteTolerance, RelativeTolerance, m => patterns.Any(p => p.IsMatch(m))))
            {
                WriteObject(difference);
            }
        }
    }
}
