namespace E2E.Core.Backfill;

public enum BackfillStatus
{
    Pending,
    Running,
    Done,
    Failed,
    Cancelled,

    /// <summary>Recorded as running, but its driver is gone (its lease ran out, or its process on this machine ended); Invoke-Backfill resumes it.</summary>
    Interrupted,
}

/// <summary>What to do when the UDF fails for a row (or returns a value of the wrong type).</summary>
public enum RowErrorPolicy
{
    /// <summary>Stop the job (FAILED); work already checkpointed is kept.</summary>
    Fail,

    /// <summary>Leave the row empty, record the error and carry on.</summary>
    Skip,

    /// <summary>Try the row again up to Retries times, then fail.</summary>
    Retry,
}

public sealed record BackfillOptions
{
    public int BatchSize { get; init; } = 10;

    /// <summary>Only the first N fragments that still have empty rows; all by default.</summary>
    public int? NumFragments { get; init; }

    /// <summary>Partial results become visible after this many fragments are complete.</summary>
    public int CommitGranularity { get; init; } = 1;

    public string? Where { get; init; }

    /// <summary>Worker processes.</summary>
    public int Concurrency { get; init; } = 1;

    public RowErrorPolicy ErrorPolicy { get; init; } = RowErrorPolicy.Fail;

    public int Retries { get; init; } = 2;

    public string Python { get; init; } = "python3";

    /// <summary>module/python/e2e_worker.py; the folder also holds e2e_udf.py.</summary>
    public required string WorkerScript { get; init; }

    /// <summary>Where fetched UDF zips are cached by checksum; beside the database by default.</summary>
    public string? CacheDirectory { get; init; }

    public Action<BackfillProgress>? Progress { get; init; }

    /// <summary>The job's id; a new one by default.</summary>
    public string? JobId { get; init; }
}

public sealed record BackfillProgress(string JobId, long RowsPlanned, long RowsDone, long RowsFailed, int FragmentsDone, int FragmentsPlanned)
{
    /// <summary>The column this progress is of (a pass computes several).</summary>
    public string? Column { get; init; }
}

public sealed record BackfillJob(string Id, string Table, string Column, BackfillStatus Status, DateTimeOffset CreatedAt, DateTimeOffset? FinishedAt, long RowsPlanned, long RowsDone, long RowsFailed, long Batches, string? Error)
{
    /// <summary>The error id of a failed job's failure (UdfFailed, RequirementsNotInstalled, ...), where the job record has one.</summary>
    public string? ErrorId { get; init; }

    /// <summary>Where the UDF computed (cpu, cuda:0; several joined by ',' when workers differed), for UDFs that say; null otherwise.</summary>
    public string? Device { get; init; }
}
