using System.Net;
using E2E.Core.Containers;
using E2E.Core.Errors;
using E2E.Core.Kubernetes;
using E2E.Core.Scopes;

namespace E2E.Core.Tests.Containers;

/// <summary>Docker.DotNet.Enhanced against the real engine (see <see cref="RealDocker"/>), with the busybox test image.</summary>
public sealed class DockerEngineTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-docker-").FullName;
    private readonly DockerEngine _engine = RealDocker.Connect();
    private readonly string _run = "e2e-" + Guid.NewGuid().ToString("N")[..10];

    public void Dispose()
    {
        // Whatever a failed test left: everything of this run, by label.
        _engine.RemoveAsync(new Dictionary<string, string> { [E2EScope.RunIdLabel] = _run }, CancellationToken.None).GetAwaiter().GetResult();
        _engine.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private static CancellationToken Soon => new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token;

    private Dictionary<string, string> RunLabels(string? session = null)
    {
        var labels = DockerEngine.OwnedLabels(new Dictionary<string, string>
        {
            [E2EScope.RunIdLabel] = _run,
            [E2EScope.ExpiresLabel] = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        if (session is not null)
        {
            labels[DockerEngine.SessionLabel] = session;
        }
        return labels;
    }

    private async Task<string> SleeperAsync(string name, IReadOnlyDictionary<string, string> labels, string script = "sleep 600") =>
        await _engine.StartAsync(new ContainerSpec { Image = RealDocker.Busybox, Name = name, Labels = labels, Command = new[] { "sh", "-c", script } }, Soon);

    [Fact]
    public async Task Containers_are_created_with_labels_found_by_label_and_removed_by_label()
    {
        var version = await _engine.VersionAsync(Soon);
        Assert.False(string.IsNullOrEmpty(version.APIVersion));
        var labels = RunLabels();
        labels["suite"] = "petals";
        var first = RealDocker.UniqueName("node-a");
        var second = RealDocker.UniqueName("node-b");
        await SleeperAsync(first, labels);
        await SleeperAsync(second, labels);

        var ours = await _engine.ListAsync(new Dictionary<string, string> { [E2EScope.RunIdLabel] = _run }, Soon);
        Assert.Equal(new[] { first, second }.Order(), ours.Select(c => c.Name).Order());
        Assert.All(ours, c => Assert.Equal("running", c.State));
        Assert.All(ours, c => Assert.Equal("petals", c.Labels["suite"]));
        Assert.All(ours, c => Assert.Equal(E2E.Core.Processes.OwnedProcesses.SessionTag, c.Labels[DockerEngine.SessionLabel]));

        var removed = await _engine.RemoveAsync(new Dictionary<string, string> { [E2EScope.RunIdLabel] = _run }, Soon);
        Assert.Equal(2, removed.Count);
        Assert.Empty(await _engine.ListAsync(new Dictionary<string, string> { [E2EScope.RunIdLabel] = _run }, Soon));
    }

    [Fact]
    public async Task A_name_in_use_is_DockerApiFailed_with_the_engines_message()
    {
        var name = RealDocker.UniqueName("taken");
        await SleeperAsync(name, RunLabels());
        var ex = await Assert.ThrowsAsync<E2EException>(() => SleeperAsync(name, RunLabels()));
        Assert.Same(ErrorCatalog.DockerApiFailed, ex.Error);
        Assert.Contains("409", ex.Message);
        Assert.Contains("already in use", ex.Message);
    }

    [Fact]
    public async Task An_image_the_engine_lacks_is_DockerApiFailed_naming_it()
    {
        var ex = await Assert.ThrowsAsync<E2EException>(() => _engine.StartAsync(new ContainerSpec { Image = "e2e-no-such-image:none", Name = RealDocker.UniqueName("x"), Labels = RunLabels() }, Soon));
        Assert.Same(ErrorCatalog.DockerApiFailed, ex.Error);
        Assert.Contains("e2e-no-such-image", ex.Message);
        Assert.False(await _engine.HasImageAsync("e2e-no-such-image:none", Soon));
        Assert.True(await _engine.HasImageAsync(RealDocker.Busybox, Soon));
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
    public async Task Stop_is_SIGTERM_then_SIGKILL_after_the_grace_and_says_which_it_took()
    {
        // A shell as PID 1 has no handler for SIGTERM, so the kernel ignores it: the engine kills after the grace.
        var deaf = await SleeperAsync(RealDocker.UniqueName("deaf"), RunLabels());
        // One that traps SIGTERM ends at once.
        var polite = await SleeperAsync(RealDocker.UniqueName("polite"), RunLabels(), "trap 'exit 0' TERM; while true; do sleep 0.1; done");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Assert.False(await _engine.StopAndRemoveAsync(deaf, TimeSpan.FromSeconds(1), Soon));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1), $"killed after {clock.Elapsed}, before the grace");
        Assert.True(await _engine.StopAndRemoveAsync(polite, TimeSpan.FromSeconds(30), Soon));
        Assert.Empty(await _engine.ListAsync(new Dictionary<string, string> { [E2EScope.RunIdLabel] = _run }, Soon));
        // Stopping what is gone is no error.
        Assert.True(await _engine.StopAndRemoveAsync(deaf, TimeSpan.FromSeconds(1), Soon));
    }

    [Fact]
    public async Task A_container_reaches_a_server_on_this_hosts_loopback_through_the_relay()
    {
        // A server that answers only its loopback names, as HttpListener does (400 for any other Host).
        using var server = new E2E.Core.StandIns.Oracle.MockOracleServer();
        using var relay = await HostLoopbackRelay.ForNetworkAsync(_engine, null, Soon);
        var url = relay.Rewrite("ORACLE_API_URL", server.Url + "/health");
        Assert.StartsWith($"http://{HostLoopbackRelay.HostName}:", url);
        Assert.Contains($"to 127.0.0.1:{server.Port}", Assert.Single(relay.Rewrites));
        Assert.Equal("http://example.org:80/", relay.Rewrite("OTHER", "http://example.org:80/")); // not the host's loopback: as given
        var name = RealDocker.UniqueName("reach-host");
        var id = await _engine.StartAsync(new ContainerSpec
        {
            Image = RealDocker.Busybox,
            Name = name,
            Labels = RunLabels(),
            Command = new[] { "sh", "-c", $"wget -q -O - '{url}'; status=$?; echo; echo exit=$status" },
            ExtraHosts = new[] { relay.ExtraHost },
        }, Soon);
        var state = await E2E.Core.Waiting.ConditionWaiter.UntilAsync(async token =>
        {
            var s = await _engine.InspectAsync(id, token);
            return s.Running ? E2E.Core.Waiting.Observation.NotYet("running") : E2E.Core.Waiting.Observation.Met(s);
        }, new E2E.Core.Waiting.WaitOptions { Timeout = TimeSpan.FromSeconds(30), Interval = TimeSpan.FromMilliseconds(100) }, "the container's exit", Soon);
        var log = string.Join('\n', await _engine.LogsAsync(id, -1, Soon));
        Assert.Contains("\"status\":\"ok\"", log);
        Assert.Contains("exit=0", log);
        Assert.Equal(1, server.RequestCount);
    }

    [Fact]
    public async Task The_sweep_removes_a_dead_sessions_containers_networks_volumes_and_images_at_once_and_leaves_a_live_ones()
    {
        using var dead = System.Diagnostics.Process.Start("true")!;
        dead.WaitForExit();
        var deadRun = RunLabels(session: $"{dead.Id}:1");
        var liveRun = RunLabels();
        var leftByDead = RealDocker.UniqueName("left-by-dead");
        var stillInUse = RealDocker.UniqueName("still-in-use");
        var network = RealDocker.UniqueName("dead") + "_default";
        var image = RealDocker.UniqueName("e2e-dead-build") + ":test";
        var volume = RealDocker.UniqueName("dead") + "_data";
        await SleeperAsync(leftByDead, deadRun);
        await _engine.CreateNetworkAsync(network, deadRun, Soon);
        await _engine.CreateVolumeAsync(volume, deadRun, Soon);
        var context = Directory.CreateDirectory(Path.Combine(_root, "build")).FullName;
        File.WriteAllText(Path.Combine(context, "Dockerfile"), $"FROM {RealDocker.Busybox}\nCMD [\"true\"]\n");
        await _engine.BuildAsync(context, image, Soon, deadRun);
        await SleeperAsync(stillInUse, liveRun);

        var found = (await OrphanSweeper.FindAsync(null, _run, Soon, tempBase: _root, docker: RealDocker.Endpoint))
            .Where(o => o.Kind is OrphanSweeper.ContainerKind or OrphanSweeper.NetworkKind or OrphanSweeper.VolumeKind or OrphanSweeper.ImageKind).ToArray();
        Assert.Equal(new[] { leftByDead, stillInUse, network, volume, image }.Order(), found.Select(o => o.Name).Order());
        // In the order removal needs: containers, then what they used.
        Assert.Equal(new[] { OrphanSweeper.ContainerKind, OrphanSweeper.ContainerKind, OrphanSweeper.NetworkKind, OrphanSweeper.VolumeKind, OrphanSweeper.ImageKind }, found.Select(o => o.Kind));
        var expired = found.Where(o => o.IsExpired(DateTimeOffset.UtcNow)).Select(o => o.Name).Order().ToArray();
        Assert.Equal(new[] { leftByDead, network, volume, image }.Order(), expired);

        var swept = await OrphanSweeper.SweepDeadSessionsOnDockerAsync(TimeSpan.FromSeconds(30), Soon, RealDocker.Endpoint);
        Assert.All(swept, s => Assert.Null(s.Error));
        Assert.Superset(expired.ToHashSet(), swept.Select(s => s.Orphan.Name).ToHashSet());
        Assert.Equal(new[] { stillInUse }, (await _engine.ListAsync(new Dictionary<string, string> { [E2EScope.RunIdLabel] = _run }, Soon)).Select(c => c.Name));
        Assert.Empty(await _engine.ListNetworksAsync(new Dictionary<string, string?> { [E2EScope.RunIdLabel] = _run }, Soon));
        Assert.False(await _engine.HasImageAsync(image, Soon));
        Assert.Empty(await _engine.ListVolumesAsync(new Dictionary<string, string?> { [E2EScope.RunIdLabel] = _run }, Soon));
    }
}
