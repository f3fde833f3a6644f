using System.Diagnostics;
using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Processes;

namespace E2E.Core.Backfill;

/// <summary>Where a worker reads its rows' inputs: a SQLite file and a query taking the ids as one JSON array parameter, returning the id and then the inputs.</summary>
public sealed record WorkerRowSource(string Database, string Query);

/// <summary>
/// One Python worker process computing a UDF: row ids in, results out, as JSON lines (see module/python/e2e_worker.py).
/// The worker reads the inputs itself, so kilobytes of images never cross the pipe (base64 in JSON was half the
/// time of a cheap backfill).
/// </summary>
public sealed class UdfWorker : IAsyncDisposable
{
    private readonly Process _process;

    private UdfWorker(Process process, JsonElement description)
    {
        _process = process;
        Description = description;
    }

    public JsonElement Description { get; }

    public int ProcessId => _process.Id;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> Interpreters = new(StringComparer.Ordinal);

    /// <summary>
    /// The interpreter <paramref name="python"/> runs (sys.executable), asked once per session: 'python3' is often a
    /// version-manager shim (pyenv's took 99-114 ms a start here, the interpreter itself 38 ms). Falls back to the name.
    /// </summary>
    public static string ResolveInterpreter(string python) => Interpreters.GetOrAdd(python, name =>
    {
        try
        {
            var start = new ProcessStartInfo(name) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("import sys; print(sys.executable)");
            using var process = Process.Start(start.Own())!;
            var output = process.StandardOutput.ReadToEnd().Trim();
            process.StandardError.ReadToEnd();
            return process.WaitForExit(10_000) && process.ExitCode == 0 && output.Length > 0 && File.Exists(output) ? output : name;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return name; // not installed: starting a worker says so
        }
    });

    /// <summary>Starts a worker; without <paramref name="source"/> it can only describe the UDF.</summary>
    public static async Task<UdfWorker> StartAsync(string python, string workerScript, IReadOnlyList<string> paths, IReadOnlyList<string> modules, string udf, WorkerRowSource? source, CancellationToken cancellation)
    {
        var config = JsonSerializer.Serialize(new { paths, modules, udf, source = source is null ? null : new { database = source.Database, query = source.Query } });
        var start = new ProcessStartInfo(python) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-u");
        start.ArgumentList.Add(workerScript);
        start.ArgumentList.Add(config);
        start.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        Process process;
        try
        {
            process = Process.Start(start.Own())!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new E2EException(ErrorCatalog.ToolNotFound, $"'{python}' is not installed or not on PATH; UDF workers need Python 3.", python, ex);
        }
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        var line = await process.StandardOutput.ReadLineAsync(cancellation).ConfigureAwait(false);
        using var hello = line is null ? null : JsonDocument.Parse(line);
        if (hello is null || !hello.RootElement.TryGetProperty("ready", out var ready))
        {
            Kill(process);
            if (hello is not null && hello.RootElement.TryGetProperty("error", out var error) && error.GetString() == "udf_not_found")
            {
                throw new E2EException(ErrorCatalog.UdfNotFound, $"No UDF named '{udf}' in modules {string.Join(", ", modules)}; they declare: {hello.RootElement.GetProperty("available")}.", udf);
            }
            throw new E2EException(ErrorCatalog.WorkerFailed, $"The UDF worker did not start: {line ?? "(no output)"}", udf);
        }
        return new UdfWorker(process, ready.Clone());
    }

    /// <summary>Sends row ids and returns (id, value or error) for each row the worker found; a dead worker is WorkerFailed.</summary>
    public async Task<IReadOnlyList<(long Id, JsonElement? Value, string? Error)>> ComputeAsync(IReadOnlyList<long> ids, CancellationToken cancellation)
    {
        var request = JsonSerializer.Serialize(new { ids });
        try
        {
            await _process.StandardInput.WriteLineAsync(request.AsMemory(), cancellation).ConfigureAwait(false);
            await _process.StandardInput.FlushAsync(cancellation).ConfigureAwait(false);
            var line = await _process.StandardOutput.ReadLineAsync(cancellation).ConfigureAwait(false)
                ?? throw new IOException($"the worker (pid {_process.Id}) closed its output");
            return ParseAnswer(line, _process.Id);
        }
        catch (IOException ex)
        {
            throw new E2EException(ErrorCatalog.WorkerFailed, $"UDF worker pid {_process.Id} failed: {ex.Message}", _process.Id, ex);
        }
    }

    /// <summary>
    /// One answer line of the worker protocol: {"results": [{"id": n, "value": v} or {"id": n, "error": text}]}.
    /// Anything else (a line a UDF printed, a cut line, wrong types) is WorkerFailed, never another exception.
    /// </summary>
    internal static IReadOnlyList<(long Id, JsonElement? Value, string? Error)> ParseAnswer(string line, int pid)
    {
        try
        {
            using var answer = JsonDocument.Parse(line, new JsonDocumentOptions { MaxDepth = E2E.Core.Limits.InputLimits.MaxNestingDepth });
            return answer.RootElement.GetProperty("results").EnumerateArray()
                .Select(r => (r.GetProperty("id").GetInt64(), r.TryGetProperty("value", out var v) ? v.Clone() : (JsonElement?)null, r.TryGetProperty("error", out var e) ? e.GetString() : null))
                .ToArray();
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new E2EException(ErrorCatalog.WorkerFailed, $"UDF worker pid {pid} broke the protocol: {ex.Message}", pid, ex);
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>
    /// Closes the worker's input and waits for it to exit (2 s), then kills it; asynchronously, so that ending
    /// a backfill (a stop, a failure) never holds thread-pool threads, which a session's other cmdlets and
    /// jobs need to start (a blocked pool delayed Invoke-Backfill -AsJob by a second in a stress run).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException)
        {
        }
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
        {
            try
            {
                await _process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                try
                {
                    _process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                }
                using var killed = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try
                {
                    await _process.WaitForExitAsync(killed.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // It will not die: nothing more to do but let go of it.
                }
            }
        }
        _process.Dispose();
    }
}
