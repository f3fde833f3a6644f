using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Backfill;
using E2E.Core.Errors;
using E2E.Core.Tables;

namespace E2E.Cmdlets.Tables;

/// <summary>Fills a UDF column: batched, incremental, checkpointed, resumable.</summary>
/// <remarks>
/// <para>Computes each column's UDF for every row whose value is still empty (incremental by default), in batches of -BatchSize rows (across fragment boundaries) on -Concurrency Python worker processes, in fragment order (-NumFragments limits how many). Several columns (-Column a,b or a wildcard) are computed in one pass per manifest: the workers start once, from the resolved interpreter (isolated from its site-packages when the manifest packed its environment), and read each row once for all the columns; a column that fails stops alone, and each column has its own job record and output. Each batch is checkpointed in one transaction before anything else happens, and checkpointed values become visible every -CommitGranularity fragments. A backfill stopped by Ctrl-C, Stop-BackfillJob or a killed process resumes by running it again: checkpointed batches are committed, never recomputed, and every row ends with exactly one value.</para>
/// <para>-ErrorPolicy decides what a row whose UDF raised (or returned a value that does not fit the column type) does: Fail stops the job (status Failed), Skip leaves the row empty and records the error, Retry tries it again -Retries times and then fails. -Where takes one SQL expression over the columns. -AsJob returns a job (Get-Job, Receive-Job) whose output is the backfill's record. -Engine Local is the embedded engine; distributed engines come later behind the same parameter.</para>
/// </remarks>
/// <example>
/// <code>Invoke-Backfill -Database ./pets.db -Table pets -Column size -BatchSize 10 -Concurrency 2</code>
/// <para>Fills the size column with two workers and shows progress.</para>
/// </example>
/// <example>
/// <code>$job = Invoke-Backfill -Database ./pets.db -Table pets -Column caption -NumFragments 2 -AsJob
/// $job | Wait-Job | Receive-Job</code>
/// <para>An asynchronous backfill of the first two fragments.</para>
/// </example>
/// <example>
/// <code>Invoke-Backfill -Database ./pets.db -Table pets -Column * -BatchSize 100 | Format-Table Column, Status, RowsDone</code>
/// <para>Fills every UDF column of pets, a job record each. The columns of one manifest share one pass: its workers start once and read each row once for all of them.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Invoke, "Backfill", SupportsShouldProcess = true)]
[OutputType(typeof(BackfillJob), typeof(Job))]
public sealed class InvokeBackfillCommand : AsyncE2ECmdlet
{
    /// <summary>The SQLite file of the table store.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Database { get; set; }

    /// <summary>The table.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TableNameCompleter))]
    public string? Table { get; set; }

    /// <summary>The UDF columns to fill (wildcards allowed: * is every UDF column); columns of one manifest are computed in one pass.</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(ColumnNameCompleter))]
    public string[]? Column { get; set; }

    /// <summary>Rows per batch sent to a worker; 10 by default.</summary>
    [Parameter]
    [ValidateRange(1, 100_000)]
    public int BatchSize { get; set; } = 10;

    /// <summary>Only the first N fragments that still have empty rows.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? NumFragments { get; set; }

    /// <summary>Make partial results visible after this many fragments; 1 by default.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int CommitGranularity { get; set; } = 1;

    /// <summary>A SQL expression that selects the rows to fill.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Where { get; set; }

    /// <summary>Worker processes; 1 by default.</summary>
    [Parameter]
    [ValidateRange(1, 256)]
    public int Concurrency { get; set; } = 1;

    /// <summary>Fail, Skip or Retry for rows whose UDF fails.</summary>
    [Parameter]
    public RowErrorPolicy ErrorPolicy { get; set; } = RowErrorPolicy.Fail;

    /// <summary>Attempts after the first, with -ErrorPolicy Retry; 2 by default.</summary>
    [Parameter]
    [ValidateRange(0, 100)]
    public int Retries { get; set; } = 2;

    /// <summary>The engine; Local (worker processes on this machine) is the embedded default.</summary>
    [Parameter]
    [ValidateSet("Local")]
    public string Engine { get; set; } = "Local";

    /// <summary>The Python the workers run; python3 by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Python { get; set; } = "python3";

    /// <summary>Runs in the background and returns a job.</summary>
    [Parameter]
    public SwitchParameter AsJob { get; set; }

    private string? _database;
    private bool _startedAsJob;
    private string[] _columns = Array.Empty<string>();

    private BackfillOptions Options() => new()
    {
        BatchSize = BatchSize, NumFragments = NumFragments, CommitGranularity = CommitGranularity, Where = Where, Concurrency = Concurrency,
        ErrorPolicy = ErrorPolicy, Retries = Retries, Python = Python, WorkerScript = ModuleFiles.WorkerScript, JobId = BackfillEngine.NewJobId(),
    };

