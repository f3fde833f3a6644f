using E2E.Core.Errors;

namespace E2E.Core.Waiting;

/// <summary>
/// How long and how often to probe. Delays start at <see cref="Interval"/>, grow by <see cref="BackoffFactor"/>
/// up to <see cref="MaxInterval"/>, and each is spread by ±<see cref="Jitter"/> so that many waiters do not
/// probe a server in lock step. No delay ever runs past the deadline.
/// </summary>
public sealed record WaitOptions
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan Interval { get; init; } = TimeSpan.FromMilliseconds(250);

    public TimeSpan MaxInterval { get; init; } = TimeSpan.FromSeconds(5);

    public double BackoffFactor { get; init; } = 1.5;

    /// <summary>Fraction of each delay by which it is randomly lengthened or shortened (0 to 1).</summary>
    public double Jitter { get; init; } = 0.2;

    /// <summary>Throws InvalidTimeout when any setting is out of range.</summary>
    public WaitOptions Validated()
    {
        Require(Timeout >= TimeSpan.Zero && Timeout < TimeSpan.MaxValue, $"The timeout must be zero or more; got {Timeout.TotalSeconds} s.");
        Require(Interval > TimeSpan.Zero, $"The interval must be positive; got {Interval.TotalSeconds} s.");
        Require(MaxInterval >= Interval, $"The maximum interval ({MaxInterval.TotalSeconds} s) must not be below the interval ({Interval.TotalSeconds} s).");
        Require(BackoffFactor >= 1.0 && double.IsFinite(BackoffFactor), $"The backoff factor must be at least 1; got {BackoffFactor}.");
        Require(Jitter is >= 0.0 and <= 1.0, $"The jitter must be between 0 and 1; got {Jitter}.");
        return this;
    }

    /// <summary>Builds options from seconds as typed in a shell, rejecting NaN, infinities and negatives.</summary>
    public static WaitOptions FromSeconds(double timeout, double interval, double maxInterval)
    {
        // Over 31 years is no wait anyone means (-TimeoutSec 1e308), and far from where TimeSpan and deadlines overflow.
        const double longest = 1e9;
        Require(double.IsFinite(timeout) && timeout >= 0 && timeout < longest, $"The timeout must be zero or more seconds, and less than {longest:E0}; got {timeout}.");
        Require(double.IsFinite(interval) && interval > 0 && interval < longest, $"The interval must be a positive number of seconds, and less than {longest:E0}; got {interval}.");
        Require(double.IsFinite(maxInterval) && maxInterval > 0 && maxInterval < longest, $"The maximum interval must be a positive number of seconds, and less than {longest:E0}; got {maxInterval}.");
        return new WaitOptions
        {
            Timeout = TimeSpan.FromSeconds(timeout),
            Interval = TimeSpan.FromSeconds(interval),
            MaxInterval = TimeSpan.FromSeconds(Math.Max(interval, maxInterval)),
        }.Validated();
    }

    private static void Require(bool ok, string message)
    {
        if (!ok)
        {
            throw new E2EException(ErrorCatalog.InvalidTimeout, message);
        }
    }
}
