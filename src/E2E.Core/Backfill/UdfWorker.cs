using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Processes;

namespace E2E.Core.Backfill;

/// <summary>
/// Where a worker reads its rows' inputs: a SQLite file, a query taking the ids as one JSON array parameter and
/// returning the id and then the inputs, and the same query for the rows from a first to a last id (two parameters).
/// </summary>
public sealed record WorkerRowSource(string Database, string Query, string SpanQuery);

/// <summary>
/// What a worker runs in: the worker script, the folders put first on its sys.path (the script's own, then the
/// manifest's materialized zips), and, for a manifest that packed its environment, that environment's site-packages.
/// Such a worker is isolated: it starts without the interpreter's own site-packages (python -S), so the UDF sees the
/// packages it was published with and nothing the machine happens to have; its site-packages' .pth files are processed.
/// </summary>
public sealed record WorkerEnvironment(string Script, IReadOnlyList<string> Paths, IReadOnlyList<string> SiteDirectories, IReadOnlyList<string> Modules, bool Isolated)
{
    public static async Task<WorkerEnvironment> MaterializeAsync(E2E.Core.Udf.UdfManifest manifest, E2E.Core.Udf.IObjectStore store, string cacheDirectory, string workerScript, CancellationToken cancellation)
    {
        var folders = await E2E.Core.Udf.ManifestStore.MaterializeAsync(manifest, store, cacheDirectory, cancellation).ConfigureAwait(false);
        var sites = manifest.Zips.Zip(folders).Where(z => z.First.Kind == "site_packages").Select(z => z.Second).ToArray();
        var paths = new List<string> { Path.GetDirectoryName(Path.GetFullPath(workerScript))! };
        paths.AddRange(folders);
        return new WorkerEnvironment(workerScript, paths, sites, manifest.PyModules, Isolated: !manifest.SkipSitePackages);
    }
}

/// <summary>A UDF a worker computes, and the positions of its inputs among the source query's input columns.</summary>
public sealed record WorkerUdf(string Name, IReadOnlyList<int> Inputs);

/// <summary>
/// One result of the worker protocol: a value (long, double, bool, string, byte[], a JsonElement for dicts, lists
/// and big integers, or null) or the UDF's error for that row.
/// </summary>
public readonly record struct UdfResult(long Id, object? Value, string? Error);

/// <summary>
/// One Python worker process computing the UDFs of a pass over the rows it is sent (see module/python/e2e_worker.py):
/// length-prefixed binary frames both ways, row ids in, typed results out. The worker reads the inputs itself, so
/// kilobytes of images never cross the pipe, and one read of a row serves every UDF of the pass. Requests may be
/// pipelined: answers come back in request order, so the worker computes the next batch while the driver stores the last.
/// A worker is started for an environment and bound to a pass; disposing one that is idle and sound gives it to
/// <see cref="UdfWorkerPool"/> for the next pass of the same environment.
/// </summary>
public sealed class UdfWorker : IAsyncDisposable
{
    /// <summary>The largest frame either side accepts (a batch of large binary results); more is a broken protocol, not an allocation.</summary>
    public const int MaxFrameBytes = 1 << 30;

    private readonly Process _process;
    private readonly ProcessGroup _group;
    private readonly Stream _input;
    private readonly Stream _output;
    private readonly StderrTail _stderr;
    private readonly string _poolKey;
    private int _inFlight;
    private bool _broken;

    private UdfWorker(ProcessGroup group, StderrTail stderr, string poolKey)
    {
        _group = group;
        _process = group.Leader;
        _input = _process.StandardInput.BaseStream;
        _output = _process.StandardOutput.BaseStream;
        _stderr = stderr;
        _poolKey = poolKey;
    }

    /// <summary>What each UDF of the current pass declares (data type, inputs, batching), by name.</summary>
    public IReadOnlyDictionary<string, JsonElement> Descriptions { get; private set; } = new Dictionary<string, JsonElement>();

    /// <summary>The device a stateful UDF said it computes on (its 'device' attribute after setup), or null when it names none.</summary>
    public string? DeviceOf(string udf) =>
        Descriptions.TryGetValue(udf, out var described) && described.TryGetProperty("device", out var device) && device.ValueKind == JsonValueKind.String ? device.GetString() : null;

    public int ProcessId => _process.Id;

    /// <summary>Whether it can serve another pass: alive, its protocol intact, nothing in flight.</summary>
    internal bool Reusable => !_broken && _inFlight == 0 && !HasExited();

    private bool HasExited()
    {
        try
        {
            return _process.HasExited;
        }
        catch (InvalidOperationException)
        {
            return true;
        }
    }

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