    /// <summary>A backfill's progress as a record (a new one each time: hosts and jobs keep the records they get).</summary>
    internal static ProgressRecord ProgressOf(string activity, BackfillProgress p) =>
        new(Activities.Backfill, activity, $"{p.RowsDone} of {p.RowsPlanned} rows, {p.FragmentsDone} of {p.FragmentsPlanned} fragments ({p.JobId})")
        {
            PercentComplete = p.RowsPlanned == 0 ? 100 : (int)(100 * (p.RowsDone + p.RowsFailed) / p.RowsPlanned),
        };

    protected override void PrepareRecord()
    {
        _database = GetUnresolvedProviderPathFromPSPath(Database!);
        _startedAsJob = false;
        _columns = ResolveColumns(TableStore.OpenExisting(_database));
        // A job must join the session's job repository on the pipeline thread.
        if (AsJob && ShouldProcess($"{_database} {Table}.{string.Join(",", _columns)}", "Backfill UDF columns in the background"))
        {
            var job = BackfillPSJob.Start($"backfill {Table}.{string.Join(",", _columns)}", TableStore.OpenExisting(_database), Table!, _columns, Options(), MyInvocation.Line);
            JobRepository.Add(job);
            WriteObject(job);
            _startedAsJob = true;
        }
    }

    /// <summary>The named columns, wildcards expanded to the table's UDF columns in table order; a pattern that matches none is ColumnNotFound.</summary>
    private string[] ResolveColumns(TableStore store)
    {
        if (!Column!.Any(WildcardPattern.ContainsWildcardCharacters))
        {
            return Column!;
        }
        var udfColumns = store.Describe(Table!).Columns.Where(c => c.Udf is not null).Select(c => c.Name).ToArray();
        var resolved = new List<string>();
        foreach (var name in Column!)
        {
            var pattern = new WildcardPattern(name, WildcardOptions.IgnoreCase);
            var matched = WildcardPattern.ContainsWildcardCharacters(name) ? udfColumns.Where(pattern.IsMatch).ToArray() : new[] { name };
            if (matched.Length == 0)
            {
                throw new E2EException(ErrorCatalog.ColumnNotFound, $"No UDF column of '{Table}' matches '{name}' (UDF columns: {string.Join(", ", udfColumns)}).", name);
            }
            resolved.AddRange(matched.Where(m => !resolved.Contains(m, StringComparer.OrdinalIgnoreCase)));
        }
        return resolved.ToArray();
    }

    /// <summary>A pass's progress as one record over all its columns (a new one each time: hosts and jobs keep the records they get).</summary>
    internal sealed class PassProgress(string activity)
    {
        private readonly Dictionary<string, BackfillProgress> _columns = new(StringComparer.Ordinal);

        public ProgressRecord Record(BackfillProgress p)
        {
            lock (_columns)
            {
                _columns[p.Column ?? p.JobId] = p;
                if (_columns.Count == 1)
                {
                    return ProgressOf(activity, p);
                }
                var planned = _columns.Values.Sum(c => c.RowsPlanned);
                var finished = _columns.Values.Sum(c => c.RowsDone + c.RowsFailed);
                return new ProgressRecord(Activities.Backfill, activity, string.Join(", ", _columns.Select(c => $"{c.Key} {c.Value.RowsDone} of {c.Value.RowsPlanned}")))
                {
                    PercentComplete = planned == 0 ? 100 : (int)(100 * finished / planned),
                };
            }
        }
    }

    protected override async Task ProcessAsync()
    {
        if (AsJob || _startedAsJob || !await ShouldProcessAsync($"{_database} {Table}.{string.Join(",", _columns)}", "Backfill UDF columns").ConfigureAwait(false))
        {
            return;
        }
        var store = TableStore.OpenExisting(_database!);
        var activity = $"Backfill {Table}.{string.Join(",", _columns)}";
        var progress = new PassProgress(activity);
        var results = await BackfillEngine.RunAsync(store, Table!, _columns, Options() with
        {
            Progress = p => Progress(progress.Record(p)),
        }, CancelToken).ConfigureAwait(false);
        Progress(Activities.Completed(Activities.Backfill, activity));
        foreach (var result in results)
        {
            if (result.Status == BackfillStatus.Failed)
            {
                // The failure of one column is its error record; the columns that succeeded are still output.
                var error = new E2EException(result.Error?.Contains("does not fit", StringComparison.Ordinal) == true ? ErrorCatalog.UdfTypeMismatch : ErrorCatalog.UdfFailed,
                    $"Backfill {result.Id} of {result.Column} failed: {result.Error}", result);
                if (results.Count == 1)
                {
                    throw error;
                }
                Error(error);
                continue;
            }
            Output(result);
        }
    }
}

