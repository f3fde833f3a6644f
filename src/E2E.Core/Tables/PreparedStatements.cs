using Microsoft.Data.Sqlite;

namespace E2E.Core.Tables;

/// <summary>
/// Statements of one connection, each prepared once and run again with new parameters. A backfill runs the same
/// dozen statements for every batch; a new command per statement made SQLite compile each one again.
/// </summary>
public sealed class PreparedStatements(SqliteConnection connection) : IDisposable
{
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);
    private SqliteTransaction? _transaction;

    public SqliteConnection Connection { get; } = connection;

    /// <summary>Begins a transaction that the statements run in until it is committed or disposed.</summary>
    public SqliteTransaction Begin() => _transaction = Connection.BeginTransaction();

    public int Execute(string sql, params (string Name, object? Value)[] parameters) => Command(sql, parameters).ExecuteNonQuery();

    /// <summary>The statement's command with these parameters, in the open transaction if there is one.</summary>
    public SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = Connection.CreateCommand();
            command.CommandText = sql;
            _commands[sql] = command;
        }
        // A committed or disposed transaction has no connection: the statement then runs on its own.
        command.Transaction = _transaction?.Connection is null ? null : _transaction;
        command.Parameters.Clear();
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        return command;
    }

    public void Dispose()
    {
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }
        _commands.Clear();
    }
}
