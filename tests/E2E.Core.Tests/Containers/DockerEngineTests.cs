using System.Net.Sockets;
using System.Text;
using E2E.Core.Containers;
using E2E.Core.Errors;
using E2E.Core.StandIns;

namespace E2E.Core.Tests.Containers;

/// <summary>Docker.DotNet.Enhanced against the fake Engine API on a unix socket (no Docker engine runs here).</summary>
public sealed class DockerEngineTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-docker-").FullName;
    private readonly FakeDockerEngine _fake;
    private readonly DockerEngine _engine;

    public DockerEngineTests()
    {
        _fake = new FakeDockerEngine(Path.Combine(_root, "docker.sock"));
        _engine = DockerEngine.Connect(_fake.Endpoint);
    }

    public void Dispose()
    {
        _engine.Dispose();
        _fake.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private static CancellationToken Soon => new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token;

    [Fact]
    public async Task Containers_are_created_with_labels_found_by_label_and_removed_by_label()
    {
        var version = await _engine.VersionAsync(Soon);
        Assert.Equal("1.52", version.APIVersion);

        var run = new Dictionary<string, string> { ["e2e.dev/run-id"] = "e2e-0123456789", ["suite"] = "petals" };
        await _engine.RunAsync("petals-node:test", "node-a", run, new[] { "serve", "--blocks", "0:12" }, Soon);
        await _engine.RunAsync("petals-node:test", "node-b", run, null, Soon);
        await _engine.RunAsync("redis:7", "someone-elses", new Dictionary<string, string> { ["e2e.dev/run-id"] = "e2e-other" }, null, Soon);

        var ours = await _engine.ListAsync(new Dictionary<string, string> { ["e2e.dev/run-id"] = "e2e-0123456789" }, Soon);
        Assert.Equal(new[] { "node-b", "node-a" }, ours.Select(c => c.Name)); // newest first, as the engine lists them
        Assert.All(ours, c => Assert.Equal("running", c.State));
        Assert.All(ours, c => Assert.Equal("petals", c.Labels["suite"]));

        var removed = await _engine.RemoveAsync(new Dictionary<string, string> { ["e2e.dev/run-id"] = "e2e-0123456789" }, Soon);
        Assert.Equal(2, removed.Count);
        Assert.Empty(await _engine.ListAsync(new Dictionary<string, string> { ["e2e.dev/run-id"] = "e2e-0123456789" }, Soon));
        Assert.Single(await _engine.ListAsync(new Dictionary<string, string> { ["e2e.dev/run-id"] = "e2e-other" }, Soon));

        // Every request the library sent was well framed (CRLF line ends), and went to the calls we expect.
        Assert.Equal(0, _fake.MalformedRequests);
        Assert.Contains("POST /containers/create", _fake.Requests);
        Assert.Equal(2, _fake.Requests.Count(r => r.StartsWith("DELETE /containers/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_name_in_use_is_DockerApiFailed_with_the_engines_message()
    {
        await _engine.RunAsync("img", "taken", new Dictionary<string, string>(), null, Soon);
        var ex = await Assert.ThrowsAsync<E2EException>(() => _engine.RunAsync("img", "taken", new Dictionary<string, string>(), null, Soon));
        Assert.Same(ErrorCatalog.DockerApiFailed, ex.Error);
        Assert.Contains("409", ex.Message);
        Assert.Contains("already in use", ex.Message);
    }

    [Fact]
    public async Task The_fake_refuses_header_lines_ended_by_a_bare_LF()
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(_fake.SocketPath));
        await socket.SendAsync(Encoding.ASCII.GetBytes("GET /_ping HTTP/1.1\nHost: docker\n\n"));
        var buffer = new byte[512];
        var read = await socket.ReceiveAsync(buffer);
        Assert.StartsWith("HTTP/1.1 400", Encoding.ASCII.GetString(buffer, 0, read));
        Assert.Equal(1, _fake.MalformedRequests);
    }

    [Fact]
    public async Task Nothing_at_the_socket_is_DockerEngineUnreachable_and_DOCKER_HOST_chooses_the_engine()
    {
        using var nowhere = DockerEngine.Connect(environment: name => name == "DOCKER_HOST" ? "unix://" + Path.Combine(_root, "absent.sock") : null);
        Assert.EndsWith("absent.sock", nowhere.Endpoint.AbsolutePath);
        var ex = await Assert.ThrowsAsync<E2EException>(() => nowhere.VersionAsync(Soon));
        Assert.Same(ErrorCatalog.DockerEngineUnreachable, ex.Error);
        Assert.Contains("DOCKER_HOST", ex.Message);
        Assert.Equal(DockerEngine.DefaultEndpoint, DockerEngine.Connect(environment: _ => null).Endpoint);
    }

    [Fact]
    public async Task The_sweep_removes_a_dead_sessions_containers_and_networks_at_once_and_leaves_a_live_ones()
    {
        using var dead = System.Diagnostics.Process.Start("true")!;
        dead.WaitForExit();
        var future = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var deadRun = new Dictionary<string, string> { [E2E.Core.Scopes.E2EScope.RunIdLabel] = "e2e-deadrun", [E2E.Core.Scopes.E2EScope.ExpiresLabel] = future,
            [DockerEngine.HostLabel] = Environment.MachineName, [DockerEngine.SessionLabel] = $"{dead.Id}:1" };
        var liveRun = DockerEngine.OwnedLabels(new Dictionary<string, string> { [E2E.Core.Scopes.E2EScope.RunIdLabel] = "e2e-liverun", [E2E.Core.Scopes.E2EScope.ExpiresLabel] = future });
        await _engine.StartAsync(new ContainerSpec { Image = "x", Name = "left-by-dead", Labels = deadRun }, Soon);
        await _engine.CreateNetworkAsync("dead_default", deadRun, Soon);
        await _engine.StartAsync(new ContainerSpec { Image = "x", Name = "still-in-use", Labels = liveRun }, Soon);
        await _engine.RunAsync("x", "not-ours", new Dictionary<string, string>(), null, Soon);

        var now = DateTimeOffset.UtcNow;
        var found = await E2E.Core.Kubernetes.OrphanSweeper.FindAsync(null, null, Soon, tempBase: _root, docker: _fake.Endpoint);
        var docker = found.Where(o => o.Kind is E2E.Core.Kubernetes.OrphanSweeper.ContainerKind or E2E.Core.Kubernetes.OrphanSweeper.NetworkKind).ToArray();
        Assert.Equal(new[] { "left-by-dead", "still-in-use", "dead_default" }.Order(), docker.Select(o => o.Name).Order());
        var expired = docker.Where(o => o.IsExpired(now)).ToArray();
        Assert.Equal(new[] { "dead_default", "left-by-dead" }, expired.Select(o => o.Name).Order());
        foreach (var orphan in expired)
        {
            Assert.True(await E2E.Core.Kubernetes.OrphanSweeper.RemoveAsync(null, orphan, Soon, _fake.Endpoint));
        }
        Assert.Equal(new[] { "not-ours", "still-in-use" }, _fake.ContainerNames.Order());
        Assert.Empty(_fake.Networks);
    }
}