/// <summary>A backfill running in the background, visible to Get-Job, Wait-Job, Receive-Job and Stop-Job.</summary>
public sealed class BackfillPSJob : Job
{
    // How long Stop-Job waits for the backfill to reach its next checkpoint and end.
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);
    private readonly CancellationTokenSource _stop = new();
    private readonly TableStore _store;
    private Task _run = Task.CompletedTask;

    private BackfillPSJob(string command, string name, TableStore store)
        : base(command, name)
    {
        _store = store;
        PSJobTypeName = "E2EBackfill";
    }

    /// <summary>The backfill job id (of the first column, when the job fills several).</summary>
    public string? BackfillId { get; private set; }

    /// <summary>The backfill job ids, one per column.</summary>
    public IReadOnlyList<string> BackfillIds { get; private set; } = Array.Empty<string>();

    public static BackfillPSJob Start(string name, TableStore store, string table, IReadOnlyList<string> columns, BackfillOptions options, string command)
    {
        var ids = columns.Count == 1 ? new[] { options.JobId! } : columns.Select(c => $"{options.JobId}.{c}").ToArray();
        var job = new BackfillPSJob(command, name, store) { BackfillId = ids[0], BackfillIds = ids };
        job.SetJobState(JobState.Running);
        job._run = Task.Run(async () =>
        {
            try
            {
                // The job's progress stream, so Receive-Job and $job.Progress show what an attached Invoke-Backfill shows.
                var activity = $"Backfill {table}.{string.Join(",", columns)}";
                var progress = new InvokeBackfillCommand.PassProgress(activity);
                var results = await BackfillEngine.RunAsync(store, table, columns, options with
                {
                    Progress = p => job.Progress.Add(progress.Record(p)),
                }, job._stop.Token).ConfigureAwait(false);
                job.Progress.Add(Activities.Completed(Activities.Backfill, activity));
                foreach (var result in results)
                {
                    job.Output.Add(PSObject.AsPSObject(result));
                }
                job.SetJobState(results.Any(r => r.Status is BackfillStatus.Failed or BackfillStatus.Interrupted) ? JobState.Failed
                    : results.Any(r => r.Status == BackfillStatus.Cancelled) ? JobState.Stopped
                    : JobState.Completed);
            }
            catch (OperationCanceledException) when (job._stop.IsCancellationRequested)
            {
                job.SetJobState(JobState.Stopped);
            }
            catch (Exception ex)
            {
                job.Error.Add(new ErrorRecord(ex, ex is E2E.Core.Errors.E2EException e ? e.Error.Id : "BackfillFailed", ErrorCategory.InvalidOperation, table));
                job.SetJobState(JobState.Failed);
            }
        });
        return job;
    }

    public override bool HasMoreData => Output.Count > 0 || Error.Count > 0;

    public override string Location => _store.Database;

    /// <summary>The job record's status; "Starting" until the driver has written the record (shown by Get-Job and the job's formatting, which must not fail).</summary>
    public override string StatusMessage
    {
        get
        {
            if (BackfillId is null)
            {
                return string.Empty;
            }
            try
            {
                return BackfillEngine.GetJob(_store, BackfillId).Status.ToString();
            }
            catch (E2E.Core.Errors.E2EException ex) when (ex.Error == ErrorCatalog.JobNotFound)
            {
                return "Starting";
            }
        }
    }

    /// <summary>
    /// Asks the backfill to stop at its next checkpoint and returns once it has ended, so that
    /// 'Stop-Job $j; Remove-Job $j' works (Remove-Job refuses a job that is still running).
    /// </summary>
    public override void StopJob()
    {
        if (IsFinished(JobStateInfo.State))
        {
            return;
        }
        SetJobState(JobState.Stopping);
        _stop.Cancel();
        if (!_run.Wait(StopTimeout))
        {
            // The driver did not reach a checkpoint in time; the job is no longer ours to wait for.
            SetJobState(JobState.Stopped);
        }
    }

    private static bool IsFinished(JobState state) => state is JobState.Completed or JobState.Failed or JobState.Stopped;

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stop.Dispose();
        }
        base.Dispose(disposing);
    }
}

/// <summary>Gets backfill job records: status, rows done and failed, batches, error.</summary>
/// <remarks>
/// <para>Jobs are kept in the table store, so a job started by another process or a crashed one is visible too; a running job holds a lease (its driver renews a heartbeat in the store every 2 s), and a job whose driver is gone reads Interrupted: at once when the driver was a process on this machine that ended, otherwise once the heartbeat is 10 s old. An interrupted job shows Failed ("interrupted; resumed by ...") once a new backfill of the same column starts. Status is Pending, Running, Done, Failed, Cancelled or Interrupted.</para>
/// </remarks>
/// <example>
/// <code>Get-BackfillJob -Database ./pets.db -Table pets | Format-Table Id, Column, Status, RowsDone, RowsFailed</code>
/// <para>The history of the pets table's backfills.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "BackfillJob")]
[OutputType(typeof(BackfillJob))]
public sealed class GetBackfillJobCommand : E2ECmdlet
{
    /// <summary>The SQLite file of the table store.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Database { get; set; }

