using System.Buffers.Binary;
using System.Net.Sockets;
using System.Net;
using System.Text;
using E2E.Core.Errors;
using E2E.Core.Grpc;
using E2E.Core.Net;

namespace E2E.Core.StandIns.Grpc;

/// <summary>
/// A gRPC request as the server sees it: the method path, the request headers (lower-case names) and the messages the
/// client sent before it half-closed (one for a unary or server-streaming call, any number for a client stream).
/// </summary>
public sealed record GrpcRequest(string Path, IReadOnlyDictionary<string, string> Headers, IReadOnlyList<byte[]> Messages)
{
    /// <summary>The one message of a unary call (empty when none came).</summary>
    public byte[] Message => Messages.Count > 0 ? Messages[0] : Array.Empty<byte>();
}

/// <summary>A reply: messages (one for a unary call, any number for a server stream), or a non-zero gRPC status with a message text.</summary>
public sealed record GrpcReply(int Status, string? StatusMessage, IReadOnlyList<byte[]>? Messages)
{
    public static GrpcReply Ok(byte[] message) => new(0, null, new[] { message });

    public static GrpcReply Stream(IReadOnlyList<byte[]> messages) => new(0, null, messages);

    public static GrpcReply Fail(int status, string message) => new(status, message, null);
}

/// <summary>
/// A minimal HTTP/2 cleartext (h2c, prior knowledge) gRPC server on 127.0.0.1, standing in for the SkyTorch Gateway
/// on a machine without Envoy. It implements what gRPC calls need: the preface, SETTINGS/PING/WINDOW_UPDATE/GOAWAY/
/// RST_STREAM, HEADERS+CONTINUATION with an HPACK decoder (static and dynamic tables; Huffman-coded strings are
/// refused with a clear error, since .NET's client does not send them), DATA in both directions under HTTP/2 flow
/// control (the peer's windows and frame size are respected; this side opens 16 MB windows and gives them back as
/// data is read), and answers as HEADERS, DATA, trailers, each call on a task of its own. A call is answered once the
/// client has half-closed: unary, client-streaming and server-streaming calls behave as gRPC says; a bidirectional
/// call gets its answers after its last request (a client that waits for an answer before sending more would wait).
/// </summary>
public sealed class H2cGrpcServer : IDisposable
{
    private const string Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    /// <summary>The receive window this side opens, per stream and for the connection: large messages flow without a round trip per 64 KB.</summary>
    private const int ReceiveWindow = 16 * 1024 * 1024;
    private readonly TcpListener _listener;
    private readonly Func<GrpcRequest, GrpcReply> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly List<Socket> _connections = new();
    private readonly bool _noDelay;
    private long _calls;

    /// <param name="handler">Answers each call; it runs on a task of its own, so it may take its time.</param>
    /// <param name="port">0 for a free port.</param>
    /// <param name="noDelay">False only to measure what Nagle's algorithm costs (bench grpc).</param>
    public H2cGrpcServer(Func<GrpcRequest, GrpcReply> handler, int port = 0, bool noDelay = true)
    {
        _handler = handler;
        _noDelay = noDelay;
        _listener = new TcpListener(IPAddress.Loopback, port);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = Task.Run(() => Loopback.AcceptAsync(_listener.Server, ServeConnectionAsync, _stop.Token));
    }

    public int Port { get; }

    public Uri Url => new($"http://127.0.0.1:{Port}");

    public long CallCount => Interlocked.Read(ref _calls);

    public override string ToString() => $"h2c gRPC server at {Url}";

    public void Dispose()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        _stop.Cancel();
        _listener.Stop();
        lock (_connections)
        {
            foreach (var c in _connections)
            {
                c.Dispose();
            }
        }
        _accepting.Wait(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }

    private async Task ServeConnectionAsync(Socket connection)
    {
        // Without NoDelay every answer waited for Nagle's algorithm and the client's delayed ACK: about 44 ms a
        // call, against about 75 µs with it (DESIGN.md section 4).
        connection.NoDelay = _noDelay;
        lock (_connections)
        {
            _connections.Add(connection);
        }
        var state = new Connection(new NetworkStream(connection, ownsSocket: false));
        try
        {
            await ServeAsync(state).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidDataException or EndOfStreamException)
        {
            // The client left or broke the protocol; the connection is dropped.
        }
        finally
        {
            state.Close();
            lock (_connections)
            {
                _connections.Remove(connection);
            }
            connection.Dispose();
        }
    }

