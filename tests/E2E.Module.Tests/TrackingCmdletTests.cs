using System.Management.Automation;

namespace E2E.Module.Tests;

public sealed class TrackingCmdletTests : IDisposable
{
    private readonly Pwsh _pwsh = new();
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-tracking-cmdlets-").FullName;

    public TrackingCmdletTests()
    {
        _pwsh.Run("$null = New-E2EScope -Name tracking-tests").ShouldSucceed();
    }

    public void Dispose()
    {
        _pwsh.Run("Get-E2EScope | Remove-E2EScope");
        _pwsh.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void A_pipeline_from_backend_to_run_reads_back_what_the_workflow_logged()
    {
        var result = _pwsh.Run("""
            $run = Start-TrackingBackend -Kind ClearML | Invoke-TrainingWorkflow -Workflow lightning -ArgumentList '--epochs', '2' | Get-TrackedRun
            $run.Backend.ToString()
            ($run | Get-TrackedMetric -Metric 'val/*' | Measure-Object).Count
            """).ShouldSucceed();
        Assert.Equal(new[] { "ClearML", "4" }, result.Strings);
    }

    [Fact]
    public void Reading_runs_and_writing_the_report_show_progress_and_run_ids_complete()
    {
        var store = Path.Combine(Repo.Root, "tests", "fixtures", "mlflow", "konradmalik+mlfix", "tests", "mlruns");
        var result = _pwsh.Run($$"""
            $null = Get-TrackedRun -Kind MLflow -Path '{{store}}'
            $b = Start-TrackingBackend -Kind WandB
            $r = $b | Invoke-TrainingWorkflow -Workflow simple_pytorch -ArgumentList '--epochs', '1'
            $null = $r | Export-TrackingReport -OutputDirectory '{{Path.Combine(_root, "report")}}'
            """).ShouldSucceed();
        var records = result.Progress.Where(p => p.ActivityId == 0x4E2E0D).ToList();
        Assert.Contains(records, p => p.Activity.StartsWith("Reading runs from", StringComparison.Ordinal));
        Assert.Contains(records, p => p.Activity.StartsWith("Tracking report of 1 runs", StringComparison.Ordinal));
        Assert.Equal(2, records.Count(p => p.RecordType == ProgressRecordType.Completed));

        var line = $"Get-TrackedRun -Kind MLflow -Path {store} -RunId 6e";
        var completions = _pwsh.Run($"(TabExpansion2 -inputScript '{line}' -cursorColumn {line.Length}).CompletionMatches.CompletionText").ShouldSucceed().Strings;
        Assert.Equal(new[] { "6e6280f331a94bf388fa9d0de0ecee99" }, completions);
    }

    [Fact]
    public void The_workflow_source_is_torch_only_where_torch_imports_and_the_result_says_which_ran()
    {
        // An interpreter that certainly has no torch: python3 without its site-packages.
        var noTorch = Path.Combine(_root, "python-no-torch");
        File.WriteAllText(noTorch, "#!/bin/sh\nexec python3 -S \"$@\"\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(noTorch, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var insisted = _pwsh.Run($"Start-TrackingBackend -Kind MLflow | Invoke-TrainingWorkflow -Workflow simple_pytorch -WorkflowSource Torch -Python '{noTorch}'");
        Assert.Equal("TorchNotAvailable,E2E.Cmdlets.Tracking.InvokeTrainingWorkflowCommand", insisted.ErrorId);
        Assert.Contains("cannot import torch", insisted.Error!.Exception.Message, StringComparison.Ordinal);
        var torchOnly = _pwsh.Run("Start-TrackingBackend -Kind MLflow | Invoke-TrainingWorkflow -Workflow computer_vision -WorkflowSource StandardLibrary");
        Assert.Equal("TorchNotAvailable,E2E.Cmdlets.Tracking.InvokeTrainingWorkflowCommand", torchOnly.ErrorId);
        Assert.Contains("PyTorch only", torchOnly.Error!.Exception.Message, StringComparison.Ordinal);

        // Auto with an interpreter that has no torch runs the standard-library workflow, and says so.
        var result = _pwsh.Run($"""
            $r = Start-TrackingBackend -Kind WandB | Invoke-TrainingWorkflow -Workflow simple_pytorch -Python '{noTorch}' -ArgumentList '--epochs', '1'
            $r.Source.ToString(); $r.Results.source; ($r | Get-TrackedRun).Metrics.Keys -contains 'train/epoch_loss'
            """).ShouldSucceed();
        Assert.Equal(new[] { "StandardLibrary", "stdlib", "True" }, result.Strings);
    }

    [Fact]
    public void An_unknown_workflow_is_WorkflowNotFound_and_a_failing_one_is_WorkflowFailed_with_its_result()
    {
        var missing = _pwsh.Run("Start-TrackingBackend -Kind MLflow | Invoke-TrainingWorkflow -Workflow ./no-such-workflow.py");
        Assert.Equal("WorkflowNotFound,E2E.Cmdlets.Tracking.InvokeTrainingWorkflowCommand", missing.ErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, missing.Error!.CategoryInfo.Category);

        var script = Path.Combine(_root, "fails.py");
        File.WriteAllText(script, "import sys\nprint('training', flush=True)\nsys.exit('CUDA out of memory')\n");
        var failed = _pwsh.Run($"Start-TrackingBackend -Kind WandB | Invoke-TrainingWorkflow -Workflow '{script}'");
        Assert.Equal("WorkflowFailed,E2E.Cmdlets.Tracking.InvokeTrainingWorkflowCommand", failed.ErrorId);
        Assert.Contains("CUDA out of memory", failed.Error!.Exception.Message);
        var output = Assert.Single(failed.Output);
        Assert.Equal(1, (int)output.Properties["ExitCode"].Value);
        Assert.Contains("training", (string)output.Properties["Output"].Value);
    }

    [Fact]
    public void A_workflow_past_its_timeout_is_WorkflowTimedOut()
    {
        var script = Path.Combine(_root, "hangs.py");
        File.WriteAllText(script, "import time\ntime.sleep(120)\n");
        var result = _pwsh.Run($"Start-TrackingBackend -Kind MLflow | Invoke-TrainingWorkflow -Workflow '{script}' -TimeoutSec 1");
        Assert.Equal("WorkflowTimedOut,E2E.Cmdlets.Tracking.InvokeTrainingWorkflowCommand", result.ErrorId);
        Assert.True((bool)Assert.Single(result.Output).Properties["TimedOut"].Value);
    }

    [Fact]
    public void Runs_and_metrics_that_are_not_there_are_TrackedRunNotFound()
    {
        var result = _pwsh.Run("Get-TrackedRun -Backend (Start-TrackingBackend -Kind MLflow) -RunId 0123456789abcdef");
        Assert.Equal("TrackedRunNotFound,E2E.Cmdlets.Tracking.GetTrackedRunCommand", result.ErrorId);
        var store = Path.Combine(Repo.Root, "tests", "fixtures", "mlflow", "konradmalik+mlfix", "tests", "mlruns");
        var metric = _pwsh.Run($"Get-TrackedRun -Kind MLflow -Path '{store}' | Get-TrackedMetric -Metric mae, loss");
        Assert.Equal("TrackedRunNotFound,E2E.Cmdlets.Tracking.GetTrackedMetricCommand", metric.ErrorId);
        Assert.Single(metric.Output);
    }

    [Fact]
    public void A_damaged_wandb_file_is_read_with_a_warning_not_an_error()
    {
        var file = Path.Combine(Repo.Root, "tests", "fixtures", "wandb", "leet", "fixtures", "wire", "truncated-tail.wandb");
        var result = _pwsh.Run($"(Get-TrackedRun -Kind WandB -Path '{file}').MetricPointCount").ShouldSucceed();
        Assert.Equal("3", result.Strings.Single());
        Assert.Contains(result.Warnings, w => w.Contains("cut tail", StringComparison.Ordinal));
    }

    [Fact]
    public void WhatIf_removes_nothing_and_an_existing_store_survives_Stop()
    {
        var result = _pwsh.Run($"""
            $b = Start-TrackingBackend -Kind MLflow
            $b | Stop-TrackingBackend -WhatIf
            Test-Path $b.StorePath
            $existing = Start-TrackingBackend -Kind MLflow -StorePath '{_root}'
            $existing | Stop-TrackingBackend
            Test-Path '{_root}'
            """).ShouldSucceed();
        Assert.Equal(new[] { "True", "True" }, result.Strings);
    }
}
