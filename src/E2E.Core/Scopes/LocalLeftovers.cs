using System.Diagnostics;
using System.Text.Json;

namespace E2E.Core.Scopes;

/// <summary>
/// A scope's temp root that a dead run left behind, found by its marker, with the cleanups its ledger says
/// never ran or failed (registered cleanup blocks above all: the sweep cannot run them, so it tells).
/// </summary>
public sealed record LocalLeftover(string Path, string RunId, int ProcessId, bool Removed, string? Error, IReadOnlyList<string> Unfinished);

/// <summary>
/// Finds and removes what runs that died without cleaning up (kill -9, an OOM kill, a crash) left in the temp
/// base: each scope's temp root holds a marker with the run id, the pid and the pid's start time, written before
/// anything is created in it. A root is removed only when its process is gone, or the pid now belongs to a
/// process that started at another time (a reused pid); a run that is still alive is never touched.
/// New-E2EScope runs this quietly (as Testcontainers' Ryuk does); E2E_SWEEP_ON_NEW_SCOPE=0 turns that off.
/// </summary>
public static class LocalLeftovers
{
    public const string DisableVariable = "E2E_SWEEP_ON_NEW_SCOPE";

    /// <summary>The start time of this process as markers record it (UTC, to the millisecond).</summary>
    public static DateTimeOffset? CurrentProcessStart { get; } = StartTime(Environment.ProcessId);

    public static bool EnabledOnNewScope(Func<string, string?> environment) => environment(DisableVariable) is not ("0" or "false" or "off");

    /// <summary>Marker roots under <paramref name="tempBase"/> whose run is dead; with <paramref name="remove"/>, deletes them.</summary>
    public static IReadOnlyList<LocalLeftover> Sweep(string tempBase, bool remove = true, Func<int, DateTimeOffset?>? processStart = null)
    {
        processStart ??= StartTime;
        var found = new List<LocalLeftover>();
        if (!Directory.Exists(tempBase))
        {
            return found;
        }
        foreach (var root in Directory.EnumerateDirectories(tempBase, "e2e-*"))
        {
            var marker = Path.Combine(root, E2EScope.MarkerFileName);
            if (!File.Exists(marker) || Read(marker) is not { } run || IsAlive(run.Pid, run.ProcessStart, processStart))
            {
                continue;
            }
            var unfinished = Unfinished(run, root);
            var error = remove ? Remove(root) : null;
            found.Add(new LocalLeftover(root, run.RunId, run.Pid, remove && error is null, error, unfinished));
        }
        return found;
    }

    /// <summary>Deletes a dead run's temp root; returns why it could not, or null.</summary>
    public static string? Remove(string root)
    {
        try
        {
            Directory.Delete(root, recursive: true);
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null; // Gone meanwhile: what was wanted.
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return ex.Message;
        }
    }

    private static ScopeMarker? Read(string path)
    {
        try
        {
            var marker = JsonSerializer.Deserialize<ScopeMarker>(File.ReadAllText(path), ScopeMarker.Json);
            return marker is { Pid: > 0, RunId: not null } ? marker : null;
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return null; // Half-written or foreign: not ours to judge.
        }
    }

    // What the dead run's ledger says did not get done, other than the files under the root that this sweep removes.
    private static IReadOnlyList<string> Unfinished(ScopeMarker run, string root)
    {
        var inside = root.TrimEnd(System.IO.Path.DirectorySeparatorChar) + System.IO.Path.DirectorySeparatorChar;
        return (run.Entries ?? Array.Empty<ScopeMarkerEntry>())
            .Where(e => e.State != nameof(UndoState.Done)
                && !(e.Kind is "Directory" or "File" && (e.Description + System.IO.Path.DirectorySeparatorChar).StartsWith(inside, StringComparison.Ordinal)))
            .Select(e => e.State == nameof(UndoState.Failed)
                ? $"{e.Kind} '{e.Description}': cleanup failed: {e.Error}"
                : $"{e.Kind} '{e.Description}': cleanup never ran (the run ended without removing its scope)")
            .ToArray();
    }

    private static bool IsAlive(int pid, DateTimeOffset? recordedStart, Func<int, DateTimeOffset?> processStart)
    {
        var actual = processStart(pid);
        if (actual is null)
        {
            return false;
        }
        // Without a recorded start (older markers) a live pid counts as alive; with one, it must match.
        return recordedStart is null || (actual.Value - recordedStart.Value).Duration() < TimeSpan.FromSeconds(1);
    }

    private static DateTimeOffset? StartTime(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return new DateTimeOffset(process.StartTime.ToUniversalTime(), TimeSpan.Zero);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return null; // No such process (or it ended while we looked).
        }
    }
}