    /// <summary>
    /// A worker for <paramref name="udfs"/>: an idle one of the same interpreter and environment from the pool, else a
    /// new process; without <paramref name="source"/> it can only describe them.
    /// </summary>
    public static async Task<UdfWorker> StartAsync(string python, WorkerEnvironment environment, IReadOnlyList<WorkerUdf> udfs, WorkerRowSource? source, CancellationToken cancellation)
    {
        python = ResolveInterpreter(python);
        var config = JsonSerializer.Serialize(new { paths = environment.Paths, site_dirs = environment.SiteDirectories, modules = environment.Modules });
        var key = string.Join('\0', python, environment.Isolated ? "-S" : string.Empty, environment.Script, config, ProcessContext());
        var bind = JsonSerializer.SerializeToUtf8Bytes(new
        {
            udfs = udfs.Select(u => new { name = u.Name, inputs = u.Inputs }),
            source = source is null ? null : new { database = source.Database, query = source.Query, span_query = source.SpanQuery },
        });
        while (UdfWorkerPool.Take(key) is { } idle)
        {
            try
            {
                return await idle.BindAsync(bind, udfs, environment, cancellation).ConfigureAwait(false);
            }
            catch (E2EException ex) when (ex.Error == ErrorCatalog.WorkerFailed)
            {
                await idle.DisposeAsync().ConfigureAwait(false); // it died while idle: the next one, or a new process
            }
        }
        var worker = Spawn(python, environment, config, key);
        return await worker.BindAsync(bind, udfs, environment, cancellation).ConfigureAwait(false);
    }

    /// <summary>
    /// What a worker inherits when it starts, as a digest: the working directory and every environment variable (a
    /// token or CUDA_VISIBLE_DEVICES set since an idle worker started must not be missed by the next backfill).
    /// </summary>
    private static string ProcessContext()
    {
        var text = new StringBuilder(Environment.CurrentDirectory);
        foreach (var (name, value) in Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Select(e => ((string)e.Key, e.Value as string ?? string.Empty)).OrderBy(e => e.Item1, StringComparer.Ordinal))
        {
            text.Append('\0').Append(name).Append('=').Append(value);
        }
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private static UdfWorker Spawn(string python, WorkerEnvironment environment, string config, string key)
    {
        var start = new ProcessStartInfo(python) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-u");
        if (environment.Isolated)
        {
            start.ArgumentList.Add("-S");
        }
        start.ArgumentList.Add(environment.Script);
        start.ArgumentList.Add(config);
        start.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        ProcessGroup group;
        try
        {
            group = ProcessGroup.Start(start.Own());
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new E2EException(ErrorCatalog.ToolNotFound, $"'{python}' is not installed or not on PATH; UDF workers need Python 3.", python, ex);
        }
        var stderr = new StderrTail();
        group.Leader.ErrorDataReceived += (_, e) => stderr.Add(e.Data);
        group.Leader.BeginErrorReadLine();
        return new UdfWorker(group, stderr, key);
    }

    /// <summary>Binds the worker to a pass's UDFs and rows (a new process gets this request as it imports the UDFs); a UDF it lacks is UdfNotFound.</summary>
    private async Task<UdfWorker> BindAsync(byte[] bind, IReadOnlyList<WorkerUdf> udfs, WorkerEnvironment environment, CancellationToken cancellation)
    {
        _stderr.Clear(); // a failure of this pass is told with this pass's output
        JsonDocument? ready = null;
        try
        {
            var frame = new byte[4 + 1 + bind.Length];
            BinaryPrimitives.WriteInt32LittleEndian(frame, 1 + bind.Length);
            frame[4] = (byte)'B';
            bind.CopyTo(frame, 5);
            await _input.WriteAsync(frame, cancellation).ConfigureAwait(false);
            await _input.FlushAsync(cancellation).ConfigureAwait(false);
            var answer = await ReadFrameAsync(_output, cancellation).ConfigureAwait(false);
            ready = answer is null ? null : JsonDocument.Parse(answer);
        }
        catch (Exception ex) when (ex is JsonException or IOException)
        {
            ready = null;
        }
        catch (OperationCanceledException)
        {
            _broken = true;
            await DisposeAsync().ConfigureAwait(false);
            throw;
        }
        using (ready)
        {
            if (ready is null || !ready.RootElement.TryGetProperty("ready", out var described))
            {
                _broken = true;
                var failure = new E2EException(ErrorCatalog.WorkerFailed, $"The UDF worker did not start: {_stderr.Text(_process) ?? "(no output)"}", udfs.Count > 0 ? udfs[0].Name : null);
                _group.Terminate(TimeSpan.Zero);
                throw failure;
            }
            var missing = ready.RootElement.GetProperty("missing").EnumerateArray().Select(m => m.GetString()!).ToArray();
            if (missing.Length > 0)
            {
                await DisposeAsync().ConfigureAwait(false); // sound: back to the pool
                throw new E2EException(ErrorCatalog.UdfNotFound, $"No UDF named '{missing[0]}' in modules {string.Join(", ", environment.Modules)}; they declare: {ready.RootElement.GetProperty("available")}.", missing[0]);
            }
            Descriptions = described.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone(), StringComparer.Ordinal);
            return this;
        }
    }

