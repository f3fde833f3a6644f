using System.Collections;
using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Errors;
using E2E.Core.Scopes;
using E2E.Core.Tracking;

namespace E2E.Cmdlets.Tracking;

/// <summary>Runs a training workflow against a tracking backend and measures its time and memory.</summary>
/// <remarks>
/// <para>-Workflow is a built-in workflow (simple_pytorch or lightning: standard-library Python with the data, seeds, metric names and steps of tracelet's e2e workflows, logging through a small logger that writes the backend's real on-disk store), a Python script, or any executable. The process gets the backend's Environment plus E2E_WORKFLOW_RESULTS, the file where it may write its results JSON.</para>
/// <para>The result has the exit code, standard output and error, the results JSON, the wall time, and the CPU time and peak memory of the whole process tree (sampled from /proc every 20 ms; each process's kernel-recorded peak is included, so short spikes count). A non-zero exit is the non-terminating error WorkflowFailed, a run past -TimeoutSec is killed with its children and is WorkflowTimedOut; the result is written in both cases. Ctrl-C kills the workflow's process tree.</para>
/// </remarks>
/// <example>
/// <code>$mlflow = Start-TrackingBackend -Kind MLflow
/// $run = Invoke-TrainingWorkflow -Backend $mlflow -Workflow simple_pytorch
/// $run.Results.losses[-1] | Should -BeLessThan $run.Results.losses[0]</code>
/// <para>Trains for 10 epochs while logging to a fresh MLflow store, then checks that the loss fell.</para>
/// </example>
/// <example>
/// <code>Invoke-TrainingWorkflow -Backend $wandb -Workflow ./train.py -ArgumentList '--epochs', '3' -TimeoutSec 900</code>
/// <para>Runs your own script with python3 and the W&amp;B offline environment.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Invoke, "TrainingWorkflow", SupportsShouldProcess = true)]
[OutputType(typeof(WorkflowRunResult))]
public sealed class InvokeTrainingWorkflowCommand : AsyncE2ECmdlet
{
    /// <summary>The backend the workflow logs to (from Start-TrackingBackend).</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
   
    [ValidateNotNull]
    public TrackingBackend? Backend { get; set; }

    /// <summary>simple_pytorch, lightning, a .py script, or an executable.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ArgumentCompleter(typeof(WorkflowCompleter))]
    [ValidateNotNullOrEmpty]
    public string? Workflow { get; set; }

    /// <summary>Arguments after the workflow (for the built-ins: --epochs N, --perturb METRIC@STEP=DELTA).</summary>
    [Parameter(Position = 1)]
    public string[] ArgumentList { get; set; } = Array.Empty<string>();

    /// <summary>The Python that runs built-in workflows and .py scripts; python3 by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Python { get; set; } = "python3";

    /// <summary>Seconds before the workflow is killed; 600 by default.</summary>
    [Parameter]
    [ValidateRange(1, 7 * 24 * 3600)]
    public double TimeoutSec { get; set; } = 600;

    /// <summary>More environment variables for the workflow's process (names to values); they win over the backend's.</summary>
    [Parameter]
    public Hashtable? Environment { get; set; }

    /// <summary>The workflow's working directory; a temp folder of the current scope by default.</summary>
    [Parameter]
    public string? WorkingDirectory { get; set; }

    private IReadOnlyList<string>? _commandLine;
    private string? _workingDirectory;
    private E2EScope? _scope;

    protected override void PrepareRecord()
    {
        _commandLine = CommandLine(Workflow!);
        _scope = Scopes.RequireCurrent("a training workflow");
        _workingDirectory = WorkingDirectory is null ? null : GetUnresolvedProviderPathFromPSPath(WorkingDirectory);
    }

    private IReadOnlyList<string> CommandLine(string workflow)
    {
        if (TrainingWorkflowRunner.BuiltInWorkflows.Contains(workflow))
        {
            return new[] { Python, ModuleFiles.TrackingWorkflowScript, workflow }.Concat(ArgumentList).ToArray();
        }
        var path = GetUnresolvedProviderPathFromPSPath(workflow);
        if (!File.Exists(path))
        {
            throw new E2EException(ErrorCatalog.WorkflowNotFound,
                $"'{workflow}' is neither a built-in workflow ({string.Join(", ", TrainingWorkflowRunner.BuiltInWorkflows)}) nor an existing file.", workflow);
        }
        return (path.EndsWith(".py", StringComparison.OrdinalIgnoreCase) ? new[] { Python, path } : new[] { path }).Concat(ArgumentList).ToArray();
    }

    protected override async Task ProcessAsync()
    {
        var backend = Backend!;
        if (!await ShouldProcessAsync(backend.ToString(), $"Run workflow {Workflow}").ConfigureAwait(false))
        {
            return;
        }
        var workingDirectory = _workingDirectory ?? _scope!.CreateTempDirectory("workflow");
        var environment = Environment?.Cast<DictionaryEntry>().ToDictionary(e => e.Key.ToString()!, e => e.Value?.ToString() ?? string.Empty);
        var finished = false;
        WorkflowRunResult result;
        try
        {
            result = await WithProgressAsync(Activities.Workflow, $"Workflow {Workflow} on {backend.Name} (timeout {TimeoutSec:0} s)", () => "running",
                () => TrainingWorkflowRunner.RunAsync(Workflow!, _commandLine!, backend, workingDirectory, environment, TimeSpan.FromSeconds(TimeoutSec),
                    group => _scope!.Register("Process", $"workflow {Workflow} (pid {group.Leader.Id})", _ =>
                    {
                        // A workflow still running when its scope goes (a crash or a signal of the shell) is killed with its group.
                        if (!finished)
                        {
                            group.Terminate(TimeSpan.Zero);
                        }
                    }),
                    CancelToken)).ConfigureAwait(false);
        }
        finally
        {
            finished = true;
        }
        Verbose(result.ToString());
        if (result.TimedOut)
        {
            Error(new E2EException(ErrorCatalog.WorkflowTimedOut, $"Workflow {Workflow} on {backend.Name} ran past {TimeoutSec:0.#} s and was killed with its process tree.", result));
        }
        else if (result.ExitCode != 0)
        {
            var tail = SecretText.Redact(string.Join("\n", result.ErrorOutput.TrimEnd().Split('\n').TakeLast(15)));
            Error(new E2EException(ErrorCatalog.WorkflowFailed, $"Workflow {Workflow} on {backend.Name} exited with code {result.ExitCode}:\n{tail}", result));
        }
        Output(result);
    }
}

/// <summary>Completes -Workflow with the built-in workflow names.</summary>
public sealed class WorkflowCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, System.Management.Automation.Language.CommandAst commandAst, IDictionary fakeBoundParameters) =>
        TrainingWorkflowRunner.BuiltInWorkflows.Where(w => w.StartsWith(wordToComplete, StringComparison.OrdinalIgnoreCase))
            .Select(w => new CompletionResult(w, w, CompletionResultType.ParameterValue, $"built-in workflow {w}"));
}
