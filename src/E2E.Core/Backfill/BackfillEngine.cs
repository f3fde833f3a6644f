using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using E2E.Core.Errors;
using E2E.Core.Processes;
using E2E.Core.Tables;
using E2E.Core.Udf;
using Microsoft.Data.Sqlite;

namespace E2E.Core.Backfill;

public enum BackfillStatus
{
    Pending,
    Running,
    Done,
    Failed,
    Cancelled,

    /// <summary>Recorded as running, but its driver is gone (its lease ran out, or its process on this machine ended); Invoke-Backfill resumes it.</summary>
    Interrupted,
}

/// <summary>What to do when the UDF fails for a row (or returns a value of the wrong type).</summary>
public enum RowErrorPolicy
{
    /// <summary>Stop the job (FAILED); work already checkpointed is kept.</summary>
    Fail,

    /// <summary>Leave the row empty, record the error and carry on.</summary>
    Skip,

    /// <summary>Try the row again up to Retries times, then fail.</summary>
    Retry,
}

public sealed record BackfillOptions
{
    public int BatchSize { get; init; } = 10;

    /// <summary>Only the first N fragments that still have empty rows; all by default.</summary>
    public int? NumFragments { get; init; }

    /// <summary>Partial results become visible after this many fragments are complete.</summary>
    public int CommitGranularity { get; init; } = 1;

    public string? Where { get; init; }

    /// <summary>Worker processes.</summary>
    public int Concurrency { get; init; } = 1;

    public RowErrorPolicy ErrorPolicy { get; init; } = RowErrorPolicy.Fail;

    public int Retries { get; init; } = 2;

    public string Python { get; init; } = "python3";

    /// <summary>module/python/e2e_worker.py; the folder also holds e2e_udf.py.</summary>
    public required string WorkerScript { get; init; }

    /// <summary>Where fetched UDF zips are cached by checksum; beside the database by default.</summary>
    public string? CacheDirectory { get; init; }

    public Action<BackfillProgress>? Progress { get; init; }

    /// <summary>The job's id; a new one by default.</summary>
    public string? JobId { get; init; }
}

public sealed record BackfillProgress(string JobId, long RowsPlanned, long RowsDone, long RowsFailed, int FragmentsDone, int FragmentsPlanned)
{
    /// <summary>The column this progress is of (a pass computes several).</summary>
    public string? Column { get; init; }
}

public sealed record BackfillJob(string Id, string Table, string Column, BackfillStatus Status, DateTimeOffset CreatedAt, DateTimeOffset? FinishedAt, long RowsPlanned, long RowsDone, long RowsFailed, long Batches, string? Error);

/// <summary>
/// The Local engine: fills a UDF column with worker processes. Each batch's results are checkpointed (staged)
/// in one transaction with its batch record before anything else happens, and staged values move into the
/// column's values table every CommitGranularity fragments, keyed by rowid (a row with a value keeps it). So a killed driver or worker loses at
/// most the batches in flight, finished batches are never recomputed (a resumed job commits what was
/// staged and plans only the rest), and every row ends with exactly one value.
/// </summary>
public static class BackfillEngine
{
    /// <summary>How often a running driver renews its lease (heartbeat_at in the job record).</summary>
    public static TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A running job whose heartbeat is older than this reads Interrupted (a driver on another machine, or one that hangs).</summary>
    public static TimeSpan LeaseTime { get; set; } = TimeSpan.FromSeconds(10);

    // Columns added after the first release; a store made before them gets them on first use.
    private static readonly (string Name, string Type)[] LeaseColumns = { ("driver_host", "TEXT"), ("driver_process", "TEXT"), ("heartbeat_at", "TEXT") };

    public static void EnsureSchema(SqliteConnection connection)
    {
        CreateTables(connection);
        using var columns = connection.CreateCommand();
        columns.CommandText = "SELECT name FROM pragma_table_info('_e2e_jobs')";
        var present = new HashSet<string>(StringComparer.Ordinal);
        using (var reader = columns.ExecuteReader())
        {
            while (reader.Read())
            {
                present.Add(reader.GetString(0));
            }
        }
        foreach (var (name, type) in LeaseColumns.Where(c => !present.Contains(c.Name)))
        {
            TableStore.Execute(connection, $"ALTER TABLE _e2e_jobs ADD COLUMN {name} {type}");
        }
    }

    private static void CreateTables(SqliteConnection connection) => TableStore.Execute(connection, """
        CREATE TABLE IF NOT EXISTS _e2e_jobs (id TEXT PRIMARY KEY, table_name TEXT NOT NULL, column_name TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT,
            rows_planned INTEGER NOT NULL DEFAULT 0, rows_done INTEGER NOT NULL DEFAULT 0, rows_failed INTEGER NOT NULL DEFAULT 0, batches INTEGER NOT NULL DEFAULT 0, error TEXT,
            stop_requested INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE IF NOT EXISTS _e2e_events (job_id TEXT NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS _e2e_staged (table_name TEXT NOT NULL, column_name TEXT NOT NULL, rowid INTEGER NOT NULL, value, job_id TEXT NOT NULL, PRIMARY KEY (table_name, column_name, rowid));
        CREATE TABLE IF NOT EXISTS _e2e_staged_batches (table_name TEXT NOT NULL, column_name TEXT NOT NULL, job_id TEXT NOT NULL, first_rowid INTEGER NOT NULL, rows INTEGER NOT NULL, payload TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS _e2e_staged_batches_column ON _e2e_staged_batches (table_name, column_name);
        CREATE TABLE IF NOT EXISTS _e2e_batches (job_id TEXT NOT NULL, fragment INTEGER NOT NULL, first_rowid INTEGER NOT NULL, rows INTEGER NOT NULL, staged_at TEXT NOT NULL);
        """);

    public static async Task<BackfillJob> RunAsync(TableStore store, string table, string column, BackfillOptions options, CancellationToken cancellation) =>
        (await RunAsync(store, table, new[] { column }, options, cancellation).ConfigureAwait(false))[0];