    /// <summary>Sends one request: for each block, a UDF (by its index in the start list) and the row ids to compute it for.</summary>
    public async Task SendAsync(IReadOnlyList<(int Udf, IReadOnlyList<long> Ids)> blocks, CancellationToken cancellation)
    {
        var size = 3 + blocks.Sum(b => 6 + (8 * b.Ids.Count));
        var frame = new byte[4 + size];
        BinaryPrimitives.WriteInt32LittleEndian(frame, size);
        frame[4] = (byte)'C';
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(5), checked((ushort)blocks.Count));
        var position = 7;
        foreach (var (udf, ids) in blocks)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(position), checked((ushort)udf));
            BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(position + 2), ids.Count);
            position += 6;
            foreach (var id in ids)
            {
                BinaryPrimitives.WriteInt64LittleEndian(frame.AsSpan(position), id);
                position += 8;
            }
        }
        // Counted before the write: a write cut short by a cancellation leaves the stream in an unknown state.
        _inFlight++;
        try
        {
            await _input.WriteAsync(frame, cancellation).ConfigureAwait(false);
            await _input.FlushAsync(cancellation).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            throw Died(ex.Message, ex);
        }
    }

    /// <summary>The answer to the oldest request not yet answered: per block, the results of the rows the worker found; a dead worker is WorkerFailed.</summary>
    public async Task<IReadOnlyList<(int Udf, IReadOnlyList<UdfResult> Results)>> ReceiveAsync(CancellationToken cancellation)
    {
        byte[]? frame;
        try
        {
            frame = await ReadFrameAsync(_output, cancellation).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            throw Died(ex.Message, ex);
        }
        if (frame is null)
        {
            throw Died("it closed its output", null);
        }
        _inFlight--;
        try
        {
            return ParseAnswer(frame, _process.Id);
        }
        catch (E2EException)
        {
            _broken = true;
            throw;
        }
    }

    private E2EException Died(string what, Exception? inner)
    {
        _broken = true;
        // Its last words (a traceback, an out-of-memory message) say why; they arrive just after the pipe closes.
        _process.WaitForExit(500);
        var tail = _stderr.Text(_process);
        return new E2EException(ErrorCatalog.WorkerFailed, $"UDF worker pid {_process.Id} failed: {what}{(tail is null ? string.Empty : ": " + tail)}", _process.Id, inner);
    }

    /// <summary>One frame (4-byte little-endian length, then the payload), or null at the end of the stream.</summary>
    private static async Task<byte[]?> ReadFrameAsync(Stream stream, CancellationToken cancellation)
    {
        var header = new byte[4];
        var got = await stream.ReadAtLeastAsync(header, 4, throwOnEndOfStream: false, cancellation).ConfigureAwait(false);
        if (got < 4)
        {
            return null;
        }
        var length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (length is < 0 or > MaxFrameBytes)
        {
            throw new IOException($"a frame of {length} bytes breaks the protocol (at most {MaxFrameBytes})");
        }
        var payload = new byte[length];
        await stream.ReadExactlyAsync(payload, cancellation).ConfigureAwait(false);
        return payload;
    }

    /// <summary>
    /// One answer frame of the worker protocol (see module/python/e2e_worker.py). Anything else (a cut frame, an
    /// unknown tag, a length past the end) is WorkerFailed, never another exception.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static IReadOnlyList<(int Udf, IReadOnlyList<UdfResult> Results)> ParseAnswer(ReadOnlySpan<byte> frame, int pid)
    {
        var blocks = new List<(int, IReadOnlyList<UdfResult>)>();
        var position = 0;
        try
        {
            while (position < frame.Length)
            {
                var udf = BinaryPrimitives.ReadUInt16LittleEndian(frame[position..]);
                var count = BinaryPrimitives.ReadInt32LittleEndian(frame[(position + 2)..]);
                position += 6;
                // Each result takes at least 9 bytes: a count past that is a broken frame, not a huge allocation.
                if (count < 0 || count > (frame.Length - position) / 9)
                {
                    throw new FormatException($"a block of {count} results does not fit the frame");
                }
                var results = new UdfResult[count];
                for (var i = 0; i < count; i++)
                {
                    var id = BinaryPrimitives.ReadInt64LittleEndian(frame[position..]);
                    var tag = frame[position + 8];
                    position += 9;
                    results[i] = tag switch
                    {
                        0 => new UdfResult(id, null, null),
                        1 => new UdfResult(id, BinaryPrimitives.ReadInt64LittleEndian(frame[Take(ref position, 8)..]), null),
                        2 => new UdfResult(id, BinaryPrimitives.ReadDoubleLittleEndian(frame[Take(ref position, 8)..]), null),
                        6 => new UdfResult(id, frame[Take(ref position, 1)] != 0, null),
                        3 => new UdfResult(id, Encoding.UTF8.GetString(Sized(frame, ref position)), null),
                        4 => new UdfResult(id, Sized(frame, ref position).ToArray(), null),
                        5 => new UdfResult(id, ParseJson(Sized(frame, ref position)), null),
                        255 => new UdfResult(id, null, Encoding.UTF8.GetString(Sized(frame, ref position))),
                        _ => throw new FormatException($"unknown result tag {tag}"),
                    };
                }
                blocks.Add((udf, results));
            }
        }
        catch (Exception ex) when (ex is ArgumentOutOfRangeException or FormatException or JsonException or IndexOutOfRangeException)
        {
            throw new E2EException(ErrorCatalog.WorkerFailed, $"UDF worker pid {pid} broke the protocol: {ex.Message}", pid, ex);
        }
        return blocks;
    }

    private static int Take(ref int position, int bytes)
    {
        var at = position;
        position += bytes;
        return at;
    }

    private static ReadOnlySpan<byte> Sized(ReadOnlySpan<byte> frame, ref int position)
    {
        var length = BinaryPrimitives.ReadInt32LittleEndian(frame[position..]);
        if (length < 0 || length > frame.Length - position - 4)
        {
            throw new FormatException($"a value of {length} bytes does not fit the frame");
        }
        var value = frame.Slice(position + 4, length);
        position += 4 + length;
        return value;
    }

    private static JsonElement ParseJson(ReadOnlySpan<byte> utf8)
    {
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { MaxDepth = E2E.Core.Limits.InputLimits.MaxNestingDepth });
        return JsonElement.ParseValue(ref reader);
    }

    /// <summary>The last lines a worker wrote to stderr, for the error that says why it died.</summary>
    private sealed class StderrTail
    {
        private const int Lines = 20;
        private readonly Queue<string> _lines = new();

        public void Add(string? line)
        {
            if (line is null)
            {
                return;
            }
            lock (_lines)
            {
                _lines.Enqueue(line.Length > 500 ? line[..500] : line);
                while (_lines.Count > Lines)
                {
                    _lines.Dequeue();
                }
            }
        }

        public void Clear()
        {
            lock (_lines)
            {
                _lines.Clear();
            }
        }

        public string? Text(Process process)
        {
            try
            {
                if (process.HasExited)
                {
                    process.WaitForExit(); // the stderr reader has drained once this returns
                }
            }
            catch (InvalidOperationException)
            {
            }
            lock (_lines)
            {
                return _lines.Count == 0 ? null : string.Join(" | ", _lines);
            }
        }
    }


    /// <summary>Gives a sound idle worker to the pool for the next pass of its environment; ends any other (<see cref="CloseAsync"/>).</summary>
    public ValueTask DisposeAsync() => Reusable && UdfWorkerPool.Return(_poolKey, this) ? ValueTask.CompletedTask : CloseAsync();

    /// <summary>
    /// Closes the worker's input and waits for it to exit (2 s), then kills it with its group; asynchronously, so that
    /// ending a backfill (a stop, a failure) never holds thread-pool threads, which a session's other cmdlets and
    /// jobs need to start (a blocked pool delayed Invoke-Backfill -AsJob by a second in a stress run). What its UDFs
    /// started and left running (a data loader, a model server) ends with it either way.
    /// </summary>
    internal async ValueTask CloseAsync()
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
                _group.Terminate(TimeSpan.FromSeconds(1)); // what it left behind; one scan of /proc when nothing was
            }
            catch (OperationCanceledException)
            {
                // The worker and whatever its UDFs started (data loaders, a model server), as one group.
                _group.Terminate(TimeSpan.Zero);
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
