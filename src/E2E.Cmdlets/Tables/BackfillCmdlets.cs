using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Backfill;
using E2E.Core.Errors;
using E2E.Core.Tables;

namespace E2E.Cmdlets.Tables;

/// <summary>Fills a UDF column: batched, incremental, checkpointed, resumable.</summary>
/// <remarks>
/// <para>Computes each column's UDF for every row whose value is still empty (incremental by default), in batches of -BatchSize rows (across fragment boundaries) on -Concurrency Python worker processes, in fragment order (-NumFragments limits how many). Several columns (-Column a,b or a wildcard) are computed in one pass per manifest: the workers start once, from the resolved interpreter (isolated from its site-packages when the manifest packed its environment), and read each row once for all the columns; a column that fails stops alone, and each column has its own job record and output. Each batch is checkpointed in one transaction before anything else happens, and checkpointed values become visible every -CommitGranularity fragments. A backfill stopped by Ctrl-C, Stop-BackfillJob or a killed process resumes by running it again: checkpointed batches are committed, never recomputed, and every row ends with exactly one value.</para>
/// <para>After a pass its workers wait, idle, up to 30 s (E2E_WORKER_IDLE_SECONDS; 0 keeps none) for the next backfill or Add-E2EColumn of the same manifest, interpreter, environment variables and working directory, which then skips their start (the interpreter and the UDFs' imports); they end with the session, after a kill -9 too, and with the removal of its last scope.</para>
/// <para>A row deleted while the backfill runs gets no value and is not a failure: the job counts it neither done nor failed and records a rows-gone event.</para>
/// <para>-ErrorPolicy decides what a row whose UDF raised (or returned a value that does not fit the column type) does: Fail stops the job (status Failed), Skip leaves the row empty and records the error, Retry tries it again -Retries times and then fails. -Where takes one SQL expression over the columns. -AsJob returns a job (Get-Job, Receive-Job) whose output is the backfill's record. -Engine Local is the embedded engine. -Engine Geneva runs the same backfill with the Geneva (LanceDB) library in -Python (pip install geneva): -Database is then the Geneva database URI (file://, s3:// or gs://; a path becomes file://), each column is one Table.backfill (batch_size, num_frags, commit_granularity, where, concurrency; -AsJob uses backfill_async), inside Connection.context on a local Ray (default), -RayAddress, a KubeRay cluster Geneva provisions in -KubeRayCluster, or -GenevaCluster (defined before), with -GenevaManifest; the output is Geneva's job record. The Geneva engine is verified only against a stand-in module that records the library calls: geneva is not installable on the machines this module is tested on.</para>
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
/// <example>
/// <code>Invoke-Backfill -Engine Geneva -Database gs://bucket/oxford/data -Table oxford_pets -Column file_size -BatchSize 10 -NumFragments 2 -KubeRayCluster (Get-E2ECluster -Name e2e) -GenevaManifest simple-udfs-v1</code>
/// <para>The same backfill with the Geneva library on a KubeRay cluster that Geneva provisions in the E2E cluster; the output is Geneva's job record.</para>
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

    /// <summary>Local (worker processes on this machine, the embedded default) or Geneva (the Geneva library in -Python, on Ray; -Database is then the Geneva database URI).</summary>
    [Parameter]
    [ValidateSet("Local", "Geneva")]
    public string Engine { get; set; } = "Local";

    /// <summary>With -Engine Geneva: a manifest defined in the Geneva connection, for Connection.context(manifest=...).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? GenevaManifest { get; set; }

    /// <summary>With -Engine Geneva: a cluster defined in the Geneva connection, by name.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? GenevaCluster { get; set; }

    /// <summary>With -Engine Geneva: an existing Ray cluster (ray://host:10001).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? RayAddress { get; set; }

    /// <summary>With -Engine Geneva: a cluster from New-E2ECluster or Get-E2ECluster in which Geneva provisions a KubeRay cluster (through its own kubeconfig).</summary>
    [Parameter]
    public E2E.Core.Kubernetes.E2ECluster? KubeRayCluster { get; set; }

    /// <summary>With -KubeRayCluster: the namespace of the Ray cluster; geneva by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string KubeRayNamespace { get; set; } = "geneva";

    /// <summary>With -KubeRayCluster: the Ray image; rayproject/ray:2.44.0-py310 (the Oxford Pets suite's) by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string RayImage { get; set; } = "rayproject/ray:2.44.0-py310";

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

    private bool Geneva => Engine.Equals("Geneva", StringComparison.OrdinalIgnoreCase);

    protected override void PrepareRecord()
    {
        _startedAsJob = false;
        if (Geneva)
        {
            PrepareGeneva();
            return;
        }
        _database = GetUnresolvedProviderPathFromPSPath(Database!);
        _columns = ResolveColumns(() => TableStore.OpenExisting(_database).Describe(Table!).Columns.Where(c => c.Udf is not null).Select(c => c.Name).ToArray());
        // A job must join the session's job repository on the pipeline thread.
        if (AsJob && ShouldProcess($"{_database} {Table}.{string.Join(",", _columns)}", "Backfill UDF columns in the background"))
        {
            var job = BackfillPSJob.Start($"backfill {Table}.{string.Join(",", _columns)}", TableStore.OpenExisting(_database), Table!, _columns, Options(), MyInvocation.Line);
            JobRepository.Add(job);
            WriteObject(job);
            _startedAsJob = true;
        }
    }

    /// <summary>-Database as a Geneva URI (a local path becomes file://); one backfill per column, as Geneva takes them.</summary>
    private void PrepareGeneva()
    {
        _database = LocationUri(Database!);
        if (new object?[] { GenevaCluster, RayAddress, KubeRayCluster }.Count(o => o is not null) > 1)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, "Name one of -GenevaCluster, -RayAddress and -KubeRayCluster (none: a local Ray).");
        }
        // Geneva's KubeRay provisioning reads the kubeconfig's current context: a cluster chosen by another context would be the wrong one.
        if (KubeRayCluster is not null && File.Exists(KubeRayCluster.KubeconfigPath)
            && E2E.Core.Kubernetes.Kubeconfig.Load(KubeRayCluster.KubeconfigPath).CurrentContext is var current && current != KubeRayCluster.ContextName)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument,
                $"-KubeRayCluster '{KubeRayCluster.Name}' is context '{KubeRayCluster.ContextName}' of {KubeRayCluster.KubeconfigPath}, whose current context is '{current}': Geneva would provision Ray there. Run 'kubectl config use-context {KubeRayCluster.ContextName}' first, or use a cluster New-E2ECluster made.", KubeRayCluster.Name);
        }
        // Geneva's schema does not say here which columns are UDF columns: a wildcard matches any, and Geneva refuses one without a UDF.
        _columns = ResolveColumns(() => GenevaEngine.DescribeAsync(_database!, Table!, Python, ModuleFiles.GenevaBridgeScript, CancelToken).GetAwaiter().GetResult().Columns.Select(c => c.Name).ToArray());
        if (AsJob && ShouldProcess($"{_database} {Table}.{string.Join(",", _columns)}", "Backfill UDF columns with Geneva in the background"))
        {
            var job = BackfillPSJob.StartGeneva($"backfill {Table}.{string.Join(",", _columns)}", _database!, Table!, _columns, (column, cancellation) => RunGeneva(column, asynchronous: true, null, cancellation), MyInvocation.Line);
            JobRepository.Add(job);
            WriteObject(job);
            _startedAsJob = true;
        }
    }

    private Task<BackfillJob> RunGeneva(string column, bool asynchronous, Action<string>? progress, CancellationToken cancellation)
    {
        var cluster = GenevaCluster is not null ? E2E.Core.Backfill.GenevaCluster.Defined(GenevaCluster)
            : RayAddress is not null ? E2E.Core.Backfill.GenevaCluster.External("e2e-external", RayAddress)
            : KubeRayCluster is not null ? E2E.Core.Backfill.GenevaCluster.KubeRay($"e2e-{KubeRayCluster.Name}", KubeRayCluster.KubeconfigPath, KubeRayNamespace, RayImage)
            : null;
        var request = new GenevaBackfillRequest
        {
            Uri = _database!, Table = Table!, Column = column, BatchSize = BatchSize, NumFragments = NumFragments, CommitGranularity = CommitGranularity,
            Where = Where, Concurrency = Concurrency, Async = asynchronous, Cluster = cluster, Manifest = GenevaManifest,
        };
        return GenevaEngine.RunAsync(request, Python, ModuleFiles.GenevaBridgeScript, null, progress, cancellation);
    }

    /// <summary>The named columns, wildcards expanded to the table's UDF columns (<paramref name="udfColumnsOfTable"/>, read only for a wildcard) in table order; a pattern that matches none is ColumnNotFound.</summary>
    private string[] ResolveColumns(Func<string[]> udfColumnsOfTable)
    {
        if (!Column!.Any(WildcardPattern.ContainsWildcardCharacters))
        {
            return Column!;
        }
        var udfColumns = udfColumnsOfTable();
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
        var activity = $"Backfill {Table}.{string.Join(",", _columns)}";
        IReadOnlyList<BackfillJob> results;
        if (Geneva)
        {
            var done = new List<BackfillJob>();
            foreach (var column in _columns)
            {
                done.Add(await RunGeneva(column, asynchronous: false, p => Progress(new ProgressRecord(Activities.Backfill, activity, $"{column}: Geneva running ({p})")), CancelToken).ConfigureAwait(false));
            }
            results = done;
        }
        else
        {
            var store = TableStore.OpenExisting(_database!);
            var progress = new PassProgress(activity);
            results = await BackfillEngine.RunAsync(store, Table!, _columns, Options() with
            {
                Progress = p => Progress(progress.Record(p)),
            }, CancelToken).ConfigureAwait(false);
        }
        Progress(Activities.Completed(Activities.Backfill, activity));
        foreach (var result in results)
        {
            if (result.Status == BackfillStatus.Failed)
            {
                // The failure of one column is its error record; the columns that succeeded are still output.
                var recorded = ErrorCatalog.All.FirstOrDefault(e => e.Id == result.ErrorId);
                var error = new E2EException(recorded is not null && recorded != ErrorCatalog.UdfFailed ? recorded
                    : result.Error?.Contains("does not fit", StringComparison.Ordinal) == true ? ErrorCatalog.UdfTypeMismatch : ErrorCatalog.UdfFailed,
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
    private readonly string _location;
    private readonly Func<string>? _status;
    private Task _run = Task.CompletedTask;

    private BackfillPSJob(string command, string name, string location, Func<string>? status)
        : base(command, name)
    {
        _location = location;
        _status = status;
        PSJobTypeName = "E2EBackfill";
    }

    /// <summary>The backfill job id (of the first column, when the job fills several).</summary>
    public string? BackfillId { get; private set; }

    /// <summary>The backfill job ids, one per column.</summary>
    public IReadOnlyList<string> BackfillIds { get; private set; } = Array.Empty<string>();

    /// <summary>A Local-engine backfill in the background; its status is the job record's in the store.</summary>
    public static BackfillPSJob Start(string name, TableStore store, string table, IReadOnlyList<string> columns, BackfillOptions options, string command)
    {
        var ids = columns.Count == 1 ? new[] { options.JobId! } : columns.Select(c => $"{options.JobId}.{c}").ToArray();
        string Status()
        {
            try
            {
                return BackfillEngine.GetJob(store, ids[0]).Status.ToString();
            }
            catch (E2E.Core.Errors.E2EException ex) when (ex.Error == ErrorCatalog.JobNotFound)
            {
                return "Starting"; // until the driver has written the record
            }
        }
        var job = new BackfillPSJob(command, name, store.Database, Status) { BackfillId = ids[0], BackfillIds = ids };
        return job.Run(table, columns, (progress, cancellation) => BackfillEngine.RunAsync(store, table, columns, options with { Progress = p => progress(p) }, cancellation));
    }

    /// <summary>A Geneva-engine backfill in the background (Geneva keeps the job records; the job's output is each column's record).</summary>
    public static BackfillPSJob StartGeneva(string name, string uri, string table, IReadOnlyList<string> columns, Func<string, CancellationToken, Task<BackfillJob>> backfill, string command)
    {
        var job = new BackfillPSJob(command, name, uri, null);
        return job.Run(table, columns, async (_, cancellation) =>
        {
            var results = new List<BackfillJob>();
            foreach (var column in columns)
            {
                var result = await backfill(column, cancellation).ConfigureAwait(false);
                job.BackfillId ??= result.Id;
                job.BackfillIds = job.BackfillIds.Append(result.Id).ToArray();
                results.Add(result);
            }
            return results;
        });
    }

    private BackfillPSJob Run(string table, IReadOnlyList<string> columns, Func<Action<BackfillProgress>, CancellationToken, Task<IReadOnlyList<BackfillJob>>> run)
    {
        SetJobState(JobState.Running);
        _run = Task.Run(async () =>
        {
            try
            {
                // The job's progress stream, so Receive-Job and $job.Progress show what an attached Invoke-Backfill shows.
                var activity = $"Backfill {table}.{string.Join(",", columns)}";
                var progress = new InvokeBackfillCommand.PassProgress(activity);
                var results = await run(p => Progress.Add(progress.Record(p)), _stop.Token).ConfigureAwait(false);
                Progress.Add(Activities.Completed(Activities.Backfill, activity));
                foreach (var result in results)
                {
                    Output.Add(PSObject.AsPSObject(result));
                }
                SetJobState(results.Any(r => r.Status is BackfillStatus.Failed or BackfillStatus.Interrupted) ? JobState.Failed
                    : results.Any(r => r.Status == BackfillStatus.Cancelled) ? JobState.Stopped
                    : JobState.Completed);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                SetJobState(JobState.Stopped);
            }
            catch (Exception ex)
            {
                Error.Add(new ErrorRecord(ex, ex is E2E.Core.Errors.E2EException e ? e.Error.Id : "BackfillFailed", ErrorCategory.InvalidOperation, table));
                SetJobState(JobState.Failed);
            }
        });
        return this;
    }

    public override bool HasMoreData => Output.Count > 0 || Error.Count > 0;

    public override string Location => _location;

    /// <summary>The first column's job status ("Starting" until its record exists), or the job's state where the engine keeps the records (Geneva).</summary>
    public override string StatusMessage => BackfillId is null && _status is null ? string.Empty : _status?.Invoke() ?? JobStateInfo.State.ToString();

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

/// <summary>Gets backfill job records: status, rows done and failed, batches, error; -Engine Geneva reads Geneva's.</summary>
/// <remarks>
/// <para>Jobs are kept in the table store, so a job started by another process or a crashed one is visible too; a running job holds a lease (its driver renews a heartbeat in the store every 2 s), and a job whose driver is gone reads Interrupted: at once when the driver was a process on this machine that ended, otherwise once the heartbeat is 10 s old. An interrupted job shows Failed ("interrupted; resumed by ...") once a new backfill of the same column starts. Status is Pending, Running, Done, Failed, Cancelled or Interrupted.</para>
/// </remarks>
/// <example>
/// <code>Get-BackfillJob -Database ./pets.db -Table pets | Format-Table Id, Column, Status, RowsDone, RowsFailed</code>
/// <para>The history of the pets table's backfills.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "BackfillJob")]
[OutputType(typeof(BackfillJob))]
public sealed class GetBackfillJobCommand : TableEngineCmdlet
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
        if (Geneva)
        {
            var uri = LocationUri(Database!);
            WriteObject(Id is not null ? GenevaEngine.JobAsync(uri, Id, Table, Python, ModuleFiles.GenevaBridgeScript, CancelToken).GetAwaiter().GetResult()
                : GenevaEngine.JobsAsync(uri, Table, null, null, Python, ModuleFiles.GenevaBridgeScript, null, CancelToken).GetAwaiter().GetResult(), enumerateCollection: true);
            return;
        }
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
/// <para>With -Engine Geneva it polls Geneva's geneva_jobs record, every 2 s at most (each probe starts a Python); an id Geneva does not know is JobNotFound at once.</para>
/// </remarks>
/// <example>
/// <code>Wait-BackfillJob -Database ./pets.db -Id $job.BackfillId -TimeoutSec 600</code>
/// <para>Blocks until the background backfill ends and returns its record.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Wait, "BackfillJob")]
[OutputType(typeof(BackfillJob))]
public sealed class WaitBackfillJobCommand : TableEngineCmdlet
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
        var store = Geneva ? null : TableStore.OpenExisting(GetUnresolvedProviderPathFromPSPath(Database!));
        var uri = Geneva ? LocationUri(Database!) : null;
        // A Geneva probe starts a Python: polled at 1-2 s, not 0.1 s.
        var options = E2E.Core.Waiting.WaitOptions.FromSeconds(TimeoutSec, Geneva ? 1 : 0.1, 2);
        var result = WaitWithProgress(() =>
        {
            BackfillJob job;
            try
            {
                job = store is not null ? BackfillEngine.GetJob(store, Id!) : GenevaEngine.JobAsync(uri!, Id!, null, Python, ModuleFiles.GenevaBridgeScript, CancelToken).GetAwaiter().GetResult();
            }
            catch (E2EException missing) when (uri is not null && missing.Error == ErrorCatalog.JobNotFound)
            {
                throw new E2E.Core.Waiting.ProbeCannotSucceedException(missing);
            }
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
