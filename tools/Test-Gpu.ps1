#Requires -Version 7.4
<#
.SYNOPSIS
    The torch paths on a GPU: the ResNet-18 embedding backfill and one training workflow on CUDA, with the CPU
    figures beside them. One command, a few minutes.
.DESCRIPTION
    Needs a Python with torch that sees a CUDA device, named in E2E_TORCH_PYTHON (or -Python), and the built module
    (./tools/pwsh ./build.ps1). Without a CUDA device it says so and exits 2, unless -AllowCpu (which runs the same
    steps on CPU only, to check the script itself on a machine without a GPU).
      1. torch's version and device, as the interpreter reports them;
      2. -Images generated PNGs, examples/udfs/torch-embedding packed on the interpreter's own packages and
         published to a temporary file:// store;
      3. the embedding backfill on CUDA (one worker, E2E_TORCH_DEVICE=cuda), then on CPU with one and two workers,
         each into its own column: rows/s and the device the job record names; the CUDA vectors are compared with
         the CPU ones (the largest difference is printed; they are not bit-identical across devices);
      4. -Workflow (default computer_vision, -Epochs 2) on CUDA and on CPU against an MLflow store: wall time, CPU
         time, peak memory, the device the workflow reports, and the last train/epoch_loss of each.
    Everything it creates is in one E2E scope, removed at the end.
.EXAMPLE
    E2E_TORCH_PYTHON=/usr/bin/python3 ./tools/pwsh ./tools/Test-Gpu.ps1
.EXAMPLE
    ./tools/pwsh ./tools/Test-Gpu.ps1 -Python ~/venvs/torch/bin/python -Images 2000 -Workflow time_series -Epochs 10
#>
[CmdletBinding()]
param(
    [string] $Python = $env:E2E_TORCH_PYTHON,
    [string] $ModulePath = (Join-Path $PSScriptRoot '..' 'out' 'E2E' 'E2E.psd1'),
    [ValidateRange(16, 100000)]
    [int] $Images = 800,
    [ValidateSet('simple_pytorch', 'lightning', 'computer_vision', 'time_series')]
    [string] $Workflow = 'computer_vision',
    [ValidateRange(1, 100)]
    [int] $Epochs = 2,
    [switch] $AllowCpu
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
if (-not $Python) { throw 'Name the Python with torch: -Python or E2E_TORCH_PYTHON.' }
$probe = & $Python -c 'import json, torch; c = torch.cuda.is_available(); print(json.dumps({"torch": torch.__version__, "cuda": c, "device": torch.cuda.get_device_name(0) if c else None, "cuda_version": torch.version.cuda}))'
if ($LASTEXITCODE -ne 0) { throw "'$Python' cannot import torch." }
$torch = $probe | ConvertFrom-Json
Write-Host "torch $($torch.torch) in $Python; CUDA: $(if ($torch.cuda) { "$($torch.device) (CUDA $($torch.cuda_version))" } else { 'none' })"
if (-not $torch.cuda -and -not $AllowCpu) {
    Write-Host 'No CUDA device is visible to torch here: nothing to check on a GPU (-AllowCpu runs the same steps on CPU).'
    exit 2
}
$devices = @(if ($torch.cuda) { 'cuda' }) + 'cpu'

Import-Module $ModulePath -Force
$scope = New-E2EScope -Name 'gpu-check'
$savedDevice = $env:E2E_TORCH_DEVICE
try {
    $work = New-E2ETempDirectory -Prefix 'gpu-check'
    $imageFolder = Join-Path $work.FullName 'images'
    New-E2EPetImage -Path $imageFolder -Count $Images
    $store = [System.Uri]::new((Join-Path $work.FullName 'bucket')).AbsoluteUri
    Copy-Item -Path (Join-Path $PSScriptRoot '..' 'examples' 'udfs' 'torch-embedding') -Destination $work.FullName -Recurse
    $manifest = New-UdfManifest -Path (Join-Path $work.FullName 'torch-embedding') -Python $Python
    $null = $manifest | Publish-UdfManifest -Destination $store
    $db = Join-Path $work.FullName 'pets.db'
    $null = New-E2ETable -Database $db -Name pets -ImageDirectory $imageFolder -FragmentSize 100

    $figures = foreach ($run in @($devices | ForEach-Object { if ($_ -eq 'cuda') { @{ Device = 'cuda'; Workers = 1 } } else { @{ Device = 'cpu'; Workers = 1 }; @{ Device = 'cpu'; Workers = 2 } } })) {
        $column = "embedding_$($run.Device)_$($run.Workers)"
        $env:E2E_TORCH_DEVICE = $run.Device
        $null = Add-E2EColumn -Database $db -Table pets -Name $column -Udf ResnetEmbedding -Manifest $manifest.Name -Store $store -Python $Python
        $clock = [System.Diagnostics.Stopwatch]::StartNew()
        $job = Invoke-Backfill -Database $db -Table pets -Column $column -BatchSize 64 -Concurrency $run.Workers -Python $Python
        [pscustomobject]@{ Step = "embedding backfill, $($run.Workers) worker(s)"; Device = $job.Device; RowsPerSec = [math]::Round($Images / $clock.Elapsed.TotalSeconds, 1); Status = $job.Status; Column = $column }
    }
    $figures | Format-Table Step, Device, RowsPerSec, Status | Out-Host
    if ($torch.cuda) {
        $rows = @(Get-E2ETableRow -Database $db -Name pets)
        $largest = ($rows | ForEach-Object { $row = $_; 0..511 | ForEach-Object { [math]::Abs($row.embedding_cuda_1[$_] - $row.embedding_cpu_1[$_]) } } | Measure-Object -Maximum).Maximum
        Write-Host "CUDA against CPU vectors: largest absolute difference $largest over $($rows.Count) rows x 512"
    }

    $backend = Start-TrackingBackend -Kind MLflow
    $trained = foreach ($device in $devices) {
        $result = Invoke-TrainingWorkflow -Backend $backend -Workflow $Workflow -WorkflowSource Torch -Python $Python -ArgumentList '--epochs', $Epochs -Environment @{ E2E_TORCH_DEVICE = $device } -TimeoutSec 3600
        $loss = @($result | Get-TrackedRun | Get-TrackedMetric -Metric 'train/epoch_loss')[-1].Value
        [pscustomobject]@{ Step = "$Workflow, $Epochs epoch(s)"; Device = $result.Results.device; WallSec = [math]::Round($result.WallTime.TotalSeconds, 1); CpuSec = [math]::Round($result.CpuTime.TotalSeconds, 1); PeakMB = $result.PeakMemoryMB; LastEpochLoss = $loss }
    }
    $trained | Format-Table | Out-Host
    $failed = @($figures | Where-Object Status -ne 'Done').Count + @($trained | Where-Object { -not $_.Device }).Count
    if ($failed) { Write-Host "gpu check: $failed step(s) failed"; exit 1 }
    Write-Host "gpu check: done on $($devices -join ' and ')"
}
finally {
    $env:E2E_TORCH_DEVICE = $savedDevice
    Remove-E2EScope -Scope $scope
}
