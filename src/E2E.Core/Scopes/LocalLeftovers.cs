using System.Diagnostics;
using System.Text.Json;

namespace E2E.Core.Scopes;

/// <summary>A scope's temp root that a dead run left behind, found by its marker.</summary>
public sealed record LocalLeftover(string Path, string RunId, int ProcessId, bool Removed, string? Error);

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
            var error = remove ? Remove(root) : null;
            found.Add(new LocalLeftover(root, run.RunId, run.Pid, remove && error is null, error));
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

    private sealed record Marker(string RunId, int Pid, DateTimeOffset? ProcessStart);

    private static Marker? Read(string path)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            var root = document.RootElement;
            var pid = root.TryGetProperty("pid", out var p) && p.TryGetInt32(out var value) ? value : 0;
            DateTimeOffset? start = root.TryGetProperty("processStart", out var s) && s.TryGetDateTimeOffset(out var when) ? when : null;
            return pid > 0 ? new Marker(root.TryGetProperty("runId", out var id) ? id.GetString() ?? string.Empty : string.Empty, pid, start) : null;
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            return null; // Half-written or foreign: not ours to judge.
        }
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