    /// <summary>A request stream being received.</summary>
    private sealed class Incoming
    {
        public Dictionary<string, string> Headers { get; } = new(StringComparer.Ordinal);
        public MemoryStream Body { get; } = new();
        public MemoryStream HeaderBlock { get; } = new();
        public bool Ended { get; set; }
        public int Unacknowledged { get; set; }
    }

    /// <summary>One connection's writer side: frames go out whole under one lock, DATA only within the peer's windows.</summary>
    private sealed class Connection(NetworkStream network)
    {
        private readonly SemaphoreSlim _write = new(1, 1);
        private readonly object _windows = new();
        private readonly Dictionary<int, long> _streamWindows = new();
        private long _connectionWindow = 65535;
        private int _initialStreamWindow = 65535;
        private TaskCompletionSource _windowGrew = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private bool _closed;

        public NetworkStream Network { get; } = network;

        public int MaxFrame { get; set; } = 16384;

        public async Task WriteFrameAsync(byte type, byte flags, int streamId, ReadOnlyMemory<byte> payload)
        {
            var frame = new byte[9 + payload.Length];
            frame[0] = (byte)(payload.Length >> 16);
            frame[1] = (byte)(payload.Length >> 8);
            frame[2] = (byte)payload.Length;
            frame[3] = type;
            frame[4] = flags;
            BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(5), (uint)streamId);
            payload.CopyTo(frame.AsMemory(9));
            await _write.WaitAsync().ConfigureAwait(false);
            try
            {
                await Network.WriteAsync(frame).ConfigureAwait(false);
            }
            finally
            {
                _write.Release();
            }
        }

        public void OpenStream(int streamId)
        {
            lock (_windows)
            {
                _streamWindows[streamId] = _initialStreamWindow;
            }
        }

        public void CloseStream(int streamId)
        {
            lock (_windows)
            {
                _streamWindows.Remove(streamId);
                Grew();
            }
        }

        /// <summary>SETTINGS_INITIAL_WINDOW_SIZE changes every open stream's window by the difference (RFC 9113 6.9.2).</summary>
        public void SetInitialStreamWindow(int size)
        {
            lock (_windows)
            {
                var delta = size - _initialStreamWindow;
                _initialStreamWindow = size;
                foreach (var id in _streamWindows.Keys.ToArray())
                {
                    _streamWindows[id] += delta;
                }
                Grew();
            }
        }

        public void AddWindow(int streamId, int increment)
        {
            lock (_windows)
            {
                if (streamId == 0)
                {
                    _connectionWindow += increment;
                }
                else if (_streamWindows.TryGetValue(streamId, out var window))
                {
                    _streamWindows[streamId] = window + increment;
                }
                Grew();
            }
        }

        public void Close()
        {
            lock (_windows)
            {
                _closed = true;
                Grew();
            }
        }

        private void Grew()
        {
            _windowGrew.TrySetResult();
            _windowGrew = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        /// <summary>Sends <paramref name="data"/> as DATA frames on a stream, each no larger than the peer allows and within both windows, waiting for WINDOW_UPDATE when they are spent.</summary>
        public async Task WriteDataAsync(int streamId, ReadOnlyMemory<byte> data)
        {
            while (data.Length > 0)
            {
                int size;
                Task wait;
                lock (_windows)
                {
                    if (_closed || !_streamWindows.TryGetValue(streamId, out var streamWindow))
                    {
                        throw new IOException($"stream {streamId} was reset or the connection closed");
                    }
                    size = (int)Math.Min(Math.Min(data.Length, MaxFrame), Math.Min(_connectionWindow, streamWindow));
                    if (size > 0)
                    {
                        _connectionWindow -= size;
                        _streamWindows[streamId] = streamWindow - size;
                    }
                    wait = _windowGrew.Task;
                }
                if (size <= 0)
                {
                    await wait.ConfigureAwait(false);
                    continue;
                }
                await WriteFrameAsync(0, 0, streamId, data[..size]).ConfigureAwait(false);
                data = data[size..];
            }
        }
    }

