#Requires -Version 7.4
# Oxford Pets (Geneva-style UDF backfills): a table of pet images, UDF packages packed into manifests and
# published to object storage, UDF columns, and batched, incremental and asynchronous backfills.
#
# Container data:
#   ModulePath   the built module (default: out/E2E/E2E.psd1)
#   NumImages    generated images (default 100)
#   BatchSize    rows per backfill batch (default 10)
#   Bucket       where manifests go: file://, s3:// or gs:// (default: a temporary file:// folder)
#   Engine       backfill engine (default Local)
#   SkipGpu      skip the embedding and caption scenarios (tag 'gpu') even when they could run
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '..' 'out' 'E2E' 'E2E.psd1'),
    [int] $NumImages = 100,
    [int] $BatchSize = 10,
    [string] $Bucket = '',
    [string] $Engine = 'Local',
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
    $db = Join-Path $work.FullName 'pets.db'
    $examples = Join-Path $PSScriptRoot '..' 'examples' 'udfs'
    $simple = New-UdfManifest -Path (Join-Path $examples 'simple') -SkipSitePackages -OutputPath (Join-Path $work.FullName 'dist-simple')
    $firstPublish = $simple | Publish-UdfManifest -Destination $store
    $table = New-E2ETable -Database $db -Name pets -ImageDirectory $images -FragmentSize 25
    $fragments = [Math]::Ceiling($NumImages / 25)
}

AfterAll {
    Remove-E2EScope -Scope $suiteScope
}