    /// <summary>
    /// Fills UDF columns of a table, one job record per column. Columns bound to the same manifest are computed in
    /// one pass: one set of workers, started once, that read each row once for all of them. Columns of other
    /// manifests (other packages and environments) get a pass each, one after another. Job ids: options.JobId for
    /// one column; for several, options.JobId + "." + the column's name.
    /// </summary>
    public static async Task<IReadOnlyList<BackfillJob>> RunAsync(TableStore store, string table, IReadOnlyList<string> columns, BackfillOptions options, CancellationToken cancellation)
    {
        if (options.BatchSize < 1 || options.Concurrency < 1 || options.CommitGranularity < 1 || options.NumFragments is < 1 || options.Retries < 0)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, "BatchSize, Concurrency, CommitGranularity and NumFragments must be at least 1, and Retries at least 0.");
        }
        if (columns.Count == 0)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, "Name at least one UDF column to backfill.");
        }
        var info = store.Describe(table);
        var targets = columns.Select(column =>
        {
            var target = info.Columns.FirstOrDefault(c => c.Name.Equals(column, StringComparison.OrdinalIgnoreCase))
                ?? throw new E2EException(ErrorCatalog.ColumnNotFound, $"Table '{table}' has no column '{column}'.", column);
            return target.Udf is null || target.ManifestName is null || target.Store is null
                ? throw new E2EException(ErrorCatalog.InvalidArgument, $"Column '{target.Name}' is not bound to a UDF; add it with Add-E2EColumn.", column)
                : target;
        }).DistinctBy(c => c.Name, StringComparer.OrdinalIgnoreCase).ToArray();
        foreach (var target in targets)
        {
            TableStore.Identifier(target.Name, "Column name");
        }
        using var writer = store.Open();
        EnsureSchema(writer);
        TableStore.MigrateUdfColumns(writer, table);
        var filter = options.Where is null ? string.Empty : " AND " + TableStore.ValidateFilter(writer, table, options.Where);
        using var sql = new PreparedStatements(writer);
        var passId = options.JobId ?? NewJobId();
        var runs = new List<ColumnRun>();
        foreach (var pass in targets.GroupBy(t => (t.ManifestName, t.Store)).SelectMany(g => g.Chunk(MaxColumnsPerPass)))
        {
            if (runs.Count > 0 && cancellation.IsCancellationRequested)
            {
                break; // a stopped backfill starts no further pass
            }
            var passRuns = pass.Select(t => new ColumnRun(t, targets.Length == 1 ? passId : $"{passId}.{t.Name}")).ToArray();
            await RunPassAsync(store, sql, info, passRuns, filter, options, cancellation).ConfigureAwait(false);
            runs.AddRange(passRuns);
        }
        return runs.Select(r => GetJob(store, r.JobId)).ToArray();
    }

    /// <summary>Columns one pass computes (a bit each in the plan); more of one manifest take further passes.</summary>
    private const int MaxColumnsPerPass = 64;

    private static async Task RunPassAsync(TableStore store, PreparedStatements sql, TableInfo info, ColumnRun[] runs, string filter, BackfillOptions options, CancellationToken cancellation)
    {
        var table = info.Name;
        var quotedTable = TableStore.Identifier(table, "Table name");
        var now = Now();
        for (var i = 0; i < runs.Length; i++)
        {
            runs[i].Index = i;
        }
        foreach (var run in runs)
        {
            sql.Execute("UPDATE _e2e_jobs SET status = 'Failed', error = 'interrupted; resumed by ' || $id, finished_at = $at WHERE table_name = $t AND column_name = $c AND status IN ('Running', 'Pending')",
                ("$id", run.JobId), ("$at", now), ("$t", table), ("$c", run.Column.Name));
            // Batches a crashed job checkpointed are complete: make them visible first, so they are never recomputed.
            CommitStaged(sql, quotedTable, table, run.Column);
        }

        // The workers' start (an interpreter and the UDFs' imports, most of a small backfill's fixed cost) overlaps the planning.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var environment = PrepareAsync(store, info, runs, options, stop.Token);
        var workers = new PassWorkers(environment, options.Concurrency, stop.Token);

        var (batches, fragmentOf) = Plan(sql.Connection, TableStore.Readable(table, info.Columns), runs, filter, options, cancellation);
        foreach (var run in runs)
        {
            sql.Execute("INSERT INTO _e2e_jobs (id, table_name, column_name, status, created_at, rows_planned, driver_host, driver_process, heartbeat_at) VALUES ($id, $t, $c, 'Running', $at, $n, $host, $process, $at)",
                ("$id", run.JobId), ("$t", table), ("$c", run.Column.Name), ("$at", now), ("$n", run.Planned), ("$host", Environment.MachineName), ("$process", OwnedProcesses.SessionTag));
            Event(sql, run.JobId, "started", $"{run.Planned} rows in {run.RowsLeft.Count} fragments, {batches.Count(b => b.Work.Any(w => w.Run == run))} batches, {options.Concurrency} worker(s){(runs.Length > 1 ? $", in one pass with {string.Join(", ", runs.Where(r => r != run).Select(r => r.Column.Name))}" : string.Empty)}");
        }

        string? error = null;
        var cancelled = false;
        // Disposed in the finally below, before the final status is written (a late beat must not follow it).
        var lease = new Lease(store, runs.Select(r => r.JobId).ToArray());
        try
        {
            if (batches.Count > 0)
            {
                await ExecuteAsync(sql, info, runs, batches, fragmentOf, options, await environment.ConfigureAwait(false), workers, stop, cancellation).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            cancelled = true;
        }
        catch (E2EException ex)
        {
            error = SecretText.Redact(ex.Message); // a UDF's exception text is stored in the job record
        }
        finally
        {
            lease.Dispose();
            stop.Cancel();
            _ = environment.Exception; // observed: with nothing to do, a manifest that cannot be fetched is not this pass's failure
            try
            {
                WriteFinalStatuses(sql, quotedTable, table, runs, error, cancelled);
            }
            finally
            {
                await workers.EndAsync().ConfigureAwait(false);
            }
        }
    }

    private static void WriteFinalStatuses(PreparedStatements sql, string quotedTable, string table, ColumnRun[] runs, string? error, bool cancelled)
    {
        foreach (var run in runs)
        {
            CommitStaged(sql, quotedTable, table, run.Column);
            var (status, message) = run.Failure is not null ? (BackfillStatus.Failed, SecretText.Redact(run.Failure.Message))
                : error is not null ? (BackfillStatus.Failed, error)
                : cancelled || run.StopRequested ? (BackfillStatus.Cancelled, "stopped")
                : (BackfillStatus.Done, (string?)null);
            sql.Execute("UPDATE _e2e_jobs SET status = $s, finished_at = $at, error = $e WHERE id = $id",
                ("$s", status.ToString()), ("$at", Now()), ("$e", message), ("$id", run.JobId));
            Event(sql, run.JobId, status.ToString().ToLowerInvariant(), message ?? $"{run.RowsDone} rows done, {run.RowsFailed} failed");
        }
    }

    public static string NewJobId() => "bf-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>
    /// The driver's lease: heartbeat_at renewed every <see cref="HeartbeatInterval"/> on a connection of its own,
    /// from a timer, so that a long batch does not let it lapse. Disposing stops it (the final status follows).
    /// </summary>
    private sealed class Lease : IDisposable
    {
        private readonly TableStore _store;
        private readonly string _jobIds;
        private readonly Timer _timer;
        private readonly object _gate = new();
        private bool _disposed;

        public Lease(TableStore store, IReadOnlyList<string> jobIds)
        {
            _store = store;
            _jobIds = System.Text.Json.JsonSerializer.Serialize(jobIds);
            _timer = new Timer(_ => Renew(), null, HeartbeatInterval, HeartbeatInterval);
        }

        private void Renew()
        {
            lock (_gate)
            {
                if (_disposed)
                {
                    return;
                }
                try
                {
                    using var connection = _store.Open();
                    TableStore.Execute(connection, "UPDATE _e2e_jobs SET heartbeat_at = $at WHERE id IN (SELECT value FROM json_each($ids)) AND status = 'Running'", ("$at", Now()), ("$ids", _jobIds));
                }
                catch (SqliteException)
                {
                    // A busy store: the next beat renews it; the lease is several beats long.
                }
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _disposed = true;
            }
            _timer.Dispose();
        }
    }

    /// <summary>Running as recorded, unless its driver is gone: a process on this machine that ended (told at once), or elsewhere a heartbeat older than the lease.</summary>
    private static BackfillStatus Effective(BackfillStatus recorded, string? host, string? process, string? heartbeat, DateTimeOffset now)
    {
        if (recorded != BackfillStatus.Running)
        {
            return recorded;
        }
        // On this machine the driver's process tells exactly (a busy driver whose timer runs late is still alive).
        if (OwnedProcesses.IsSessionAlive(host, process) is { } alive)
        {
            return alive ? recorded : BackfillStatus.Interrupted;
        }
        return heartbeat is not null && DateTimeOffset.TryParse(heartbeat, CultureInfo.InvariantCulture, DateTimeStyles.None, out var beat) && now - beat > LeaseTime
            ? BackfillStatus.Interrupted : recorded;
    }

    /// <summary>One column of a pass: its job, what is left of each fragment, its counters, and whether it has stopped (failed, or a stop was asked for).</summary>
    private sealed class ColumnRun(TableColumn column, string jobId)
    {
        public TableColumn Column { get; } = column;

        public string JobId { get; } = jobId;

        /// <summary>The UDF's index in the workers' list.</summary>
        public int Index { get; set; }

        public Dictionary<long, int> RowsLeft { get; } = new();

        public long Planned { get; set; }

        public int FragmentsDone;

        public int SinceCommit;

        public long RowsDone;

        public long RowsFailed;

        public E2EException? Failure;

        public bool StopRequested;

        /// <summary>Values of this pass staged and not yet made visible.</summary>
        public bool HasStaged;

        public bool Stopped => Failure is not null || StopRequested;
    }

    /// <summary>Rows of up to BatchSize ids, and for each column of the pass the ids it still needs among them.</summary>
    private sealed record Batch((ColumnRun Run, long[] Ids)[] Work, int Attempt);

    /// <summary>How to start a worker of the pass: the manifest's packages materialized, every UDF of the pass, the query for the union of their inputs.</summary>
    private sealed record PassEnvironment(Func<Task<UdfWorker>> StartWorker);

    /// <summary>
    /// A pass's workers: started while the rows are planned, each taken by a worker loop; at the end, those nobody took
    /// (nothing to do, or fewer batches than workers) are ended, and those that finished are awaited as they exit,
    /// which the pass lets happen while it writes the final statuses.
    /// </summary>
    private sealed class PassWorkers
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<Task<UdfWorker>> _workers = new();
        private readonly System.Collections.Concurrent.ConcurrentBag<Task> _exits = new();

        public PassWorkers(Task<PassEnvironment> environment, int count, CancellationToken cancellation)
        {
            for (var i = 0; i < count; i++)
            {
                _workers.Enqueue(environment.ContinueWith(e => e.Result.StartWorker(), cancellation, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default).Unwrap());
            }
        }

        public Task<UdfWorker>? Take() => _workers.TryDequeue(out var worker) ? worker : null;

        /// <summary>A worker whose loop is done: its input is closed now and its exit awaited by <see cref="EndAsync"/>.</summary>
        public void Finished(UdfWorker worker) => _exits.Add(worker.DisposeAsync().AsTask());

        public async Task EndAsync()
        {
            await Task.WhenAll(_exits).ConfigureAwait(false);
            while (Take() is { } left)
            {
                try
                {
                    await (await left.ConfigureAwait(false)).DisposeAsync().ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is E2EException or OperationCanceledException or IOException)
                {
                    // the pass records its own failure; a worker that never started leaves nothing behind
                }
            }
        }
    }

    /// <summary>
    /// The pass's batches and each pending row's fragment, from one query that says for every row which columns of the
    /// pass it still needs. Plain loops, optimized at first call: LINQ and tier-0 code took 60 ms to plan two columns of
    /// 3,680 rows, this 1-8 ms on this (noisy) machine (a backfill is often a session's first and only one).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (List<Batch> Batches, Dictionary<long, long> FragmentOf) Plan(SqliteConnection writer, string readable, ColumnRun[] runs, string filter, BackfillOptions options, CancellationToken cancellation)
    {
        var fragmentOf = new Dictionary<long, long>();
        var batches = new List<Batch>();
        var limit = options.NumFragments ?? int.MaxValue;
        // Per column: the fragment its rows last came from, and how many fragments it has taken.
        var current = new long?[runs.Length];
        var taken = new int[runs.Length];
        var chunk = new List<long>[runs.Length];
        for (var c = 0; c < runs.Length; c++)
        {
            chunk[c] = new List<long>();
        }
        var chunkRows = 0;
        void Close()
        {
            var work = new List<(ColumnRun, long[])>(runs.Length);
            for (var c = 0; c < runs.Length; c++)
            {
                if (chunk[c].Count > 0)
                {
                    work.Add((runs[c], chunk[c].ToArray()));
                    chunk[c].Clear();
                }
            }
            batches.Add(new Batch(work.ToArray(), 0));
            chunkRows = 0;
        }
        var needs = string.Join(", ", runs.Select(r => $"{TableStore.Identifier(r.Column.Name, "Column name")} IS NULL"));
        var any = string.Join(" OR ", runs.Select(r => $"{TableStore.Identifier(r.Column.Name, "Column name")} IS NULL"));
        using var command = writer.CreateCommand();
        command.CommandText = $"SELECT _rowid, _fragment, {needs} FROM {readable} WHERE ({any}){filter} ORDER BY _fragment, _rowid";
        foreach (var reader in TableStore.Filtered(writer, command, options.Where, cancellation))
        {
            var rowId = reader.GetInt64(0);
            var fragment = reader.GetInt64(1);
            var wanted = false;
            for (var c = 0; c < runs.Length; c++)
            {
                if (reader.GetInt64(2 + c) == 0)
                {
                    continue;
                }
                if (fragment != current[c])
                {
                    // Rows come in fragment order: NumFragments takes each column's first N fragments that still have empty rows.
                    if (taken[c] == limit)
                    {
                        continue;
                    }
                    taken[c]++;
                    current[c] = fragment;
                    runs[c].RowsLeft[fragment] = 0;
                }
                runs[c].RowsLeft[fragment]++;
                chunk[c].Add(rowId);
                wanted = true;
            }
            if (!wanted)
            {
                continue;
            }
            fragmentOf[rowId] = fragment;
            // Batches of BatchSize rows in fragment and row order, across fragment boundaries (a fragment of 25 rows no longer makes every batch 25 rows).
            if (++chunkRows == options.BatchSize)
            {
                Close();
            }
        }
        if (chunkRows > 0)
        {
            Close();
        }
        foreach (var run in runs)
        {
            run.Planned = run.RowsLeft.Values.Sum(n => (long)n);
        }
        return (batches, fragmentOf);
    }

    private static async Task<PassEnvironment> PrepareAsync(TableStore store, TableInfo info, ColumnRun[] runs, BackfillOptions options, CancellationToken cancellation)
    {
        var first = runs[0].Column;
        using var manifestStore = ObjectStores.Open(first.Store!);
        var manifest = await ManifestStore.GetAsync(first.ManifestName!, manifestStore, cancellation).ConfigureAwait(false);
        var cache = options.CacheDirectory ?? ManifestStore.DefaultCacheDirectory;
        var environment = await WorkerEnvironment.MaterializeAsync(manifest, manifestStore, cache, options.WorkerScript, cancellation).ConfigureAwait(false);
        // Workers read their rows' inputs themselves, every input column of the pass once (identifiers checked and quoted here; the ids are the queries' parameters).
        var inputs = runs.SelectMany(r => r.Column.Inputs.Count > 0 ? r.Column.Inputs : throw new E2EException(ErrorCatalog.InvalidArgument, $"Column '{r.Column.Name}' names no input columns."))
            .Distinct(StringComparer.Ordinal).ToList();
        var udfs = runs.Select(r => new WorkerUdf(r.Column.Udf!, r.Column.Inputs.Select(i => inputs.IndexOf(i)).ToArray())).ToArray();
        var select = $"SELECT _rowid{string.Concat(inputs.Select(i => ", " + TableStore.Identifier(i, "Column name")))} FROM {TableStore.Readable(info.Name, info.Columns)} WHERE _rowid";
        var source = new WorkerRowSource(Path.GetFullPath(store.Database), $"{select} IN (SELECT value FROM json_each(?)) ORDER BY _rowid", $"{select} BETWEEN ? AND ? ORDER BY _rowid");
        var python = UdfWorker.ResolveInterpreter(options.Python);
        // A worker that dies at start-up is replaced up to three times; a UDF that cannot load fails at once.
        async Task<UdfWorker> Start()
        {
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    return await UdfWorker.StartAsync(python, environment, udfs, source, cancellation).ConfigureAwait(false);
                }
                catch (E2EException ex) when (ex.Error == ErrorCatalog.WorkerFailed && attempt < 3)
                {
                    // the next attempt
                }
            }
        }
        return new PassEnvironment(Start);
    }

    /// <summary>
    /// Requests a worker has in flight: it computes the next batches while the driver stores the last. Four rather than
    /// two hid the jitter of a busy machine (a warm two-column backfill of 3,680 rows, three runs each: 61-77 ms at two, 35-56 ms at four).
    /// </summary>
    private const int PipelineDepth = 4;

    private static readonly TimeSpan StopRequestInterval = TimeSpan.FromMilliseconds(20);

    private static async Task ExecuteAsync(PreparedStatements sql, TableInfo info, ColumnRun[] runs, List<Batch> batches, Dictionary<long, long> fragmentOf, BackfillOptions options,
        PassEnvironment environment, PassWorkers workers, CancellationTokenSource stop, CancellationToken cancellation)
    {
        var queue = Channel.CreateUnbounded<Batch>();
        var outstanding = batches.Count;
        foreach (var batch in batches)
        {
            queue.Writer.TryWrite(batch);
        }
        var gate = new SemaphoreSlim(1, 1);
        var quotedTable = TableStore.Identifier(info.Name, "Table name");
        var stopsReadAt = 0L;

        // Under the gate: a batch is finished (stored, skipped, or dropped because its columns stopped).
        void Finished()
        {
            if (--outstanding == 0)
            {
                queue.Writer.TryComplete();
            }
        }

        // The gate serializes the writer connection and the pass's counters among the worker loops.
        async Task UnderGate(Action action)
        {
            await gate.WaitAsync(stop.Token).ConfigureAwait(false);
            try
            {
                action();
            }
            finally
            {
                gate.Release();
            }
        }

        // Under the gate: a batch's outcomes stored, its progress told, stop requests read; false when every column has stopped.
        // Optimized at first call, as the other per-batch code: a backfill is often a session's first, and tier-0 code
        // ran it (a warm 3,680-row backfill's driver used 59-66 ms of CPU so, 43-54 ms with this, 29-33 with no tiering).
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        bool StoreAnswer(Batch batch, Outcome[] outcomes)
        {
            // The batch's values and, where it completes enough fragments, their commit: one transaction.
            using (var transaction = sql.Begin())
            {
                var changed = false;
                var existing = ExistingRows(sql, quotedTable, info.Name, batch, fragmentOf);
                for (var i = 0; i < batch.Work.Length; i++)
                {
                    var (run, ids) = batch.Work[i];
                    var outcome = outcomes[i];
                    Settle(outcome, existing, batch.Attempt, options);
                    var failed = outcome.Failed.Count > 0 && options.ErrorPolicy != RowErrorPolicy.Skip;
                    // A batch that completes the column's next commit writes its values straight to the values table, after those staged before it.
                    var commits = !failed && Account(run, outcome, fragmentOf, options.CommitGranularity);
                    if (commits && run.HasStaged)
                    {
                        changed |= MoveStaged(sql, quotedTable, info.Name, run.Column, legacy: false);
                        run.HasStaged = false;
                    }
                    var (stored, skipped) = Store(sql, info.Name, run, ids, outcome, fragmentOf, options.ErrorPolicy, commits);
                    changed |= stored;
                    run.RowsDone += outcome.Staged.Count;
                    run.RowsFailed += skipped;
                    if (failed)
                    {
                        run.Failure ??= new E2EException(ErrorCatalog.UdfFailed, $"UDF '{run.Column.Udf}' failed for row {outcome.Failed[0].Id}: {outcome.Failed[0].Message}", outcome.Failed[0].Id);
                        continue;
                    }
                    if (outcome.Retry.Count > 0)
                    {
                        outstanding++;
                        queue.Writer.TryWrite(new Batch(new[] { (run, outcome.Retry.ToArray()) }, batch.Attempt + 1));
                    }
                }
                if (changed)
                {
                    sql.Execute("UPDATE _e2e_tables SET version = version + 1 WHERE name = $t", ("$t", info.Name));
                }
                transaction.Commit();
            }
            foreach (var (run, _) in batch.Work.Where(w => w.Run.Failure is null))
            {
                options.Progress?.Invoke(new BackfillProgress(run.JobId, run.Planned, run.RowsDone, run.RowsFailed, run.FragmentsDone, run.RowsLeft.Count) { Column = run.Column.Name });
            }
            // Stop requests are read after a batch, at most every 20 ms: a query a batch was a tenth of a cheap batch's cost.
            if (Stopwatch.GetElapsedTime(stopsReadAt) >= StopRequestInterval)
            {
                stopsReadAt = Stopwatch.GetTimestamp();
                foreach (var asked in StopsRequested(sql, runs.Where(r => !r.Stopped)))
                {
                    asked.StopRequested = true;
                }
            }
            if (runs.All(r => r.Stopped))
            {
                stop.Cancel(); // every column failed or was stopped: the batches left are nobody's
                return false;
            }
            Finished();
            return true;
        }

        async Task Work()
        {
            var worker = await (workers.Take() ?? environment.StartWorker()).ConfigureAwait(false);
            var restarts = 0;
            var inflight = new Queue<Batch>();
            try
            {
                while (true)
                {
                    // Keep the worker's pipeline full; wait for work only when nothing is in flight.
                    while (inflight.Count < PipelineDepth && (inflight.Count > 0 || await queue.Reader.WaitToReadAsync(stop.Token).ConfigureAwait(false)) && queue.Reader.TryRead(out var next))
                    {
                        var live = next.Work.Where(w => !w.Run.Stopped).ToArray();
                        if (live.Length == 0)
                        {
                            await UnderGate(Finished).ConfigureAwait(false);
                            continue;
                        }
                        var sent = next with { Work = live };
                        inflight.Enqueue(sent);
                        try
                        {
                            await worker.SendAsync(live.Select(w => (w.Run.Index, (IReadOnlyList<long>)w.Ids)).ToArray(), stop.Token).ConfigureAwait(false);
                        }
                        catch (E2EException ex) when (ex.Error == ErrorCatalog.WorkerFailed && restarts < 3)
                        {
                            break; // the receive below sees the same death and restarts
                        }
                    }
                    if (inflight.Count == 0)
                    {
                        return; // the queue is complete
                    }
                    IReadOnlyList<(int Udf, IReadOnlyList<UdfResult> Results)> answer;
                    try
                    {
                        answer = await worker.ReceiveAsync(stop.Token).ConfigureAwait(false);
                    }
                    catch (E2EException ex) when (ex.Error == ErrorCatalog.WorkerFailed && restarts < 3)
                    {
                        // The worker died: its batches go back to the queue and a fresh worker takes over.
                        restarts++;
                        await worker.DisposeAsync().ConfigureAwait(false);
                        worker = await environment.StartWorker().ConfigureAwait(false);
                        await UnderGate(() =>
                        {
                            foreach (var run in runs)
                            {
                                Event(sql, run.JobId, "worker-restarted", ex.Message);
                            }
                        }).ConfigureAwait(false);
                        while (inflight.TryDequeue(out var lost))
                        {
                            queue.Writer.TryWrite(lost);
                        }
                        continue;
                    }
                    var batch = inflight.Dequeue();
                    var outcomes = SortAnswer(batch, answer, options);
                    await gate.WaitAsync(stop.Token).ConfigureAwait(false);
                    try
                    {
                        if (!StoreAnswer(batch, outcomes))
                        {
                            return;
                        }
                    }
                    finally
                    {
                        gate.Release();
                    }
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                stop.Cancel(); // the other loops would wait for batches this one will never finish
                throw;
            }
            finally
            {
                workers.Finished(worker);
            }
        }

        var tasks = Enumerable.Range(0, Math.Min(options.Concurrency, batches.Count)).Select(_ => Task.Run(Work)).ToArray();
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (Exception) when (tasks.Where(t => t.IsFaulted).SelectMany(t => t.Exception!.InnerExceptions).OfType<E2EException>().FirstOrDefault() is { } failure)
        {
            // A worker loop that failed for good (a worker that kept dying) is the reason, not the others' cancellation.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
        catch (OperationCanceledException) when (runs.All(r => r.Stopped) && !cancellation.IsCancellationRequested)
        {
            // each column's failure or stop request is its reason
        }
        cancellation.ThrowIfCancellationRequested();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Outcome[] SortAnswer(Batch batch, IReadOnlyList<(int Udf, IReadOnlyList<UdfResult> Results)> answer, BackfillOptions options)
    {
        var outcomes = new Outcome[batch.Work.Length];
        for (var i = 0; i < batch.Work.Length; i++)
        {
            var (run, ids) = batch.Work[i];
            IReadOnlyList<UdfResult> results = Array.Empty<UdfResult>();
            foreach (var (udf, found) in answer)
            {
                if (udf == run.Index)
                {
                    results = found;
                    break;
                }
            }
            outcomes[i] = Sort(run, ids, results, batch.Attempt, options);
        }
        return outcomes;
    }

    /// <summary>
    /// What became of a column's rows in one answer: values to store, rows to try again, rows that failed; rows the
    /// worker returned nothing for, and (once <see cref="Settle"/> has checked the table) rows deleted meanwhile.
    /// </summary>
    private sealed record Outcome(List<(long Id, object Value)> Staged, List<long> Retry, List<(long Id, string Message)> Failed, List<long> Missing, List<long> Gone);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static Outcome Sort(ColumnRun run, long[] sent, IReadOnlyList<UdfResult> results, int attempt, BackfillOptions options)
    {
        var outcome = new Outcome(new List<(long, object)>(sent.Length), new List<long>(), new List<(long, string)>(), new List<long>(), new List<long>());
        void Take(UdfResult result)
        {
            if (result.Error is not null)
            {
                Problem(outcome, result.Id, result.Error, attempt, options);
                return;
            }
            try
            {
                outcome.Staged.Add((result.Id, run.Column.Type.ToStored(result.Value)));
            }
            catch (E2EException mismatch)
            {
                Problem(outcome, result.Id, mismatch.Message, attempt, options);
            }
        }
        // A sound worker answers every row in the order sent: one walk checks that; sets sort out any other answer.
        if (InSentOrder(sent, results))
        {
            foreach (var result in results)
            {
                Take(result);
            }
            return outcome;
        }
        var wanted = sent.ToHashSet();
        var answered = new HashSet<long>();
        foreach (var result in results)
        {
            if (wanted.Contains(result.Id) && answered.Add(result.Id))
            {
                Take(result);
            }
        }
        outcome.Missing.AddRange(sent.Where(id => !answered.Contains(id)));
        return outcome;
    }

    private static void Problem(Outcome outcome, long id, string message, int attempt, BackfillOptions options)
    {
        if (options.ErrorPolicy == RowErrorPolicy.Retry && attempt < options.Retries)
        {
            outcome.Retry.Add(id);
        }
        else
        {
            outcome.Failed.Add((id, message));
        }
    }

    /// <summary>
    /// Sorts out rows deleted since the plan (<paramref name="existing"/>: the batch's rows still in the table): their
    /// values are dropped and they count as gone, not done. A row the worker returned nothing for that still exists
    /// is a failure, not an empty success: every row sent gets exactly one result.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Settle(Outcome outcome, HashSet<long> existing, int attempt, BackfillOptions options)
    {
        outcome.Gone.AddRange(outcome.Staged.Where(v => !existing.Contains(v.Id)).Select(v => v.Id));
        if (outcome.Gone.Count > 0)
        {
            outcome.Staged.RemoveAll(v => !existing.Contains(v.Id));
        }
        foreach (var id in outcome.Missing)
        {
            if (existing.Contains(id))
            {
                Problem(outcome, id, "the worker returned no result for this row", attempt, options);
            }
            else
            {
                outcome.Gone.Add(id);
            }
        }
        outcome.Missing.Clear();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool InSentOrder(long[] sent, IReadOnlyList<UdfResult> results)
    {
        if (results.Count != sent.Length)
        {
            return false;
        }
        for (var i = 0; i < sent.Length; i++)
        {
            if (results[i].Id != sent[i])
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Counts a column's finished rows (stored or failed) against their fragments; true when CommitGranularity more fragments are complete, and its values are to become visible.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool Account(ColumnRun run, Outcome outcome, Dictionary<long, long> fragmentOf, int granularity)
    {
        void Finished(long id)
        {
            if (--run.RowsLeft[fragmentOf[id]] == 0)
            {
                run.FragmentsDone++;
                run.SinceCommit++;
            }
        }
        foreach (var (id, _) in outcome.Staged)
        {
            Finished(id);
        }
        foreach (var (id, _) in outcome.Failed)
        {
            Finished(id);
        }
        foreach (var id in outcome.Gone)
        {
            Finished(id);
        }
        if (run.SinceCommit < granularity)
        {
            return false;
        }
        run.SinceCommit = 0;
        return true;
    }

    /// <summary>The columns whose jobs were asked to stop (Stop-BackfillJob, from any process).</summary>
    private static List<ColumnRun> StopsRequested(PreparedStatements sql, IEnumerable<ColumnRun> runs)
    {
        var byId = runs.ToDictionary(r => r.JobId, StringComparer.Ordinal);
        var asked = new List<ColumnRun>();
        if (byId.Count == 0)
        {
            return asked;
        }
        using var reader = sql.Command("SELECT id FROM _e2e_jobs WHERE stop_requested != 0 AND id IN (SELECT value FROM json_each($ids))",
            ("$ids", System.Text.Json.JsonSerializer.Serialize(byId.Keys))).ExecuteReader();
        while (reader.Read())
        {
            asked.Add(byId[reader.GetString(0)]);
        }
        return asked;
    }

    /// <summary>Asks a running job to stop after its current batches (from any process); returns false when it is not running.</summary>
    public static bool RequestStop(TableStore store, string jobId)
    {
        var job = GetJob(store, jobId);
        if (job.Status is not (BackfillStatus.Running or BackfillStatus.Pending))
        {
            return false;
        }
        using var connection = store.Open();
        TableStore.Execute(connection, "UPDATE _e2e_jobs SET stop_requested = 1 WHERE id = $id", ("$id", jobId));
        return true;
    }

    /// <summary>Done, Failed, Cancelled or Interrupted: nothing is working on the job.</summary>
    public static bool IsFinished(BackfillStatus status) => status is BackfillStatus.Done or BackfillStatus.Failed or BackfillStatus.Cancelled or BackfillStatus.Interrupted;

    /// <summary>
    /// In the caller's transaction, one column's part of a batch: its values either staged as one JSON array (one row
    /// in _e2e_staged_batches, made visible by a later commit) or, when <paramref name="visible"/>, written to the
    /// values table at once; its batch record and the job's counters. A crash before the commit loses only this batch.
    /// A value staged and moved in the same transaction cost 0.2 ms a batch.
    /// Returns whether values became visible, and how many rows the Skip policy skipped.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (bool Stored, int Skipped) Store(PreparedStatements sql, string table, ColumnRun run, long[] ids, Outcome outcome, Dictionary<long, long> fragmentOf, RowErrorPolicy policy, bool visible)
    {
        var stored = false;
        if (outcome.Staged.Count > 0)
        {
            if (visible)
            {
                stored = sql.ExecuteEach($"INSERT OR IGNORE INTO {TableStore.ValuesTable(table, run.Column.Name)} (rowid, value) VALUES (?1, ?2)", outcome.Staged) > 0;
            }
            else
            {
                var payload = StagedPayload(outcome.Staged);
                sql.Execute("INSERT INTO _e2e_staged_batches (table_name, column_name, job_id, first_rowid, rows, payload) VALUES ($t, $c, $j, $r, $n, $p)",
                    ("$t", table), ("$c", run.Column.Name), ("$j", run.JobId), ("$r", ids[0]), ("$n", outcome.Staged.Count), ("$p", payload));
                run.HasStaged = true;
            }
        }
        foreach (var (id, message) in outcome.Failed)
        {
            Event(sql, run.JobId, policy == RowErrorPolicy.Skip ? "row-skipped" : "row-failed", $"row {id}: {SecretText.Redact(message)}");
        }
        if (outcome.Gone.Count > 0)
        {
            Event(sql, run.JobId, "rows-gone", $"{outcome.Gone.Count} row(s) deleted while the backfill ran got no value (first: row {outcome.Gone[0]})");
        }
        var skipped = policy == RowErrorPolicy.Skip ? outcome.Failed.Count : 0;
        sql.Execute("INSERT INTO _e2e_batches (job_id, fragment, first_rowid, rows, staged_at) VALUES ($j, $f, $r, $n, $at)",
            ("$j", run.JobId), ("$f", fragmentOf[ids[0]]), ("$r", ids[0]), ("$n", outcome.Staged.Count), ("$at", Now()));
        sql.Execute("UPDATE _e2e_jobs SET rows_done = rows_done + $d, rows_failed = rows_failed + $f, batches = batches + 1 WHERE id = $j",
            ("$d", outcome.Staged.Count), ("$f", skipped), ("$j", run.JobId));
        return (stored, skipped);
    }

    /// <summary>
    /// The rows of a batch that are still in the table, read in the writer's transaction: where its ids are mostly
    /// consecutive, from the fragment index (small and cached, where a look-up per row in the table, whose pages hold
    /// the images, cost as much as storing the value); otherwise by a look-up per id.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static HashSet<long> ExistingRows(PreparedStatements sql, string quotedTable, string table, Batch batch, Dictionary<long, long> fragmentOf)
    {
        var (first, last, firstFragment, lastFragment) = (long.MaxValue, long.MinValue, long.MaxValue, long.MinValue);
        foreach (var (_, ids) in batch.Work)
        {
            foreach (var id in ids)
            {
                first = Math.Min(first, id);
                last = Math.Max(last, id);
                firstFragment = Math.Min(firstFragment, fragmentOf[id]);
                lastFragment = Math.Max(lastFragment, fragmentOf[id]);
            }
        }
        var existing = new HashSet<long>();
        var count = batch.Work.Sum(w => w.Ids.Length);
        using var reader = (last - first < 4L * count
            ? sql.Command($"SELECT _rowid FROM {quotedTable} INDEXED BY {TableStore.FragmentIndex(table)} WHERE _fragment BETWEEN $ff AND $lf AND _rowid BETWEEN $first AND $last",
                ("$ff", firstFragment), ("$lf", lastFragment), ("$first", first), ("$last", last))
            : sql.Command($"SELECT _rowid FROM {quotedTable} WHERE _rowid IN (SELECT value FROM json_each($ids))",
                ("$ids", System.Text.Json.JsonSerializer.Serialize(batch.Work.SelectMany(w => w.Ids).Distinct())))).ExecuteReader();
        while (reader.Read())
        {
            existing.Add(reader.GetInt64(0));
        }
        return existing;
    }

    /// <summary>[[rowid, value], ...] with stored values as JSON: numbers, text, bytes as hex, infinities as "inf" / "-inf" (see <see cref="StoredValueSql"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static string StagedPayload(List<(long Id, object Value)> values)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(values.Count * 24);
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer, new System.Text.Json.JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true }))
        {
            json.WriteStartArray();
            foreach (var (id, value) in values)
            {
                json.WriteStartArray();
                json.WriteNumberValue(id);
                switch (value)
                {
                    case long l:
                        json.WriteNumberValue(l);
                        break;
                    case double d when double.IsInfinity(d):
                        json.WriteStringValue(d > 0 ? "inf" : "-inf");
                        break;
                    case double d:
                        json.WriteNumberValue(d);
                        break;
                    case string text:
                        json.WriteStringValue(text);
                        break;
                    case byte[] bytes:
                        json.WriteStringValue(Convert.ToHexString(bytes));
                        break;
                    default:
                        throw new InvalidOperationException($"a stored value is never a {value.GetType().Name}");
                }
                json.WriteEndArray();
            }
            json.WriteEndArray();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>The SQL that turns a staged JSON value (<paramref name="json"/>) back into the column's stored value.</summary>
    private static string StoredValueSql(ColumnType type, string json) => type.SqlType switch
    {
        "BLOB" => $"unhex({json})",
        "REAL" => $"CASE {json} WHEN 'inf' THEN 9e999 WHEN '-inf' THEN -9e999 ELSE {json} END",
        _ => json,
    };

    /// <summary>
    /// Moves staged values into the column's values table in one transaction; a row that has a value keeps it (the
    /// rowid is the key), so no row is ever written twice, and rows deleted meanwhile get none. Rows a version
    /// before staged batches (one row per value, in _e2e_staged) are moved too.
    /// </summary>
    private static void CommitStaged(PreparedStatements sql, string quotedTable, string table, TableColumn column)
    {
        using var transaction = sql.Begin();
        if (MoveStaged(sql, quotedTable, table, column, legacy: true))
        {
            sql.Execute("UPDATE _e2e_tables SET version = version + 1 WHERE name = $t", ("$t", table));
        }
        transaction.Commit();
    }

    /// <summary>
    /// The SELECT of (rowid, stored value) pairs from staged JSON arrays (<paramref name="source"/> yields their
    /// elements as e.value), joined to the table so that rows deleted meanwhile get none.
    /// </summary>
    private static string ValuesFromJson(ColumnType type, string quotedTable, string source) =>
        $"SELECT t._rowid, {StoredValueSql(type, "e.value ->> 1")} FROM {source} AS e JOIN {quotedTable} AS t ON t._rowid = e.value ->> 0";

    /// <summary>The move of <see cref="CommitStaged"/> in the caller's transaction; <paramref name="legacy"/> also moves rows staged one per value. Returns whether any value moved (the caller bumps the table's version).</summary>
    private static bool MoveStaged(PreparedStatements sql, string quotedTable, string table, TableColumn column, bool legacy)
    {
        var moved = 0;
        var values = TableStore.ValuesTable(table, column.Name);
        if (legacy)
        {
            moved += sql.Execute($"INSERT OR IGNORE INTO {values} (rowid, value) SELECT s.rowid, s.value FROM _e2e_staged AS s WHERE s.table_name = $t AND s.column_name = $c AND EXISTS (SELECT 1 FROM {quotedTable} WHERE _rowid = s.rowid)",
                ("$t", table), ("$c", column.Name));
            sql.Execute("DELETE FROM _e2e_staged WHERE table_name = $t AND column_name = $c", ("$t", table), ("$c", column.Name));
        }
        moved += sql.Execute($"INSERT OR IGNORE INTO {values} (rowid, value) {ValuesFromJson(column.Type, quotedTable, "_e2e_staged_batches AS b, json_each(b.payload)")} WHERE b.table_name = $t AND b.column_name = $c", ("$t", table), ("$c", column.Name));
        sql.Execute("DELETE FROM _e2e_staged_batches WHERE table_name = $t AND column_name = $c", ("$t", table), ("$c", column.Name));
        return moved > 0;
    }

    private static void Event(PreparedStatements sql, string job, string kind, string message) =>
        sql.Execute("INSERT INTO _e2e_events (job_id, at, kind, message) VALUES ($j, $at, $k, $m)", ("$j", job), ("$at", Now()), ("$k", kind), ("$m", message));

    private static string Now() => DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture);

    public static BackfillJob GetJob(TableStore store, string id) =>
        Jobs(store, "WHERE id = $id", ("$id", id)).SingleOrDefault()
        ?? throw new E2EException(ErrorCatalog.JobNotFound, $"No backfill job '{id}' in {store.Database}.", id);

    public static IReadOnlyList<BackfillJob> Jobs(TableStore store, string where = "", params (string, object?)[] parameters)
    {
        using var connection = store.Open();
        EnsureSchema(connection);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT id, table_name, column_name, status, created_at, finished_at, rows_planned, rows_done, rows_failed, batches, error, driver_host, driver_process, heartbeat_at FROM _e2e_jobs {where} ORDER BY created_at";
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        using var reader = command.ExecuteReader();
        var jobs = new List<BackfillJob>();
        var now = DateTimeOffset.UtcNow;
        string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
        while (reader.Read())
        {
            var status = Effective(Enum.Parse<BackfillStatus>(reader.GetString(3)), Text(11), Text(12), Text(13), now);
            jobs.Add(new BackfillJob(reader.GetString(0), reader.GetString(1), reader.GetString(2), status,
                DateTimeOffset.Parse(reader.GetString(4), CultureInfo.InvariantCulture), reader.IsDBNull(5) ? null : DateTimeOffset.Parse(reader.GetString(5), CultureInfo.InvariantCulture),
                reader.GetInt64(6), reader.GetInt64(7), reader.GetInt64(8), reader.GetInt64(9), reader.IsDBNull(10) ? null : reader.GetString(10)));
        }
        return jobs;
    }
}
