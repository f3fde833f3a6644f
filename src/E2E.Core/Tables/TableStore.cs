using System.Globalization;
using System.Text.RegularExpressions;
using E2E.Core.Errors;
using Microsoft.Data.Sqlite;

namespace E2E.Core.Tables;

public sealed record TableColumn(string Name, ColumnType Type, string? Udf, string? ManifestName, string? Store, IReadOnlyList<string> Inputs);

/// <summary>What Get-E2ETable shows: schema, rows, fragments and the version (bumped by every schema change and commit).</summary>
public sealed record TableInfo(string Name, string Database, long RowCount, int FragmentCount, int FragmentSize, long Version, IReadOnlyList<TableColumn> Columns);

/// <summary>
/// The embedded table store: one SQLite file holding tables of rows split into fragments of a set size
/// (Geneva's unit of work), plus metadata (columns bound to UDFs, versions) and backfill bookkeeping.
/// Column and table names are restricted to identifiers, so they can be quoted safely into SQL.
/// </summary>
public sealed partial class TableStore
{
    public TableStore(string database)
    {
        Database = Path.GetFullPath(database);
        Directory.CreateDirectory(Path.GetDirectoryName(Database)!);
        using var connection = Open();
        Execute(connection, """
            PRAGMA journal_mode = WAL;
            CREATE TABLE IF NOT EXISTS _e2e_tables (name TEXT PRIMARY KEY, fragment_size INTEGER NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS _e2e_columns (table_name TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL, udf TEXT, manifest TEXT, store TEXT, inputs TEXT, position INTEGER NOT NULL, PRIMARY KEY (table_name, name));
            """);
    }

    public string Database { get; }

    /// <summary>
    /// A table store that must already exist: reading, backfilling or completing names never creates a database
    /// file (a mistyped -Database used to leave an empty one behind). Only New-E2ETable creates one.
    /// </summary>
    public static TableStore OpenExisting(string database)
    {
        var full = Path.GetFullPath(database);
        return File.Exists(full)
            ? new TableStore(full)
            : throw new E2EException(ErrorCatalog.TableStoreNotFound, $"There is no table store at '{full}' (New-E2ETable creates one).", full);
    }

