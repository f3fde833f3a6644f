using System.Collections;
using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Errors;
using E2E.Core.Python;
using E2E.Core.Scopes;
using E2E.Core.Tracking;

namespace E2E.Cmdlets.Tracking;

/// <summary>Runs a training workflow (PyTorch where torch is installed) against a tracking backend and measures its time and memory.</summary>
/// <remarks>
/// <para>-Workflow is a built-in workflow, a Python script, or any executable. The built-ins are tracelet's e2e workflows, logging through a small logger that writes the backend's real on-disk store (e2e_tracking, importable by your own scripts too): simple_pytorch, lightning, computer_vision (a CNN on synthetic images) and time_series (an LSTM forecaster) in real PyTorch, or simple_pytorch and lightning in standard-library Python with the same data shapes, seeds, metric names and steps. -WorkflowSource chooses: Auto (the default) runs the PyTorch ones when E2E_TORCH_PYTHON names an interpreter (or -Python is given and imports torch), else the standard-library ones; the result's Source says which ran. An interpreter named in E2E_TORCH_PYTHON that cannot import torch is TorchNotAvailable, never a silent fallback. The process gets the backend's Environment plus E2E_WORKFLOW_RESULTS, the file where it may write its results JSON.</para>
/// <para>The result has the exit code, standard output and error, the results JSON, the wall time, and the CPU time and peak memory of the whole process tree (sampled from /proc every 20 ms; each process's kernel-recorded peak is included, so short spikes count). A non-zero exit is the non-terminating error WorkflowFailed, a run past -TimeoutSec is killed with its children and is WorkflowTimedOut; the result is written in both cases. Ctrl-C kills the workflow's process tree.</para>
/// </remarks>
/// <example>
/// <code>$mlflow = Start-TrackingBackend -Kind MLflow
/// $run = Invoke-TrainingWorkflow -Backend $mlflow -Workflow simple_pytorch
/// $run.Results.losses[-1] | Should -BeLessThan $run.Results.losses[0]</code>
/// <para>Trains for 10 epochs while logging to a fresh MLflow store, then checks that the loss fell.</para>
/// </example>
/// <example>
/// <code>$env:E2E_TORCH_PYTHON = '/usr/bin/python3'
/// 'MLflow', 'WandB', 'ClearML' | ForEach-Object { Start-TrackingBackend -Kind $_ | Invoke-TrainingWorkflow -Workflow time_series -ArgumentList '--epochs', '3' } | Format-Table</code>
/// <para>Trains the LSTM forecaster in PyTorch against each backend; the Source column says Torch.</para>
/// </example>
/// <example>
/// <code>Invoke-TrainingWorkflow -Backend $wandb -Workflow ./train.py -ArgumentList '--epochs', '3' -TimeoutSec 900</code>
/// <para>Runs your own script (with E2E_TORCH_PYTHON when it is set, else python3) and the W&amp;B offline environment; the script can import e2e_tracking to log.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Invoke, "TrainingWorkflow", SupportsShouldProcess = true)]
[OutputType(typeof(WorkflowRunResult))]
public sealed class InvokeTrainingWorkflowCommand : AsyncE2ECmdlet
{
    /// <summary>The backend the workflow logs to (from Start-TrackingBackend).</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
   
    [ValidateNotNull]
    public TrackingBackend? Backend { get; set; }

    /// <summary>simple_pytorch, lightning, computer_vision, time_series, a .py script, or an executable.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ArgumentCompleter(typeof(WorkflowCompleter))]
    [ValidateNotNullOrEmpty]
    public string? Workflow { get; set; }

    /// <summary>Arguments after the workflow (for the built-ins: --epochs N, --perturb METRIC@STEP=DELTA).</summary>
    [Parameter(Position = 1)]
    public string[] ArgumentList { get; set; } = Array.Empty<string>();

    /// <summary>The Python that runs built-in workflows and .py scripts: by default E2E_TORCH_PYTHON for PyTorch workflows and scripts when it is set, else python3.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Python { get; set; }

    /// <summary>For built-in workflows: Auto (PyTorch where E2E_TORCH_PYTHON is set), Torch, or StandardLibrary.</summary>
    [Parameter]
    [ValidateSet(nameof(WorkflowSource.Auto), nameof(WorkflowSource.Torch), nameof(WorkflowSource.StandardLibrary))]
    public WorkflowSource WorkflowSource { get; set; } = WorkflowSource.Auto;

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

    private string? _scriptPath;
    private string? _workingDirectory;
    private E2EScope? _scope;

