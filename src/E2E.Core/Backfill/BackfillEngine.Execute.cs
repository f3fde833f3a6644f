using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using E2E.Core.Errors;
using E2E.Core.Tables;

namespace E2E.Core.Backfill;

// The driver loop of a pass: workers fed, answers sorted, stops honoured.
public static partial class BackfillEngine
{
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

        // Where a UDF computes (cpu, cuda:0) as its worker reports it: the job record says which device made the column.
        void RecordDevices(UdfWorker worker)
        {
            foreach (var run in runs)
            {
                if (worker.DeviceOf(run.Column.Udf!) is { } device)
                {
                    Event(sql, run.JobId, "device", device);
                }
            }
        }

        async Task Work()
        {
            var worker = await (workers.Take() ?? environment.StartWorker()).ConfigureAwait(false);
            await UnderGate(() => RecordDevices(worker)).ConfigureAwait(false);
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
                            RecordDevices(worker);
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
}
