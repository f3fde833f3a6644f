using System.Management.Automation;

namespace E2E.Cmdlets.Infrastructure;

/// <summary>
/// The stable Write-Progress activity ids of the module's long operations, one per kind of work, so a host (or a
/// test counting progress records) can follow one operation among several.
/// </summary>
public static class Activities
{
    public const int Comparison = 0x4E2E01;
    public const int Backfill = 0x4E2E02;
    public const int Wait = 0x4E2E03;
    public const int Compute = 0x4E2E04;
    public const int Cluster = 0x4E2E05;
    public const int Manifest = 0x4E2E06;
    public const int Workflow = 0x4E2E07;
    public const int Upload = 0x4E2E08;
    public const int Images = 0x4E2E09;
    public const int Chain = 0x4E2E0A;
    public const int Install = 0x4E2E0B;
    public const int Scope = 0x4E2E0C;
    public const int Tracking = 0x4E2E0D;
    public const int Petals = 0x4E2E0E;
    public const int Stack = 0x4E2E0F;
    public const int Tensor = 0x4E2E10;

    /// <summary>The record that ends an activity (hosts remove its bar; a test sees that it ended).</summary>
    public static ProgressRecord Completed(int activityId, string activity) =>
        new(activityId, activity, "done") { RecordType = ProgressRecordType.Completed };
}
