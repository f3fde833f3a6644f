using System.Diagnostics;
using E2E.Core.Errors;
using E2E.Core.Waiting;

namespace E2E.Core.Tests.Waiting;

public class ConditionWaiterTests
{
    private static readonly WaitOptions Fast = new() { Timeout = TimeSpan.FromSeconds(5), Interval = TimeSpan.FromMilliseconds(5), MaxInterval = TimeSpan.FromMilliseconds(20) };

    [Fact]
    public void Returns_once_the_condition_holds_with_the_attempt_count()
    {
        var calls = 0;
        var result = ConditionWaiter.Until(_ => ++calls >= 3 ? Observation.Met("ready") : Observation.NotYet($"call {calls}"), Fast, "three calls", CancellationToken.None);
        Assert.Equal(3, result.Attempts);
        Assert.Equal("ready", result.LastValue);
    }

    [Fact]
    public void Timeout_is_WaitTimedOut_with_the_last_observed_state()
    {
        var options = Fast with { Timeout = TimeSpan.FromMilliseconds(200) };
        var calls = 0;
        var clock = Stopwatch.StartNew();
        var ex = Assert.Throws<E2EException>(() =>
            ConditionWaiter.Until(_ => Observation.NotYet($"phase=Pending call={++calls}"), options, "the pod to be Ready", CancellationToken.None));
        clock.Stop();
        Assert.Same(ErrorCatalog.WaitTimedOut, ex.Error);
        Assert.Contains("the pod to be Ready", ex.Message);
        Assert.Contains($"Last observed: phase=Pending call={calls}", ex.Message);
        Assert.Contains($"{calls} attempts", ex.Message);
        // The deadline bounds the wait: it neither ends early nor sleeps past it (generous slack for a loaded CI box).
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(2));
    }

    [Fact]
    public void A_throwing_probe_counts_as_not_yet_and_its_message_is_the_state()
    {
        var options = Fast with { Timeout = TimeSpan.FromMilliseconds(50) };
        var ex = Assert.Throws<E2EException>(() =>
            ConditionWaiter.Until(_ => throw new InvalidOperationException("connection refused"), options, "the server", CancellationToken.None));
        Assert.Contains("probe failed: connection refused", ex.Message);
    }

    [Fact]
    public void Zero_timeout_probes_exactly_once()
    {
        var calls = 0;
        Assert.Throws<E2EException>(() => ConditionWaiter.Until(_ => { calls++; return Observation.NotYet("no"); }, Fast with { Timeout = TimeSpan.Zero }, "once", CancellationToken.None));
        Assert.Equal(1, calls);
    }

    [Fact]
    public void Cancellation_ends_a_long_sleep_at_once()
    {
        var options = new WaitOptions { Timeout = TimeSpan.FromMinutes(5), Interval = TimeSpan.FromMinutes(1), MaxInterval = TimeSpan.FromMinutes(1) };
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        var clock = Stopwatch.StartNew();
        Assert.ThrowsAny<OperationCanceledException>(() => ConditionWaiter.Until(_ => Observation.NotYet("waiting"), options, "forever", cancel.Token));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task Async_probe_is_cancelled_at_the_deadline()
    {
        var options = Fast with { Timeout = TimeSpan.FromMilliseconds(150) };
        var clock = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<E2EException>(() => ConditionWaiter.UntilAsync(async token =>
        {
            await Task.Delay(TimeSpan.FromMinutes(5), token);
            return Observation.Met();
        }, options, "a hung probe", CancellationToken.None));
        Assert.Same(ErrorCatalog.WaitTimedOut, ex.Error);
        Assert.Contains("still running at the deadline", ex.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [Fact]
    public async Task Async_wait_succeeds_when_the_condition_becomes_true()
    {
        var flips = DateTime.UtcNow.AddMilliseconds(50);
        var result = await ConditionWaiter.UntilAsync(_ => ValueTask.FromResult(DateTime.UtcNow >= flips ? Observation.Met(42) : Observation.NotYet("early")), Fast, "a flip", CancellationToken.None);
        Assert.Equal(42, result.LastValue);
        Assert.True(result.Attempts > 1);
    }

    [Theory]
    [InlineData(-1, 0.25, 5)]
    [InlineData(double.NaN, 0.25, 5)]
    [InlineData(double.PositiveInfinity, 0.25, 5)]
    [InlineData(10, 0, 5)]
    [InlineData(10, -1, 5)]
    [InlineData(10, 0.25, -3)]
    public void Bad_seconds_are_InvalidTimeout(double timeout, double interval, double max)
    {
        var ex = Assert.Throws<E2EException>(() => WaitOptions.FromSeconds(timeout, interval, max));
        Assert.Same(ErrorCatalog.InvalidTimeout, ex.Error);
        Assert.Equal(ErrorKind.InvalidArgument, ex.Error.Kind);
    }

    [Fact]
    public void Backoff_grows_delays_up_to_the_maximum()
    {
        var options = new WaitOptions { Timeout = TimeSpan.FromMilliseconds(700), Interval = TimeSpan.FromMilliseconds(10), MaxInterval = TimeSpan.FromMilliseconds(80), BackoffFactor = 2, Jitter = 0 };
        var stamps = new List<TimeSpan>();
        var clock = Stopwatch.StartNew();
        Assert.Throws<E2EException>(() => ConditionWaiter.Until(_ => { stamps.Add(clock.Elapsed); return Observation.NotYet("no"); }, options, "backoff", CancellationToken.None));
        var gaps = stamps.Zip(stamps.Skip(1), (a, b) => b - a).ToArray();
        // 10, 20, 40, 80, 80, ... ms: far fewer probes than a fixed 10 ms interval would make, none closer than the first interval.
        Assert.InRange(stamps.Count, 5, 20);
        Assert.All(gaps, g => Assert.True(g >= TimeSpan.FromMilliseconds(9), $"gap {g.TotalMilliseconds} ms"));
        Assert.True(gaps.Skip(3).Take(3).All(g => g >= TimeSpan.FromMilliseconds(70)), string.Join(",", gaps.Select(g => g.TotalMilliseconds)));
    }
}
