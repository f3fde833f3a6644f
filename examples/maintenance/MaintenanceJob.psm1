# The frame every scheduled maintenance script runs in: a lock so two runs never overlap, a time limit,
# a JSON-lines log, -WhatIf passed through, no prompts, and an exit code a scheduler can act on.
#
# Exit codes (the same for every script in this folder):
#   0  done: the work was done, or there was nothing to do
#   1  failed: nothing could be done (the log's 'error' events say why)
#   2  partial: some items were done and some failed
#   3  time limit: the run was stopped at -TimeLimitSec (what was done stays done; the next run goes on)
#   4  locked: another run holds the lock (after waiting -LockWaitSec)

Set-StrictMode -Version 3.0

$script:LogPath = $null
$script:JobName = $null
$script:RunId = $null

function Write-JobEvent {
    <#
    .SYNOPSIS
    Appends one event to the job's JSON-lines log: time, job, run, event, level, message and data.
    #>
    param(
        [Parameter(Mandatory)] [string] $Kind,
        [string] $Message = '',
        [ValidateSet('info', 'warning', 'error')] [string] $Level = 'info',
        [hashtable] $Data = @{}
    )
    $record = [ordered]@{
        time    = [DateTimeOffset]::UtcNow.ToString('o')
        job     = $script:JobName
        run     = $script:RunId
        event   = $Kind
        level   = $Level
        message = $Message
    }
    foreach ($key in $Data.Keys) { $record[$key] = $Data[$key] }
    $line = ($record | ConvertTo-Json -Compress -Depth 6) + "`n"
    if ($script:LogPath) {
        # One append per event, so an interrupted run leaves whole lines only.
        [System.IO.File]::AppendAllText($script:LogPath, $line)
    }
}

function Enter-JobLock([string] $Path, [double] $WaitSec) {
    $deadline = [DateTime]::UtcNow.AddSeconds($WaitSec)
    while ($true) {
        try {
            # FileShare.None is an exclusive flock on Unix: the kernel drops it when the process ends, even on kill -9.
            $stream = [System.IO.FileStream]::new($Path, 'OpenOrCreate', 'ReadWrite', 'None')
            $stream.SetLength(0)
            $bytes = [System.Text.Encoding]::UTF8.GetBytes("$PID`n")
            $stream.Write($bytes, 0, $bytes.Length)
            $stream.Flush()
            return $stream
        }
        catch [System.IO.DirectoryNotFoundException], [System.UnauthorizedAccessException] {
            throw
        }
        catch [System.IO.IOException] {
            # Another process holds the lock.
            if ([DateTime]::UtcNow -ge $deadline) { return $null }
            Start-Sleep -Milliseconds 200
        }
    }
}

