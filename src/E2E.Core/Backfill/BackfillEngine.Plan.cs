using System.Runtime.CompilerServices;
using E2E.Core.Tables;
using Microsoft.Data.Sqlite;

namespace E2E.Core.Backfill;

// The plan of a pass: which rows each column still needs, in batches.
public static partial class BackfillEngine
{
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
}
