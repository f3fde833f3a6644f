using System.Globalization;

namespace E2E.Core.Backfill;

/// <summary>
/// Idle UDF workers of this session, kept for the next pass of the same interpreter and environment: a worker's
/// start (the interpreter and the UDFs' imports: 25-60 ms here for the examples, seconds for a UDF that imports a
/// deep-learning framework) is paid once, not per backfill or per describe. A worker idle for <see cref="IdleTime"/>
/// is ended; at most <see cref="MaxIdle"/> wait at once (the oldest go first). Nothing outlives the session: an
/// idle worker is blocked reading its input, and exits when that closes, which the session's end (an exit, a
/// signal, a kill -9) does; each also carries the session's owner tag for the orphan sweep.
/// E2E_WORKER_IDLE_SECONDS sets the idle time at the session's start; 0 keeps no idle workers.
/// </summary>
public static class UdfWorkerPool
{
    private static readonly object Gate = new();
    private static readonly LinkedList<(string Key, UdfWorker Worker, DateTime Since)> Idle = new();
    private static readonly Timer Reaper = new(_ => Reap(), null, Timeout.Infinite, Timeout.Infinite);
    private static bool _reaping;

    /// <summary>How long a worker may wait for another pass; zero or less keeps none.</summary>
    public static TimeSpan IdleTime { get; set; } =
        double.TryParse(Environment.GetEnvironmentVariable("E2E_WORKER_IDLE_SECONDS"), NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds)
            ? TimeSpan.FromSeconds(seconds) : TimeSpan.FromSeconds(30);

    /// <summary>The most workers that wait at once.</summary>
    public static int MaxIdle { get; set; } = Math.Max(4, Environment.ProcessorCount);

    /// <summary>The pids of the workers waiting now.</summary>
    public static IReadOnlyList<int> IdleProcessIds
    {
        get
        {
            lock (Gate)
            {
                return Idle.Select(e => e.Worker.ProcessId).ToArray();
            }
        }
    }

    /// <summary>The most recently idle worker of <paramref name="key"/>, or null.</summary>
    internal static UdfWorker? Take(string key)
    {
        lock (Gate)
        {
            for (var node = Idle.Last; node is not null; node = node.Previous)
            {
                if (node.Value.Key == key)
                {
                    Idle.Remove(node);
                    return node.Value.Worker;
                }
            }
        }
        return null;
    }

    /// <summary>Keeps a sound worker for later; false when the pool keeps none (the caller ends it).</summary>
    internal static bool Return(string key, UdfWorker worker)
    {
        var idleTime = IdleTime;
        if (idleTime <= TimeSpan.Zero)
        {
            return false;
        }
        var evicted = new List<UdfWorker>();
        lock (Gate)
        {
            Idle.AddLast((key, worker, DateTime.UtcNow));
            while (Idle.Count > Math.Max(0, MaxIdle))
            {
                evicted.Add(Idle.First!.Value.Worker);
                Idle.RemoveFirst();
            }
            Schedule();
        }
        foreach (var old in evicted)
        {
            _ = old.CloseAsync().AsTask();
        }
        return !evicted.Contains(worker);
    }

    /// <summary>Ends every idle worker now, and waits until they have exited.</summary>
    public static async Task DrainAsync()
    {
        UdfWorker[] all;
        lock (Gate)
        {
            all = Idle.Select(e => e.Worker).ToArray();
            Idle.Clear();
        }
        await Task.WhenAll(all.Select(w => w.CloseAsync().AsTask())).ConfigureAwait(false);
    }

    private static void Reap()
    {
        var expired = new List<UdfWorker>();
        lock (Gate)
        {
            var cutoff = DateTime.UtcNow - IdleTime;
            for (var node = Idle.First; node is not null;)
            {
                var next = node.Next;
                if (node.Value.Since <= cutoff)
                {
                    expired.Add(node.Value.Worker);
                    Idle.Remove(node);
                }
                node = next;
            }
            _reaping = false;
            Schedule();
        }
        foreach (var worker in expired)
        {
            _ = worker.CloseAsync().AsTask();
        }
    }

    // Under the gate: the reaper's next look, unless one is due already or nobody waits.
    private static void Schedule()
    {
        if (!_reaping && Idle.Count > 0)
        {
            _reaping = true;
            Reaper.Change(Period(IdleTime), Timeout.InfiniteTimeSpan);
        }
    }

    // The reaper looks a few times per idle time, so a worker outlives it by at most a quarter of it (and 1 s at least between looks).
    private static TimeSpan Period(TimeSpan idleTime) => TimeSpan.FromMilliseconds(Math.Max(1000, idleTime.TotalMilliseconds / 4));
}