Describe 'Manifests and the table' -Tag 'local' {
    It 'publishes the simple UDF package once; publishing again uploads nothing' {
        $firstPublish.ZipsUploaded | Should -Be 1
        ($simple | Publish-UdfManifest -Destination $store).ZipsUploaded | Should -Be 0
        (Get-UdfManifest -Store $store -Name 'oxford-pets-simple').Checksum | Should -Be $simple.Checksum
    }

    It 'packs the same checksum in a second clean build' {
        $again = New-UdfManifest -Path (Join-Path $examples 'simple') -SkipSitePackages -OutputPath (Join-Path $work.FullName 'dist-again')
        $again.Checksum | Should -Be $simple.Checksum
    }

    It 'builds the image table in fragments of 25 rows' {
        $table.RowCount | Should -Be $NumImages
        $table.FragmentCount | Should -Be $fragments
        $row = Get-E2ETableRow -Database $db -Name pets -First 1
        $row.breed | Should -Be ($row.filename -replace '_[0-9]+\.png$', '')
        $row.label | Should -BeOfType [long]
    }

    It 'refuses an unknown UDF and leaves the table unchanged' {
        { Add-E2EColumn -Database $db -Table pets -Name nope -Udf no_such_udf -Manifest 'oxford-pets-simple' -Store $store -ErrorAction Stop } |
            Should -Throw -ErrorId 'UdfNotFound,*'
        (Get-E2ETable -Database $db -Name pets).Columns.Name | Should -Not -Contain 'nope'
    }

    It 'rejects a UDF package whose pyproject.toml is malformed' {
        $bad = New-E2ETempDirectory -Prefix 'bad-package'
        Set-Content -Path (Join-Path $bad.FullName 'pyproject.toml') -Value "[project`nname = 'x'"
        { New-UdfManifest -Path $bad.FullName -SkipSitePackages -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidToml,*'
    }
}

Describe 'CPU UDFs (cpu-simple)' -Tag 'local' {
    BeforeAll {
        $null = Add-E2EColumn -Database $db -Table pets -Name size -Udf file_size -Manifest 'oxford-pets-simple' -Store $store
        $null = Add-E2EColumn -Database $db -Table pets -Name dims -Udf dimensions -Manifest 'oxford-pets-simple' -Store $store
    }

    It 'fills file_size for every row' {
        $job = Invoke-Backfill -Database $db -Table pets -Column size -BatchSize $BatchSize -Concurrency 2 -Engine $Engine
        $job.Status | Should -Be 'Done'
        $job.RowsDone | Should -Be $NumImages
        @(Get-E2ETableRow -Database $db -Name pets | Where-Object { $_.size -ne $_.image.Length }).Count | Should -Be 0
    }

    It 'fills dimensions from the PNG headers' {
        (Invoke-Backfill -Database $db -Table pets -Column dims -BatchSize $BatchSize -Engine $Engine).Status | Should -Be 'Done'
        $row = Get-E2ETableRow -Database $db -Name pets -First 1
        $dims = $row.dims | ConvertFrom-Json
        $dims.width | Should -BeGreaterOrEqual 16
        $dims.height | Should -BeLessThan 64
    }
}

Describe 'Several columns in one pass' -Tag 'local' {
    BeforeAll {
        $null = Add-E2EColumn -Database $db -Table pets -Name pass_size -Udf file_size -Manifest 'oxford-pets-simple' -Store $store
        $null = Add-E2EColumn -Database $db -Table pets -Name pass_dims -Udf dimensions -Manifest 'oxford-pets-simple' -Store $store
    }

    It 'fills every column a wildcard names, a job record each, from one set of workers' {
        $jobs = @(Invoke-Backfill -Database $db -Table pets -Column 'pass_*' -BatchSize $BatchSize -Concurrency 2 -Engine $Engine)
        $jobs.Column | Should -Be @('pass_size', 'pass_dims')
        $jobs.Status | Should -Be @('Done', 'Done')
        $jobs.RowsDone | Should -Be @($NumImages, $NumImages)
        @(Get-E2ETableRow -Database $db -Name pets -Where 'pass_size IS NULL OR pass_dims IS NULL').Count | Should -Be 0
        @(Get-E2ETableRow -Database $db -Name pets | Where-Object { $_.pass_size -ne $_.image.Length }).Count | Should -Be 0
    }

    It 'refuses a pattern that matches no UDF column' {
        { Invoke-Backfill -Database $db -Table pets -Column 'nothing_*' -Engine $Engine -ErrorAction Stop } | Should -Throw -ErrorId 'ColumnNotFound,*'
    }
}

Describe 'Incremental backfills' -Tag 'local' {
    BeforeAll {
        $null = Add-E2EColumn -Database $db -Table pets -Name size_incremental -Udf file_size -Manifest 'oxford-pets-simple' -Store $store
        $versionBefore = (Get-E2ETable -Database $db -Name pets).Version
    }

    It 'fills 2 fragments, then 4 more, then the rest' {
        $first = Invoke-Backfill -Database $db -Table pets -Column size_incremental -NumFragments 2 -BatchSize $BatchSize -Engine $Engine
        $first.RowsDone | Should -Be ([Math]::Min($NumImages, 50))
        @(Get-E2ETableRow -Database $db -Name pets -Where 'size_incremental IS NOT NULL').Count | Should -Be ([Math]::Min($NumImages, 50))

        $second = Invoke-Backfill -Database $db -Table pets -Column size_incremental -NumFragments 4 -BatchSize $BatchSize -Engine $Engine
        $second.RowsDone | Should -Be ([Math]::Min($NumImages, 150) - [Math]::Min($NumImages, 50))

        $rest = Invoke-Backfill -Database $db -Table pets -Column size_incremental -BatchSize $BatchSize -Engine $Engine
        $first.RowsDone + $second.RowsDone + $rest.RowsDone | Should -Be $NumImages
        @(Get-E2ETableRow -Database $db -Name pets -Where 'size_incremental IS NULL').Count | Should -Be 0
    }

    It 'makes each commit visible as a new table version' {
        (Get-E2ETable -Database $db -Name pets).Version | Should -BeGreaterThan $versionBefore
    }
}

Describe 'Asynchronous backfills' -Tag 'local' {
    BeforeAll {
        $null = Add-E2EColumn -Database $db -Table pets -Name size_async -Udf file_size -Manifest 'oxford-pets-simple' -Store $store
    }

    It 'runs as a job and reports its status' {
        $job = Invoke-Backfill -Database $db -Table pets -Column size_async -BatchSize $BatchSize -Engine $Engine -AsJob
        (Get-Job -Id $job.Id).PSJobTypeName | Should -Be 'E2EBackfill'
        (Wait-BackfillJob -Database $db -Id $job.BackfillId -TimeoutSec 300).Status | Should -Be 'Done'
        $null = Wait-Job -Job $job -Timeout 60
        $job.State | Should -Be 'Completed'
        (Receive-Job -Job $job).RowsDone | Should -Be $NumImages
        (Get-BackfillJob -Database $db -Id $job.BackfillId).RowsDone | Should -Be $NumImages
        Remove-Job -Job $job
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
