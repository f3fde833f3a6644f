#Requires -Version 7.4
# Scheduled maintenance scripts (examples/maintenance), run as a scheduler runs them: a fresh pwsh per run,
# nothing on stdin, judged by exit code and JSON-lines log only. Each script runs twice (the second run has
# nothing to do or meets the lock), once with -WhatIf (nothing changes) and once with a fault injected.
#
# Container data:
#   ModulePath   the built module (default: out/E2E/E2E.psd1)
param(
    [string] $ModulePath = (Join-Path $PSScriptRoot '..' 'out' 'E2E' 'E2E.psd1')
)

Describe 'Maintenance scripts' {
    BeforeAll {
        Import-Module $ModulePath -Force -ErrorAction Stop
        $suiteScope = New-E2EScope -Name 'maintenance' -Label @{ suite = 'maintenance' }
        $scripts = Join-Path $PSScriptRoot '..' 'examples' 'maintenance'
        $pwsh = (Resolve-Path (Join-Path $PSScriptRoot '..' 'tools' 'pwsh')).Path
        $work = (New-E2ETempDirectory -Prefix 'maintenance').FullName
        $logs = Join-Path $work 'logs'

        # A scheduled run: a fresh pwsh with its own temp and state folders (so the sweep sees only this
        # suite's leftovers), the module from -ModulePath, and an exit code.
        function Invoke-Scheduled([string] $Script, [string[]] $Arguments = @(), [hashtable] $Environment = @{}) {
            $saved = @{}
            $variables = @{ TMPDIR = (Join-Path $work 'tmp'); E2E_STATE_DIR = (Join-Path $work 'state'); E2E_MODULE_PATH = (Resolve-Path $ModulePath).Path } + $Environment
            foreach ($name in $variables.Keys) { $saved[$name] = [Environment]::GetEnvironmentVariable($name); [Environment]::SetEnvironmentVariable($name, $variables[$name]) }
            try {
                $null = New-Item -ItemType Directory -Force -Path $variables.TMPDIR
                $path = if ([IO.Path]::IsPathRooted($Script)) { $Script } else { Join-Path $scripts $Script }
                $output = & $pwsh -NoProfile -NonInteractive -File $path @Arguments 2>&1
                [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = ($output | Out-String) }
            }
            finally {
                foreach ($name in $saved.Keys) { [Environment]::SetEnvironmentVariable($name, $saved[$name]) }
            }
        }

        # The events of the last run in a log (every run starts with a 'start' event).
        function Get-LastRun([string] $Path) {
            $events = @(Get-Content -LiteralPath $Path | ForEach-Object { $_ | ConvertFrom-Json })
            $start = [array]::FindLastIndex([object[]]$events, [Predicate[object]] { param($e) $e.event -eq 'start' })
            $events[$start..($events.Count - 1)]
        }

        # A run that dies with kill -9 after making a temp folder: what the sweep is for.
        function New-DeadRunLeftover {
            $script = Join-Path $work "leak-$([guid]::NewGuid().ToString('n').Substring(0, 6)).ps1"
            Set-Content -LiteralPath $script -Value @"
Import-Module '$((Resolve-Path $ModulePath).Path)'
`$null = New-E2EScope -Name leaky
`$d = New-E2ETempDirectory -Prefix leak
Set-Content -LiteralPath (Join-Path `$d 'data.bin') -Value 'x'
Stop-Process -Id `$PID -Force
"@
            Invoke-Scheduled -Script $script | Out-Null
            Remove-Item -LiteralPath $script
        }
    }

    AfterAll {
        Remove-E2EScope -Scope $suiteScope
    }

    Describe 'Remove-LeakedTestResources.ps1 (nightly sweep)' {
        BeforeAll {
            $log = Join-Path $logs 'sweep.jsonl'
            $lock = Join-Path $work 'sweep.lock'
            $common = @('-LogPath', $log, '-LockPath', $lock)
        }

        It 'with -WhatIf lists the dead run''s leftovers and removes nothing' {
            New-DeadRunLeftover
            $leftovers = @(Get-ChildItem -Directory (Join-Path $work 'tmp' 'e2e'))
            $leftovers | Should -Not -BeNullOrEmpty
            (Invoke-Scheduled 'Remove-LeakedTestResources.ps1' ($common + '-WhatIf')).ExitCode | Should -Be 0
            $run = Get-LastRun $log
            @($run | Where-Object event -eq 'found') | Should -HaveCount $leftovers.Count
            @($run | Where-Object event -eq 'item') | Should -HaveCount 0
            ($run | Select-Object -Last 1).message | Should -Match 'would be done \(-WhatIf: nothing changed\)'
            @(Get-ChildItem -Directory (Join-Path $work 'tmp' 'e2e')) | Should -HaveCount $leftovers.Count
        }

        It 'removes them, and the second run finds nothing to do' {
            $first = Invoke-Scheduled 'Remove-LeakedTestResources.ps1' $common
            $first.ExitCode | Should -Be 0 -Because $first.Output
            $run = Get-LastRun $log
            @($run | Where-Object event -eq 'item').kind | Should -Contain 'TempDirectory'
            ($run | Select-Object -Last 1).status | Should -Be 'done'
            @(Get-ChildItem -Directory (Join-Path $work 'tmp' 'e2e') -ErrorAction SilentlyContinue | Where-Object { Test-Path (Join-Path $_ '.e2e-scope.json') }) | Should -HaveCount 0

            (Invoke-Scheduled 'Remove-LeakedTestResources.ps1' $common).ExitCode | Should -Be 0
            (Get-LastRun $log | Select-Object -Last 1).message | Should -Be 'nothing to do'
        }

        It 'exits 4 when another run holds the lock, and waits for it with -LockWaitSec' {
            $held = [System.IO.FileStream]::new($lock, 'OpenOrCreate', 'ReadWrite', 'None')
            try {
                (Invoke-Scheduled 'Remove-LeakedTestResources.ps1' $common).ExitCode | Should -Be 4
                $end = Get-LastRun $log | Select-Object -Last 1
                $end.status | Should -Be 'locked'
                $end.message | Should -Match 'holds'
            }
            finally {
                $held.Dispose()
            }
        }

        It 'exits 1 and says why when the cluster cannot be reached' {
            $kubeconfig = Join-Path $work 'unreachable.kubeconfig'
            $port = & { $l = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0); $l.Start(); $l.LocalEndpoint.Port; $l.Stop() }
            Set-Content -LiteralPath $kubeconfig -Value @"
apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: 'http://127.0.0.1:$port'}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: kind-gone, context: {cluster: gone, user: u}}]
current-context: kind-gone
"@
            $run = Invoke-Scheduled 'Remove-LeakedTestResources.ps1' ($common + @('-Context', 'kind-gone')) @{ KUBECONFIG = $kubeconfig }
            $run.ExitCode | Should -Be 1
            $events = Get-LastRun $log
            ($events | Select-Object -Last 1).status | Should -Be 'failed'
            ($events | Where-Object level -eq 'error' | Select-Object -First 1).message | Should -Match '127\.0\.0\.1'
        }
    }

    Describe 'Invoke-ScheduledBackfill.ps1 (nightly backfill)' {
        BeforeAll {
            $log = Join-Path $logs 'backfill.jsonl'
            $db = Join-Path $work 'pets.db'
            $images = Join-Path $work 'images'
            $store = [System.Uri]::new((Join-Path $work 'bucket')).AbsoluteUri
            New-E2EPetImage -Path $images -Count 30 | Out-Null
            New-UdfManifest -Path (Join-Path $PSScriptRoot 'TestData' 'maintenance' 'udf') -SkipSitePackages -OutputPath (Join-Path $work 'dist') | Publish-UdfManifest -Destination $store | Out-Null
            New-E2ETable -Database $db -Name pets -ImageDirectory $images -FragmentSize 10 | Out-Null
            Add-E2EColumn -Database $db -Table pets -Name size -Udf checked_size -Manifest 'maintenance-udfs' -Store $store | Out-Null
            Add-E2EColumn -Database $db -Table pets -Name slow -Udf slow_size -Manifest 'maintenance-udfs' -Store $store | Out-Null
            $common = @('-Database', $db, '-Table', 'pets', '-LogPath', $log)
            function Get-EmptyCount([string] $Column) { @(Get-E2ETableRow -Database $db -Name pets | Where-Object { $null -eq $_.$Column }).Count }
        }

        It 'exits 1 with the reason when the table store does not exist, and creates no file' {
            $missing = Join-Path $work 'no-such.db'
            (Invoke-Scheduled 'Invoke-ScheduledBackfill.ps1' @('-Database', $missing, '-Table', 'pets', '-Column', 'size', '-LogPath', $log)).ExitCode | Should -Be 1
            (Get-LastRun $log | Select-Object -Last 1).message | Should -Match 'no table store at'
            $missing | Should -Not -Exist
        }

        It 'with -WhatIf plans the empty rows and fills none' {
            (Invoke-Scheduled 'Invoke-ScheduledBackfill.ps1' ($common + @('-Column', 'size', '-WhatIf'))).ExitCode | Should -Be 0
            (Get-LastRun $log | Where-Object event -eq 'plan').emptyRows | Should -Be 30
            Get-EmptyCount size | Should -Be 30
        }

        It 'with a fault in some rows exits 2 (partial) and logs the failed rows' {
            $run = Invoke-Scheduled 'Invoke-ScheduledBackfill.ps1' ($common + @('-Column', 'size')) @{ E2E_MAINTENANCE_FAULT = '1' }
            $run.ExitCode | Should -Be 2 -Because $run.Output
            $backfill = Get-LastRun $log | Where-Object event -eq 'backfill'
            $backfill.rowsFailed | Should -BeGreaterThan 0
            $backfill.rowsDone | Should -BeGreaterThan 0
            (Get-LastRun $log | Select-Object -Last 1).status | Should -Be 'partial'
            Get-EmptyCount size | Should -Be $backfill.rowsFailed
        }

        It 'fills the rows left over, and the second run finds nothing to do' {
            $run = Invoke-Scheduled 'Invoke-ScheduledBackfill.ps1' ($common + @('-Column', 'size'))
            $run.ExitCode | Should -Be 0 -Because $run.Output
            Get-EmptyCount size | Should -Be 0
            (Invoke-Scheduled 'Invoke-ScheduledBackfill.ps1' ($common + @('-Column', 'size'))).ExitCode | Should -Be 0
            (Get-LastRun $log | Select-Object -Last 1).message | Should -Be 'nothing to do'
        }

        It 'stops at the time limit with exit 3, and the next run goes on from there' {
            $run = Invoke-Scheduled 'Invoke-ScheduledBackfill.ps1' ($common + @('-Column', 'slow', '-BatchSize', '2', '-TimeLimitSec', '3'))
            $run.ExitCode | Should -Be 3 -Because $run.Output
            $left = Get-EmptyCount slow
            $left | Should -BeGreaterThan 0
            $left | Should -BeLessThan 30
            (Invoke-Scheduled 'Invoke-ScheduledBackfill.ps1' ($common + @('-Column', 'slow', '-BatchSize', '5'))).ExitCode | Should -Be 0
            (Get-LastRun $log | Where-Object event -eq 'plan').emptyRows | Should -Be $left
            Get-EmptyCount slow | Should -Be 0
        }
    }

    Describe 'Update-ExpectedOutputAfterBump.ps1' {
        BeforeAll {
            $log = Join-Path $logs 'expected.jsonl'
            $actual = Join-Path $work 'actual'
            $expected = Join-Path $work 'expected'
            $null = New-Item -ItemType Directory -Force -Path $actual, $expected
            Set-Content -LiteralPath (Join-Path $expected 'requirements.txt') -Value 'numpy==2.3.0'
            Set-Content -LiteralPath (Join-Path $expected 'gone.txt') -Value 'old'
            Set-Content -LiteralPath (Join-Path $actual 'requirements.txt') -Value 'numpy==2.3.1'
            Set-Content -LiteralPath (Join-Path $actual 'new.txt') -Value 'new'
            $common = @('-ActualPath', $actual, '-ExpectedPath', $expected, '-Reason', 'numpy 2.3.1', '-LogPath', $log)
        }

        It 'with -WhatIf lists the differences and writes nothing' {
            (Invoke-Scheduled 'Update-ExpectedOutputAfterBump.ps1' ($common + '-WhatIf')).ExitCode | Should -Be 0
            @(Get-LastRun $log | Where-Object event -eq 'difference') | Should -HaveCount 3
            Get-Content (Join-Path $expected 'requirements.txt') | Should -Be 'numpy==2.3.0'
        }

        It 'with a build that fails exits 1 and writes nothing' {
            $build = Join-Path $work 'failing-build.ps1'
            Set-Content -LiteralPath $build -Value "param(`$OutputPath) throw 'the build failed: no network'"
            (Invoke-Scheduled 'Update-ExpectedOutputAfterBump.ps1' ($common + @('-BuildScript', $build))).ExitCode | Should -Be 1
            (Get-LastRun $log | Where-Object level -eq 'error' | Select-Object -First 1).message | Should -Match 'the build failed'
            Get-Content (Join-Path $expected 'requirements.txt') | Should -Be 'numpy==2.3.0'
        }

        It 'updates the expected files with the reason, and the second run has nothing to update' {
            (Invoke-Scheduled 'Update-ExpectedOutputAfterBump.ps1' $common).ExitCode | Should -Be 0
            Get-Content (Join-Path $expected 'requirements.txt') | Should -Be 'numpy==2.3.1'
            Join-Path $expected 'gone.txt' | Should -Not -Exist
            Join-Path $expected 'new.txt' | Should -Exist
            @(Get-LastRun $log | Where-Object event -eq 'item') | Should -HaveCount 3
            Get-ChildItem -LiteralPath $work -Filter 'expected-output-config.toml' -Recurse | Get-Content -Raw | Should -Match 'numpy 2\.3\.1'
            (Invoke-Scheduled 'Update-ExpectedOutputAfterBump.ps1' $common).ExitCode | Should -Be 0
            (Get-LastRun $log | Select-Object -Last 1).message | Should -Be 'nothing to do'
        }
    }

    Describe 'Test-DeployedService.ps1 (health probe)' {
        BeforeAll {
            $log = Join-Path $logs 'health.jsonl'
            $oracle = Start-MockOracle
            $common = @('-OracleUrl', $oracle.Url, '-LogPath', $log)
        }

        It 'exits 0 for a healthy Oracle, run after run, and with -WhatIf' {
            (Invoke-Scheduled 'Test-DeployedService.ps1' $common).ExitCode | Should -Be 0
            (Invoke-Scheduled 'Test-DeployedService.ps1' ($common + '-WhatIf')).ExitCode | Should -Be 0
            $probe = Get-LastRun $log | Where-Object event -eq 'probe'
            $probe.status | Should -Be 200
            $probe.target | Should -Be "$($oracle.Url.TrimEnd('/'))/health"
        }

        It 'exits 1 and logs the answer when the Oracle fails' {
            Set-MockOracleFault -Oracle $oracle -FailNext 1 -StatusCode 503
            (Invoke-Scheduled 'Test-DeployedService.ps1' $common).ExitCode | Should -Be 1
            (Get-LastRun $log | Where-Object event -eq 'probe').status | Should -Be 503
            (Get-LastRun $log | Where-Object level -eq 'error' | Select-Object -First 1).message | Should -Match 'unhealthy: HTTP 503'
        }
    }
    Describe 'Schedules' {
        BeforeAll {
            # Every '-Name' an invocation passes must be a parameter of the script it runs.
            function Assert-Invocation([string] $Script, [string[]] $Arguments, [string] $Where) {
                $parameters = (Get-Command (Join-Path $scripts $Script)).Parameters.Keys
                foreach ($name in $Arguments | Where-Object { $_ -match '^-[A-Za-z]' }) {
                    $parameters | Should -Contain $name.Substring(1) -Because "$Where passes $name to $Script"
                }
            }
        }

        It 'the CronJobs run scripts of this folder with parameters those scripts have' {
            $manifests = Get-ChildItem (Join-Path $scripts 'kubernetes') -Filter '*.yaml'
            $manifests | Should -HaveCount 2
            foreach ($manifest in $manifests) {
                $text = Get-Content -LiteralPath $manifest.FullName -Raw
                $text | Should -Match 'kind: CronJob'
                $text | Should -Match 'concurrencyPolicy: Forbid'
                $cronArgs = [regex]::Match($text, '(?s)args: (\[.*?\])').Groups[1].Value -replace '\s+', ' ' | ConvertFrom-Json
                $cronArgs[0] | Should -Match '^/opt/e2e/maintenance/'
                Assert-Invocation (Split-Path $cronArgs[0] -Leaf) @($cronArgs | Select-Object -Skip 1) $manifest.Name
            }
        }

        It 'the systemd units verify and pass parameters their scripts have' {
            if (-not (Get-Command systemd-analyze -ErrorAction SilentlyContinue)) { Set-ItResult -Skipped -Because 'systemd-analyze is not installed'; return }
            $units = Join-Path $work 'units'
            $null = New-Item -ItemType Directory -Force -Path $units
            $repo = (Resolve-Path (Join-Path $PSScriptRoot '..')).Path
            foreach ($unit in Get-ChildItem (Join-Path $scripts 'systemd')) {
                # As if the repository were cloned to ~/e2e (what the units assume).
                (Get-Content -LiteralPath $unit.FullName -Raw).Replace('%h/e2e', $repo) | Set-Content -LiteralPath (Join-Path $units $unit.Name)
                if ($unit.Extension -eq '.service') {
                    $exec = (Get-Content -LiteralPath $unit.FullName | Where-Object { $_ -like 'ExecStart=*' }) -replace "'[^']*'", 'x'
                    $words = -split $exec
                    $script = Split-Path ($words | Where-Object { $_ -like '*.ps1' }) -Leaf
                    Assert-Invocation $script @($words | Select-Object -Skip ([array]::IndexOf($words, ($words | Where-Object { $_ -like '*.ps1' }))+1)) $unit.Name
                }
            }
            $verify = & systemd-analyze verify (Get-ChildItem $units).FullName 2>&1
            $LASTEXITCODE | Should -Be 0 -Because ($verify | Out-String)
        }
    }
}
