using System.Collections.Concurrent;
using System.Management.Automation;
using E2E.Core.Errors;

namespace E2E.Cmdlets.Infrastructure;

/// <summary>
/// Runs a cmdlet's work as async code on the thread pool while the pipeline thread pumps a queue of
/// Write*/ShouldProcess calls, because PowerShell allows those only on the pipeline thread. When the
/// pipeline stops (Ctrl-C, or a downstream <c>Select-Object -First 1</c>), the token is cancelled,
/// pending ShouldProcess questions are answered "cancelled", and the work is given a bounded time to
/// end, so a stop can never deadlock.
/// </summary>
public abstract class AsyncE2ECmdlet : E2ECmdlet
{
    /// <summary>How long a stopped cmdlet waits for its async work to notice the cancellation.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    private BlockingCollection<Action>? _queue;

    protected virtual Task BeginAsync() => Task.CompletedTask;

    protected virtual Task ProcessAsync() => Task.CompletedTask;

    protected virtual Task EndAsync() => Task.CompletedTask;

    protected sealed override void Begin() => Pump(BeginAsync);

    /// <summary>Runs on the pipeline thread before each record's async work: resolve provider paths, read session state.</summary>
    protected virtual void PrepareRecord()
    {
    }

    protected sealed override void Process()
    {
        PrepareRecord();
        Pump(ProcessAsync);
    }

    protected sealed override void End() => Pump(EndAsync);

    /// <summary>Queues an output object; safe from any thread.</summary>
    protected void Output(object? value) => Post(() => WriteObject(value));

    protected void Verbose(string message) => Post(() => WriteVerbose(message));

    protected void Warning(string message) => Post(() => WriteWarning(message));

    protected void Progress(ProgressRecord record) => Post(() => WriteProgress(record));

    protected void Error(E2EException exception) => Post(() => WriteE2EError(exception));

    /// <summary>
    /// Runs <paramref name="work"/> while a progress record says what is awaited (<paramref name="activity"/>), for how
    /// long, and the last observed state (<paramref name="state"/>, asked each second); a Completed record follows at
    /// the end, however the work ends.
    /// </summary>
    protected async Task<T> WithProgressAsync<T>(int activityId, string activity, Func<string?> state, Func<Task<T>> work)
    {
        var record = new ProgressRecord(activityId, activity, state() ?? "starting");
        Progress(record);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var ticking = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
            while (await timer.WaitForNextTickAsync(stop.Token).ConfigureAwait(false))
            {
                var tick = new ProgressRecord(activityId, activity, $"{state() ?? "working"} ({clock.Elapsed.TotalSeconds:0} s)");
                Progress(tick);
            }
        });
        try
        {
            return await work().ConfigureAwait(false);
        }
        finally
        {
            stop.Cancel();
            try
            {
                await ticking.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
            try
            {
                Progress(Activities.Completed(activityId, activity));
            }
            catch (OperationCanceledException)
            {
                // The pipeline stopped: no more records can be written.
            }
        }
    }

    protected Task WithProgressAsync(int activityId, string activity, Func<string?> state, Func<Task> work) =>
        WithProgressAsync<bool>(activityId, activity, state, async () =>
        {
            await work().ConfigureAwait(false);
            return true;
        });

    /// <summary>Asks ShouldProcess on the pipeline thread and awaits the answer.</summary>
    protected async Task<bool> ShouldProcessAsync(string target, string action)
    {
        var answer = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = CancelToken.Register(() => answer.TrySetCanceled(CancelToken));
        Post(() =>
        {
            try
            {
                answer.TrySetResult(ShouldProcess(target, action));
            }
            catch (Exception ex)
            {
                answer.TrySetException(ex);
                throw;
            }
        });
        return await answer.Task.ConfigureAwait(false);
    }

    private void Post(Action action)
    {
        var queue = _queue ?? throw new InvalidOperationException("Write calls are only valid while the cmdlet's async work runs.");
        try
        {
            queue.Add(action);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
        {
            // The pump has finished (the pipeline stopped): nothing can be written any more.
            throw new OperationCanceledException(CancelToken);
        }
    }

    private void Pump(Func<Task> work)
    {
        using var queue = new BlockingCollection<Action>();
        _queue = queue;
        var task = Task.Run(async () =>
        {
            try
            {
                await work().ConfigureAwait(false);
            }
            finally
            {
                queue.CompleteAdding();
            }
        });
        try
        {
            foreach (var action in queue.GetConsumingEnumerable(CancelToken))
            {
                action();
            }
        }
        catch (OperationCanceledException) when (CancelToken.IsCancellationRequested)
        {
            // Ctrl-C: fall through and let the work observe the token.
        }
        catch
        {
            // A downstream command stopped the pipeline (Select-Object -First), or a write failed:
            // stop the work before unwinding, so nothing keeps running after the cmdlet is gone.
            CancelAndWait(task);
            throw;
        }
        if (CancelToken.IsCancellationRequested)
        {
            CancelAndWait(task);
            StopCancelled();
        }
        _queue = null;
        task.GetAwaiter().GetResult();
    }

    private void CancelAndWait(Task task)
    {
        StopProcessing();
        try
        {
            task.Wait(StopGrace);
        }
        catch (AggregateException)
        {
            // The work's failure after a stop is not the user's concern; the stop is.
        }
    }
}
