using System.Buffers.Binary;
using System.Net.Sockets;
using System.Net;
using System.Text;
using E2E.Core.Errors;
using E2E.Core.Grpc;
using E2E.Core.Net;

namespace E2E.Core.StandIns.Grpc;

/// <summary>A unary gRPC request as the server sees it: the method path, the request headers (lower-case names) and the message.</summary>
public sealed record GrpcRequest(string Path, IReadOnlyDictionary<string, string> Headers, byte[] Message);

/// <summary>A reply: a message, or a non-zero gRPC status with a message text.</summary>
public sealed record GrpcReply(int Status, string? StatusMessage, byte[]? Message)
{
    public static GrpcReply Ok(byte[] message) => new(0, null, message);

    public static GrpcReply Fail(int status, string message) => new(status, message, null);
}

/// <summary>
/// A minimal HTTP/2 cleartext (h2c, prior knowledge) server on 127.0.0.1 for unary gRPC calls, standing in
/// for the SkyTorch Gateway on a machine without Envoy. It implements what a unary call needs: the preface,
/// SETTINGS/PING/WINDOW_UPDATE/GOAWAY, HEADERS+CONTINUATION with an HPACK decoder (static and dynamic
/// tables; Huffman-coded strings are refused with a clear error, since .NET's client does not send them), DATA,
/// and answers as HEADERS, DATA, trailers. Streams are answered in the order they complete.
/// </summary>
public sealed class H2cGrpcServer : IDisposable
{
    private const string Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    private readonly TcpListener _listener;
    private readonly Func<GrpcRequest, GrpcReply> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private readonly List<Socket> _connections = new();
    private readonly bool _noDelay;
    private long _calls;

    /// <param name="handler">Answers each call.</param>
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
        try
        {
            await ServeAsync(new NetworkStream(connection, ownsSocket: false)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidDataException or EndOfStreamException)
        {
            // The client left or broke the protocol; the connection is dropped.
        }
        finally
        {
            lock (_connections)
            {
                _connections.Remove(connection);
            }
            connection.Dispose();
        }
    }

    private sealed class Stream2
    {
        public Dictionary<string, string> Headers { get; } = new(StringComparer.Ordinal);
        public MemoryStream Body { get; } = new();
        public MemoryStream HeaderBlock { get; } = new();
    }

