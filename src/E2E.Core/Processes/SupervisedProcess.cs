using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using E2E.Core.Errors;

namespace E2E.Core.Processes;

/// <summary>
/// A long-running child (a Petals node, a stack service) whose output goes straight to a log file: the shell
/// that starts it redirects its stdout and stderr and then becomes it (exec), so the log survives the session
/// and no pipe of ours can fill or break. Tagged as owned before it starts, and the leader of a process group of
/// its own: Stop sends SIGTERM to the group, waits a grace period, then kills the group and every process that
/// carries its tag, including children that forked meanwhile or outlived it (<see cref="ProcessGroup"/>).
/// </summary>
public sealed class SupervisedProcess : IDisposable
{
    private readonly Process _process;
    private readonly ProcessGroup _group;

    private SupervisedProcess(ProcessGroup group, string logPath, string description)
    {
        _group = group;
        _process = group.Leader;
        LogPath = logPath;
        Description = description;
    }

    public int Id => _process.Id;

    public string LogPath { get; }

    public string Description { get; }

    public bool HasExited => _process.HasExited;

    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    /// <summary>
    /// Starts <paramref name="command"/> (program and arguments, no shell parsing) with <paramref name="environment"/>
    /// added to this process's, in <paramref name="workingDirectory"/>, appending its output to <paramref name="logPath"/>.
    /// </summary>
    public static SupervisedProcess Start(IReadOnlyList<string> command, IReadOnlyDictionary<string, string?> environment, string? workingDirectory, string logPath, string description)
    {
        if (command.Count == 0 || string.IsNullOrWhiteSpace(command[0]))
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, $"{description} has no command to run.");
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(logPath))!);
        File.AppendAllText(logPath, string.Empty);
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory };
        // "$0" is a placeholder so that "$@" is exactly the command; nothing of it is parsed by the shell.
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("exec \"$@\" </dev/null >>\"$E2E_SERVICE_LOG\" 2>&1");
        start.ArgumentList.Add("sh");
        foreach (var part in command)
        {
            start.ArgumentList.Add(part);
        }
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
        start.Environment["E2E_SERVICE_LOG"] = Path.GetFullPath(logPath);
        ProcessGroup group;
        try
        {
            group = ProcessGroup.Start(start.Own());
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new E2EException(ErrorCatalog.ToolNotFound, $"Could not start {description}: {ex.Message}", command[0], ex);
        }
        return new SupervisedProcess(group, Path.GetFullPath(logPath), description);
    }

    /// <summary>Waits up to <paramref name="timeout"/> for the process to exit; true if it did.</summary>
    public bool WaitForExit(TimeSpan timeout) => _process.WaitForExit(timeout);

    public Task WaitForExitAsync(CancellationToken cancellation) => _process.WaitForExitAsync(cancellation);

    /// <summary>
    /// SIGTERM to its group, then after <paramref name="grace"/> SIGKILL to whatever of the group is still there; a zero
    /// grace is SIGKILL at once (a crash, with no chance to react). Returns true when it ended within the grace.
    /// </summary>
    public bool Stop(TimeSpan grace)
    {
        var graceful = _group.Terminate(grace);
        _process.WaitForExit(TimeSpan.FromSeconds(10));
        return graceful;
    }

    /// <summary>The last <paramref name="lines"/> lines of the log.</summary>
    public string Tail(int lines) => LogFile.Tail(LogPath, lines);

    /// <summary>Every live descendant of <paramref name="root"/>, from /proc (empty where there is no /proc).</summary>
    internal static IReadOnlyList<int> Descendants(int root)
    {
        var parents = new Dictionary<int, int>();
        foreach (var pid in OwnedProcesses.ProcessIds())
        {
            // Field 4 of stat, the parent pid, is the second after the name.
            if (OwnedProcesses.StatFields(pid) is { Length: > 1 } fields && int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ppid))
            {
                parents[pid] = ppid;
            }
        }
        var found = new List<int>();
        var frontier = new Queue<int>(new[] { root });
        while (frontier.Count > 0)
        {
            var parent = frontier.Dequeue();
            foreach (var (pid, ppid) in parents)
            {
                if (ppid == parent && !found.Contains(pid))
                {
                    found.Add(pid);
                    frontier.Enqueue(pid);
                }
            }
        }
        return found;
    }

    public override string ToString() => $"{Description} (pid {Id})";

    public void Dispose()
    {
        Stop(TimeSpan.FromSeconds(5));
        _process.Dispose();
    }
}

