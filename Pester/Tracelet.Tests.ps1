#Requires -Version 7.4
# Tracelet: tracking backends set up and torn down, training workflows run against each and measured, the
# tracked metrics read back from every store and compared across backends by value, and the report. This is
# what tracelet's tests/e2e meant to do: its cross-backend check compared list lengths and never read a store.
#
# Container data:
#   ModulePath      the built module (default: out/E2E/E2E.psd1)
#   Backends        MLflow, WandB, ClearML (default: all three)
#   Workflows       simple_pytorch, lightning, and with torch computer_vision and time_series (default: all that can run)
#   WorkflowSource  Embedded (default: the built-in workflows logging through the module's logger, which writes each
#                   backend's real store: real PyTorch where $env:E2E_TORCH_PYTHON names an interpreter with torch,
#                   else standard-library Python) or Tracelet (tracelet's own workflows with torch, lightning and the
#                   tracking libraries; examples/tracelet/upstream_workflows.py). $env:E2E_TRACELET_WORKFLOWS
#   AdvancedEpochs  epochs of computer_vision and time_series (default 2, to keep a CI run short; 0 for upstream's
#                   8 and 10)
#   TrackingUri     a running MLflow tracking server; the MLflow backend is then read through its REST API
#                   (needs -WorkflowSource Tracelet: the embedded logger writes file stores). $env:E2E_MLFLOW_TRACKING_URI
#   ReportPath      where the report goes (default: out/tracelet-report)
# Tests tagged 'tracelet' need the upstream libraries and are skipped, with the reason, where they are missing.
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '..' 'out' 'E2E' 'E2E.psd1'),
    [string[]] $Backends = @('MLflow', 'WandB', 'ClearML'),
    [string[]] $Workflows = $(if ($env:E2E_TORCH_PYTHON) { @('simple_pytorch', 'lightning', 'computer_vision', 'time_series') } else { @('simple_pytorch', 'lightning') }),
    [string] $WorkflowSource = $(if ($env:E2E_TRACELET_WORKFLOWS) { $env:E2E_TRACELET_WORKFLOWS } else { 'Embedded' }),
    [int] $AdvancedEpochs = 2,
    [string] $TrackingUri = $env:E2E_MLFLOW_TRACKING_URI,
    [string] $ReportPath = (Join-Path $PSScriptRoot '..' 'out' 'tracelet-report')
)