    /// <summary>A job id (bf-...); all jobs when omitted.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(BackfillJobIdCompleter))]
    public string? Id { get; set; }

    /// <summary>Only jobs of this table.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TableNameCompleter))]
    public string? Table { get; set; }

    protected override void Process()
    {
        var store = TableStore.OpenExisting(GetUnresolvedProviderPathFromPSPath(Database!));
        if (Id is not null)
        {
            WriteObject(BackfillEngine.GetJob(store, Id));
            return;
        }
        WriteObject(BackfillEngine.Jobs(store).Where(j => Table is null || j.Table.Equals(Table, StringComparison.OrdinalIgnoreCase)), enumerateCollection: true);
    }
}

/// <summary>Waits until a backfill job finishes (Done, Failed or Cancelled).</summary>
/// <remarks>
/// <para>Polls the job record in the table store, so it works for jobs started in another process. On timeout the error is WaitTimedOut with the job's last status and progress; a job whose driver is gone (status Interrupted) fails the wait at once with BackfillInterrupted.</para>
/// </remarks>
/// <example>
/// <code>Wait-BackfillJob -Database ./pets.db -Id $job.BackfillId -TimeoutSec 600</code>
/// <para>Blocks until the background backfill ends and returns its record.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Wait, "BackfillJob")]
[OutputType(typeof(BackfillJob))]
public sealed class WaitBackfillJobCommand : E2ECmdlet
{
    /// <summary>The SQLite file of the table store.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Database { get; set; }

    /// <summary>The job id (bf-...).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("BackfillId")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(BackfillJobIdCompleter))]
    public string? Id { get; set; }

    /// <summary>Seconds to wait; 3600 by default.</summary>
    [Parameter]
    public double TimeoutSec { get; set; } = 3600;

    protected override void Process()
    {
        var store = TableStore.OpenExisting(GetUnresolvedProviderPathFromPSPath(Database!));
        var options = E2E.Core.Waiting.WaitOptions.FromSeconds(TimeoutSec, 0.1, 2);
        var result = WaitWithProgress(() =>
        {
            var job = BackfillEngine.GetJob(store, Id!);
            if (job.Status == BackfillStatus.Interrupted)
            {
                // Nothing will ever finish it but another Invoke-Backfill: waiting on would only time out.
                throw new E2E.Core.Waiting.ProbeCannotSucceedException(new E2EException(ErrorCatalog.BackfillInterrupted,
                    $"Backfill {job.Id} of {job.Table}.{job.Column} was interrupted: its driver is gone ({job.RowsDone} of {job.RowsPlanned} rows done). Run Invoke-Backfill again to resume it.", job.Id));
            }
            return new E2E.Core.Waiting.Observation(BackfillEngine.IsFinished(job.Status), $"{job.Status}, {job.RowsDone} of {job.RowsPlanned} rows", job);
        }, options, $"backfill {Id} to finish");
        WriteObject(result.LastValue);
    }
}

/// <summary>Asks a running backfill job to stop after its current batches.</summary>
/// <remarks>
/// <para>Works across processes: the request is recorded in the table store and the driver stops at its next checkpoint, leaving status Cancelled. Checkpointed batches are kept and committed; running Invoke-Backfill again resumes. A job that is not running, an Interrupted one included, is reported with a warning.</para>
/// </remarks>
/// <example>
/// <code>Get-BackfillJob -Database ./pets.db | Where-Object Status -eq Running | Stop-BackfillJob -Database ./pets.db</code>
/// <para>Stops every running backfill of the store.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Stop, "BackfillJob", SupportsShouldProcess = true)]
[OutputType(typeof(void))]
public sealed class StopBackfillJobCommand : E2ECmdlet
{
    /// <summary>The SQLite file of the table store.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Database { get; set; }

    /// <summary>The job id (bf-...).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("BackfillId")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(BackfillJobIdCompleter))]
    public string? Id { get; set; }

    protected override void Process()
    {
        var store = TableStore.OpenExisting(GetUnresolvedProviderPathFromPSPath(Database!));
        if (ShouldProcess(Id!, "Stop backfill") && !BackfillEngine.RequestStop(store, Id!))
        {
            var status = BackfillEngine.GetJob(store, Id!).Status;
            WriteWarning(status == BackfillStatus.Interrupted
                ? $"Backfill {Id} is not running: it was interrupted (its driver is gone), so there is nothing to stop. Invoke-Backfill resumes it."
                : $"Backfill {Id} is not running ({status}).");
        }
    }
}
