#Requires -Version 7.4
# Oxford Pets (Geneva-style UDF backfills): a table of pet images, UDF packages packed into manifests and
# published to object storage, UDF columns, and batched, incremental and asynchronous backfills.
#
# Container data:
#   ModulePath   the built module (default: out/E2E/E2E.psd1)
#   NumImages    generated images (default 100)
#   BatchSize    rows per backfill batch (default 10)
#   Bucket       where manifests go: file://, s3:// or gs:// (default: a temporary file:// folder)
#   Engine       Local (default: the embedded SQLite table store and worker processes) or Geneva: the same
#                scenarios on a Geneva database through the Geneva library (tables, UDF columns, reads,
#                backfills, job records); where geneva is not importable, against the stand-in module in
#                TestData/geneva-standin, which proves E2E's calls, not Geneva
#   GenevaDatabase  with -Engine Geneva: the database URI (default: a temporary file:// folder)
#   SkipGpu      skip the OpenCLIP and BLIP scenarios (tag 'gpu') even when they could run
# Tag 'torch': the ResNet-18 embeddings (examples/udfs/torch-embedding), run where $env:E2E_TORCH_PYTHON names a
# Python with torch and torchvision, on the Local engine; skipped with the reason otherwise.
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '..' 'out' 'E2E' 'E2E.psd1'),
    [int] $NumImages = 100,
    [int] $BatchSize = 10,
    [string] $Bucket = '',
    [ValidateSet('Local', 'Geneva')]
    [string] $Engine = 'Local',
    [string] $GenevaDatabase = '',
    [bool] $SkipGpu = $false
)

BeforeAll {
    Import-Module $ModulePath -Force -ErrorAction Stop
    $suiteScope = New-E2EScope -Name 'oxford-pets' -Label @{ suite = 'oxford-pets' }
    $work = New-E2ETempDirectory -Prefix 'oxford-pets'
    $images = Join-Path $work.FullName 'images'
    New-E2EPetImage -Path $images -Count $NumImages
    # [System.Uri]::new, not a [System.Uri] cast: the cast makes '/tmp/x' a relative URI on Linux (no AbsoluteUri).
    $store = if ($Bucket) { $Bucket } else { [System.Uri]::new((Join-Path $work.FullName 'bucket')).AbsoluteUri }
    $examples = Join-Path $PSScriptRoot '..' 'examples' 'udfs'
    $standIn = Join-Path $PSScriptRoot 'TestData' 'geneva-standin'
    $savedPythonPath = $env:PYTHONPATH
    # Every table cmdlet takes the engine: one parameter moves the suite between the embedded store and Geneva.
    $onEngine = @{ Engine = $Engine }
    if ($Engine -eq 'Geneva') {
        & python3 -c 'import geneva' 2>$null
        if ($LASTEXITCODE -ne 0) {
            Write-Warning 'geneva is not importable: the Geneva scenarios run against the stand-in module (TestData/geneva-standin).'
            $env:PYTHONPATH = $standIn
        }
        $db = if ($GenevaDatabase) { $GenevaDatabase } else { [System.Uri]::new((Join-Path $work.FullName 'geneva-suite')).AbsoluteUri }
        # The UDFs as Geneva declares them (@geneva.udf), packed and published like the Local engine's.
        $udfPackage = Join-Path $examples 'geneva-simple'
        $manifestName = 'oxford-pets-geneva-simple'
    }
    else {
        $db = Join-Path $work.FullName 'pets.db'
        $udfPackage = Join-Path $examples 'simple'
        $manifestName = 'oxford-pets-simple'
    }
    $simple = New-UdfManifest -Path $udfPackage -SkipSitePackages -OutputPath (Join-Path $work.FullName 'dist-simple')
    $firstPublish = $simple | Publish-UdfManifest -Destination $store
    $table = New-E2ETable -Database $db -Name pets -ImageDirectory $images -FragmentSize 25 @onEngine
    $fragments = [Math]::Ceiling($NumImages / 25)
}

AfterAll {
    $env:PYTHONPATH = $savedPythonPath
    Remove-E2EScope -Scope $suiteScope
}

