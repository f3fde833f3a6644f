using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using E2E.Core.Errors;

namespace E2E.Core.Grpc;

/// <summary>grpc.health.v1 serving states (HealthCheckResponse.ServingStatus).</summary>
public enum HealthStatus
{
    Unknown = 0,
    Serving = 1,
    NotServing = 2,
    ServiceUnknown = 3,
}

public sealed record HealthCheckResult(string Endpoint, string Service, HealthStatus Status, TimeSpan Elapsed, IReadOnlyDictionary<string, string> Metadata)
{
    public bool Healthy => Status == HealthStatus.Serving;

    public override string ToString() => $"{Service} at {Endpoint}: {Status} in {Elapsed.TotalMilliseconds:0} ms";
}

/// <summary>
/// gRPC over HttpClient without a gRPC library: HTTP/2 (h2c with prior knowledge for http://, ALPN for
/// https://), the 5-byte length-prefixed message framing, grpc-status from trailers (or from headers in a
/// trailers-only answer), and the two tiny protobuf messages of grpc.health.v1.Health/Check written by hand.
/// </summary>
public static class GrpcHealthClient
{
    /// <summary>gRPC status code names, for messages (index = code).</summary>
    public static readonly string[] StatusNames =
    {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    };

    private static readonly HttpClient Http = new(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10), PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>Calls grpc.health.v1.Health/Check for <paramref name="service"/> at <paramref name="endpoint"/> (http://host:port or https://host:port) with the given metadata headers.</summary>
    public static async Task<HealthCheckResult> CheckAsync(Uri endpoint, string service, IReadOnlyDictionary<string, string> metadata, TimeSpan timeout, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        var reply = await CallAsync(endpoint, "/grpc.health.v1.Health/Check", EncodeString(1, service), metadata, timeout, cancellation).ConfigureAwait(false);
        var status = (HealthStatus)(ReadVarintField(reply, 1) ?? 0);
        return new HealthCheckResult(endpoint.ToString().TrimEnd('/'), service, status, clock.Elapsed, metadata);
    }

    /// <summary>One unary call: sends one message, returns the one reply message; any non-OK outcome is GrpcCallFailed.</summary>
    public static async Task<byte[]> CallAsync(Uri endpoint, string method, byte[] message, IReadOnlyDictionary<string, string> metadata, TimeSpan timeout, CancellationToken cancellation)
    {
        var target = new Uri(endpoint, method);
        var framed = new byte[5 + message.Length];
        BinaryPrimitives.WriteUInt32BigEndian(framed.AsSpan(1), (uint)message.Length);
        message.CopyTo(framed, 5);
        using var request = new HttpRequestMessage(HttpMethod.Post, target)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(framed),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        request.Headers.TryAddWithoutValidation("grpc-timeout", $"{Math.Max(1, (long)timeout.TotalMilliseconds)}m");
        foreach (var (name, value) in metadata)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(timeout);
        HttpResponseMessage response;
        byte[] body;
        try
        {
            response = await Http.SendAsync(request, deadline.Token).ConfigureAwait(false);
            body = await response.Content.ReadAsByteArrayAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new E2EException(ErrorCatalog.GrpcCallFailed, $"{method} at {endpoint} did not answer within {timeout.TotalSeconds:0.#} s (DEADLINE_EXCEEDED).", endpoint.ToString());
        }
        catch (HttpRequestException ex)
        {
            throw new E2EException(ErrorCatalog.GrpcCallFailed, $"{method} at {endpoint} failed at the transport (UNAVAILABLE): {ex.Message}", endpoint.ToString(), ex);
        }
        using (response)
        {
            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new E2EException(ErrorCatalog.GrpcCallFailed, $"{method} at {endpoint} answered HTTP {(int)response.StatusCode} (not a gRPC answer; is the route or the port right?).", endpoint.ToString());
            }
            var code = Header(response, "grpc-status");
            if (code is not null && code != "0")
            {
                var number = int.TryParse(code, out var n) && n >= 0 && n < StatusNames.Length ? StatusNames[n] : code;
                var detail = Uri.UnescapeDataString(Header(response, "grpc-message") ?? string.Empty);
                throw new E2EException(ErrorCatalog.GrpcCallFailed, $"{method} at {endpoint} failed: {number}{(detail.Length > 0 ? ": " + detail : string.Empty)}", endpoint.ToString());
            }
            if (code is null)
            {
                throw new E2EException(ErrorCatalog.GrpcCallFailed, $"{method} at {endpoint} ended without grpc-status.", endpoint.ToString());
            }
            if (body.Length < 5 || body[0] != 0)
            {
                throw new E2EException(ErrorCatalog.GrpcCallFailed, $"{method} at {endpoint} answered without an uncompressed message.", endpoint.ToString());
            }
            var length = (int)BinaryPrimitives.ReadUInt32BigEndian(body.AsSpan(1));
            return body.AsSpan(5, Math.Min(length, body.Length - 5)).ToArray();
        }
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.TrailingHeaders.TryGetValues(name, out var trailer) ? trailer.FirstOrDefault()
        : response.Headers.TryGetValues(name, out var header) ? header.FirstOrDefault()
        : null;

    // ---- The protobuf wire format, for the one-field messages these calls use ----

    public static byte[] EncodeString(int field, string value)
    {
        if (value.Length == 0)
        {
            return Array.Empty<byte>(); // proto3 leaves default values off the wire.
        }
        var bytes = Encoding.UTF8.GetBytes(value);
        using var output = new MemoryStream();
        WriteVarint(output, (ulong)((field << 3) | 2));
        WriteVarint(output, (ulong)bytes.Length);
        output.Write(bytes);
        return output.ToArray();
    }

    public static byte[] EncodeVarint(int field, ulong value)
    {
        using var output = new MemoryStream();
        if (value != 0)
        {
            WriteVarint(output, (ulong)(field << 3));
            WriteVarint(output, value);
        }
        return output.ToArray();
    }

    /// <summary>The string in field <paramref name="field"/>, or "" when absent; other fields are skipped.</summary>
    public static string ReadStringField(ReadOnlySpan<byte> message, int field)
    {
        var result = string.Empty;
        Walk(message, (number, wireType, value, bytes) =>
        {
            if (number == field && wireType == 2)
            {
                result = Encoding.UTF8.GetString(bytes);
            }
        });
        return result;
    }

    public static ulong? ReadVarintField(ReadOnlySpan<byte> message, int field)
    {
        ulong? result = null;
        Walk(message, (number, wireType, value, _) =>
        {
            if (number == field && wireType == 0)
            {
                result = value;
            }
        });
        return result;
    }

    private delegate void FieldVisitor(int number, int wireType, ulong value, ReadOnlySpan<byte> bytes);

    private static void Walk(ReadOnlySpan<byte> message, FieldVisitor visit)
    {
        var position = 0;
        while (position < message.Length)
        {
            var key = ReadVarint(message, ref position);
            var wireType = (int)(key & 7);
            var number = (int)(key >> 3);
            switch (wireType)
            {
                case 0:
                    visit(number, wireType, ReadVarint(message, ref position), ReadOnlySpan<byte>.Empty);
                    break;
                case 1:
                    position += 8;
                    break;
                case 2:
                    var length = (int)ReadVarint(message, ref position);
                    if (length < 0 || position + length > message.Length)
                    {
                        throw new E2EException(ErrorCatalog.GrpcCallFailed, "A protobuf message is truncated.");
                    }
                    visit(number, wireType, 0, message.Slice(position, length));
                    position += length;
                    break;
                case 5:
                    position += 4;
                    break;
                default:
                    throw new E2EException(ErrorCatalog.GrpcCallFailed, $"A protobuf message has an unsupported wire type {wireType}.");
            }
        }
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> data, ref int position)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (position >= data.Length)
            {
                throw new E2EException(ErrorCatalog.GrpcCallFailed, "A protobuf varint is truncated.");
            }
            var b = data[position++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }
        throw new E2EException(ErrorCatalog.GrpcCallFailed, "A protobuf varint is too long.");
    }

    private static void WriteVarint(Stream output, ulong value)
    {
        while (value >= 0x80)
        {
            output.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        output.WriteByte((byte)value);
    }
}
