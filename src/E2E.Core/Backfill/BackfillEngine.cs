using System.Globalization;
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

public sealed record BackfillProgress(string JobId, long RowsPlanned, long RowsDone, long RowsFailed, int FragmentsDone, int FragmentsPlanned);

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
        CREATE TABLE IF NOT EXISTS _e2e_batches (job_id TEXT NOT NULL, fragment INTEGER NOT NULL, first_rowid INTEGER NOT NULL, rows INTEGER NOT NULL, staged_at TEXT NOT NULL);
        """);

    public static async Task<BackfillJob> RunAsync(TableStore store, string table, string column, BackfillOptions options, CancellationToken cancellation)
    {
        if (options.BatchSize < 1 || options.Concurrency < 1 || options.CommitGranularity < 1 || options.NumFragments is < 1 || options.Retries < 0)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, "BatchSize, Concurrency, CommitGranularity and NumFragments must be at least 1, and Retries at least 0.");
        }
        var info = store.Describe(table);
        var target = info.Columns.FirstOrDefault(c => c.Name.Equals(column, StringComparison.OrdinalIgnoreCase))
            ?? throw new E2EException(ErrorCatalog.ColumnNotFound, $"Table '{table}' has no column '{column}'.", column);
        if (target.Udf is null || target.ManifestName is null || target.Store is null)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, $"Column '{target.Name}' is not bound to a UDF; add it with Add-E2EColumn.", column);
        }
        var quotedTable = TableStore.Identifier(table, "Table name");
        var quotedColumn = TableStore.Identifier(target.Name, "Column name");
        using var writer = store.Open();
        EnsureSchema(writer);
        TableStore.MigrateUdfColumns(writer, table);
        var filter = options.Where is null ? string.Empty : " AND " + TableStore.ValidateFilter(writer, table, options.Where);
        var jobId = options.JobId ?? NewJobId();
        var now = Now();
        TableStore.Execute(writer, "UPDATE _e2e_jobs SET status = 'Failed', error = 'interrupted; resumed by ' || $id, finished_at = $at WHERE table_name = $t AND column_name = $c AND status IN ('Running', 'Pending')",
            ("$id", jobId), ("$at", now), ("$t", table), ("$c", target.Name));
        // Batches a crashed job checkpointed are complete: make them visible first, so they are never recomputed.
        CommitStaged(writer, quotedTable, table, target.Name);

        var pending = PendingRows(writer, TableStore.Readable(table, info.Columns), quotedColumn, filter, options.Where, cancellation);
        var fragments = pending.GroupBy(r => r.Fragment).OrderBy(g => g.Key).Take(options.NumFragments ?? int.MaxValue).ToArray();
        var batches = fragments.SelectMany(f => f.Select(r => r.RowId).Chunk(options.BatchSize).Select(ids => new Batch(f.Key, ids, 0))).ToList();
        var planned = batches.Sum(b => (long)b.RowIds.Length);
        TableStore.Execute(writer, "INSERT INTO _e2e_jobs (id, table_name, column_name, status, created_at, rows_planned, driver_host, driver_process, heartbeat_at) VALUES ($id, $t, $c, 'Running', $at, $n, $host, $process, $at)",
            ("$id", jobId), ("$t", table), ("$c", target.Name), ("$at", now), ("$n", planned), ("$host", Environment.MachineName), ("$process", OwnedProcesses.SessionTag));
        Event(writer, jobId, "started", $"{planned} rows in {fragments.Length} fragments, {batches.Count} batches, {options.Concurrency} worker(s)");

        var run = new JobRun(jobId, planned, fragments.ToDictionary(f => f.Key, f => f.Select(r => r.RowId).Chunk(options.BatchSize).Count()), fragments.Length);
        string? error = null;
        var status = BackfillStatus.Done;
        // Disposed in the finally below, before the final status is written (a late beat must not follow it).
        var lease = new Lease(store, jobId);
        try
        {
            if (batches.Count > 0)
            {
                await ExecuteAsync(store, writer, info, target, batches, options, run, cancellation).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested || StopRequested(writer, jobId))
        {
            status = BackfillStatus.Cancelled;
            error = "stopped";
        }
        catch (E2EException ex)
        {
            status = BackfillStatus.Failed;
            error = SecretText.Redact(ex.Message); // a UDF's exception text is stored in the job record
        }
        finally
        {
            lease.Dispose();
            CommitStaged(writer, quotedTable, table, target.Name);
            TableStore.Execute(writer, "UPDATE _e2e_jobs SET status = $s, finished_at = $at, error = $e WHERE id = $id",
                ("$s", status.ToString()), ("$at", Now()), ("$e", error), ("$id", jobId));
            Event(writer, jobId, status.ToString().ToLowerInvariant(), error ?? $"{run.RowsDone} rows done, {run.RowsFailed} failed");
        }
        return GetJob(store, jobId);
    }

    public static string NewJobId() => "bf-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>
    /// The driver's lease: heartbeat_at renewed every <see cref="HeartbeatInterval"/> on a connection of its own,
    /// from a timer, so that a long batch does not let it lapse. Disposing stops it (the final status follows).
    /// </summary>
    private sealed class Lease : IDisposable
    {
        private readonly TableStore _store;
        private readonly string _jobId;
        private readonly Timer _timer;
        private readonly object _gate = new();
        private bool _disposed;

        public Lease(TableStore store, string jobId)
        {
            _store = store;
            _jobId = jobId;
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
                    TableStore.Execute(connection, "UPDATE _e2e_jobs SET heartbeat_at = $at WHERE id = $id AND status = 'Running'", ("$at", Now()), ("$id", _jobId));
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

    private sealed record Batch(long Fragment, long[] RowIds, int Attempt);

    private sealed class JobRun(string id, long planned, Dictionary<long, int> batchesLeft, int fragments)
    {
        public string Id { get; } = id;

        public long Planned { get; } = planned;

        public Dictionary<long, int> BatchesLeft { get; } = batchesLeft;

        public int Fragments { get; } = fragments;

        public int FragmentsDone;

        public int SinceCommit;

        public long RowsDone;

        public long RowsFailed;

        public int Outstanding;
    }

    private static async Task ExecuteAsync(TableStore store, SqliteConnection writer, TableInfo info, TableColumn target, List<Batch> batches, BackfillOptions options, JobRun run, CancellationToken cancellation)
    {
        using var manifestStore = ObjectStores.Open(target.Store!);
        var manifest = await ManifestStore.GetAsync(target.ManifestName!, manifestStore, cancellation).ConfigureAwait(false);
        var cache = options.CacheDirectory ?? ManifestStore.DefaultCacheDirectory;
        var paths = new List<string> { Path.GetDirectoryName(Path.GetFullPath(options.WorkerScript))! };
        paths.AddRange(await ManifestStore.MaterializeAsync(manifest, manifestStore, cache, cancellation).ConfigureAwait(false));

        var queue = Channel.CreateUnbounded<Batch>();
        run.Outstanding = batches.Count;
        foreach (var batch in batches)
        {
            queue.Writer.TryWrite(batch);
        }
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var gate = new SemaphoreSlim(1, 1);
        E2EException? failure = null;
        var stopRequested = false;
        var quotedTable = TableStore.Identifier(info.Name, "Table name");
        var inputs = target.Inputs.Count > 0 ? target.Inputs : throw new E2EException(ErrorCatalog.InvalidArgument, $"Column '{target.Name}' names no input columns.");
        // Workers read their rows' inputs themselves (identifiers checked and quoted here; the ids are the query's one parameter).
        var source = new WorkerRowSource(Path.GetFullPath(store.Database),
            $"SELECT _rowid{string.Concat(inputs.Select(i => ", " + TableStore.Identifier(i, "Column name")))} FROM {TableStore.Readable(info.Name, info.Columns)} WHERE _rowid IN (SELECT value FROM json_each(?)) ORDER BY _rowid");

        var python = UdfWorker.ResolveInterpreter(options.Python);
        // A worker that dies, at start-up or mid-batch, is replaced up to three times; a UDF that cannot load fails at once.
        async Task<UdfWorker> StartWorker(int attempt)
        {
            try
            {
                return await UdfWorker.StartAsync(python, options.WorkerScript, paths, manifest.PyModules, target.Udf!, source, stop.Token).ConfigureAwait(false);
            }
            catch (E2EException ex) when (ex.Error == ErrorCatalog.WorkerFailed && attempt < 3)
            {
                return await StartWorker(attempt + 1).ConfigureAwait(false);
            }
        }

        async Task Work()
        {
            var worker = await StartWorker(0).ConfigureAwait(false);
            var restarts = 0;
            try
            {
                await foreach (var batch in queue.Reader.ReadAllAsync(stop.Token).ConfigureAwait(false))
                {
                    IReadOnlyList<(long Id, System.Text.Json.JsonElement? Value, string? Error)> results;
                    try
                    {
                        results = await worker.ComputeAsync(batch.RowIds, stop.Token).ConfigureAwait(false);
                    }
                    catch (E2EException ex) when (ex.Error == ErrorCatalog.WorkerFailed && restarts < 3)
                    {
                        // The worker died: its batch goes back to the queue and a fresh worker takes over.
                        restarts++;
                        await worker.DisposeAsync().ConfigureAwait(false);
                        worker = await StartWorker(0).ConfigureAwait(false);
                        await gate.WaitAsync(stop.Token).ConfigureAwait(false);
                        try
                        {
                            Event(writer, run.Id, "worker-restarted", ex.Message);
                        }
                        finally
                        {
                            gate.Release();
                        }
                        queue.Writer.TryWrite(batch);
                        continue;
                    }
                    var staged = new List<(long Id, object Value)>();
                    var retry = new List<long>();
                    var failed = new List<(long Id, string Message)>();
                    // Every row sent gets exactly one result: a row the worker left out is a failure, not an empty success.
                    var answered = results.Select(r => r.Id).ToHashSet();
                    var sent = batch.RowIds.ToHashSet();
                    results = results.DistinctBy(r => r.Id).Where(r => sent.Contains(r.Id))
                        .Concat(sent.Where(id => !answered.Contains(id)).Select(id => (id, (System.Text.Json.JsonElement?)null, (string?)"the worker returned no result for this row")))
                        .ToArray();
                    foreach (var (id, value, rowError) in results)
                    {
                        string? problem = rowError;
                        if (problem is null)
                        {
                            try
                            {
                                staged.Add((id, target.Type.ToStored(value!.Value)));
                                continue;
                            }
                            catch (E2EException mismatch)
                            {
                                problem = mismatch.Message;
                            }
                        }
                        if (options.ErrorPolicy == RowErrorPolicy.Retry && batch.Attempt < options.Retries)
                        {
                            retry.Add(id);
                        }
                        else
                        {
                            failed.Add((id, problem));
                        }
                    }
                    await gate.WaitAsync(stop.Token).ConfigureAwait(false);
                    try
                    {
                        Stage(writer, run, info.Name, target.Name, batch, staged, failed, options.ErrorPolicy);
                        if (failed.Count > 0 && options.ErrorPolicy != RowErrorPolicy.Skip)
                        {
                            failure ??= new E2EException(ErrorCatalog.UdfFailed, $"UDF '{target.Udf}' failed for row {failed[0].Id}: {failed[0].Message}", failed[0].Id);
                            stop.Cancel();
                            return;
                        }
                        if (retry.Count > 0)
                        {
                            run.BatchesLeft[batch.Fragment]++;
                            run.Outstanding++;
                            queue.Writer.TryWrite(new Batch(batch.Fragment, retry.ToArray(), batch.Attempt + 1));
                        }
                        if (--run.BatchesLeft[batch.Fragment] == 0)
                        {
                            run.FragmentsDone++;
                            if (++run.SinceCommit >= options.CommitGranularity)
                            {
                                CommitStaged(writer, quotedTable, info.Name, target.Name);
                                run.SinceCommit = 0;
                            }
                        }
                        options.Progress?.Invoke(new BackfillProgress(run.Id, run.Planned, run.RowsDone, run.RowsFailed, run.FragmentsDone, run.Fragments));
                        if (StopRequested(writer, run.Id))
                        {
                            stopRequested = true;
                            stop.Cancel();
                            return;
                        }
                        if (--run.Outstanding == 0)
                        {
                            queue.Writer.TryComplete();
                        }
                    }
                    finally
                    {
                        gate.Release();
                    }
                }
            }
            finally
            {
                await worker.DisposeAsync().ConfigureAwait(false);
            }
        }

        var tasks = Enumerable.Range(0, Math.Min(options.Concurrency, batches.Count)).Select(_ => Task.Run(Work)).ToArray();
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (failure is not null || stopRequested)
        {
            // the failure or the stop request below is the reason
        }
        if (failure is not null)
        {
            throw failure;
        }
        if (stopRequested)
        {
            throw new OperationCanceledException("stop requested");
        }
        cancellation.ThrowIfCancellationRequested();
    }

    private static bool StopRequested(SqliteConnection connection, string jobId)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT stop_requested FROM _e2e_jobs WHERE id = $id";
        command.Parameters.AddWithValue("$id", jobId);
        return Convert.ToInt64(command.ExecuteScalar() ?? 0L, CultureInfo.InvariantCulture) != 0;
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

    private static List<(long RowId, long Fragment)> PendingRows(SqliteConnection connection, string readable, string quotedColumn, string filter, string? where, CancellationToken cancellation)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT _rowid, _fragment FROM {readable} WHERE {quotedColumn} IS NULL{filter} ORDER BY _rowid";
        return TableStore.Filtered(connection, command, where, cancellation).Select(reader => (reader.GetInt64(0), reader.GetInt64(1))).ToList();
    }

    /// <summary>One transaction: the batch's values, its batch record and the job's counters; a crash before it loses only this batch.</summary>
    private static void Stage(SqliteConnection writer, JobRun run, string table, string column, Batch batch, List<(long Id, object Value)> values, List<(long Id, string Message)> failed, RowErrorPolicy policy)
    {
        using var transaction = writer.BeginTransaction();
        using (var insert = writer.CreateCommand())
        {
            insert.CommandText = "INSERT OR IGNORE INTO _e2e_staged (table_name, column_name, rowid, value, job_id) VALUES ($t, $c, $r, $v, $j)";
            insert.Parameters.AddWithValue("$t", table);
            insert.Parameters.AddWithValue("$c", column);
            insert.Parameters.AddWithValue("$j", run.Id);
            var rowParameter = insert.Parameters.Add("$r", SqliteType.Integer);
            var valueParameter = insert.Parameters.Add("$v", SqliteType.Blob);
            foreach (var (id, value) in values)
            {
                rowParameter.Value = id;
                valueParameter.Value = value;
                valueParameter.SqliteType = value switch { long => SqliteType.Integer, double => SqliteType.Real, string => SqliteType.Text, _ => SqliteType.Blob };
                insert.ExecuteNonQuery();
            }
        }
        foreach (var (id, message) in failed)
        {
            Event(writer, run.Id, policy == RowErrorPolicy.Skip ? "row-skipped" : "row-failed", $"row {id}: {SecretText.Redact(message)}");
        }
        var skipped = policy == RowErrorPolicy.Skip ? failed.Count : 0;
        TableStore.Execute(writer, "INSERT INTO _e2e_batches (job_id, fragment, first_rowid, rows, staged_at) VALUES ($j, $f, $r, $n, $at)",
            ("$j", run.Id), ("$f", batch.Fragment), ("$r", batch.RowIds[0]), ("$n", values.Count), ("$at", Now()));
        TableStore.Execute(writer, "UPDATE _e2e_jobs SET rows_done = rows_done + $d, rows_failed = rows_failed + $f, batches = batches + 1 WHERE id = $j",
            ("$d", values.Count), ("$f", skipped), ("$j", run.Id));
        transaction.Commit();
        run.RowsDone += values.Count;
        run.RowsFailed += skipped;
    }

    /// <summary>
    /// Moves staged values into the column's values table in one transaction; a row that has a value keeps it (the
    /// rowid is the key), so no row is ever written twice, and rows deleted meanwhile get none.
    /// </summary>
    private static void CommitStaged(SqliteConnection writer, string quotedTable, string table, string column)
    {
        using var transaction = writer.BeginTransaction();
        using var update = writer.CreateCommand();
        update.CommandText = $"INSERT OR IGNORE INTO {TableStore.ValuesTable(table, column)} (rowid, value) SELECT s.rowid, s.value FROM _e2e_staged AS s WHERE s.table_name = $t AND s.column_name = $c AND EXISTS (SELECT 1 FROM {quotedTable} WHERE _rowid = s.rowid)";
        update.Parameters.AddWithValue("$t", table);
        update.Parameters.AddWithValue("$c", column);
        var moved = update.ExecuteNonQuery();
        TableStore.Execute(writer, "DELETE FROM _e2e_staged WHERE table_name = $t AND column_name = $c", ("$t", table), ("$c", column));
        if (moved > 0)
        {
            TableStore.Execute(writer, "UPDATE _e2e_tables SET version = version + 1 WHERE name = $t", ("$t", table));
        }
        transaction.Commit();
    }

    private static void Event(SqliteConnection writer, string job, string kind, string message) =>
        TableStore.Execute(writer, "INSERT INTO _e2e_events (job_id, at, kind, message) VALUES ($j, $at, $k, $m)", ("$j", job), ("$at", Now()), ("$k", kind), ("$m", message));

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
