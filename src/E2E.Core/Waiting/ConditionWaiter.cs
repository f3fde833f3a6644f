using System.Diagnostics;
using E2E.Core.Errors;

namespace E2E.Core.Waiting;

/// <summary>
/// Probes a condition until it holds, the timeout passes (WaitTimedOut, with the last observed state in
/// the message) or the caller cancels (OperationCanceledException at once). A probe that throws counts as
/// "not yet", and its message becomes the observed state, except a ProbeCannotSucceedException, which ends the wait.
/// </summary>
public static class ConditionWaiter
{
    /// <summary>
    /// Synchronous form, for probes that must run on the caller's thread (PowerShell script blocks).
    /// A single probe cannot be interrupted here, so it is the probe's own duration that can overrun the deadline.
    /// </summary>
    public static WaitResult Until(Func<CancellationToken, Observation> probe, WaitOptions options, string description, CancellationToken cancellation, Action<int, TimeSpan, Observation>? attempted = null)
    {
        options.Validated();
        var clock = Stopwatch.StartNew();
        var delays = new DelaySequence(options);
        var attempts = 0;
        Observation last = default;
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            attempts++;
            last = Probe(probe, cancellation);
            attempted?.Invoke(attempts, clock.Elapsed, last);
            if (last.Satisfied)
            {
                return new WaitResult(description, attempts, clock.Elapsed, last.State, last.Value);
            }
            var remaining = options.Timeout - clock.Elapsed;
            if (remaining <= TimeSpan.Zero)
            {
                throw TimedOut(description, options, attempts, clock.Elapsed, last);
            }
            // WaitOne returns true when the token is cancelled: Ctrl-C ends the wait at once.
            if (cancellation.WaitHandle.WaitOne(delays.Next(remaining)))
            {
                cancellation.ThrowIfCancellationRequested();
            }
        }
    }

    /// <summary>
    /// Asynchronous form. Each probe gets a token that is also cancelled at the deadline, so a probe that
    /// honours its token cannot hold the wait past the timeout.
    /// </summary>
    public static async Task<WaitResult> UntilAsync(Func<CancellationToken, ValueTask<Observation>> probe, WaitOptions options, string description, CancellationToken cancellation)
    {
        options.Validated();
        var clock = Stopwatch.StartNew();
        var delays = new DelaySequence(options);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(options.Timeout);
        var attempts = 0;
        Observation last = default;
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            attempts++;
            try
            {
                last = await probe(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                throw;
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                last = new Observation(false, last.State ?? "the last probe was still running at the deadline", last.Value);
            }
            catch (ProbeCannotSucceedException)
            {
                throw;
            }
            catch (Exception ex)
            {
                last = new Observation(false, $"probe failed: {ex.Message}");
            }
            if (last.Satisfied)
            {
                return new WaitResult(description, attempts, clock.Elapsed, last.State, last.Value);
            }
            var remaining = options.Timeout - clock.Elapsed;
            if (remaining <= TimeSpan.Zero)
            {
                throw TimedOut(description, options, attempts, clock.Elapsed, last);
            }
            await Task.Delay(delays.Next(remaining), cancellation).ConfigureAwait(false);
        }
    }

    private static Observation Probe(Func<CancellationToken, Observation> probe, CancellationToken cancellation)
    {
        try
        {
            return probe(cancellation);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            throw;
        }
        catch (ProbeCannotSucceedException)
        {
            throw;
        }
        catch (Exception ex)
        {
            return new Observation(false, $"probe failed: {ex.Message}");
        }
    }

    private static E2EException TimedOut(string description, WaitOptions options, int attempts, TimeSpan elapsed, Observation last)
    {
        var state = string.IsNullOrWhiteSpace(last.State) ? "(the probe reported nothing)" : last.State;
        return new E2EException(ErrorCatalog.WaitTimedOut,
            $"Timed out after {elapsed.TotalSeconds:0.###} s (timeout {options.Timeout.TotalSeconds:0.###} s, {attempts} attempts) waiting for {description}. Last observed: {state}",
            last.Value);
    }

    /// <summary>Backoff with jitter, clipped to the time left.</summary>
    private sealed class DelaySequence(WaitOptions options)
    {
        private TimeSpan _next = options.Interval;

        public TimeSpan Next(TimeSpan remaining)
        {
            var spread = 1.0 + ((Random.Shared.NextDouble() * 2.0) - 1.0) * options.Jitter;
            var delay = TimeSpan.FromTicks((long)(_next.Ticks * spread));
            _next = TimeSpan.FromTicks(Math.Min((long)(_next.Ticks * options.BackoffFactor), options.MaxInterval.Ticks));
            var clipped = delay < remaining ? delay : remaining;
            // Timers work in whole milliseconds: a sub-millisecond sleep would return at once and spin.
            return TimeSpan.FromMilliseconds(Math.Max(1, Math.Ceiling(clipped.TotalMilliseconds)));
        }
    }
}

/// <summary>
/// Thrown by a probe that can never succeed however long it is retried (a command that does not exist, a
/// script that does not parse): the wait ends at once with the inner error instead of at its timeout.
/// </summary>
public sealed class ProbeCannotSucceedException(Exception inner) : Exception(inner.Message, inner);