    protected override void PrepareRecord()
    {
        var workflow = Workflow!;
        if (!TrainingWorkflowRunner.BuiltInWorkflows.Contains(workflow))
        {
            _scriptPath = GetUnresolvedProviderPathFromPSPath(workflow);
            if (!File.Exists(_scriptPath))
            {
                throw new E2EException(ErrorCatalog.WorkflowNotFound,
                    $"'{workflow}' is neither a built-in workflow ({string.Join(", ", TrainingWorkflowRunner.BuiltInWorkflows)}) nor an existing file.", workflow);
            }
        }
        _scope = Scopes.RequireCurrent("a training workflow");
        _workingDirectory = WorkingDirectory is null ? null : GetUnresolvedProviderPathFromPSPath(WorkingDirectory);
    }

    /// <summary>The command line, and which built-ins run: PyTorch's where an interpreter with torch is named, else the standard library's.</summary>
    private async Task<(IReadOnlyList<string> CommandLine, WorkflowSource Source)> CommandLineAsync()
    {
        if (_scriptPath is not null)
        {
            var program = _scriptPath.EndsWith(".py", StringComparison.OrdinalIgnoreCase)
                ? new[] { Python ?? TorchInterpreter.Configured ?? "python3", _scriptPath }
                : new[] { _scriptPath };
            return (program.Concat(ArgumentList).ToArray(), WorkflowSource.Script);
        }
        var workflow = Workflow!;
        var source = WorkflowSource;
        if (source == WorkflowSource.Torch || (source == WorkflowSource.Auto && (Python is not null || TorchInterpreter.Configured is not null)))
        {
            var torch = source == WorkflowSource.Auto && Python is not null
                ? await TorchInterpreter.ProbeAsync(Python, CancelToken).ConfigureAwait(false)
                : await TorchInterpreter.RequireAsync(Python ?? TorchInterpreter.Configured ?? "python3", $"Workflow {workflow} with -WorkflowSource Torch", CancelToken).ConfigureAwait(false);
            if (torch is not null)
            {
                Verbose($"Running the PyTorch {workflow} with {torch}.");
                return (new[] { torch.Python, ModuleFiles.TrackingWorkflowScript, "--source", "torch", workflow }.Concat(ArgumentList).ToArray(), WorkflowSource.Torch);
            }
        }
        if (!TrainingWorkflowRunner.StandardLibraryWorkflows.Contains(workflow))
        {
            throw new E2EException(ErrorCatalog.TorchNotAvailable,
                $"Workflow {workflow} is PyTorch only (the standard-library ones are {string.Join(" and ", TrainingWorkflowRunner.StandardLibraryWorkflows)}); set {TorchInterpreter.Variable} to a Python that imports torch, or pass -Python.", workflow);
        }
        Verbose($"Running the standard-library {workflow} ({(source == WorkflowSource.StandardLibrary ? "-WorkflowSource StandardLibrary" : $"{TorchInterpreter.Variable} is not set")}).");
        return (new[] { Python ?? "python3", ModuleFiles.TrackingWorkflowScript, workflow }.Concat(ArgumentList).ToArray(), WorkflowSource.StandardLibrary);
    }

    protected override async Task ProcessAsync()
    {
        var backend = Backend!;
        if (!await ShouldProcessAsync(backend.ToString(), $"Run workflow {Workflow}").ConfigureAwait(false))
        {
            return;
        }
        var (commandLine, source) = await CommandLineAsync().ConfigureAwait(false);
        var workingDirectory = _workingDirectory ?? _scope!.CreateTempDirectory("workflow");
        var environment = Environment?.Cast<DictionaryEntry>().ToDictionary(e => e.Key.ToString()!, e => e.Value?.ToString() ?? string.Empty) ?? new Dictionary<string, string>();
        // Any workflow may log through the module's logger: import e2e_tracking.
        var pythonPath = environment.GetValueOrDefault("PYTHONPATH") ?? System.Environment.GetEnvironmentVariable("PYTHONPATH");
        environment["PYTHONPATH"] = string.IsNullOrEmpty(pythonPath) ? ModuleFiles.TrackingDirectory : ModuleFiles.TrackingDirectory + Path.PathSeparator + pythonPath;
        var finished = false;
        WorkflowRunResult result;
        try
        {
            result = await WithProgressAsync(Activities.Workflow, $"Workflow {Workflow} on {backend.Name} (timeout {TimeoutSec:0} s)", () => "running",
                () => TrainingWorkflowRunner.RunAsync(Workflow!, commandLine, backend, workingDirectory, environment, TimeSpan.FromSeconds(TimeoutSec),
                    group => _scope!.Register("Process", $"workflow {Workflow} (pid {group.Leader.Id})", _ =>
                    {
                        // A workflow still running when its scope goes (a crash or a signal of the shell) is killed with its group.
                        if (!finished)
                        {
                            group.Terminate(TimeSpan.Zero);
                        }
                    }),
                    CancelToken, source)).ConfigureAwait(false);
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
