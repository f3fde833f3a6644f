using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using E2E.Core.Net;

namespace E2E.Core.StandIns;

/// <summary>
/// A stand-in for the Docker Engine API on a unix socket, for machines without a Docker engine: HTTP/1.1 with
/// keep-alive, API-version path prefixes (/v1.52/...), and the container calls the module makes (ping,
/// version, create with labels, start, stop, list with label filters, remove), answering as the engine does
/// (201/204/304/404/409 with {"message": ...}). It parses requests strictly: a header line ended by a bare LF
/// (what Docker.DotNet 3.125 sent) is a 400. Containers are records; nothing runs.
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
            ("POST", ["containers", var id, "start"]) => Transition(id, running: true),
            ("POST", ["containers", var id, "stop"]) => Transition(id, running: false),
            ("GET", ["containers", "json"]) => (200, List(parameters["all"] is "1" or "true", parameters["filters"])),
            ("DELETE", ["containers", var id]) => Remove(id, parameters["force"] is "1" or "true"),
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
            };
        }
        return (201, new JsonObject { ["Id"] = id, ["Warnings"] = new JsonArray() });
    }

    private (int, JsonNode?) Transition(string id, bool running)
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
        container["State"] = state;
        return (204, null);
    }

    private JsonArray List(bool all, string? filters)
    {
        var wanted = new List<string>();
        if (!string.IsNullOrEmpty(filters) && JsonNode.Parse(filters)?["label"] is { } label)
        {
            // The engine accepts {"label": {"k=v": true}} and {"label": ["k=v"]}.
            wanted.AddRange(label is JsonObject map ? map.Select(p => p.Key) : label.AsArray().Select(v => (string?)v ?? string.Empty));
        }
        var result = new JsonArray();
        // Newest first, as the engine lists them.
        foreach (var container in _containers.Values.OrderByDescending(c => (long?)c["Sequence"]))
        {
            var labels = container["Labels"] as JsonObject ?? new JsonObject();
            if (!all && (string?)container["State"] != "running")
            {
                continue;
            }
            if (!wanted.All(w => w.Split('=', 2) is var kv && labels[kv[0]] is { } value && (kv.Length == 1 || (string?)value == kv[1])))
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
