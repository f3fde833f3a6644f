using E2E.Core.Errors;
using E2E.Core.Grpc;
using E2E.Core.StandIns.Grpc;

namespace E2E.Core.Tests.Grpc;

public sealed class GrpcTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static GrpcReply Health(GrpcRequest request)
    {
        if (request.Path != "/grpc.health.v1.Health/Check")
        {
            return GrpcReply.Fail(12, $"unknown method {request.Path}");
        }
        if (request.Headers.GetValueOrDefault("compute-id") != "default/alpha")
        {
            return GrpcReply.Fail(14, "no healthy upstream");
        }
        var service = global::Grpc.Health.V1.HealthCheckRequest.Parser.ParseFrom(request.Message).Service;
        return service is "" or "skytorch.torch.Service" ? GrpcReply.Ok(Google.Protobuf.MessageExtensions.ToByteArray(new global::Grpc.Health.V1.HealthCheckResponse { Status = global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving })) : GrpcReply.Fail(5, $"unknown service {service}");
    }

    [Fact]
    public async Task Health_check_over_h2c_reads_the_serving_status_and_sends_metadata()
    {
        using var server = new H2cGrpcServer(Health);
        var metadata = new Dictionary<string, string> { ["compute-id"] = "default/alpha" };
        var result = await GrpcHealthClient.CheckAsync(server.Url, "skytorch.torch.Service", metadata, Timeout, CancellationToken.None);
        Assert.Equal(HealthStatus.Serving, result.Status);
        Assert.True(result.Healthy);
        // Several calls share one connection (HPACK dynamic table state carries over between them).
        for (var i = 0; i < 20; i++)
        {
            Assert.True((await GrpcHealthClient.CheckAsync(server.Url, "", metadata, Timeout, CancellationToken.None)).Healthy);
        }
        Assert.Equal(21, server.CallCount);
    }

    [Theory]
    [InlineData("default/alpha", "other.Service", "NOT_FOUND: unknown service other.Service")]
    [InlineData("default/beta", "skytorch.torch.Service", "UNAVAILABLE: no healthy upstream")]
    public async Task Non_OK_statuses_are_GrpcCallFailed_with_the_code_name(string computeId, string service, string expected)
    {
        using var server = new H2cGrpcServer(Health);
        var ex = await Assert.ThrowsAsync<E2EException>(() => GrpcHealthClient.CheckAsync(server.Url, service, new Dictionary<string, string> { ["compute-id"] = computeId }, Timeout, CancellationToken.None));
        Assert.Same(ErrorCatalog.GrpcCallFailed, ex.Error);
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public async Task Nothing_listening_is_a_transport_failure()
    {
        var port = E2E.Core.Net.Loopback.FreePort();
        var ex = await Assert.ThrowsAsync<E2EException>(() => GrpcHealthClient.CheckAsync(new Uri($"http://127.0.0.1:{port}"), "", new Dictionary<string, string>(), Timeout, CancellationToken.None));
        Assert.Contains("UNAVAILABLE", ex.Message);
    }

    [Fact]
    public void Hpack_decodes_the_RFC_7541_request_examples_with_a_shared_dynamic_table()
    {
        static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", string.Empty, StringComparison.Ordinal));
        var decoder = new HpackDecoder();
        Assert.Equal(new[] { (":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com") },
            decoder.Decode(Hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d")));
        Assert.Equal(new[] { (":method", "GET"), (":scheme", "http"), (":path", "/"), (":authority", "www.example.com"), ("cache-control", "no-cache") },
            decoder.Decode(Hex("8286 84be 5808 6e6f 2d63 6163 6865")));
        Assert.Equal(new[] { (":method", "GET"), (":scheme", "https"), (":path", "/index.html"), (":authority", "www.example.com"), ("custom-key", "custom-value") },
            decoder.Decode(Hex("8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65")));
        Assert.Throws<InvalidDataException>(() => new HpackDecoder().Decode(Hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff")));
    }
}

public sealed class GrpcStatusMappingTests
{
    [Fact]
    public async Task A_call_past_its_deadline_is_GrpcDeadlineExceeded()
    {
        using var server = new H2cGrpcServer(_ =>
        {
            Thread.Sleep(1500);
            return GrpcReply.Fail(14, "too late");
        });
        var ex = await Assert.ThrowsAsync<E2EException>(() => GrpcHealthClient.CheckAsync(server.Url, "", new Dictionary<string, string>(), TimeSpan.FromMilliseconds(200), CancellationToken.None));
        Assert.Same(ErrorCatalog.GrpcDeadlineExceeded, ex.Error);
        Assert.Contains("DEADLINE_EXCEEDED", ex.Message);
    }

    [Theory]
    [InlineData(16, "UNAUTHENTICATED")]
    [InlineData(7, "PERMISSION_DENIED")]
    public async Task Refusals_are_GrpcPermissionDenied(int status, string name)
    {
        using var server = new H2cGrpcServer(_ => GrpcReply.Fail(status, "no token"));
        var ex = await Assert.ThrowsAsync<E2EException>(() => GrpcHealthClient.CheckAsync(server.Url, "", new Dictionary<string, string>(), TimeSpan.FromSeconds(10), CancellationToken.None));
        Assert.Same(ErrorCatalog.GrpcPermissionDenied, ex.Error);
        Assert.Contains($"{name}: no token", ex.Message);
    }
}
