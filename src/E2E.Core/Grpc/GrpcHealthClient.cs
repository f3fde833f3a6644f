using System.Diagnostics;
using E2E.Core.Errors;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

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
/// grpc.health.v1.Health/Check through Grpc.Net.Client and Grpc.HealthCheck's generated client: HTTP/2 with
/// prior knowledge for http:// (h2c), TLS with ALPN for https://, metadata headers such as compute-id, a
/// deadline, and gRPC status codes mapped to the module's error ids.
/// </summary>
public static class GrpcHealthClient
{
    /// <summary>Calls grpc.health.v1.Health/Check for <paramref name="service"/> at <paramref name="endpoint"/> (http://host:port or https://host:port) with the given metadata headers.</summary>
    public static async Task<HealthCheckResult> CheckAsync(Uri endpoint, string service, IReadOnlyDictionary<string, string> metadata, TimeSpan timeout, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        using var channel = GrpcTransport.Channel(endpoint);
        var headers = new Metadata();
        foreach (var (name, value) in metadata)
        {
            headers.Add(name, value);
        }
        const string method = "grpc.health.v1.Health/Check";
        try
        {
            var reply = await new Health.HealthClient(channel)
                .CheckAsync(new HealthCheckRequest { Service = service }, headers, DateTime.UtcNow + timeout, cancellation)
                .ConfigureAwait(false);
            return new HealthCheckResult(endpoint.ToString().TrimEnd('/'), service, (HealthStatus)reply.Status, clock.Elapsed, metadata);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cancellation.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellation);
        }
        catch (RpcException ex)
        {
            throw Failure(ex, method, endpoint, timeout);
        }
    }

    /// <summary>A gRPC status as the module's error: its code name (UNAVAILABLE, NOT_FOUND, ...) and detail in the message.</summary>
    public static E2EException Failure(RpcException exception, string method, Uri endpoint, TimeSpan timeout)
    {
        var code = CodeName(exception.StatusCode);
        var detail = exception.Status.Detail;
        var (error, message) = exception.StatusCode switch
        {
            StatusCode.DeadlineExceeded => (ErrorCatalog.GrpcDeadlineExceeded, $"{method} at {endpoint} did not answer within {timeout.TotalSeconds:0.#} s (DEADLINE_EXCEEDED)."),
            StatusCode.Unauthenticated or StatusCode.PermissionDenied => (ErrorCatalog.GrpcPermissionDenied, $"{method} at {endpoint} was refused: {code}: {detail}"),
            StatusCode.Unavailable when exception.Status.DebugException is not null => (ErrorCatalog.GrpcCallFailed, $"{method} at {endpoint} failed at the transport (UNAVAILABLE): {exception.Status.DebugException.Message}"),
            _ => (ErrorCatalog.GrpcCallFailed, $"{method} at {endpoint} failed: {code}{(detail.Length > 0 ? ": " + detail : string.Empty)}"),
        };
        return new E2EException(error, message, endpoint.ToString(), exception);
    }

    /// <summary>The protocol's name of a status code: DeadlineExceeded is DEADLINE_EXCEEDED.</summary>
    public static string CodeName(StatusCode code) =>
        string.Concat(code.ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? "_" + c : char.ToUpperInvariant(c).ToString()));
}