Describe 'Manifests and the table' -Tag 'local' {
    It 'publishes the simple UDF package once; publishing again uploads nothing' {
        $firstPublish.ZipsUploaded | Should -Be 1
        ($simple | Publish-UdfManifest -Destination $store).ZipsUploaded | Should -Be 0
        (Get-UdfManifest -Store $store -Name $manifestName).Checksum | Should -Be $simple.Checksum
    }

    It 'packs the same checksum in a second clean build' {
        $again = New-UdfManifest -Path $udfPackage -SkipSitePackages -OutputPath (Join-Path $work.FullName 'dist-again')
        $again.Checksum | Should -Be $simple.Checksum
    }

    It 'builds the image table in fragments of 25 rows' {
        $table.RowCount | Should -Be $NumImages
        $table.FragmentCount | Should -Be $fragments
        (Get-E2ETable -Database $db @onEngine).Name | Should -Contain 'pets'
        $row = Get-E2ETableRow -Database $db -Name pets -First 1 @onEngine
        $row.breed | Should -Be ($row.filename -replace '_[0-9]+\.png$', '')
        $row.label | Should -BeOfType [long]
    }

    It 'refuses an unknown UDF and leaves the table unchanged' {
        { Add-E2EColumn -Database $db -Table pets -Name nope -Udf no_such_udf -Manifest $manifestName -Store $store @onEngine -ErrorAction Stop } |
            Should -Throw -ErrorId 'UdfNotFound,*'
        (Get-E2ETable -Database $db -Name pets @onEngine).Columns.Name | Should -Not -Contain 'nope'
    }

    It 'rejects a UDF package whose pyproject.toml is malformed' {
        $bad = New-E2ETempDirectory -Prefix 'bad-package'
        Set-Content -Path (Join-Path $bad.FullName 'pyproject.toml') -Value "[project`nname = 'x'"
        { New-UdfManifest -Path $bad.FullName -SkipSitePackages -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidToml,*'
    }
}

Describe 'CPU UDFs (cpu-simple)' -Tag 'local' {
    BeforeAll {
        $null = Add-E2EColumn -Database $db -Table pets -Name size -Udf file_size -Manifest $manifestName -Store $store @onEngine
        $null = Add-E2EColumn -Database $db -Table pets -Name dims -Udf dimensions -Manifest $manifestName -Store $store @onEngine
    }

    It 'fills file_size for every row' {
        $job = Invoke-Backfill -Database $db -Table pets -Column size -BatchSize $BatchSize -Concurrency 2 -Engine $Engine
        $job.Status | Should -Be 'Done'
        $job.RowsDone | Should -Be $NumImages
        @(Get-E2ETableRow -Database $db -Name pets @onEngine | Where-Object { $_.size -ne $_.image.Length }).Count | Should -Be 0
    }

    It 'fills dimensions from the PNG headers' {
        (Invoke-Backfill -Database $db -Table pets -Column dims -BatchSize $BatchSize -Engine $Engine).Status | Should -Be 'Done'
        $row = Get-E2ETableRow -Database $db -Name pets -First 1 @onEngine
        $dims = $row.dims | ConvertFrom-Json
        $dims.width | Should -BeGreaterOrEqual 16
        $dims.height | Should -BeLessThan 64
    }
}

Describe 'Several columns in one pass' -Tag 'local' {
    BeforeAll {
        $null = Add-E2EColumn -Database $db -Table pets -Name pass_size -Udf file_size -Manifest $manifestName -Store $store @onEngine
        $null = Add-E2EColumn -Database $db -Table pets -Name pass_dims -Udf dimensions -Manifest $manifestName -Store $store @onEngine
    }

    It 'fills every column a wildcard names, a job record each, from one set of workers' {
        $jobs = @(Invoke-Backfill -Database $db -Table pets -Column 'pass_*' -BatchSize $BatchSize -Concurrency 2 -Engine $Engine)
        $jobs.Column | Should -Be @('pass_size', 'pass_dims')
        $jobs.Status | Should -Be @('Done', 'Done')
        $jobs.RowsDone | Should -Be @($NumImages, $NumImages)
        @(Get-E2ETableRow -Database $db -Name pets -Where 'pass_size IS NULL OR pass_dims IS NULL' @onEngine).Count | Should -Be 0
        @(Get-E2ETableRow -Database $db -Name pets @onEngine | Where-Object { $_.pass_size -ne $_.image.Length }).Count | Should -Be 0
    }

    It 'refuses a pattern that matches no UDF column' {
        { Invoke-Backfill -Database $db -Table pets -Column 'nothing_*' -Engine $Engine -ErrorAction Stop } | Should -Throw -ErrorId 'ColumnNotFound,*'
    }
}

Describe 'Incremental backfills' -Tag 'local' {
    BeforeAll {
        $null = Add-E2EColumn -Database $db -Table pets -Name size_incremental -Udf file_size -Manifest $manifestName -Store $store @onEngine
        $versionBefore = (Get-E2ETable -Database $db -Name pets @onEngine).Version
    }

    It 'fills 2 fragments, then 4 more, then the rest' {
        $first = Invoke-Backfill -Database $db -Table pets -Column size_incremental -NumFragments 2 -BatchSize $BatchSize -Engine $Engine
        $first.RowsDone | Should -Be ([Math]::Min($NumImages, 50))
        @(Get-E2ETableRow -Database $db -Name pets -Where 'size_incremental IS NOT NULL' @onEngine).Count | Should -Be ([Math]::Min($NumImages, 50))

        $second = Invoke-Backfill -Database $db -Table pets -Column size_incremental -NumFragments 4 -BatchSize $BatchSize -Engine $Engine
        $second.RowsDone | Should -Be ([Math]::Min($NumImages, 150) - [Math]::Min($NumImages, 50))

        $rest = Invoke-Backfill -Database $db -Table pets -Column size_incremental -BatchSize $BatchSize -Engine $Engine
        $first.RowsDone + $second.RowsDone + $rest.RowsDone | Should -Be $NumImages
        @(Get-E2ETableRow -Database $db -Name pets -Where 'size_incremental IS NULL' @onEngine).Count | Should -Be 0
    }

    It 'makes each commit visible as a new table version' {
        (Get-E2ETable -Database $db -Name pets @onEngine).Version | Should -BeGreaterThan $versionBefore
    }
}

Describe 'Asynchronous backfills' -Tag 'local' {
    BeforeAll {
        $null = Add-E2EColumn -Database $db -Table pets -Name size_async -Udf file_size -Manifest $manifestName -Store $store @onEngine
    }

    It 'runs as a job and reports its status' {
        $job = Invoke-Backfill -Database $db -Table pets -Column size_async -BatchSize $BatchSize -Engine $Engine -AsJob
        (Get-Job -Id $job.Id).PSJobTypeName | Should -Be 'E2EBackfill'
        if ($Engine -eq 'Local') {
            # The embedded engine records the job before it starts: Wait-BackfillJob waits on it while it runs.
            (Wait-BackfillJob -Database $db -Id $job.BackfillId -TimeoutSec 300).Status | Should -Be 'Done'
        }
        $null = Wait-Job -Job $job -Timeout 300
        $job.State | Should -Be 'Completed'
        (Receive-Job -Job $job).RowsDone | Should -Be $NumImages
        (Wait-BackfillJob -Database $db -Id $job.BackfillId -TimeoutSec 60 @onEngine).Status | Should -Be 'Done'
        (Get-BackfillJob -Database $db -Id $job.BackfillId @onEngine).Status | Should -Be 'Done'
        @(Get-E2ETableRow -Database $db -Name pets -Where 'size_async IS NULL' @onEngine).Count | Should -Be 0
        Remove-Job -Job $job
    }
}

Describe 'The Geneva engine (against the stand-in geneva module)' -Tag 'local' {
    # geneva is proprietary and not installable here: these run Invoke-Backfill -Engine Geneva against
    # TestData/geneva-standin, which records the library calls; they prove E2E's calls, not Geneva.
    BeforeAll {
        $blockPythonPath = $env:PYTHONPATH
        # The stand-in geneva, and the UDF module this block's own add_columns call imports.
        $standInPath = @($standIn, (Join-Path $examples 'geneva-simple')) -join [IO.Path]::PathSeparator
        $env:PYTHONPATH = $standInPath
        $env:GENEVA_STANDIN_LOG = Join-Path $work.FullName 'geneva-calls.jsonl'
        $genevaUri = [System.Uri]::new((Join-Path $work.FullName 'geneva')).AbsoluteUri
        # The table as the seed's conftest builds it (create_table, then Table.add per 25 rows); the column added by the
        # user's own add_columns call, as the seed's upload scripts do; a manifest defined in the connection.
        $null = New-E2ETable -Engine Geneva -Database $genevaUri -Name oxford_pets -ImageDirectory $images -FragmentSize 25
        & python3 -c @"
import geneva
from geneva_simple_udfs import file_size
conn = geneva.connect('$genevaUri')
conn.open_table('oxford_pets').add_columns({'file_size': file_size})
conn.define_manifest('simple-udfs-v1', None)
"@
        if ($LASTEXITCODE -ne 0) { throw 'could not add the Geneva column' }
        Remove-Item -LiteralPath $env:GENEVA_STANDIN_LOG -ErrorAction Ignore
        function Get-GenevaCall {
            @(Get-Content -LiteralPath $env:GENEVA_STANDIN_LOG | ForEach-Object { $_ | ConvertFrom-Json })
        }
    }

    AfterAll {
        $env:PYTHONPATH = $blockPythonPath
        Remove-Item Env:GENEVA_STANDIN_LOG -ErrorAction Ignore
    }

    It 'backfills 2 fragments with batch_size and num_frags, then the rest asynchronously, by -Engine Geneva alone' {
        $first = Invoke-Backfill -Engine Geneva -Database $genevaUri -Table oxford_pets -Column file_size -BatchSize $BatchSize -NumFragments 2 -CommitGranularity 2 -GenevaManifest 'simple-udfs-v1'
        $first.Status | Should -Be 'Done'
        $first.RowsDone | Should -Be ([Math]::Min($NumImages, 50))
        $backfill = Get-GenevaCall | Where-Object call -eq 'backfill' | Select-Object -First 1
        $backfill.args[0] | Should -Be 'file_size'
        $backfill.kwargs.batch_size | Should -Be $BatchSize
        $backfill.kwargs.num_frags | Should -Be 2
        $backfill.kwargs.commit_granularity | Should -Be 2
        (Get-GenevaCall | Where-Object call -eq 'context').kwargs.manifest | Should -Be 'simple-udfs-v1'

        $job = Invoke-Backfill -Engine Geneva -Database $genevaUri -Table oxford_pets -Column file_size -BatchSize $BatchSize -AsJob
        $null = Wait-Job -Job $job -Timeout 120
        $job.State | Should -Be 'Completed'
        $rest = Receive-Job -Job $job
        $rest.RowsDone | Should -Be ($NumImages - $first.RowsDone)
        $job.BackfillId | Should -Be $rest.Id
        @(Get-GenevaCall | Where-Object call -eq 'backfill_async').Count | Should -Be 1
        Remove-Job -Job $job

        # Geneva's own job records, read back by id and by table.
        (Get-BackfillJob -Engine Geneva -Database $genevaUri -Id $first.Id).Status | Should -Be 'Done'
        (Wait-BackfillJob -Engine Geneva -Database $genevaUri -Id $rest.Id -TimeoutSec 60).Status | Should -Be 'Done'
        { Wait-BackfillJob -Engine Geneva -Database $genevaUri -Id 'no-such-job' -TimeoutSec 60 -ErrorAction Stop } | Should -Throw -ErrorId 'JobNotFound,*'
        @(Get-BackfillJob -Engine Geneva -Database $genevaUri -Table oxford_pets).Id | Should -Be @($first.Id, $rest.Id)
    }

    It 'says GenevaNotInstalled, with the fix, where the library is missing' {
        # An empty folder (the suite's work folder holds the Geneva database, named geneva: a namespace package to import).
        $env:PYTHONPATH = (New-Item -ItemType Directory -Path (Join-Path $work.FullName 'no-geneva') -Force).FullName
        try {
            { Invoke-Backfill -Engine Geneva -Database $genevaUri -Table oxford_pets -Column file_size -ErrorAction Stop } | Should -Throw -ErrorId 'GenevaNotInstalled,*'
        }
        finally {
            $env:PYTHONPATH = $standInPath
        }
    }
}

Describe 'Image embeddings with torch (ResNet-18)' -Tag 'torch' {
    BeforeAll {
        # The interpreter with torch is named, never guessed: E2E_TORCH_PYTHON (Debian: /usr/bin/python3 after apt-get
        # install python3-torch python3-torchvision python3-pil).
        $torchPython = $env:E2E_TORCH_PYTHON
        $skipReason = if ($Engine -ne 'Local') { 'the torch embedding scenario runs on the Local engine' }
        elseif (-not $torchPython) { 'E2E_TORCH_PYTHON is not set (a Python with torch and torchvision)' }
        if (-not $skipReason) {
            Copy-Item -Path (Join-Path $examples 'torch-embedding') -Destination $work.FullName -Recurse -Force
            $embeddingManifest = New-UdfManifest -Path (Join-Path $work.FullName 'torch-embedding') -Python $torchPython -ErrorAction Stop
            $null = $embeddingManifest | Publish-UdfManifest -Destination $store -ErrorAction Stop
            $onTorch = @{ Database = $db; Table = 'pets'; Python = $torchPython }
        }
    }

    It 'packs the embedding package on the interpreter''s own torch, and names what it found' {
        if ($skipReason) { Set-ItResult -Skipped -Because $skipReason; return }
        $embeddingManifest.Environment | Should -Be 'interpreter'
        $embeddingManifest.InterpreterPackages.Keys | Should -Contain 'torch'
        $embeddingManifest.InterpreterPackages.Keys | Should -Contain 'torchvision'
        @($embeddingManifest.Zips.Kind) | Should -Be @('py_modules')
        (Get-UdfManifest -Store $store -Name 'oxford-pets-torch-embedding').Checksum | Should -Be $embeddingManifest.Checksum
    }

    It 'embeds every image in batches on two workers: 512 float32 features a row, the device in the job record' {
        if ($skipReason) { Set-ItResult -Skipped -Because $skipReason; return }
        $null = Add-E2EColumn @onTorch -Name embedding -Udf ResnetEmbedding -Manifest 'oxford-pets-torch-embedding' -Store $store
        $job = Invoke-Backfill @onTorch -Column embedding -BatchSize 16 -Concurrency 2
        $job.Status | Should -Be 'Done'
        $job.RowsDone | Should -Be $NumImages
        $job.Device | Should -Be 'cpu'
        $rows = @(Get-E2ETableRow -Database $db -Name pets)
        $rows | ForEach-Object { $_.embedding.Count | Should -Be 512 }
        foreach ($value in $rows[0].embedding) { [double]::IsFinite($value) | Should -BeTrue }
        # Different images give different vectors: the network computes, it does not return a constant.
        (Compare-Object $rows[0].embedding $rows[1].embedding -SyncWindow 0).Count | Should -BeGreaterThan 0
    }

    It 'is deterministic on CPU: a second backfill on one worker gives bit-identical vectors' {
        if ($skipReason) { Set-ItResult -Skipped -Because $skipReason; return }
        $null = Add-E2EColumn @onTorch -Name embedding_again -Udf ResnetEmbedding -Manifest 'oxford-pets-torch-embedding' -Store $store
        (Invoke-Backfill @onTorch -Column embedding_again -BatchSize 16 -Concurrency 1).Status | Should -Be 'Done'
        foreach ($row in Get-E2ETableRow -Database $db -Name pets) {
            @($row.embedding_again | ForEach-Object { [BitConverter]::SingleToInt32Bits([single]$_) }) | Should -Be @($row.embedding | ForEach-Object { [BitConverter]::SingleToInt32Bits([single]$_) })
        }
    }
}

Describe 'Embeddings and captions' -Tag 'gpu' {
    BeforeAll {
        # These packages need a package index and model weights; without them the scenarios are skipped, not failed.
        function Publish-Example {
            param(
                [Parameter(Mandatory)]
                [string] $Name
            )
            try {
                # Built from a copy, so the package's environment is not written into the repository.
                Copy-Item -Path (Join-Path $examples $Name) -Destination $work.FullName -Recurse -Force
                $null = New-UdfManifest -Path (Join-Path $work.FullName $Name) -ErrorAction Stop |
                    Publish-UdfManifest -Destination $store -ErrorAction Stop
                return $null
            }
            catch {
                return "the $Name environment could not be built here ($($_.FullyQualifiedErrorId))"
            }
        }
    }

    It 'embeds every image with OpenCLIP' {
        if ($SkipGpu) {
            Set-ItResult -Skipped -Because 'SkipGpu was set'
            return
        }
        $reason = Publish-Example -Name 'openclip'
        if ($reason) {
            Set-ItResult -Skipped -Because $reason
            return
        }
        $null = Add-E2EColumn -Database $db -Table pets -Name embedding -Udf ClipEmbedding -Manifest 'oxford-pets-openclip' -Store $store
        (Invoke-Backfill -Database $db -Table pets -Column embedding -BatchSize 32 -NumFragments 1 -Engine $Engine).Status | Should -Be 'Done'
        (Get-E2ETableRow -Database $db -Name pets -First 1).embedding.Count | Should -Be 512
    }

    It 'captions images with BLIP' {
        if ($SkipGpu) {
            Set-ItResult -Skipped -Because 'SkipGpu was set'
            return
        }
        $reason = Publish-Example -Name 'blip'
        if ($reason) {
            Set-ItResult -Skipped -Because $reason
            return
        }
        $null = Add-E2EColumn -Database $db -Table pets -Name caption -Udf BlipCaption -Manifest 'oxford-pets-blip' -Store $store
        (Invoke-Backfill -Database $db -Table pets -Column caption -BatchSize 16 -NumFragments 1 -Engine $Engine).Status | Should -Be 'Done'
        (Get-E2ETableRow -Database $db -Name pets -First 1).caption | Should -Not -BeNullOrEmpty
    }
}