function Invoke-MaintenanceJob {
    <#
    .SYNOPSIS
    Runs a maintenance body under a lock and a time limit, logs it, and returns the exit code.
    .DESCRIPTION
    The body runs in a fresh runspace with the E2E module imported and $Parameters bound; it writes events
    with Write-JobEvent and returns a hashtable of counts: Done (items done) and Failed (items that failed).
    Errors the body's commands write count as failed items. -WhatIf reaches every command in the body.
    #>
    param(
        [Parameter(Mandatory)] [string] $Name,
        [Parameter(Mandatory)] [scriptblock] $Body,
        [hashtable] $Parameters = @{},
        [Parameter(Mandatory)] [string] $LogPath,
        [Parameter(Mandatory)] [string] $LockPath,
        [double] $LockWaitSec = 0,
        [double] $TimeLimitSec = 3600,
        [string] $ModulePath = 'E2E',
        [switch] $WhatIf
    )
    foreach ($folder in @((Split-Path $LogPath -Parent), (Split-Path $LockPath -Parent))) {
        if ($folder -and -not (Test-Path -LiteralPath $folder)) { $null = New-Item -ItemType Directory -Path $folder -Force -WhatIf:$false -Confirm:$false }
    }
    $script:LogPath = $LogPath
    $script:JobName = $Name
    $script:RunId = [guid]::NewGuid().ToString('n').Substring(0, 12)
    $clock = [System.Diagnostics.Stopwatch]::StartNew()
    $shown = @{}
    foreach ($key in $Parameters.Keys) { $shown[$key] = if ($Parameters[$key] -is [securestring]) { '(secret)' } else { "$($Parameters[$key])" } }
    Write-JobEvent -Kind 'start' -Message "$Name started (pid $PID)" -Data @{ pid = $PID; whatIf = [bool]$WhatIf; timeLimitSec = $TimeLimitSec; parameters = $shown }

    $lock = Enter-JobLock $LockPath $LockWaitSec
    if (-not $lock) {
        $holder = try { (Get-Content -LiteralPath $LockPath -TotalCount 1 -ErrorAction Stop) } catch { 'unknown' }
        Write-JobEvent -Kind 'end' -Level 'warning' -Message "another run (pid $holder) holds $LockPath; nothing was done" -Data @{ status = 'locked'; exitCode = 4; durationSec = [math]::Round($clock.Elapsed.TotalSeconds, 3) }
        return 4
    }
    try {
        $runspace = [runspacefactory]::CreateRunspace()
        $runspace.Open()
        $ps = [powershell]::Create()
        $ps.Runspace = $runspace
        $helper = $MyInvocation.MyCommand.Module.Path
        $null = $ps.AddScript({
                param($ModulePath, $Helper, $LogPath, $JobName, $RunId, $WhatIf)
                $ErrorActionPreference = 'Continue'
                $ConfirmPreference = 'None'          # unattended: nothing may prompt
                Import-Module $ModulePath -ErrorAction Stop
                Import-Module $Helper -ErrorAction Stop
                & (Get-Module MaintenanceJob) { param($l, $j, $r) $script:LogPath = $l; $script:JobName = $j; $script:RunId = $r } $LogPath $JobName $RunId
                $global:WhatIfPreference = $WhatIf
            }).AddArgument($ModulePath).AddArgument($helper).AddArgument($LogPath).AddArgument($Name).AddArgument($script:RunId).AddArgument([bool]$WhatIf)
        $ps.Invoke()
        if ($ps.HadErrors) {
            $startError = $ps.Streams.Error | Select-Object -First 1
            Write-JobEvent -Kind 'end' -Level 'error' -Message "the job could not start: $startError" -Data @{ status = 'failed'; exitCode = 1; durationSec = [math]::Round($clock.Elapsed.TotalSeconds, 3) }
            return 1
        }
        $ps.Commands.Clear()
        $ps.Streams.ClearStreams()
        $null = $ps.AddScript($Body.ToString()).AddArgument($Parameters)
        $output = [System.Management.Automation.PSDataCollection[psobject]]::new()
        $handle = $ps.BeginInvoke([System.Management.Automation.PSDataCollection[psobject]]::new(), $output)
        $timedOut = -not $handle.AsyncWaitHandle.WaitOne([TimeSpan]::FromSeconds($TimeLimitSec))
        if ($timedOut) {
            # Stop is Ctrl-C for the body: E2E cmdlets end at their next checkpoint and keep what they finished.
            $ps.Stop()
        }
        $terminating = $null
        try { $null = $ps.EndInvoke($handle) } catch { $terminating = $_ }
        # EndInvoke wraps the body's own error in "Exception calling EndInvoke": report the body's words.
        $reason = if ($terminating) { $inner = $terminating.Exception; while ($inner -is [System.Management.Automation.MethodInvocationException] -and $inner.InnerException) { $inner = $inner.InnerException }; $inner.Message }
        if (-not $terminating -and $ps.InvocationStateInfo.State -eq 'Failed' -and $ps.InvocationStateInfo.Reason) {
            # A command with -ErrorAction Stop ended the body: EndInvoke does not always rethrow it.
            $terminating = [System.Management.Automation.ErrorRecord]::new($ps.InvocationStateInfo.Reason, 'MaintenanceBodyFailed', 'NotSpecified', $null)
            $reason = $ps.InvocationStateInfo.Reason.Message
        }
        foreach ($record in $ps.Streams.Error) {
            Write-JobEvent -Kind 'error' -Level 'error' -Message "$record" -Data @{ errorId = $record.FullyQualifiedErrorId; target = "$($record.TargetObject)" }
        }
        foreach ($record in $ps.Streams.Warning) { Write-JobEvent -Kind 'warning' -Level 'warning' -Message "$record" }
        $counts = $output | Where-Object { $_ -is [hashtable] -or $_.BaseObject -is [hashtable] } | Select-Object -Last 1
        $done = if ($counts -and $counts.ContainsKey('Done')) { [int]$counts.Done } else { 0 }
        $failed = [int]$ps.Streams.Error.Count + $(if ($counts -and $counts.ContainsKey('Failed')) { [int]$counts.Failed } else { 0 })
        $status, $exitCode = if ($timedOut) { 'time limit', 3 }
        elseif ($terminating -and -not ($terminating.Exception -is [System.Management.Automation.PipelineStoppedException])) { 'failed', 1 }
        elseif ($failed -gt 0 -and $done -gt 0) { 'partial', 2 }
        elseif ($failed -gt 0) { 'failed', 1 }
        else { 'done', 0 }
        $message = switch ($status) {
            'time limit' { "stopped at the time limit of $TimeLimitSec s after $done items; the next run continues" }
            'failed' { if ($terminating) { "failed: $reason" } else { "failed: $failed items could not be done" } }
            'partial' { "$done items done, $failed failed" }
            default { if ($done -eq 0) { 'nothing to do' } elseif ($WhatIf) { "$done items would be done (-WhatIf: nothing changed)" } else { "$done items done" } }
        }
        if ($terminating -and $status -eq 'failed') {
            Write-JobEvent -Kind 'error' -Level 'error' -Message $reason -Data @{ errorId = "$($terminating.FullyQualifiedErrorId)" }
        }
        Write-JobEvent -Kind 'end' -Level $(if ($exitCode -eq 0) { 'info' } else { 'error' }) -Message $message -Data @{ status = $status; exitCode = $exitCode; done = $done; failed = $failed; durationSec = [math]::Round($clock.Elapsed.TotalSeconds, 3) }
        return $exitCode
    }
    finally {
        if ($ps) { $ps.Dispose() }
        if ($runspace) { $runspace.Dispose() }
        $lock.Dispose()
    }
}

Export-ModuleMember -Function Invoke-MaintenanceJob, Write-JobEvent