    private async Task ServeAsync(NetworkStream network)
    {
        var preface = new byte[Preface.Length];
        await network.ReadExactlyAsync(preface, _stop.Token).ConfigureAwait(false);
        if (Encoding.ASCII.GetString(preface) != Preface)
        {
            throw new InvalidDataException("not an HTTP/2 prior-knowledge connection");
        }
        var write = new SemaphoreSlim(1, 1);
        await WriteFrameAsync(network, write, 4, 0, 0, ReadOnlyMemory<byte>.Empty).ConfigureAwait(false);
        var decoder = new HpackDecoder();
        var streams = new Dictionary<int, Stream2>();
        var header = new byte[9];
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
                        if (data.Length > 0)
                        {
                            // Give the window back so larger requests keep flowing.
                            var increment = new byte[4];
                            BinaryPrimitives.WriteUInt32BigEndian(increment, (uint)data.Length);
                            await WriteFrameAsync(network, write, 8, 0, 0, increment).ConfigureAwait(false);
                            await WriteFrameAsync(network, write, 8, 0, streamId, increment).ConfigureAwait(false);
                        }
                        if ((flags & 0x1) != 0)
                        {
                            await AnswerAsync(network, write, streamId, streams[streamId]).ConfigureAwait(false);
                            streams.Remove(streamId);
                        }
                    }
                    break;
                case 1: // HEADERS
                case 9: // CONTINUATION
                    if (type == 1)
                    {
                        streams[streamId] = new Stream2();
                        var block = Unpad(payload, flags);
                        if ((flags & 0x20) != 0)
                        {
                            block = block[5..]; // Priority fields.
                        }
                        streams[streamId].HeaderBlock.Write(block);
                        if ((flags & 0x1) != 0)
                        {
                            streams[streamId].Headers["\0end"] = "1";
                        }
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
                            await ReplyAsync(network, write, streamId, GrpcReply.Fail(13, failure)).ConfigureAwait(false);
                            streams.Remove(streamId);
                        }
                        else if (s.Headers.Remove("\0end"))
                        {
                            await AnswerAsync(network, write, streamId, s).ConfigureAwait(false);
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
                        await WriteFrameAsync(network, write, 4, 0x1, 0, ReadOnlyMemory<byte>.Empty).ConfigureAwait(false);
                    }
                    break;
                case 6: // PING
                    if ((flags & 0x1) == 0)
                    {
                        await WriteFrameAsync(network, write, 6, 0x1, 0, payload).ConfigureAwait(false);
                    }
                    break;
                case 7: // GOAWAY
                    return;
                case 3: // RST_STREAM
                    streams.Remove(streamId);
                    break;
                default: // PRIORITY, WINDOW_UPDATE, PUSH_PROMISE (never sent by clients), unknown: ignored as the spec says.
                    break;
            }
        }
    }

    private async Task AnswerAsync(NetworkStream network, SemaphoreSlim write, int streamId, Stream2 stream)
    {
        Interlocked.Increment(ref _calls);
        GrpcReply reply;
        var body = stream.Body.ToArray();
        if (!stream.Headers.TryGetValue("content-type", out var contentType) || !contentType.StartsWith("application/grpc", StringComparison.Ordinal))
        {
            reply = GrpcReply.Fail(13, "content-type must be application/grpc");
        }
        else if (body.Length < 5 || body[0] != 0 || BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(1)) != body.Length - 5)
        {
            reply = GrpcReply.Fail(13, "the request is not one uncompressed length-prefixed message");
        }
        else
        {
            try
            {
                reply = _handler(new GrpcRequest(stream.Headers.GetValueOrDefault(":path", "/"), stream.Headers, body[5..]));
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                reply = GrpcReply.Fail(2, ex.Message);
            }
        }
        await ReplyAsync(network, write, streamId, reply).ConfigureAwait(false);
    }

    private static async Task ReplyAsync(NetworkStream network, SemaphoreSlim write, int streamId, GrpcReply reply)
    {
        var headers = new MemoryStream();
        headers.WriteByte(0x88); // :status 200, static table index 8.
        HpackDecoder.WriteLiteral(headers, "content-type", "application/grpc");
        if (reply.Message is null)
        {
            // Trailers-only answer: the status travels in the one HEADERS frame.
            HpackDecoder.WriteLiteral(headers, "grpc-status", reply.Status.ToString(System.Globalization.CultureInfo.InvariantCulture));
            HpackDecoder.WriteLiteral(headers, "grpc-message", Uri.EscapeDataString(reply.StatusMessage ?? string.Empty));
            await WriteFrameAsync(network, write, 1, 0x4 | 0x1, streamId, headers.ToArray()).ConfigureAwait(false);
            return;
        }
        await WriteFrameAsync(network, write, 1, 0x4, streamId, headers.ToArray()).ConfigureAwait(false);
        var data = new byte[5 + reply.Message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(1), (uint)reply.Message.Length);
        reply.Message.CopyTo(data, 5);
        await WriteFrameAsync(network, write, 0, 0, streamId, data).ConfigureAwait(false);
        var trailers = new MemoryStream();
        HpackDecoder.WriteLiteral(trailers, "grpc-status", "0");
        await WriteFrameAsync(network, write, 1, 0x4 | 0x1, streamId, trailers.ToArray()).ConfigureAwait(false);
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

    private static async Task WriteFrameAsync(NetworkStream network, SemaphoreSlim write, byte type, byte flags, int streamId, ReadOnlyMemory<byte> payload)
    {
        var frame = new byte[9 + payload.Length];
        frame[0] = (byte)(payload.Length >> 16);
        frame[1] = (byte)(payload.Length >> 8);
        frame[2] = (byte)payload.Length;
        frame[3] = type;
        frame[4] = flags;
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(5), (uint)streamId);
        payload.CopyTo(frame.AsMemory(9));
        await write.WaitAsync().ConfigureAwait(false);
        try
        {
            await network.WriteAsync(frame).ConfigureAwait(false);
        }
        finally
        {
            write.Release();
        }
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
