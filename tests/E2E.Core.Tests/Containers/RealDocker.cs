using Docker.DotNet;
using E2E.Core.Containers;

namespace E2E.Core.Tests.Containers;

/// <summary>
/// The real Docker engine the tests run against: $DOCKER_HOST, which the test command sets after starting the
/// project's own engine (tools/docker/dockerd.sh), with the images tools/images/Build-TestImages.ps1 builds. A
/// machine without one fails these tests with that said, rather than passing them on a stand-in.
/// </summary>
internal static class RealDocker
{
    public const string Busybox = "e2e-busybox:test";

    public static Uri Endpoint => Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host
        ? new Uri(host)
        : throw new InvalidOperationException("These tests need a real Docker engine at $DOCKER_HOST: start one with tools/docker/dockerd.sh start (./test.sh does), and build the images with tools/images/Build-TestImages.ps1.");

    public static DockerEngine Connect() => DockerEngine.Connect(Endpoint);

    /// <summary>The library's own client, for looking at what the module made (labels, port bindings, environment).</summary>
    public static DockerClient Inspector() => new DockerClientBuilder().WithEndpoint(Endpoint).Build();

    /// <summary>A name no other test or run uses.</summary>
    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";
}