Describe 'Tracelet' {
    BeforeAll {
        Import-Module $ModulePath -Force -ErrorAction Stop
        $suiteScope = New-E2EScope -Name 'tracelet' -Label @{ suite = 'tracelet' }
        $upstreamScript = Join-Path $PSScriptRoot '..' 'examples' 'tracelet' 'upstream_workflows.py'
        $results = [System.Collections.Generic.List[object]]::new()

        function Start-SuiteBackend([string] $Kind) {
            if ($Kind -eq 'MLflow' -and $TrackingUri) { Start-TrackingBackend -TrackingUri $TrackingUri }
            else { Start-TrackingBackend -Kind $Kind }
        }

        $advanced = @('computer_vision', 'time_series')
        function Invoke-SuiteWorkflow($Backend, [string] $Workflow, [string[]] $Arguments = @()) {
            if ($Workflow -in $advanced -and $AdvancedEpochs -gt 0 -and $Arguments -notcontains '--epochs') { $Arguments = @('--epochs', $AdvancedEpochs) + $Arguments }
            if ($WorkflowSource -eq 'Tracelet') {
                Invoke-TrainingWorkflow -Backend $Backend -Workflow $upstreamScript -ArgumentList (@($Workflow) + $Arguments) -TimeoutSec 1800
            }
            else {
                Invoke-TrainingWorkflow -Backend $Backend -Workflow $Workflow -ArgumentList $Arguments -TimeoutSec 1800
            }
        }

        # What each workflow logs (SYSTEMS.md 3.2 and tracelet's get_expected_metrics): names and steps are the same
        # on every backend. Improves: the metric that must get better from the first epoch to the last.
        $expected = @{
            simple_pytorch  = @{ Epochs = 10; Improves = 'train/accuracy_r2'; Up = $true
                Metrics = @('final/best_accuracy', 'final/final_loss', 'train/accuracy_r2', 'train/batch_loss', 'train/epoch_loss', 'train/learning_rate') }
            lightning       = @{ Epochs = 10; Improves = 'val/accuracy_r2'; Up = $true
                Metrics = @('final/train_loss', 'final/val_accuracy', 'final/val_loss', 'train/batch_loss', 'train/epoch_loss', 'val/accuracy_r2', 'val/loss') }
            # Upstream's labels are random: the CNN learns the training set only, so the validation accuracy is checked
            # against chance (upstream asks for at least 5 %), not for a rise.
            computer_vision = @{ Epochs = $(if ($AdvancedEpochs -gt 0) { $AdvancedEpochs } else { 8 }); Improves = $null
                Metrics = @('final/best_val_accuracy', 'final/final_train_loss', 'final/final_val_loss', 'train/batch_accuracy', 'train/batch_loss', 'train/epoch_accuracy', 'train/epoch_loss', 'train/learning_rate', 'val/best_accuracy', 'val/epoch_accuracy', 'val/epoch_loss') }
            time_series     = @{ Epochs = $(if ($AdvancedEpochs -gt 0) { $AdvancedEpochs } else { 10 }); Improves = 'val/epoch_mae'; Up = $false
                Metrics = @('final/best_val_mae', 'final/final_train_loss', 'final/final_val_loss', 'train/batch_loss', 'train/epoch_loss', 'train/epoch_mae', 'train/learning_rate', 'val/best_mae', 'val/epoch_loss', 'val/epoch_mae') }
        }
        $expectedSource = if ($WorkflowSource -eq 'Tracelet') { 'Script' } elseif ($env:E2E_TORCH_PYTHON) { 'Torch' } else { 'StandardLibrary' }
        Write-Information "Tracelet workflows: $WorkflowSource, $expectedSource$(if ($env:E2E_TORCH_PYTHON) { " (E2E_TORCH_PYTHON=$env:E2E_TORCH_PYTHON)" })" -InformationAction Continue
    }

    AfterAll {
        Remove-E2EScope -Scope $suiteScope
    }

    Describe 'Backend <_>' -ForEach $Backends {
        BeforeAll {
            $kind = $_
            $backend = Start-SuiteBackend $kind
        }

        It 'is set up: an empty store and the variables its library reads' {
            $backend.Kind | Should -Be $kind
            $backend.IsStopped | Should -BeFalse
            $backend.Environment['E2E_TRACKING_BACKEND'] | Should -Be $kind.ToLowerInvariant()
            switch ($kind) {
                'MLflow' { $backend.Environment['MLFLOW_TRACKING_URI'] | Should -Not -BeNullOrEmpty }
                'WandB' { $backend.Environment['WANDB_MODE'] | Should -Be 'offline'; $backend.Environment['WANDB_DIR'] | Should -Exist }
                'ClearML' { $backend.Environment['CLEARML_OFFLINE_MODE'] | Should -Be '1'; $backend.Environment['CLEARML_CACHE_DIR'] | Should -Exist }
            }
            if (-not $backend.TrackingUri) { @(Get-TrackedRun -Backend $backend).Count | Should -Be 0 }
        }

        It 'runs <Workflow>: the loss falls and the model improves, read back from the store' -ForEach @($Workflows | ForEach-Object { @{ Workflow = $_ } }) {
            $spec = $expected[$Workflow]
            $result = Invoke-SuiteWorkflow $backend $Workflow
            $results.Add($result)
            $result.ExitCode | Should -Be 0 -Because $result.ErrorOutput
            $result.Source | Should -Be $expectedSource
            $result.Results.epochs_completed | Should -Be $spec.Epochs

            $run = $result | Get-TrackedRun
            $run.RunId | Should -Be $result.RunId
            $run.Warnings | Should -BeNullOrEmpty
            @($run.Metrics.Keys | Sort-Object) | Should -Be $spec.Metrics
            $loss = @($run | Get-TrackedMetric -Metric 'train/epoch_loss')
            $loss.Step | Should -Be (0..($spec.Epochs - 1))
            $loss[-1].Value | Should -BeLessThan $loss[0].Value
            if ($spec.Improves) {
                $score = @($run | Get-TrackedMetric -Metric $spec.Improves)
                if ($spec.Up) { $score[-1].Value | Should -BeGreaterThan $score[0].Value }
                else { $score[-1].Value | Should -BeLessThan $score[0].Value }
            }
            # What the store holds is what the workflow says it computed.
            switch ($Workflow) {
                'simple_pytorch' { $loss.Value | Should -Be $result.Results.losses }
                'lightning' { @($run | Get-TrackedMetric -Metric 'val/accuracy_r2')[-1].Value | Should -Be $result.Results.final_val_accuracy }
                'computer_vision' {
                    @($run | Get-TrackedMetric -Metric 'val/epoch_accuracy').Value | Should -Be $result.Results.val_accuracies
                    $result.Results.best_val_accuracy | Should -BeGreaterOrEqual 5.0
                }
                'time_series' {
                    @($run | Get-TrackedMetric -Metric 'val/epoch_mae').Value | Should -Be $result.Results.val_maes
                    $result.Results.best_val_mae | Should -BeLessThan 5.0
                }
            }
        }

        It 'is torn down: Stop-TrackingBackend removes a store it made and nothing else' {
            $extra = Start-TrackingBackend -Kind $kind
            # What is under test is the store's removal, not training: the standard-library workflow writes the same
            # store without importing torch (1.4 s of CPU a run).
            (Invoke-TrainingWorkflow -Backend $extra -Workflow simple_pytorch -WorkflowSource StandardLibrary -ArgumentList '--epochs', '1').ExitCode | Should -Be 0
            $extra.StorePath | Should -Exist
            $extra | Stop-TrackingBackend
            $extra.StorePath | Should -Not -Exist
            { Get-TrackedRun -Backend $extra } | Should -Throw -ErrorId 'TrackingBackendStopped,E2E.Cmdlets.Tracking.GetTrackedRunCommand'
        }
    }

    Describe 'Across backends' {
        It 'the same <Workflow> logged to every backend holds the same values at the same steps' -ForEach @($Workflows | ForEach-Object { @{ Workflow = $_ } }) {
            $runs = @($results | Where-Object { $_.Workflow -eq $Workflow -and $_.ExitCode -eq 0 } | Get-TrackedRun)
            if ($runs.Count -lt 2) { Set-ItResult -Skipped -Because "only $($runs.Count) backend ran $Workflow"; return }
            $tolerance = if ($WorkflowSource -eq 'Tracelet') { 1e-6 } else { 1e-9 }
            Compare-TrackedRun -Reference $runs[0] -Difference $runs[1..($runs.Count - 1)] -RelativeTolerance $tolerance | Should -BeNullOrEmpty
        }

        It 'a workflow of your own logs through e2e_tracking and reads back equal from every store' {
            if ($Backends.Count -lt 2) { Set-ItResult -Skipped -Because 'it needs two backends'; return }
            $ownScript = Join-Path $PSScriptRoot '..' 'examples' 'tracelet' 'own_workflow.py'
            $own = foreach ($kind in $Backends) { Start-SuiteBackend $kind | Invoke-TrainingWorkflow -Workflow $ownScript }
            $own | ForEach-Object { $_.ExitCode | Should -Be 0 -Because $_.ErrorOutput; $_.Source | Should -Be 'Script' }
            # It trains in torch exactly where the suite's interpreter setting says torch is.
            @($own.Results.engine | Sort-Object -Unique) | Should -Be $(if ($env:E2E_TORCH_PYTHON) { 'torch' } else { 'python' })
            $runs = @($own | Get-TrackedRun)
            @($runs[0] | Get-TrackedMetric -Metric 'train/loss').Step | Should -Be (0..19)
            Compare-TrackedRun -Reference $runs[0] -Difference $runs[1..($runs.Count - 1)] -RelativeTolerance 1e-9 | Should -BeNullOrEmpty
        }

        It 'a workflow that logs a different value at one step is caught with backend, metric, step and both values' {
            if ($Backends.Count -lt 2) { Set-ItResult -Skipped -Because 'it needs two backends'; return }
            $reference = $results | Where-Object { $_.Workflow -eq 'simple_pytorch' -and $_.ExitCode -eq 0 } | Select-Object -First 1
            if (-not $reference) { Set-ItResult -Skipped -Because 'simple_pytorch is not among the workflows'; return }
            $otherKind = $Backends | Where-Object { $_ -ne $reference.Backend.Kind } | Select-Object -Last 1
            $other = Start-SuiteBackend $otherKind
            $perturbed = Invoke-SuiteWorkflow $other 'simple_pytorch' @('--perturb', 'train/epoch_loss@5=0.5')

            $difference = Compare-TrackedRun -Reference ($reference | Get-TrackedRun) -Difference ($perturbed | Get-TrackedRun)
            $difference | Should -HaveCount 1
            $difference.Kind | Should -Be 'ValueDiffers'
            $difference.Backend | Should -Be $otherKind.ToLowerInvariant()
            $difference.Metric | Should -Be 'train/epoch_loss'
            $difference.Step | Should -Be 5
            $difference.ReferenceValue | Should -Be $reference.Results.losses[5]
            $difference.Value | Should -Be ($reference.Results.losses[5] + 0.5)
        }
    }

    Describe 'Performance' {
        It 'measures wall time, CPU time and peak memory of each run on each backend' {
            $results | Should -Not -BeNullOrEmpty
            foreach ($result in $results) {
                $result.WallTime.TotalSeconds | Should -BeGreaterThan 0
                $result.CpuTime.TotalSeconds | Should -BeGreaterThan 0 -Because "$($result.Workflow) on $($result.BackendName) computes"
                $result.CpuTime | Should -BeLessOrEqual ($result.WallTime + $result.WallTime) -Because 'one single-threaded process cannot use more than the time it ran on two cores'
                $result.PeakMemoryBytes | Should -BeGreaterThan 1MB
            }
            $perBackend = $results | Group-Object BackendName | ForEach-Object {
                [pscustomobject]@{ Backend = $_.Name; Runs = $_.Count; WallSec = [math]::Round(($_.Group.WallTime.TotalSeconds | Measure-Object -Sum).Sum, 2); PeakMB = ($_.Group.PeakMemoryMB | Measure-Object -Maximum).Maximum }
            }
            $perBackend | Should -HaveCount $Backends.Count
            Write-Information ($perBackend | Format-Table | Out-String)
        }
    }

    Describe 'Report' {
        It 'writes JSON and Markdown that count what the stores hold, with one plot per metric' {
            $files = $results | Export-TrackingReport -OutputDirectory $ReportPath
            $json = $files | Where-Object Extension -eq '.json'
            $markdown = $files | Where-Object Extension -eq '.md'
            $plots = @($files | Where-Object Extension -eq '.svg')
            $report = Get-Content $json.FullName -Raw | ConvertFrom-Json
            $report.results.summary.total_tests | Should -Be $results.Count
            $report.results.summary.passed | Should -Be @($results | Where-Object ExitCode -eq 0).Count
            @($report.test_info.backends_tested) | Should -Be @($results.BackendName | Select-Object -Unique)
            foreach ($detail in $report.results.detailed_results) {
                $run = Get-TrackedRun -Backend ($results | Where-Object RunId -eq $detail.run_id).Backend -RunId $detail.run_id
                $detail.metrics_logged | Should -Be $run.MetricPointCount
                $detail.metrics_logged | Should -BeGreaterThan 0
            }
            $metricNames = @($results | Get-TrackedRun | ForEach-Object { $_.Metrics.Keys } | Sort-Object -Unique)
            $plots | Should -HaveCount $metricNames.Count
            $text = Get-Content $markdown.FullName -Raw
            $text | Should -Match '# Tracelet E2E Test Report'
            $text | Should -Match '\| Pass Rate \| \d+\.\d%'
            foreach ($plot in $plots) { $text | Should -Match ([regex]::Escape($plot.Name)) }
            ([xml](Get-Content $plots[0].FullName -Raw)).svg.title | Should -Not -BeNullOrEmpty
        }
    }

    Describe 'Upstream workflows through tracelet' -Tag 'tracelet' {
        It 'runs tracelet itself when torch, lightning and a tracking library are installed' {
            $probe = & python3 -c 'import importlib.util as u; print(all(u.find_spec(m) for m in ("tracelet", "torch", "pytorch_lightning")))' 2>$null
            if ($probe -ne 'True') { Set-ItResult -Skipped -Because 'tracelet, torch or pytorch_lightning is not installed (python3 has only the standard library here)'; return }
            $backend = Start-SuiteBackend $Backends[0]
            $result = Invoke-TrainingWorkflow -Backend $backend -Workflow $upstreamScript -ArgumentList 'simple_pytorch' -TimeoutSec 1800
            $result.ExitCode | Should -Be 0 -Because $result.ErrorOutput
            ($result | Get-TrackedRun).Metrics.Keys | Should -Contain 'train/epoch_loss'
        }
    }
}