    public SqliteConnection Open()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Database, Pooling = false, DefaultTimeout = 60 }.ToString());
        connection.Open();
        Execute(connection, "PRAGMA busy_timeout = 60000; PRAGMA synchronous = NORMAL;");
        return connection;
    }

    public static void Execute(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        command.ExecuteNonQuery();
    }

    public static string Identifier(string name, string what)
    {
        if (!IdentifierPattern().IsMatch(name) || name.StartsWith("_", StringComparison.Ordinal))
        {
            throw new E2EException(ErrorCatalog.InvalidName, $"{what} '{name}' must start with a letter and contain only letters, digits and '_'.", name);
        }
        if (name.StartsWith("sqlite_", StringComparison.OrdinalIgnoreCase))
        {
            throw new E2EException(ErrorCatalog.InvalidName, $"{what} '{name}' is reserved: SQLite keeps names that start with 'sqlite_' for itself.", name);
        }
        return "\"" + name + "\"";
    }

    /// <summary>Creates a table from rows (column name to value); every row gets a fragment number by position.</summary>
    public TableInfo Create(string name, IReadOnlyList<(string Name, ColumnType Type)> columns, IEnumerable<IReadOnlyDictionary<string, object?>> rows, int fragmentSize)
    {
        var table = Identifier(name, "Table name");
        if (fragmentSize < 1)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, "The fragment size must be at least 1.", fragmentSize);
        }
        foreach (var column in columns)
        {
            Identifier(column.Name, "Column name");
        }
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        if (Exists(connection, name))
        {
            throw new E2EException(ErrorCatalog.TableExists, $"Table '{name}' already exists in {Database}.", name);
        }
        Execute(connection, $"CREATE TABLE {table} (_rowid INTEGER PRIMARY KEY, _fragment INTEGER NOT NULL{string.Concat(columns.Select(c => $", \"{c.Name}\" {c.Type.SqlType}"))})");
        Execute(connection, $"CREATE INDEX {FragmentIndex(name)} ON {table} (_fragment)");
        Execute(connection, "INSERT INTO _e2e_tables (name, fragment_size, version, created_at) VALUES ($n, $f, 1, $t)", ("$n", name), ("$f", fragmentSize), ("$t", DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture)));
        for (var i = 0; i < columns.Count; i++)
        {
            Execute(connection, "INSERT INTO _e2e_columns (table_name, name, type, position) VALUES ($t, $n, $y, $p)", ("$t", name), ("$n", columns[i].Name), ("$y", columns[i].Type.ToString()), ("$p", i));
        }
        using (var insert = connection.CreateCommand())
        {
            insert.CommandText = $"INSERT INTO {table} (_rowid, _fragment{string.Concat(columns.Select(c => $", \"{c.Name}\""))}) VALUES ($id, $fragment{string.Concat(columns.Select((_, i) => $", $c{i}"))})";
            var id = insert.Parameters.Add("$id", SqliteType.Integer);
            var fragment = insert.Parameters.Add("$fragment", SqliteType.Integer);
            var values = columns.Select((_, i) => insert.Parameters.Add($"$c{i}", SqliteType.Blob)).ToArray();
            var rowIndex = 0L;
            foreach (var row in rows)
            {
                id.Value = rowIndex;
                fragment.Value = rowIndex / fragmentSize;
                for (var i = 0; i < columns.Count; i++)
                {
                    values[i].Value = row.TryGetValue(columns[i].Name, out var value) && value is not null ? value : DBNull.Value;
                    values[i].SqliteType = value is string ? SqliteType.Text : value is long or int or bool ? SqliteType.Integer : value is double or float ? SqliteType.Real : SqliteType.Blob;
                }
                insert.ExecuteNonQuery();
                rowIndex++;
            }
        }
        transaction.Commit();
        return Describe(name);
    }

    public bool Exists(string name)
    {
        using var connection = Open();
        return Exists(connection, name);
    }

    private static bool Exists(SqliteConnection connection, string name)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM _e2e_tables WHERE name = $n";
        command.Parameters.AddWithValue("$n", name);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture) > 0;
    }

    public IReadOnlyList<string> TableNames()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name FROM _e2e_tables ORDER BY name";
        using var reader = command.ExecuteReader();
        var names = new List<string>();
        while (reader.Read())
        {
            names.Add(reader.GetString(0));
        }
        return names;
    }

    public TableInfo Describe(string name)
    {
        using var connection = Open();
        using var meta = connection.CreateCommand();
        meta.CommandText = "SELECT fragment_size, version FROM _e2e_tables WHERE name = $n";
        meta.Parameters.AddWithValue("$n", name);
        using var reader = meta.ExecuteReader();
        if (!reader.Read())
        {
            throw new E2EException(ErrorCatalog.TableNotFound, $"No table '{name}' in {Database}. Tables: {string.Join(", ", TableNames())}.", name);
        }
        var (fragmentSize, version) = (reader.GetInt32(0), reader.GetInt64(1));
        var columns = Columns(connection, name);
        using var count = connection.CreateCommand();
        count.CommandText = $"SELECT COUNT(*), COUNT(DISTINCT _fragment) FROM {Identifier(name, "Table name")}";
        using var counts = count.ExecuteReader();
        counts.Read();
        return new TableInfo(name, Database, counts.GetInt64(0), counts.GetInt32(1), fragmentSize, version, columns);
    }

    public static IReadOnlyList<TableColumn> Columns(SqliteConnection connection, string table)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name, type, udf, manifest, store, inputs FROM _e2e_columns WHERE table_name = $t ORDER BY position";
        command.Parameters.AddWithValue("$t", table);
        using var reader = command.ExecuteReader();
        var columns = new List<TableColumn>();
        while (reader.Read())
        {
            columns.Add(new TableColumn(reader.GetString(0), ColumnType.Parse(reader.GetString(1)), reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? Array.Empty<string>() : reader.GetString(5).Split(',', StringSplitOptions.RemoveEmptyEntries)));
        }
        return columns;
    }

    /// <summary>
    /// Adds an empty column bound to a UDF of a published manifest; a backfill fills it. Its values live in a narrow
    /// table of their own (rowid, value), not in the source rows: writing a value into a row beside a 5 KB image made
    /// SQLite rewrite the whole record (54 MB of WAL for 3,680 integers). Reads join them back (<see cref="Readable"/>).
    /// </summary>
    public TableInfo AddUdfColumn(string table, string column, ColumnType type, string udf, string manifest, string store, IReadOnlyList<string> inputs)
    {
        Identifier(table, "Table name");
        Identifier(column, "Column name");
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        var existing = Columns(connection, table);
        if (!Exists(connection, table))
        {
            throw new E2EException(ErrorCatalog.TableNotFound, $"No table '{table}' in {Database}.", table);
        }
        if (existing.Any(c => c.Name.Equals(column, StringComparison.OrdinalIgnoreCase)))
        {
            throw new E2EException(ErrorCatalog.ColumnExists, $"Table '{table}' already has a column '{column}'.", column);
        }
        foreach (var input in inputs.Where(i => existing.All(c => c.Name != i)))
        {
            throw new E2EException(ErrorCatalog.ColumnNotFound, $"UDF input '{input}' is not a column of '{table}' ({string.Join(", ", existing.Select(c => c.Name))}).", input);
        }
        Execute(connection, $"CREATE TABLE {ValuesTable(table, column)} (rowid INTEGER PRIMARY KEY, value {type.SqlType})");
        Execute(connection, "INSERT INTO _e2e_columns (table_name, name, type, udf, manifest, store, inputs, position) VALUES ($t, $n, $y, $u, $m, $s, $i, (SELECT COUNT(*) FROM _e2e_columns WHERE table_name = $t))",
            ("$t", table), ("$n", column), ("$y", type.ToString()), ("$u", udf), ("$m", manifest), ("$s", store), ("$i", string.Join(",", inputs)));
        Execute(connection, "UPDATE _e2e_tables SET version = version + 1 WHERE name = $t", ("$t", table));
        transaction.Commit();
        return Describe(table);
    }

    /// <summary>The table that holds a UDF column's values: rowid, value (named by a hash, so no two pairs of names can meet).</summary>
    /// <summary>The index of a table's rows by fragment (and rowid, as every SQLite index): small and dense, where the rows themselves hold images.</summary>
    public static string FragmentIndex(string table) => Identifier(table + "_fragment", "Table name");

    public static string ValuesTable(string table, string column)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(table.ToLowerInvariant() + "/" + column.ToLowerInvariant()));
        return "\"_e2e_udf_" + Convert.ToHexString(hash, 0, 8).ToLowerInvariant() + "\"";
    }

    /// <summary>
    /// The table as its users see it, for a FROM clause: the source columns and every UDF column joined from its values
    /// table, so filters, reads and workers name UDF columns like any other.
    /// </summary>
    public static string Readable(string table, IReadOnlyList<TableColumn> columns)
    {
        var quoted = Identifier(table, "Table name");
        var udf = columns.Where(c => c.Udf is not null).ToArray();
        if (udf.Length == 0)
        {
            return quoted;
        }
        var select = new System.Text.StringBuilder("(SELECT t.*");
        for (var i = 0; i < udf.Length; i++)
        {
            select.Append(CultureInfo.InvariantCulture, $", v{i}.value AS {Identifier(udf[i].Name, "Column name")}");
        }
        select.Append(CultureInfo.InvariantCulture, $" FROM {quoted} AS t");
        for (var i = 0; i < udf.Length; i++)
        {
            select.Append(CultureInfo.InvariantCulture, $" LEFT JOIN {ValuesTable(table, udf[i].Name)} AS v{i} ON v{i}.rowid = t._rowid");
        }
        return select.Append(')').ToString();
    }

    /// <summary>
    /// Moves the UDF columns of a store made before values tables out of the source table, once: values copied to their
    /// values table, then the column dropped, in one transaction.
    /// </summary>
    public static void MigrateUdfColumns(SqliteConnection connection, string table)
    {
        var physical = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        using (var info = connection.CreateCommand())
        {
            info.CommandText = "SELECT name FROM pragma_table_info($t)";
            info.Parameters.AddWithValue("$t", table);
            using var reader = info.ExecuteReader();
            while (reader.Read())
            {
                physical.Add(reader.GetString(0));
            }
        }
        var legacy = Columns(connection, table).Where(c => c.Udf is not null && physical.Contains(c.Name)).ToArray();
        if (legacy.Length == 0)
        {
            return;
        }
        using var transaction = connection.BeginTransaction();
        var quoted = Identifier(table, "Table name");
        foreach (var column in legacy)
        {
            var name = Identifier(column.Name, "Column name");
            Execute(connection, $"CREATE TABLE IF NOT EXISTS {ValuesTable(table, column.Name)} (rowid INTEGER PRIMARY KEY, value {column.Type.SqlType})");
            Execute(connection, $"INSERT OR IGNORE INTO {ValuesTable(table, column.Name)} (rowid, value) SELECT _rowid, {name} FROM {quoted} WHERE {name} IS NOT NULL");
            Execute(connection, $"ALTER TABLE {quoted} DROP COLUMN {name}");
        }
        transaction.Commit();
    }

    /// <summary>Empties a UDF column (a benchmark's reset; a backfill then computes every row again).</summary>
    internal void ClearUdfColumn(string table, string column)
    {
        using var connection = Open();
        Execute(connection, $"DELETE FROM {ValuesTable(table, column)}");
    }

    /// <summary>Rows as column name to value (vectors as float arrays, structs as JSON text), in row order.</summary>
    public IEnumerable<IReadOnlyDictionary<string, object?>> Rows(string table, int? first = null, string? where = null, CancellationToken cancellation = default)
    {
        using var connection = Open();
        MigrateUdfColumns(connection, table);
        var info = Describe(table);
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT _rowid, _fragment{string.Concat(info.Columns.Select(c => $", \"{c.Name}\""))} FROM {Readable(table, info.Columns)}{(where is null ? string.Empty : " WHERE " + ValidateFilter(connection, table, where))} ORDER BY _rowid{(first is null ? string.Empty : $" LIMIT {first.Value}")}";
        foreach (var reader in Filtered(connection, command, where, cancellation))
        {
            var row = new Dictionary<string, object?>(StringComparer.Ordinal) { ["_rowid"] = reader.GetInt64(0), ["_fragment"] = reader.GetInt64(1) };
            for (var i = 0; i < info.Columns.Count; i++)
            {
                var value = reader.IsDBNull(i + 2) ? null : reader.GetValue(i + 2);
                row[info.Columns[i].Name] = info.Columns[i].Type.Name switch
                {
                    "vector" when value is byte[] bytes => Floats(bytes),
                    "bool" when value is long l => l != 0,
                    _ => info.Columns[i].Type.FromStored(value),
                };
            }
            yield return row;
        }
    }

    /// <summary>How long a user's -Where filter may run before SQLite is interrupted (a recursive CTE can run forever).</summary>
    public static TimeSpan FilterTimeLimit { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The rows of a query that carries a user's -Where filter (<paramref name="where"/>; null for none), the reader
    /// yielded at each: with a filter, SQLite is interrupted on Ctrl-C or after <see cref="FilterTimeLimit"/>
    /// (FilterTimedOut), and an error as it runs is the filter's (InvalidFilter).
    /// </summary>
    public static IEnumerable<SqliteDataReader> Filtered(SqliteConnection connection, SqliteCommand command, string? where, CancellationToken cancellation)
    {
        using var limit = where is null ? null : new FilterLimit(connection, cancellation, FilterTimeLimit);
        using var reader = Interrupted(() => command.ExecuteReader(), where, limit);
        while (Interrupted(reader.Read, where, limit))
        {
            yield return reader;
        }
    }

    // Runs a step of a filtered query; an interruption is FilterTimedOut, or a cancellation after Ctrl-C.
    private static T Interrupted<T>(Func<T> step, string? filter, FilterLimit? limit)
    {
        try
        {
            return step();
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == 9 && limit is not null)
        {
            limit.Cancellation.ThrowIfCancellationRequested();
            throw new E2EException(ErrorCatalog.FilterTimedOut, $"The filter '{filter}' ran longer than {limit.Limit.TotalSeconds:0} s; SQLite was interrupted.", filter, ex);
        }
        catch (SqliteException ex) when (filter is not null)
        {
            // Valid SQL that fails as it runs (a zeroblob too big, an integer overflow): the filter's fault.
            throw new E2EException(ErrorCatalog.InvalidFilter, $"The filter '{filter}' failed as it ran: {ex.Message}", filter, ex);
        }
    }

    /// <summary>Accepts one SQL expression over the table's columns (checked by preparing it), never a statement list.</summary>
    public static string ValidateFilter(SqliteConnection connection, string table, string where)
    {
        if (where.Contains(';', StringComparison.Ordinal) || where.Contains("--", StringComparison.Ordinal) || where.Contains("/*", StringComparison.Ordinal))
        {
            throw new E2EException(ErrorCatalog.InvalidFilter, $"The filter '{where}' must be one expression, without ';' or comments.", where);
        }
        try
        {
            using var check = connection.CreateCommand();
            check.CommandText = $"EXPLAIN SELECT 1 FROM {Readable(table, Columns(connection, table))} WHERE ({where})";
            check.ExecuteNonQuery();
        }
        catch (SqliteException ex)
        {
            throw new E2EException(ErrorCatalog.InvalidFilter, $"The filter '{where}' is not a valid expression over '{table}': {ex.Message}", where, ex);
        }
        return "(" + where + ")";
    }

    private static float[] Floats(byte[] bytes)
    {
        var floats = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, floats, 0, bytes.Length);
        return floats;
    }

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_]{0,62}$")]
    private static partial Regex IdentifierPattern();
}

/// <summary>Interrupts a connection's running statement (sqlite3_interrupt) when cancelled or when the limit passes.</summary>
internal sealed class FilterLimit : IDisposable
{
    private readonly CancellationTokenSource _deadline;
    private readonly CancellationTokenRegistration _registration;

    public FilterLimit(SqliteConnection connection, CancellationToken cancellation, TimeSpan limit)
    {
        Limit = limit;
        Cancellation = cancellation;
        _deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        _deadline.CancelAfter(limit);
        _registration = _deadline.Token.Register(() => SQLitePCL.raw.sqlite3_interrupt(connection.Handle));
    }

    public TimeSpan Limit { get; }

    public CancellationToken Cancellation { get; }

    public void Dispose()
    {
        _registration.Dispose();
        _deadline.Dispose();
    }
}
