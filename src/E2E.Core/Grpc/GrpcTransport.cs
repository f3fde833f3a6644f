using Grpc.Net.Client;

namespace E2E.Core.Grpc;

/// <summary>The one HTTP/2 handler every gRPC call of the module goes through, so calls to an endpoint share a connection.</summary>
public static class GrpcTransport
{
    private static readonly SocketsHttpHandler Handler = new()
    {
        ConnectTimeout = TimeSpan.FromSeconds(10),
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        EnableMultipleHttp2Connections = true,
    };

    /// <summary>A channel to <paramref name="endpoint"/> (http:// is h2c with prior knowledge, https:// is TLS with ALPN) on the shared handler; any message size.</summary>
    public static GrpcChannel Channel(Uri endpoint) => GrpcChannel.ForAddress(endpoint, new GrpcChannelOptions
    {
        HttpHandler = Handler,
        DisposeHttpClient = false,
        MaxReceiveMessageSize = null,
        MaxSendMessageSize = null,
    });
}
