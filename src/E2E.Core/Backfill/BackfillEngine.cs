using E2E.Core.Errors;
using E2E.Core.Processes;
using E2E.Core.Tables;
using E2E.Core.Udf;

namespace E2E.Core.Backfill;

/// <summary>
/// The Local engine: fills a UDF column with worker processes. Each batch's results are checkpointed (staged)
/// in one transaction with its batch record before anything else happens, and staged values move into the
/// column's values table every CommitGranularity fragments, keyed by rowid (a row with a value keeps it). So a killed driver or worker loses at
/// most the batches in flight, finished batches are never recomputed (a resumed job commits what was
/// staged and plans only the rest), and every row ends with exactly one value.
/// </summary>
public static partial class BackfillEngine
{
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
        ErrorId? errorId = null;
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
            errorId = ex.Error;
        }
        finally
        {
            lease.Dispose();
            stop.Cancel();
            _ = environment.Exception; // observed: with nothing to do, a manifest that cannot be fetched is not this pass's failure
            try
            {
                WriteFinalStatuses(sql, quotedTable, table, runs, error, errorId, cancelled);
            }
            finally
            {
                await workers.EndAsync().ConfigureAwait(false);
            }
        }
    }

    private static void WriteFinalStatuses(PreparedStatements sql, string quotedTable, string table, ColumnRun[] runs, string? error, ErrorId? errorId, bool cancelled)
    {
        foreach (var run in runs)
        {
            CommitStaged(sql, quotedTable, table, run.Column);
            var (status, message, id) = run.Failure is not null ? (BackfillStatus.Failed, SecretText.Redact(run.Failure.Message), run.Failure.Error.Id)
                : error is not null ? (BackfillStatus.Failed, error, errorId?.Id)
                : cancelled || run.StopRequested ? (BackfillStatus.Cancelled, "stopped", null)
                : (BackfillStatus.Done, (string?)null, (string?)null);
            sql.Execute("UPDATE _e2e_jobs SET status = $s, finished_at = $at, error = $e, error_id = $eid WHERE id = $id",
                ("$s", status.ToString()), ("$at", Now()), ("$e", message), ("$eid", id), ("$id", run.JobId));
            Event(sql, run.JobId, status.ToString().ToLowerInvariant(), message ?? $"{run.RowsDone} rows done, {run.RowsFailed} failed");
        }
    }

    public static string NewJobId() => "bf-" + Guid.NewGuid().ToString("N")[..12];

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
        if (manifest.EnvironmentKind == "interpreter")
        {
            // Packed to run on the interpreter's own packages: this interpreter must have them, or every row would fail on import.
            var check = await InterpreterRequirements.CheckAsync(python, manifest.Pip, cancellation).ConfigureAwait(false);
            if (!check.AllSatisfied)
            {
                throw new E2EException(ErrorCatalog.RequirementsNotInstalled,
                    $"UDF package {manifest.Name} runs on the worker interpreter's own packages (packed against {string.Join(", ", (manifest.InterpreterPackages ?? new Dictionary<string, string>()).Select(p => $"{p.Key} {p.Value}"))}), and '{python}' lacks {string.Join("; ", check.Unsatisfied)}: pass -Python with an interpreter that has them (for torch, $env:{E2E.Core.Python.TorchInterpreter.Variable}).", manifest.Name);
            }
        }
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
}
