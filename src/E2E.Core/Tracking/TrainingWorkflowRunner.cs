using System.Diagnostics;
using E2E.Core.Errors;
using E2E.Core.Processes;

namespace E2E.Core.Tracking;

/// <summary>What a workflow run did: exit, output, results JSON, and its whole process tree's time and memory.</summary>
public sealed class WorkflowRunResult
{
    public required string Workflow { get; init; }

    /// <summary>The backend's name (mlflow, wandb, clearml).</summary>
    public string BackendName => Backend.Name;

    /// <summary>The backend the workflow logged to; Get-TrackedRun reads the run back from it.</summary>
    public required TrackingBackend Backend { get; init; }

    public required int ExitCode { get; init; }

    public bool TimedOut { get; init; }

    /// <summary>Exited 0 and wrote its results JSON.</summary>
    public bool Succeeded => ExitCode == 0 && !TimedOut && Results is not null;

    public required TimeSpan WallTime { get; init; }

    public required TimeSpan CpuTime { get; init; }

    public required long PeakMemoryBytes { get; init; }

    public double PeakMemoryMB => Math.Round(PeakMemoryBytes / 1048576.0, 1);

    public int ProcessCount { get; init; }

    public required string Output { get; init; }

    public required string ErrorOutput { get; init; }

    /// <summary>The results JSON the workflow wrote to $E2E_WORKFLOW_RESULTS, or null if it wrote none.</summary>
    public IReadOnlyDictionary<string, object?>? Results { get; init; }

    /// <summary>The run id the workflow reported in its results ("run_id"), which Get-TrackedRun looks up.</summary>
    public string? RunId => Results?.GetValueOrDefault("run_id") as string;

    public required IReadOnlyList<string> CommandLine { get; init; }

    /// <summary>What ran: a built-in workflow in PyTorch (Torch) or in standard-library Python (StandardLibrary), or the caller's Script.</summary>
    public WorkflowSource Source { get; init; } = WorkflowSource.Script;

    public required DateTimeOffset StartedAt { get; init; }

    public override string ToString() => $"{Workflow} ({Source}) on {BackendName}: exit {ExitCode}, {WallTime.TotalSeconds:0.00} s wall, {CpuTime.TotalSeconds:0.00} s CPU, {PeakMemoryMB} MB peak";
}

/// <summary>Which built-in workflows run: PyTorch ones where torch imports, else the standard-library ones; Script for the caller's own.</summary>
public enum WorkflowSource
{
    /// <summary>Torch when E2E_TORCH_PYTHON names an interpreter, StandardLibrary otherwise.</summary>
    Auto,
    Torch,
    StandardLibrary,

    /// <summary>A script or executable of the caller's (a result's Source, never a choice).</summary>
    Script,
}

/// <summary>Runs a training workflow with a backend's environment and measures it.</summary>
public static class TrainingWorkflowRunner
{
    /// <summary>The built-in standard-library workflows (module/python/tracking/e2e_workflows.py).</summary>
    public static IReadOnlyList<string> StandardLibraryWorkflows { get; } = new[] { "simple_pytorch", "lightning" };

    /// <summary>The built-in PyTorch workflows (module/python/tracking/e2e_torch_workflows.py): the seed's two and its advanced ones.</summary>
    public static IReadOnlyList<string> TorchWorkflows { get; } = new[] { "simple_pytorch", "lightning", "computer_vision", "time_series" };

    /// <summary>Every built-in workflow name.</summary>
    public static IReadOnlyList<string> BuiltInWorkflows => TorchWorkflows;

    public static async Task<WorkflowRunResult> RunAsync(
        string workflowName,
        IReadOnlyList<string> commandLine,
        TrackingBackend backend,
        string workingDirectory,
        IReadOnlyDictionary<string, string>? extraEnvironment,
        TimeSpan timeout,
        Action<ProcessGroup>? started,
        CancellationToken cancellation,
        WorkflowSource source = WorkflowSource.Script)
    {
        if (backend.IsStopped)
        {
            throw new E2EException(ErrorCatalog.TrackingBackendStopped, $"The {backend.Name} backend was stopped; start a new one for this workflow.", backend);
        }
        var resultsPath = Path.Combine(workingDirectory, $"results-{Guid.NewGuid():N}.json");
        var start = new ProcessStartInfo(commandLine[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var argument in commandLine.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in backend.Environment)
        {
            start.Environment[name] = value;
        }
        start.Environment["E2E_WORKFLOW_RESULTS"] = resultsPath;
        start.Environment["PYTHONUNBUFFERED"] = "1";
        start.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        foreach (var (name, value) in extraEnvironment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        var startedAt = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        ProcessGroup group;
        try
        {
            group = ProcessGroup.Start(start.Own());
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new E2EException(ErrorCatalog.ToolNotFound, $"'{commandLine[0]}' could not be started: {ex.Message}", commandLine[0], ex);
        }
        var process = group.Leader;
        using (process)
        {
            started?.Invoke(group);
            // Pipe reads block a thread on Unix: they get threads of their own, not the pool's.
            var output = Task.Factory.StartNew(() => process.StandardOutput.ReadToEnd(), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            var errors = Task.Factory.StartNew(() => process.StandardError.ReadToEnd(), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            var meter = new ProcessTreeMeter(process.Id);
            using var stopMeter = new CancellationTokenSource();
            var metering = meter.RunAsync(process, stopMeter.Token);
            var timedOut = false;
            using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation))
            {
                deadline.CancelAfter(timeout);
                try
                {
                    await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    group.Terminate(TimeSpan.Zero);
                    await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                    cancellation.ThrowIfCancellationRequested();
                    timedOut = true;
                }
            }
            clock.Stop();
            // What the workflow started and left running (a data loader, a tracking daemon) goes with it.
            group.Terminate(TimeSpan.FromSeconds(5));
            stopMeter.Cancel();
            await metering.ConfigureAwait(false);
            var standardOutput = await output.ConfigureAwait(false);
            var standardError = await errors.ConfigureAwait(false);
            IReadOnlyDictionary<string, object?>? results = null;
            if (File.Exists(resultsPath))
            {
                results = TrackingJson.Parse(await File.ReadAllTextAsync(resultsPath, CancellationToken.None).ConfigureAwait(false)) as IReadOnlyDictionary<string, object?>;
                File.Delete(resultsPath);
            }
            return new WorkflowRunResult
            {
                Workflow = workflowName,
                Backend = backend,
                ExitCode = timedOut ? -1 : process.ExitCode,
                TimedOut = timedOut,
                WallTime = clock.Elapsed,
                CpuTime = meter.CpuTime,
                PeakMemoryBytes = meter.PeakMemoryBytes,
                ProcessCount = meter.ProcessCount,
                Output = standardOutput,
                ErrorOutput = standardError,
                Results = results,
                CommandLine = commandLine,
                StartedAt = startedAt,
                Source = source,
            };
        }
    }

}