/// <summary>Reading service logs: the last lines, and following what is appended.</summary>
public static class LogFile
{
    /// <summary>
    /// The last <paramref name="lines"/> lines of <paramref name="path"/> (of its first <paramref name="end"/> bytes when
    /// given), read from the end (a large log is not read whole).
    /// </summary>
    public static string Tail(string path, int lines, long end = -1)
    {
        if (!File.Exists(path) || lines <= 0)
        {
            return string.Empty;
        }
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var collected = Array.Empty<byte>();
        var position = end < 0 ? stream.Length : Math.Min(end, stream.Length);
        // Read 8 KiB chunks backwards until the tail holds more line breaks than lines wanted (or the file is read).
        while (position > 0 && collected.Count(b => b == (byte)'\n') <= lines)
        {
            var size = (int)Math.Min(8192, position);
            position -= size;
            var chunk = new byte[size + collected.Length];
            stream.Position = position;
            stream.ReadExactly(chunk, 0, size);
            collected.CopyTo(chunk, size);
            collected = chunk;
        }
        var all = Encoding.UTF8.GetString(collected).TrimEnd('\n').Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    /// <summary>What <paramref name="path"/> holds from byte <paramref name="offset"/> on (what a process appended since); empty when there is no such file.</summary>
    public static string Since(string path, long offset)
    {
        if (!File.Exists(path))
        {
            return string.Empty;
        }
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        stream.Position = Math.Min(offset, stream.Length);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    /// <summary>Its length in bytes, 0 when there is no such file: where what a process appends next begins.</summary>
    public static long End(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;

    /// <summary>
    /// The offset just past its last complete line (0 when it has none): a tail read up to here and a follow from here
    /// neither repeat nor split a line, however the process writes meanwhile.
    /// </summary>
    public static long EndOfLastLine(string path)
    {
        if (!File.Exists(path))
        {
            return 0;
        }
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        var buffer = new byte[8192];
        for (var position = stream.Length; position > 0;)
        {
            var size = (int)Math.Min(buffer.Length, position);
            position -= size;
            stream.Position = position;
            stream.ReadExactly(buffer, 0, size);
            var last = Array.LastIndexOf(buffer, (byte)'\n', size - 1);
            if (last >= 0)
            {
                return position + last + 1;
            }
        }
        return 0;
    }

    /// <summary>
    /// Lines appended to <paramref name="path"/> from byte <paramref name="offset"/> on, as they come, until
    /// <paramref name="cancellation"/> or <paramref name="stopWhen"/> says so (checked between polls).
    /// </summary>
    public static async IAsyncEnumerable<string> FollowAsync(string path, long offset, Func<bool>? stopWhen, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        stream.Position = Math.Min(offset, stream.Length);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var partial = new StringBuilder();
        while (!cancellation.IsCancellationRequested)
        {
            var text = await reader.ReadToEndAsync(cancellation).ConfigureAwait(false);
            if (text.Length > 0)
            {
                partial.Append(text);
                var all = partial.ToString();
                var last = all.LastIndexOf('\n');
                if (last >= 0)
                {
                    foreach (var line in all[..last].Split('\n'))
                    {
                        yield return line;
                    }
                    partial.Clear().Append(all[(last + 1)..]);
                }
                continue;
            }
            if (stopWhen?.Invoke() == true)
            {
                if (partial.Length > 0)
                {
                    yield return partial.ToString();
                }
                yield break;
            }
            try
            {
                await Task.Delay(200, cancellation).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                yield break;
            }
        }
    }
}
