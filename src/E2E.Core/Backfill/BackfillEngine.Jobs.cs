using System.Globalization;
using E2E.Core.Errors;
using E2E.Core.Processes;
using E2E.Core.Tables;
using Microsoft.Data.Sqlite;

namespace E2E.Core.Backfill;

// Job records, their events, and the driver's lease that tells a running job from an interrupted one.
public static partial class BackfillEngine
{
    /// <summary>How often a running driver renews its lease (heartbeat_at in the job record).</summary>
    public static TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A running job whose heartbeat is older than this reads Interrupted (a driver on another machine, or one that hangs).</summary>
    public static TimeSpan LeaseTime { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Columns added after the first release (a new store has them from the start), added to older stores when they are opened.</summary>
    private static readonly (string Name, string Type)[] AddedColumns = { ("driver_host", "TEXT"), ("driver_process", "TEXT"), ("heartbeat_at", "TEXT"), ("error_id", "TEXT") };

    public static void EnsureSchema(SqliteConnection connection)
    {
        CreateTables(connection);
        if (MissingColumns(connection).Count == 0)
        {
            return;
        }
        // An older store, which two connections may open at once (a background backfill and a probe of it): each
        // looks again for the missing columns under the write lock, so the second adds none the first has added.
        using var transaction = connection.BeginTransaction(deferred: false);
        foreach (var (name, type) in MissingColumns(connection))
        {
            TableStore.Execute(connection, $"ALTER TABLE _e2e_jobs ADD COLUMN {name} {type}");
        }
        transaction.Commit();
    }

    // Commands the connection creates join its open transaction, as TableStore's do.
    private static List<(string Name, string Type)> MissingColumns(SqliteConnection connection)
    {
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
        return AddedColumns.Where(c => !present.Contains(c.Name)).ToList();
    }

    private static void CreateTables(SqliteConnection connection) => TableStore.Execute(connection, """
        CREATE TABLE IF NOT EXISTS _e2e_jobs (id TEXT PRIMARY KEY, table_name TEXT NOT NULL, column_name TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT,
            rows_planned INTEGER NOT NULL DEFAULT 0, rows_done INTEGER NOT NULL DEFAULT 0, rows_failed INTEGER NOT NULL DEFAULT 0, batches INTEGER NOT NULL DEFAULT 0, error TEXT,
            stop_requested INTEGER NOT NULL DEFAULT 0, driver_host TEXT, driver_process TEXT, heartbeat_at TEXT, error_id TEXT);
        CREATE TABLE IF NOT EXISTS _e2e_events (job_id TEXT NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS _e2e_staged (table_name TEXT NOT NULL, column_name TEXT NOT NULL, rowid INTEGER NOT NULL, value, job_id TEXT NOT NULL, PRIMARY KEY (table_name, column_name, rowid));
        CREATE TABLE IF NOT EXISTS _e2e_staged_batches (table_name TEXT NOT NULL, column_name TEXT NOT NULL, job_id TEXT NOT NULL, first_rowid INTEGER NOT NULL, rows INTEGER NOT NULL, payload TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS _e2e_staged_batches_column ON _e2e_staged_batches (table_name, column_name);
        CREATE TABLE IF NOT EXISTS _e2e_batches (job_id TEXT NOT NULL, fragment INTEGER NOT NULL, first_rowid INTEGER NOT NULL, rows INTEGER NOT NULL, staged_at TEXT NOT NULL);
        """);

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
        command.CommandText = $"SELECT id, table_name, column_name, status, created_at, finished_at, rows_planned, rows_done, rows_failed, batches, error, driver_host, driver_process, heartbeat_at, error_id, (SELECT group_concat(DISTINCT e.message) FROM _e2e_events e WHERE e.job_id = _e2e_jobs.id AND e.kind = 'device') FROM _e2e_jobs {where} ORDER BY created_at";
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
                reader.GetInt64(6), reader.GetInt64(7), reader.GetInt64(8), reader.GetInt64(9), reader.IsDBNull(10) ? null : reader.GetString(10)) { ErrorId = Text(14), Device = Text(15) });
        }
        return jobs;
    }
}
