using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using E2E.Core.Net;
using E2E.Core.Processes;

namespace E2E.Core.StandIns;

/// <summary>
/// A stand-in for the Docker Engine API on a unix socket, for machines without a Docker engine: HTTP/1.1 with
/// keep-alive, API-version path prefixes (/v1.52/...), and the container calls the module makes (ping,
/// version, create with labels, start, stop, list with label filters, remove), answering as the engine does
/// (201/204/304/404/409 with {"message": ...}). It parses requests strictly: a header line ended by a bare LF
/// (what Docker.DotNet 3.125 sent) is a 400. Containers are records, and nothing runs, unless an image is
/// given a runner (<see cref="RunImage"/>): then a local process stands in for each of its containers, with the
/// container's environment, and the engine answers for it as for a container (inspect with State and Health from
/// the container's healthcheck run locally, logs as a multiplexed stream, follow included, stop with SIGTERM then
/// SIGKILL after the timeout). There is no network namespace, so a process cannot listen on a container port:
/// environment values that name a published container port, and ':port' in healthcheck tests, are rewritten to
/// its host port. Networks, image
/// inspect and builds (the tar context is read and the tag recorded) are answered too.
/// </summary>
public sealed class FakeDockerEngine : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, JsonObject> _containers = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly Task _accepting;

    public FakeDockerEngine(string socketPath)
    {
        SocketPath = socketPath;
        File.Delete(socketPath);
        _listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        _listener.Listen(16);
        _accepting = Task.Run(() => Loopback.AcceptAsync(_listener, ServeAsync, _stop.Token));
    }

    public string SocketPath { get; }

    /// <summary>unix:///path, for DOCKER_HOST.</summary>
    public Uri Endpoint => new("unix://" + SocketPath);

    /// <summary>Every request as 'METHOD /path' (without the version prefix and query), oldest first.</summary>
    public IReadOnlyList<string> Requests => _requests.ToArray();

    /// <summary>Requests refused for malformed framing (bare LF line ends, bad lengths).</summary>
    public int MalformedRequests => _malformed;

    private int _malformed;
    private long _created;
    private readonly ConcurrentDictionary<string, Func<IReadOnlyDictionary<string, string>, IReadOnlyList<string>>> _runners = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _images = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, JsonObject> _networks = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, FakeRun> _runs = new(StringComparer.Ordinal);

    /// <summary>Containers of <paramref name="image"/> run <paramref name="command"/> (given the container's environment) as a local process. The image does not exist for image inspect until built or added.</summary>
    public void RunImage(string image, Func<IReadOnlyDictionary<string, string>, IReadOnlyList<string>> command)
    {
        _runners[image] = command;
    }

    /// <summary>Makes image inspect find <paramref name="image"/>, as if it had been pulled.</summary>
    public void AddImage(string image) => _images[image] = true;

    /// <summary>Images built through POST /build, by tag.</summary>
    public IReadOnlyList<string> BuiltImages => _built.ToArray();

    private readonly ConcurrentQueue<string> _built = new();

    /// <summary>The networks that exist, by name.</summary>
    public IReadOnlyList<string> Networks => _networks.Values.Select(n => (string)n["Name"]!).ToArray();

    /// <summary>Containers that exist (created, running or exited), by name.</summary>
    public IReadOnlyList<string> ContainerNames => _containers.Values.Select(c => (string)c["Name"]!).ToArray();

    /// <summary>The stored create request of a container (Env, HostConfig, Healthcheck, Labels as sent).</summary>
    public JsonObject? ContainerSpec(string name) => _containers.Values.FirstOrDefault(c => (string?)c["Name"] == name)?["Spec"] as JsonObject;

    private sealed class FakeRun
    {
        public SupervisedProcess? Process;
        public required string LogPath;
        public string? Health;
        public int Failures;
        public readonly CancellationTokenSource Stop = new();
    }

    private async Task ServeAsync(Socket connection)
    {
        using var stream = new NetworkStream(connection, ownsSocket: true);
        var reader = new RequestReader(stream);
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var request = await reader.ReadAsync(_stop.Token).ConfigureAwait(false);
                if (request is null)
                {
                    return;
                }
                if (request.Malformed is null && LogsRequest(request) is { } logs)
                {
                    await StreamLogsAsync(stream, logs.Id, logs.Tail, logs.Follow).ConfigureAwait(false);
                    continue;
                }
                var (status, body) = request.Malformed is { } why
                    ? (400, Message(why))
                    : Answer(request);
                if (request.Malformed is not null)
                {
                    Interlocked.Increment(ref _malformed);
                }
                await WriteAsync(stream, status, body, request.Method == "HEAD", close: request.Close || request.Malformed is not null).ConfigureAwait(false);
                if (request.Close || request.Malformed is not null)
                {
                    return; // Connection: close (Docker.DotNet sends it), or framing that cannot be trusted further.
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidDataException or FormatException)
        {
            // The client went away, or broke the framing beyond answering.
        }
    }

    private (int Status, JsonNode? Body) Answer(Request request)
    {
        var path = request.Path;
        var query = string.Empty;
        var q = path.IndexOf('?', StringComparison.Ordinal);
        if (q >= 0)
        {
            query = path[(q + 1)..];
            path = path[..q];
        }
        var segments = path.Trim('/').Split('/');
        if (segments.Length > 0 && segments[0].StartsWith("v1.", StringComparison.Ordinal))
        {
            segments = segments[1..];
        }
        var parameters = System.Web.HttpUtility.ParseQueryString(query);
        _requests.Enqueue($"{request.Method} /{string.Join('/', segments)}");
        return (request.Method, segments) switch
        {
            ("GET" or "HEAD", ["_ping"]) => (200, null),
            ("GET", ["version"]) => (200, new JsonObject { ["Version"] = "29.4.1-e2e-fake", ["ApiVersion"] = "1.52", ["MinAPIVersion"] = "1.24", ["Os"] = "linux", ["Arch"] = "amd64", ["KernelVersion"] = Environment.OSVersion.Version.ToString() }),
            ("POST", ["containers", "create"]) => Create(parameters["name"], request.Body),
            ("POST", ["containers", var id, "start"]) => Transition(id, running: true, 10),
            ("POST", ["containers", var id, "stop"]) => Transition(id, running: false, int.TryParse(parameters["t"], out var t) ? t : 10),
            ("GET", ["containers", "json"]) => (200, List(parameters["all"] is "1" or "true", parameters["filters"])),
            ("GET", ["containers", var id, "json"]) => Inspect(id),
            ("DELETE", ["containers", var id]) => Remove(id, parameters["force"] is "1" or "true"),
            ("POST", ["networks", "create"]) => CreateNetwork(request.Body),
            ("GET", ["networks"]) => (200, ListNetworks(parameters["filters"])),
            ("DELETE", ["networks", var id]) => _networks.TryRemove(id, out _) || _networks.Values.FirstOrDefault(n => (string?)n["Name"] == id) is { } byName && _networks.TryRemove((string)byName["Id"]!, out _)
                ? (204, null) : (404, Message($"network {id} not found")),
            ("GET", ["images", .. var name, "json"]) => _images.ContainsKey(string.Join('/', name)) ? (200, new JsonObject { ["Id"] = "sha256:" + new string('0', 64), ["RepoTags"] = new JsonArray(string.Join('/', name)) }) : (404, Message($"No such image: {string.Join('/', name)}")),
            ("POST", ["build"]) => Build(parameters["t"], request.Body),
            _ => (404, Message("page not found")),
        };
    }

    private (int, JsonNode?) Create(string? name, byte[] body)
    {
        JsonObject spec;
        try
        {
            spec = JsonNode.Parse(body) as JsonObject ?? throw new JsonException("not an object");
        }
        catch (JsonException ex)
        {
            return (400, Message($"invalid JSON: {ex.Message}"));
        }
        if (string.IsNullOrEmpty((string?)spec["Image"]))
        {
            return (400, Message("config cannot be empty in order to create a container"));
        }
        var id = Convert.ToHexString(Guid.NewGuid().ToByteArray()).ToLowerInvariant() + Convert.ToHexString(Guid.NewGuid().ToByteArray()).ToLowerInvariant();
        name ??= "fake_" + id[..8];
        lock (_containers)
        {
            if (_containers.Values.Any(c => (string?)c["Name"] == name))
            {
                return (409, Message($"Conflict. The container name \"/{name}\" is already in use."));
            }
            _containers[id] = new JsonObject
            {
                ["Id"] = id,
                ["Name"] = name,
                ["Image"] = (string?)spec["Image"],
                ["Labels"] = spec["Labels"]?.DeepClone() ?? new JsonObject(),
                ["State"] = "created",
                ["Created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
                ["Sequence"] = Interlocked.Increment(ref _created),
                ["Spec"] = spec.DeepClone(),
            };
        }
        return (201, new JsonObject { ["Id"] = id, ["Warnings"] = new JsonArray() });
    }

    private (int, JsonNode?) Transition(string id, bool running, int stopTimeout)
    {
        if (Find(id) is not { } container)
        {
            return (404, Message($"No such container: {id}"));
        }
        var state = running ? "running" : "exited";
        if ((string?)container["State"] == state)
        {
            return (304, null);
        }
        if (running)
        {
            StartRun(container);
        }
        else if (_runs.TryGetValue((string)container["Id"]!, out var run))
        {
            run.Stop.Cancel();
            // Docker's stop: SIGTERM, then SIGKILL after t seconds.
            var graceful = run.Process?.Stop(TimeSpan.FromSeconds(stopTimeout)) ?? true;
            container["ExitCode"] = graceful ? run.Process?.ExitCode ?? 0 : 137;
        }
        container["State"] = state;
        return (204, null);
    }

    private void StartRun(JsonObject container)
    {
        var id = (string)container["Id"]!;
        var spec = container["Spec"] as JsonObject ?? new JsonObject();
        var run = new FakeRun { LogPath = Path.Combine(Path.GetDirectoryName(SocketPath)!, $"fake-container-{id[..12]}.log") };
        _runs[id] = run;
        if (!_runners.TryGetValue((string)container["Image"]!, out var runner))
        {
            return;
        }
        var published = new Dictionary<string, string>(StringComparer.Ordinal);
        if (spec["HostConfig"]?["PortBindings"] is JsonObject bindings)
        {
            foreach (var (port, binding) in bindings)
            {
                if (binding is JsonArray { Count: > 0 } list && (string?)list[0]?["HostPort"] is { Length: > 0 } hostPort)
                {
                    published[port.Split('/')[0]] = hostPort;
                }
            }
        }
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in spec["Env"] as JsonArray ?? new JsonArray())
        {
            var text = (string?)item ?? string.Empty;
            var equals = text.IndexOf('=');
            if (equals > 0)
            {
                var value = text[(equals + 1)..];
                environment[text[..equals]] = published.TryGetValue(value, out var hostPort) ? hostPort : value;
            }
        }
        run.Process = SupervisedProcess.Start(runner(environment), environment.ToDictionary(p => p.Key, p => (string?)p.Value), null, run.LogPath, $"fake container {(string?)container["Name"]}");
        if (spec["Healthcheck"] is JsonObject check && check["Test"] is JsonArray test && test.Count > 1 && (string?)test[0] is "CMD" or "CMD-SHELL")
        {
            run.Health = "starting";
            // The probe runs here, not inside the container: ':<container port>' in it means the published host port.
            var words = test.Select(t => published.Aggregate((string?)t ?? string.Empty, (word, port) => System.Text.RegularExpressions.Regex.Replace(word, $":{port.Key}\\b", ":" + port.Value))).ToArray();
            var healthcheck = new E2E.Core.Stacks.ServiceHealthcheck(words, Nanoseconds(check["Interval"], 30), Nanoseconds(check["Timeout"], 30),
                (int?)check["Retries"] ?? 3, Nanoseconds(check["StartPeriod"], 0), Disabled: false);
            _ = Task.Run(async () =>
            {
                while (!run.Stop.IsCancellationRequested && run.Process is { HasExited: false })
                {
                    var healthy = await E2E.Core.Stacks.HealthProbe.RunAsync(healthcheck, environment!, null, run.Stop.Token).ConfigureAwait(false);
                    run.Failures = healthy ? 0 : run.Failures + 1;
                    run.Health = healthy ? "healthy" : run.Failures >= healthcheck.Retries ? "unhealthy" : run.Health;
                    try
                    {
                        await Task.Delay(healthcheck.Interval, run.Stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }
            });
        }
    }

    private static TimeSpan Nanoseconds(JsonNode? value, double fallbackSeconds) =>
        value is JsonValue v && v.TryGetValue<long>(out var ns) && ns > 0 ? TimeSpan.FromTicks(ns / 100) : TimeSpan.FromSeconds(fallbackSeconds);

    private (int, JsonNode?) Inspect(string id)
    {
        if (Find(id) is not { } container)
        {
            return (404, Message($"No such container: {id}"));
        }
        _runs.TryGetValue((string)container["Id"]!, out var run);
        var status = (string?)container["State"] ?? "created";
        if (status == "running" && run?.Process is { HasExited: true } exited)
        {
            status = "exited";
            container["State"] = status;
            container["ExitCode"] = exited.ExitCode;
        }
        var state = new JsonObject
        {
            ["Status"] = status,
            ["Running"] = status == "running",
            ["ExitCode"] = (int?)container["ExitCode"] ?? 0,
            ["Pid"] = run?.Process?.Id ?? 0,
        };
        if (run?.Health is { } health)
        {
            state["Health"] = new JsonObject { ["Status"] = status == "running" ? health : "unhealthy", ["FailingStreak"] = run.Failures };
        }
        return (200, new JsonObject
        {
            ["Id"] = (string?)container["Id"],
            ["Name"] = "/" + (string?)container["Name"],
            ["Image"] = (string?)container["Image"],
            ["State"] = state,
            ["Config"] = new JsonObject { ["Image"] = (string?)container["Image"], ["Tty"] = false, ["Labels"] = container["Labels"]?.DeepClone() },
        });
    }

    private (string Id, int Tail, bool Follow)? LogsRequest(Request request)
    {
        var path = request.Path;
        var q = path.IndexOf('?', StringComparison.Ordinal);
        var query = System.Web.HttpUtility.ParseQueryString(q >= 0 ? path[(q + 1)..] : string.Empty);
        var segments = (q >= 0 ? path[..q] : path).Trim('/').Split('/');
        if (segments.Length > 0 && segments[0].StartsWith("v1.", StringComparison.Ordinal))
        {
            segments = segments[1..];
        }
        if (request.Method != "GET" || segments is not ["containers", _, "logs"])
        {
            return null;
        }
        _requests.Enqueue($"GET /containers/{segments[1]}/logs");
        var tail = int.TryParse(query["tail"], NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : int.MaxValue;
        return (segments[1], tail, query["follow"] is "1" or "true" or "True");
    }

    /// <summary>The logs endpoint: stdout frames of the multiplexed stream (8-byte headers), chunked, and with follow until the container ends.</summary>
    private async Task StreamLogsAsync(Stream stream, string idOrName, int tail, bool follow)
    {
        var container = Find(idOrName);
        if (container is null || !_runs.TryGetValue((string)container["Id"]!, out var run))
        {
            await WriteAsync(stream, 404, Message($"No such container: {idOrName}"), head: false, close: false).ConfigureAwait(false);
            return;
        }
        await stream.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nApi-Version: 1.52\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nTransfer-Encoding: chunked\r\n\r\n")).ConfigureAwait(false);
        async Task FrameAsync(string line)
        {
            var payload = Encoding.UTF8.GetBytes(line + "\n");
            var frame = new byte[8 + payload.Length];
            frame[0] = 1;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), (uint)payload.Length);
            payload.CopyTo(frame, 8);
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"{frame.Length:x}\r\n")).ConfigureAwait(false);
            await stream.WriteAsync(frame).ConfigureAwait(false);
            await stream.WriteAsync("\r\n"u8.ToArray()).ConfigureAwait(false);
            await stream.FlushAsync().ConfigureAwait(false);
        }
        var length = File.Exists(run.LogPath) ? new FileInfo(run.LogPath).Length : 0;
        var existing = LogFile.Tail(run.LogPath, tail);
        if (existing.Length > 0)
        {
            foreach (var line in existing.Split('\n'))
            {
                await FrameAsync(line).ConfigureAwait(false);
            }
        }
        if (follow && File.Exists(run.LogPath))
        {
            await foreach (var line in LogFile.FollowAsync(run.LogPath, length, () => run.Process is null or { HasExited: true } || run.Stop.IsCancellationRequested, _stop.Token).ConfigureAwait(false))
            {
                await FrameAsync(line).ConfigureAwait(false);
            }
        }
        await stream.WriteAsync("0\r\n\r\n"u8.ToArray()).ConfigureAwait(false);
        await stream.FlushAsync().ConfigureAwait(false);
    }

    /// <summary>The label filters of a list call: the engine accepts {"label": {"k=v": true}} and {"label": ["k=v"]}, "k" alone for any value.</summary>
    private static IReadOnlyList<string> LabelFilter(string? filters)
    {
        if (string.IsNullOrEmpty(filters) || JsonNode.Parse(filters)?["label"] is not { } label)
        {
            return Array.Empty<string>();
        }
        return label is JsonObject map ? map.Select(p => p.Key).ToArray() : label.AsArray().Select(v => (string?)v ?? string.Empty).ToArray();
    }

    private static bool MatchesLabels(JsonObject labels, IReadOnlyList<string> wanted) =>
        wanted.All(w => w.Split('=', 2) is var kv && labels[kv[0]] is { } value && (kv.Length == 1 || (string?)value == kv[1]));

    private JsonArray ListNetworks(string? filters)
    {
        var wanted = LabelFilter(filters);
        var result = new JsonArray();
        foreach (var network in _networks.Values)
        {
            var labels = network["Labels"] as JsonObject ?? new JsonObject();
            if (MatchesLabels(labels, wanted))
            {
                result.Add(new JsonObject { ["Id"] = (string?)network["Id"], ["Name"] = (string?)network["Name"], ["Labels"] = labels.DeepClone() });
            }
        }
        return result;
    }

    private (int, JsonNode?) CreateNetwork(byte[] body)
    {
        var spec = JsonNode.Parse(body) as JsonObject ?? new JsonObject();
        var name = (string?)spec["Name"] ?? string.Empty;
        if (_networks.Values.Any(n => (string?)n["Name"] == name))
        {
            return (409, Message($"network with name {name} already exists"));
        }
        var id = Convert.ToHexString(Guid.NewGuid().ToByteArray()).ToLowerInvariant();
        _networks[id] = new JsonObject { ["Id"] = id, ["Name"] = name, ["Labels"] = spec["Labels"]?.DeepClone() };
        return (201, new JsonObject { ["Id"] = id, ["Warning"] = string.Empty });
    }

    private (int, JsonNode?) Build(string? tag, byte[] context)
    {
        if (string.IsNullOrEmpty(tag))
        {
            return (400, Message("a build needs a tag here"));
        }
        // The context must be a readable tar holding a Dockerfile, as the engine requires.
        using var reader = new System.Formats.Tar.TarReader(new MemoryStream(context));
        var hasDockerfile = false;
        while (reader.GetNextEntry() is { } entry)
        {
            hasDockerfile |= entry.Name.TrimStart('.', '/') == "Dockerfile";
        }
        if (!hasDockerfile)
        {
            return (200, new JsonObject { ["errorDetail"] = new JsonObject { ["message"] = "Cannot locate specified Dockerfile: Dockerfile" }, ["error"] = "Cannot locate specified Dockerfile: Dockerfile" });
        }
        _images[tag] = true;
        _built.Enqueue(tag);
        return (200, new JsonObject { ["stream"] = $"Successfully tagged {tag}\n" });
    }

    private JsonArray List(bool all, string? filters)
    {
        var wanted = LabelFilter(filters);
        var result = new JsonArray();
        // Newest first, as the engine lists them.
        foreach (var container in _containers.Values.OrderByDescending(c => (long?)c["Sequence"]))
        {
            var labels = container["Labels"] as JsonObject ?? new JsonObject();
            if (!all && (string?)container["State"] != "running")
            {
                continue;
            }
            if (!MatchesLabels(labels, wanted))
            {
                continue;
            }
            result.Add(new JsonObject
            {
                ["Id"] = (string?)container["Id"],
                ["Names"] = new JsonArray("/" + (string?)container["Name"]),
                ["Image"] = (string?)container["Image"],
                ["Labels"] = labels.DeepClone(),
                ["State"] = (string?)container["State"],
                ["Status"] = (string?)container["State"],
                ["Created"] = (long?)container["Created"],
            });
        }
        return result;
    }

    private (int, JsonNode?) Remove(string id, bool force)
    {
        if (Find(id) is not { } container)
        {
            return (404, Message($"No such container: {id}"));
        }
        if ((string?)container["State"] == "running" && !force)
        {
            return (409, Message($"cannot remove container \"/{(string?)container["Name"]}\": container is running: stop the container before removing or force remove"));
        }
        if (_runs.TryRemove((string)container["Id"]!, out var run))
        {
            run.Stop.Cancel();
            run.Process?.Dispose();
        }
        _containers.TryRemove((string)container["Id"]!, out _);
        return (204, null);
    }

    // The engine takes a full id, a unique id prefix or a name.
    private JsonObject? Find(string idOrName) =>
        _containers.Values.FirstOrDefault(c => (string?)c["Id"] == idOrName || (string?)c["Name"] == idOrName.TrimStart('/'))
        ?? (_containers.Values.Where(c => ((string)c["Id"]!).StartsWith(idOrName, StringComparison.Ordinal)).ToArray() is [var only] ? only : null);

    private static JsonObject Message(string text) => new() { ["message"] = text };

    private static async Task WriteAsync(Stream stream, int status, JsonNode? body, bool head, bool close)
    {
        var payload = body is null ? (status == 200 ? Encoding.ASCII.GetBytes("OK") : Array.Empty<byte>()) : Encoding.UTF8.GetBytes(body.ToJsonString());
        var reason = status switch { 200 => "OK", 201 => "Created", 204 => "No Content", 304 => "Not Modified", 400 => "Bad Request", 404 => "Not Found", 409 => "Conflict", _ => "Error" };
        var header = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {reason}\r\n")
            .Append("Api-Version: 1.52\r\nServer: Docker/29.4.1-e2e-fake (linux)\r\n")
            .Append(body is null ? "Content-Type: text/plain; charset=utf-8\r\n" : "Content-Type: application/json\r\n")
            .Append(close ? "Connection: close\r\n" : string.Empty);
        if (status is not (204 or 304))
        {
            header.Append(CultureInfo.InvariantCulture, $"Content-Length: {payload.Length}\r\n");
        }
        header.Append("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(header.ToString())).ConfigureAwait(false);
        if (!head && status is not (204 or 304))
        {
            await stream.WriteAsync(payload).ConfigureAwait(false);
        }
        await stream.FlushAsync().ConfigureAwait(false);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        try
        {
            _accepting.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        File.Delete(SocketPath);
        _stop.Dispose();
    }

    private sealed record Request(string Method, string Path, byte[] Body, string? Malformed, bool Close);

    /// <summary>Strict HTTP/1.1 request framing: CRLF line ends, Content-Length or chunked bodies.</summary>
    private sealed class RequestReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[8192];
        private int _start;
        private int _end;

        public async Task<Request?> ReadAsync(CancellationToken cancellation)
        {
            var first = await LineAsync(cancellation).ConfigureAwait(false);
            if (first is null)
            {
                return null;
            }
            string? malformed = first.Malformed;
            var parts = first.Text.Split(' ');
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            while (true)
            {
                var line = await LineAsync(cancellation).ConfigureAwait(false) ?? throw new EndOfStreamException();
                malformed ??= line.Malformed;
                if (line.Text.Length == 0)
                {
                    break;
                }
                var colon = line.Text.IndexOf(':', StringComparison.Ordinal);
                if (colon <= 0)
                {
                    malformed ??= $"malformed header line '{line.Text}'";
                    continue;
                }
                headers[line.Text[..colon].Trim()] = line.Text[(colon + 1)..].Trim();
            }
            if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal))
            {
                malformed ??= $"malformed request line '{first.Text}'";
            }
            byte[] body = Array.Empty<byte>();
            if (malformed is null && headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
            {
                using var collected = new MemoryStream();
                while (true)
                {
                    var size = await LineAsync(cancellation).ConfigureAwait(false) ?? throw new EndOfStreamException();
                    var length = int.Parse(size.Text.Split(';')[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    if (length == 0)
                    {
                        await LineAsync(cancellation).ConfigureAwait(false);
                        break;
                    }
                    collected.Write(await BytesAsync(length, cancellation).ConfigureAwait(false));
                    await LineAsync(cancellation).ConfigureAwait(false);
                }
                body = collected.ToArray();
            }
            else if (malformed is null && headers.TryGetValue("Content-Length", out var contentLength))
            {
                if (!int.TryParse(contentLength, NumberStyles.None, CultureInfo.InvariantCulture, out var length) || length > 16 << 20)
                {
                    malformed = $"bad Content-Length '{contentLength}'";
                }
                else
                {
                    body = await BytesAsync(length, cancellation).ConfigureAwait(false);
                }
            }
            var close = headers.TryGetValue("Connection", out var connection) && connection.Equals("close", StringComparison.OrdinalIgnoreCase);
            return new Request(parts.Length > 0 ? parts[0] : string.Empty, parts.Length > 1 ? parts[1] : "/", body, malformed, close);
        }

        private sealed record Line(string Text, string? Malformed);

        private async Task<Line?> LineAsync(CancellationToken cancellation)
        {
            var text = new List<byte>();
            while (true)
            {
                if (_start == _end && !await FillAsync(cancellation).ConfigureAwait(false))
                {
                    return text.Count == 0 ? null : throw new EndOfStreamException();
                }
                var b = _buffer[_start++];
                if (b == '\n')
                {
                    var crlf = text.Count > 0 && text[^1] == '\r';
                    if (crlf)
                    {
                        text.RemoveAt(text.Count - 1);
                    }
                    var value = Encoding.ASCII.GetString(text.ToArray());
                    return new Line(value, crlf ? null : $"line '{value}' ends with a bare LF, not CRLF");
                }
                text.Add(b);
                if (text.Count > 16384)
                {
                    throw new InvalidDataException("header line too long");
                }
            }
        }

        private async Task<byte[]> BytesAsync(int count, CancellationToken cancellation)
        {
            var result = new byte[count];
            var filled = 0;
            while (filled < count)
            {
                if (_start == _end && !await FillAsync(cancellation).ConfigureAwait(false))
                {
                    throw new EndOfStreamException();
                }
                var take = Math.Min(count - filled, _end - _start);
                Array.Copy(_buffer, _start, result, filled, take);
                _start += take;
                filled += take;
            }
            return result;
        }

        private async Task<bool> FillAsync(CancellationToken cancellation)
        {
            _start = 0;
            _end = await stream.ReadAsync(_buffer, cancellation).ConfigureAwait(false);
            return _end > 0;
        }
    }
}