    private async Task ServeAsync(Connection connection)
    {
        var network = connection.Network;
        var preface = new byte[Preface.Length];
        await network.ReadExactlyAsync(preface, _stop.Token).ConfigureAwait(false);
        if (Encoding.ASCII.GetString(preface) != Preface)
        {
            throw new InvalidDataException("not an HTTP/2 prior-knowledge connection");
        }
        // SETTINGS_INITIAL_WINDOW_SIZE for the streams, and the connection's window opened as wide.
        var settings = new byte[6];
        BinaryPrimitives.WriteUInt16BigEndian(settings, 0x4);
        BinaryPrimitives.WriteUInt32BigEndian(settings.AsSpan(2), ReceiveWindow);
        await connection.WriteFrameAsync(4, 0, 0, settings).ConfigureAwait(false);
        await connection.WriteFrameAsync(8, 0, 0, Increment(ReceiveWindow - 65535)).ConfigureAwait(false);
        var decoder = new HpackDecoder();
        var streams = new Dictionary<int, Incoming>();
        var header = new byte[9];
        var connectionUnacknowledged = 0;
        int? continuing = null;
        while (true)
        {
            await network.ReadExactlyAsync(header, _stop.Token).ConfigureAwait(false);
            var length = (header[0] << 16) | (header[1] << 8) | header[2];
            var type = header[3];
            var flags = header[4];
            var streamId = (int)(BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(5)) & 0x7FFFFFFF);
            var payload = new byte[length];
            await network.ReadExactlyAsync(payload, _stop.Token).ConfigureAwait(false);
            switch (type)
            {
                case 0: // DATA
                    if (streams.TryGetValue(streamId, out var dataStream))
                    {
                        var data = Unpad(payload, flags);
                        dataStream.Body.Write(data);
                        // The windows are given back in large steps: one WINDOW_UPDATE per 16 KB frame doubled the frames a big message took.
                        dataStream.Unacknowledged += payload.Length;
                        connectionUnacknowledged += payload.Length;
                        if (connectionUnacknowledged >= ReceiveWindow / 4)
                        {
                            await connection.WriteFrameAsync(8, 0, 0, Increment(connectionUnacknowledged)).ConfigureAwait(false);
                            connectionUnacknowledged = 0;
                        }
                        if ((flags & 0x1) != 0)
                        {
                            Dispatch(connection, streamId, () => Answer(dataStream));
                            streams.Remove(streamId);
                        }
                        else if (dataStream.Unacknowledged >= ReceiveWindow / 4)
                        {
                            await connection.WriteFrameAsync(8, 0, streamId, Increment(dataStream.Unacknowledged)).ConfigureAwait(false);
                            dataStream.Unacknowledged = 0;
                        }
                    }
                    break;
                case 1: // HEADERS
                case 9: // CONTINUATION
                    if (type == 1)
                    {
                        streams[streamId] = new Incoming();
                        connection.OpenStream(streamId);
                        var block = Unpad(payload, flags);
                        if ((flags & 0x20) != 0)
                        {
                            block = block[5..]; // Priority fields.
                        }
                        streams[streamId].HeaderBlock.Write(block);
                        streams[streamId].Ended = (flags & 0x1) != 0;
                    }
                    else if (continuing == streamId)
                    {
                        streams[streamId].HeaderBlock.Write(payload);
                    }
                    if ((flags & 0x4) != 0)
                    {
                        continuing = null;
                        var s = streams[streamId];
                        string? failure = null;
                        try
                        {
                            foreach (var (name, value) in decoder.Decode(s.HeaderBlock.ToArray()))
                            {
                                s.Headers[name] = value;
                            }
                        }
                        catch (InvalidDataException ex)
                        {
                            failure = ex.Message;
                        }
                        if (failure is not null)
                        {
                            streams.Remove(streamId);
                            Dispatch(connection, streamId, () => GrpcReply.Fail(13, failure));
                        }
                        else if (s.Ended)
                        {
                            Dispatch(connection, streamId, () => Answer(s));
                            streams.Remove(streamId);
                        }
                    }
                    else
                    {
                        continuing = streamId;
                    }
                    break;
                case 4: // SETTINGS
                    if ((flags & 0x1) == 0)
                    {
                        for (var i = 0; i + 6 <= payload.Length; i += 6)
                        {
                            var value = (int)BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(i + 2));
                            switch (BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(i)))
                            {
                                case 0x4:
                                    connection.SetInitialStreamWindow(value);
                                    break;
                                case 0x5:
                                    connection.MaxFrame = value;
                                    break;
                            }
                        }
                        await connection.WriteFrameAsync(4, 0x1, 0, ReadOnlyMemory<byte>.Empty).ConfigureAwait(false);
                    }
                    break;
                case 6: // PING
                    if ((flags & 0x1) == 0)
                    {
                        await connection.WriteFrameAsync(6, 0x1, 0, payload).ConfigureAwait(false);
                    }
                    break;
                case 7: // GOAWAY
                    return;
                case 3: // RST_STREAM
                    streams.Remove(streamId);
                    connection.CloseStream(streamId);
                    break;
                case 8: // WINDOW_UPDATE
                    connection.AddWindow(streamId, (int)(BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7FFFFFFF));
                    break;
                default: // PRIORITY, PUSH_PROMISE (never sent by clients), unknown: ignored as the spec says.
                    break;
            }
        }
    }

    private static byte[] Increment(int size)
    {
        var increment = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(increment, (uint)size);
        return increment;
    }

    /// <summary>Answers a call on a task of its own, so that the connection keeps reading (window updates, other calls) while it is answered.</summary>
    private static void Dispatch(Connection connection, int streamId, Func<GrpcReply> answer) => _ = Task.Run(async () =>
    {
        try
        {
            await ReplyAsync(connection, streamId, answer()).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            // The client reset the stream or left.
        }
    });

    private GrpcReply Answer(Incoming stream)
    {
        Interlocked.Increment(ref _calls);
        if (!stream.Headers.TryGetValue("content-type", out var contentType) || !contentType.StartsWith("application/grpc", StringComparison.Ordinal))
        {
            return GrpcReply.Fail(13, "content-type must be application/grpc");
        }
        var messages = new List<byte[]>();
        var body = stream.Body.GetBuffer().AsSpan(0, (int)stream.Body.Length);
        while (body.Length > 0)
        {
            if (body.Length < 5 || body[0] != 0 || BinaryPrimitives.ReadUInt32BigEndian(body[1..]) > body.Length - 5)
            {
                return GrpcReply.Fail(13, "the request is not a sequence of uncompressed length-prefixed messages");
            }
            var size = (int)BinaryPrimitives.ReadUInt32BigEndian(body[1..]);
            messages.Add(body.Slice(5, size).ToArray());
            body = body[(5 + size)..];
        }
        try
        {
            return _handler(new GrpcRequest(stream.Headers.GetValueOrDefault(":path", "/"), stream.Headers, messages));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return GrpcReply.Fail(2, ex.Message);
        }
    }

    private static async Task ReplyAsync(Connection connection, int streamId, GrpcReply reply)
    {
        try
        {
            var headers = new MemoryStream();
            headers.WriteByte(0x88); // :status 200, static table index 8.
            HpackDecoder.WriteLiteral(headers, "content-type", "application/grpc");
            if (reply.Messages is null)
            {
                // Trailers-only answer: the status travels in the one HEADERS frame.
                HpackDecoder.WriteLiteral(headers, "grpc-status", reply.Status.ToString(System.Globalization.CultureInfo.InvariantCulture));
                HpackDecoder.WriteLiteral(headers, "grpc-message", Uri.EscapeDataString(reply.StatusMessage ?? string.Empty));
                await connection.WriteFrameAsync(1, 0x4 | 0x1, streamId, headers.ToArray()).ConfigureAwait(false);
                return;
            }
            await connection.WriteFrameAsync(1, 0x4, streamId, headers.ToArray()).ConfigureAwait(false);
            foreach (var message in reply.Messages)
            {
                var prefix = new byte[5];
                BinaryPrimitives.WriteUInt32BigEndian(prefix.AsSpan(1), (uint)message.Length);
                await connection.WriteDataAsync(streamId, prefix).ConfigureAwait(false);
                await connection.WriteDataAsync(streamId, message).ConfigureAwait(false);
            }
            var trailers = new MemoryStream();
            HpackDecoder.WriteLiteral(trailers, "grpc-status", "0");
            await connection.WriteFrameAsync(1, 0x4 | 0x1, streamId, trailers.ToArray()).ConfigureAwait(false);
        }
        finally
        {
            connection.CloseStream(streamId);
        }
    }

    private static byte[] Unpad(byte[] payload, byte flags)
    {
        if ((flags & 0x8) == 0)
        {
            return payload;
        }
        var pad = payload[0];
        return payload[1..(payload.Length - pad)];
    }
}

/// <summary>HPACK (RFC 7541) decoding with the static and dynamic tables; literal encoding without indexing or Huffman.</summary>
internal sealed class HpackDecoder
{
    private static readonly (string Name, string Value)[] Static =
    {
        (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"), (":path", "/index.html"), (":scheme", "http"), (":scheme", "https"),
        (":status", "200"), (":status", "204"), (":status", "206"), (":status", "304"), (":status", "400"), (":status", "404"), (":status", "500"),
        ("accept-charset", ""), ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""), ("accept", ""),
        ("access-control-allow-origin", ""), ("age", ""), ("allow", ""), ("authorization", ""), ("cache-control", ""), ("content-disposition", ""),
        ("content-encoding", ""), ("content-language", ""), ("content-length", ""), ("content-location", ""), ("content-range", ""), ("content-type", ""),
        ("cookie", ""), ("date", ""), ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""), ("if-match", ""), ("if-modified-since", ""),
        ("if-none-match", ""), ("if-range", ""), ("if-unmodified-since", ""), ("last-modified", ""), ("link", ""), ("location", ""), ("max-forwards", ""),
        ("proxy-authenticate", ""), ("proxy-authorization", ""), ("range", ""), ("referer", ""), ("refresh", ""), ("retry-after", ""), ("server", ""),
        ("set-cookie", ""), ("strict-transport-security", ""), ("transfer-encoding", ""), ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", ""),
    };

    private readonly LinkedList<(string Name, string Value)> _dynamic = new();
    private int _size;
    private int _maxSize = 4096;

    public IEnumerable<(string Name, string Value)> Decode(byte[] block)
    {
        var headers = new List<(string, string)>();
        var position = 0;
        while (position < block.Length)
        {
            var b = block[position];
            if ((b & 0x80) != 0)
            {
                headers.Add(Entry(ReadInteger(block, ref position, 7)));
            }
            else if ((b & 0xC0) == 0x40)
            {
                var entry = ReadLiteral(block, ref position, 6);
                headers.Add(entry);
                Insert(entry);
            }
            else if ((b & 0xE0) == 0x20)
            {
                _maxSize = ReadInteger(block, ref position, 5);
                Evict();
            }
            else
            {
                headers.Add(ReadLiteral(block, ref position, 4));
            }
        }
        return headers;
    }

    private (string, string) ReadLiteral(byte[] block, ref int position, int prefix)
    {
        var index = ReadInteger(block, ref position, prefix);
        var name = index == 0 ? ReadString(block, ref position) : Entry(index).Name;
        return (name, ReadString(block, ref position));
    }

    private (string Name, string Value) Entry(int index)
    {
        if (index >= 1 && index <= Static.Length)
        {
            return Static[index - 1];
        }
        var dynamicIndex = index - Static.Length - 1;
        if (dynamicIndex < 0 || dynamicIndex >= _dynamic.Count)
        {
            throw new InvalidDataException($"HPACK index {index} is out of range");
        }
        return _dynamic.ElementAt(dynamicIndex);
    }

    private void Insert((string Name, string Value) entry)
    {
        _dynamic.AddFirst(entry);
        _size += entry.Name.Length + entry.Value.Length + 32;
        Evict();
    }

    private void Evict()
    {
        while (_size > _maxSize && _dynamic.Count > 0)
        {
            var last = _dynamic.Last!.Value;
            _size -= last.Name.Length + last.Value.Length + 32;
            _dynamic.RemoveLast();
        }
    }

    private static int ReadInteger(byte[] block, ref int position, int prefix)
    {
        var mask = (1 << prefix) - 1;
        var value = block[position++] & mask;
        if (value < mask)
        {
            return value;
        }
        var shift = 0;
        while (true)
        {
            var b = block[position++];
            value += (b & 0x7F) << shift;
            shift += 7;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }
    }

    private static string ReadString(byte[] block, ref int position)
    {
        var huffman = (block[position] & 0x80) != 0;
        var length = ReadInteger(block, ref position, 7);
        if (huffman)
        {
            throw new InvalidDataException("this simulated gateway does not decode Huffman-coded HPACK strings; call it with .NET's HttpClient (Test-E2ECompute) or a client that sends plain literals");
        }
        var text = Encoding.ASCII.GetString(block, position, length);
        position += length;
        return text;
    }

    public static void WriteLiteral(Stream output, string name, string value)
    {
        output.WriteByte(0x00); // Literal without indexing, new name.
        WriteString(output, name);
        WriteString(output, value);
    }

    private static void WriteString(Stream output, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        WriteInteger(output, bytes.Length, 7, 0);
        output.Write(bytes);
    }

    private static void WriteInteger(Stream output, int value, int prefix, byte flags)
    {
        var mask = (1 << prefix) - 1;
        if (value < mask)
        {
            output.WriteByte((byte)(flags | value));
            return;
        }
        output.WriteByte((byte)(flags | mask));
        value -= mask;
        while (value >= 0x80)
        {
            output.WriteByte((byte)((value & 0x7F) | 0x80));
            value >>= 7;
        }
        output.WriteByte((byte)value);
    }
}
