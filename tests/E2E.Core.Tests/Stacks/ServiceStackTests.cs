using System.Net.Sockets;
using E2E.Core.Errors;
using E2E.Core.Petals;
using E2E.Core.Processes;
using E2E.Core.Stacks;
using E2E.Core.Tests.Containers;
using E2E.Core.Tests.Processes;

namespace E2E.Core.Tests.Stacks;

/// <summary>Stacks on the Process runtime (real local processes) and the Docker runtime (the real engine, see <see cref="RealDocker"/>).</summary>
public sealed class ServiceStackTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("e2e-stack-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static CancellationToken Soon => new CancellationTokenSource(TimeSpan.FromSeconds(120)).Token;

    private StackOptions Options(StackRuntime runtime = StackRuntime.Process, Uri? docker = null) =>
        new() { Runtime = runtime, WorkDirectory = Path.Combine(_dir, "work-" + Guid.NewGuid().ToString("N")[..6]), StartTimeout = TimeSpan.FromSeconds(60), StopGrace = TimeSpan.FromSeconds(5), DockerEndpoint = docker };

    private static bool Listening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect("127.0.0.1", port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    [Fact]
    public async Task The_upstream_plumise_stack_runs_as_processes_reports_and_serves_then_leaves_nothing()
    {
        var ports = new Dictionary<string, string>
        {
            ["ORACLE_PORT"] = E2E.Core.Net.Loopback.FreePort().ToString(),
            ["NODE_A_PORT"] = E2E.Core.Net.Loopback.FreePort().ToString(),
            ["NODE_B_PORT"] = E2E.Core.Net.Loopback.FreePort().ToString(),
        };
        var project = ComposeProject.Load(new[] { ComposeProjectTests.Plumise("docker-compose.test.yml"), ComposeProjectTests.Plumise("docker-compose.e2e.yml") }, "plumise-" + Guid.NewGuid().ToString("N")[..6], n => ports.GetValueOrDefault(n));
        using var stack = await ServiceStack.StartAsync(project, Options(), _ => { }, null, Soon);
        Assert.All(stack.ServiceStates, s => Assert.Equal("Healthy", s.State));

        using var client = new DistributedInference();
        var nodes = await client.DiscoverAsync(new[] { $"http://127.0.0.1:{ports["NODE_A_PORT"]}", $"http://127.0.0.1:{ports["NODE_B_PORT"]}" }, Soon);
        Assert.Equal(new[] { "0-11", "12-23" }, nodes.Select(n => n.Blocks));
        var result = await client.GenerateAsync("stack", 10, nodes, Soon);
        Assert.Equal(PetalsModel.Default.Generate("stack", 10), result.Tokens);

        // run_e2e.sh's check: the mock Oracle's log names both agents (reports every second here).
        var oracle = stack.Service("mock-oracle");
        var deadline = DateTime.UtcNow.AddSeconds(20);
        string log;
        do
        {
            await Task.Delay(200);
            log = await oracle.TailAsync(1000, Soon);
        }
        while (!(log.Contains("Received report from agent: 0x8fd379246834eac74B8419FfdA202CF8051F7A03") && log.Contains("Received report from agent: 0x88f9B82462f6C4bf4a0Fb15e5c3971559a316e7f")) && DateTime.UtcNow < deadline);
        Assert.Contains("Received report from agent: 0x8fd379246834eac74B8419FfdA202CF8051F7A03", log);
        Assert.Contains("Received report from agent: 0x88f9B82462f6C4bf4a0Fb15e5c3971559a316e7f", log);
        Assert.DoesNotContain("Rejected", log);

        var pids = stack.Services.Select(s => int.Parse(s.Id)).ToArray();
        Assert.Empty(stack.Stop());
        Assert.All(pids, pid => Assert.False(Procs.Alive(pid)));
        Assert.All(ports.Values, port => Assert.False(Listening(int.Parse(port))));
        Assert.Null(ServiceStack.Find(project.Name));
    }

    [Fact]
    public async Task A_service_that_dies_fails_the_start_with_every_log_and_stops_what_had_started()
    {
        var file = Path.Combine(_dir, "failing.yml");
        File.WriteAllText(file, """
            services:
              sleeper:
                x-e2e: { command: ["sleep", "300"] }
              broken:
                x-e2e: { command: ["sh", "-c", "echo starting up; echo 'no config found' >&2; exit 3"] }
                depends_on: [sleeper]
                healthcheck: { test: ["CMD", "false"], interval: 100ms, retries: 100 }
            """);
        ServiceStack? tracked = null;
        var error = await Assert.ThrowsAsync<E2EException>(() => ServiceStack.StartAsync(ComposeProject.Load(new[] { file }, "failing", _ => null), Options(), s => tracked = s, null, Soon));
        Assert.Equal(ErrorCatalog.StackServiceFailed, error.Error);
        Assert.Contains("service broken exited with code 3", error.Message);
        Assert.Contains("no config found", error.Message);
        Assert.Contains("--- sleeper", error.Message);
        Assert.NotNull(tracked);
        Assert.True(tracked!.IsStopped);
        Assert.All(tracked.Services, s => Assert.False(Procs.Alive(int.Parse(s.Id))));
    }

    [Fact]
    public async Task Stopping_kills_children_that_outlive_a_service_and_a_service_that_ignores_SIGTERM()
    {
        var file = Path.Combine(_dir, "tree.yml");
        File.WriteAllText(file, """
            services:
              parent:
                x-e2e: { command: ["sh", "-c", "sleep 300 & sleep 301 & wait"] }
              stubborn:
                x-e2e: { command: ["sh", "-c", "trap '' TERM; sleep 302 & wait"] }
            """);
        using var stack = await ServiceStack.StartAsync(ComposeProject.Load(new[] { file }, "tree", _ => null), Options() with { StopGrace = TimeSpan.FromMilliseconds(500) }, _ => { }, null, Soon);
        int[] Tree() => stack.Services.SelectMany(s => new[] { int.Parse(s.Id) }.Concat(SupervisedProcess.Descendants(int.Parse(s.Id)))).ToArray();
        // Waits on the thing: two shells and three sleeps running (bounded).
        var all = (await E2E.Core.Waiting.ConditionWaiter.UntilAsync(token => ValueTask.FromResult(Tree() is { Length: >= 5 } tree ? E2E.Core.Waiting.Observation.Met(tree) : E2E.Core.Waiting.Observation.NotYet("not all started")),
            new E2E.Core.Waiting.WaitOptions { Timeout = TimeSpan.FromSeconds(30), Interval = TimeSpan.FromMilliseconds(20) }, "the services' children", Soon)).LastValue as int[];
        var killed = stack.Stop();
        Assert.Equal(new[] { "stubborn" }, killed);
        // Stop returns once no member of either group is left.
        Assert.All(all!, pid => Assert.False(Procs.Alive(pid), $"pid {pid} outlived the stack"));
    }

    [Fact]
    public async Task A_service_whose_children_fork_while_it_is_stopped_leaves_no_process()
    {
        var file = Path.Combine(_dir, "forker.yml");
        var ready = Path.Combine(_dir, "forker.ready");
        var script = Path.Combine(_dir, "forker.sh");
        File.WriteAllText(script, Procs.ForkingLoop(ready));
        File.WriteAllText(file, $"services:\n  forker:\n    x-e2e:\n      command: [\"sh\", \"{script}\"]\n");
        using var stack = await ServiceStack.StartAsync(ComposeProject.Load(new[] { file }, "forker", _ => null), Options() with { StopGrace = TimeSpan.FromMilliseconds(300) }, _ => { }, null, Soon);
        Procs.WaitForFile(ready);
        // Every process of the service carries its group's tag; after the stop none is left, forked mid-stop or re-parented.
        var tag = Procs.TagOf(int.Parse(stack.Services.Single().Id));
        Assert.Equal(new[] { "forker" }, stack.Stop());
        Assert.Empty(ProcessGroup.MembersOf(tag));
    }

    [Fact]
    public async Task Logs_can_be_tailed_and_followed()
    {
        var file = Path.Combine(_dir, "logs.yml");
        File.WriteAllText(file, """
            services:
              talker:
                x-e2e: { command: ["sh", "-c", "for i in 1 2 3 4 5; do echo line $$i; sleep 0.1; done"] }
            """);
        using var stack = await ServiceStack.StartAsync(ComposeProject.Load(new[] { file }, "logs", _ => null), Options(), _ => { }, null, Soon);
        var lines = new List<string>();
        await foreach (var line in stack.Service("talker").FollowAsync(int.MaxValue, Soon))
        {
            lines.Add(line);
        }
        Assert.Equal(Enumerable.Range(1, 5).Select(i => $"line {i}"), lines.Where(l => l.StartsWith("line", StringComparison.Ordinal)));
        Assert.Equal("line 4\nline 5", await stack.Service("talker").TailAsync(2, Soon));
    }

    [Fact]
    public async Task The_Docker_runtime_builds_networks_publishes_on_loopback_waits_healthy_and_removes_everything()
    {
        var project = RealDocker.UniqueName("dockerstack");
        var run = "e2e-" + Guid.NewGuid().ToString("N")[..10];
        var context = Directory.CreateDirectory(Path.Combine(_dir, "client")).FullName;
        File.WriteAllText(Path.Combine(context, "Dockerfile"), $"FROM {RealDocker.Busybox}\nCMD [\"sh\", \"-c\", \"wget -q -O - http://web:8080/ && sleep 600\"]\n");
        var webPort = E2E.Core.Net.Loopback.FreePort();
        var file = Path.Combine(_dir, "docker.yml");
        File.WriteAllText(file, $$"""
            services:
              web:
                image: {{RealDocker.Busybox}}
                command: ["sh", "-c", "mkdir -p /www && echo served-by-web > /www/index.html && httpd -f -p 8080 -h /www"]
                ports: ["{{webPort}}:8080"]
                healthcheck:
                  test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
                  interval: 200ms
                  retries: 50
              client:
                build: ./client
                depends_on: { web: { condition: service_healthy } }
            """);
        var options = Options(StackRuntime.Docker, RealDocker.Endpoint) with { Labels = new Dictionary<string, string> { ["e2e.dev/run-id"] = run }, StopGrace = TimeSpan.FromSeconds(1) };
        using var inspector = RealDocker.Inspector();
        IReadOnlyList<string> killed;
        using (var stack = await ServiceStack.StartAsync(ComposeProject.Load(new[] { file }, project, _ => null), options, _ => { }, null, Soon))
        {
            Assert.Equal("Healthy", stack.ServiceStates.Single(s => s.Service == "web").State);
            var web = await inspector.Containers.InspectContainerAsync($"{project}-web-1", Soon);
            Assert.Equal("127.0.0.1", web.HostConfig!.PortBindings!["8080/tcp"][0].HostIP);
            Assert.Contains("web", web.NetworkSettings!.Networks![$"{project}_default"].Aliases!);
            Assert.Equal(project, web.Config!.Labels!["com.docker.compose.project"]);
            Assert.Equal(run, web.Config.Labels["e2e.dev/run-id"]);
            // Built from build: when missing, labelled with the run so that a sweep finds it.
            var built = await inspector.Images.InspectImageAsync($"{project}-client", Soon);
            Assert.Equal(run, built.Config!.Labels!["e2e.dev/run-id"]);
            using var http = new HttpClient();
            Assert.Equal("served-by-web\n", await http.GetStringAsync($"http://127.0.0.1:{webPort}/", Soon));
            // The client found web by its service name on the project's network.
            await E2E.Core.Waiting.ConditionWaiter.UntilAsync(async token =>
                (await stack.Service("client").TailAsync(5, token)).Contains("served-by-web", StringComparison.Ordinal) ? E2E.Core.Waiting.Observation.Met(true) : E2E.Core.Waiting.Observation.NotYet("no body yet"),
                new E2E.Core.Waiting.WaitOptions { Timeout = TimeSpan.FromSeconds(30), Interval = TimeSpan.FromMilliseconds(100) }, "the client's log", Soon);
            // Both are shells as PID 1, which ignore SIGTERM: killed after the grace, the ordinary stop, and nothing failed.
            killed = stack.Stop();
            Assert.Empty(stack.FailedBeforeStop);
        }
        Assert.Equal(new[] { "client", "web" }, killed.Order());
        Assert.Empty(await inspector.Containers.ListContainersAsync(new Docker.DotNet.Models.ContainersListParameters { All = true, Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"com.docker.compose.project={project}"] = true } } }, Soon));
        Assert.DoesNotContain((await inspector.Networks.ListNetworksAsync(cancellationToken: Soon)), n => n.Name == $"{project}_default");
        Assert.False(Listening(webPort));
        await inspector.Images.DeleteImageAsync($"{project}-client", new Docker.DotNet.Models.ImageDeleteParameters { Force = true }, Soon);
    }

    [Fact]
    public async Task Bind_mounts_and_named_volumes_are_mounted_as_compose_mounts_them_and_the_stacks_volumes_go_with_it()
    {
        var project = RealDocker.UniqueName("mounts");
        var site = Directory.CreateDirectory(Path.Combine(_dir, "site")).FullName;
        File.WriteAllText(Path.Combine(site, "index.html"), "from the host folder\n");
        var webPort = E2E.Core.Net.Loopback.FreePort();
        var file = Path.Combine(_dir, "mounts.yml");
        File.WriteAllText(file, $$"""
            services:
              writer:
                image: {{RealDocker.Busybox}}
                command: ["sh", "-c", "echo written-by-writer > /data/note && sleep 600"]
                volumes: ["data:/data"]
              web:
                image: {{RealDocker.Busybox}}
                command: ["sh", "-c", "while [ ! -s /data/note ]; do sleep 0.05; done; mkdir -p /www && cp /site/index.html /www/ && cat /data/note >> /www/index.html && httpd -f -p 8080 -h /www"]
                volumes: ["./site:/site:ro", "data:/data:ro"]
                ports: ["{{webPort}}:8080"]
                healthcheck:
                  test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
                  interval: 200ms
                  retries: 100
                depends_on: [writer]
            volumes:
              data:
            """);
        using var inspector = RealDocker.Inspector();
        using (var stack = await ServiceStack.StartAsync(ComposeProject.Load(new[] { file }, project, _ => null), Options(StackRuntime.Docker, RealDocker.Endpoint) with { StopGrace = TimeSpan.FromSeconds(1) }, _ => { }, null, Soon))
        {
            using var http = new HttpClient();
            Assert.Equal("from the host folder\nwritten-by-writer\n", await http.GetStringAsync($"http://127.0.0.1:{webPort}/", Soon));
            var volume = await inspector.Volumes.InspectAsync($"{project}_data", Soon);
            Assert.Equal(project, volume.Labels["com.docker.compose.project"]);
            // Read-only as the file says: the web service cannot write to the host folder.
            var web = await inspector.Containers.InspectContainerAsync($"{project}-web-1", Soon);
            Assert.Contains($"{site}:/site:ro", web.HostConfig!.Binds!);
        }
        await Assert.ThrowsAsync<Docker.DotNet.DockerApiException>(() => inspector.Volumes.InspectAsync($"{project}_data", Soon));
        Assert.Equal(new[] { "index.html" }, Directory.GetFiles(site).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_service_that_exits_with_an_error_on_its_own_is_reported_when_the_stack_stops()
    {
        var file = Path.Combine(_dir, "failing.yml");
        // flaky exits when the test says so, after the start: a fixed "sleep 1" raced the start, which fails a stack
        // whose service has already exited with an error (seen when starting two containers took longer than that).
        var signal = Directory.CreateDirectory(Path.Combine(_dir, "signal")).FullName;
        File.WriteAllText(file, $$"""
            services:
              steady: { image: {{RealDocker.Busybox}}, command: ["sleep", "600"] }
              flaky:
                image: {{RealDocker.Busybox}}
                command: ["sh", "-c", "while [ ! -e /signal/exit ]; do sleep 0.05; done; exit 3"]
                volumes: ["./signal:/signal:ro"]
            """);
        using var stack = await ServiceStack.StartAsync(ComposeProject.Load(new[] { file }, RealDocker.UniqueName("failing"), _ => null), Options(StackRuntime.Docker, RealDocker.Endpoint), _ => { }, null, Soon);
        Assert.Equal("Running", stack.Service("flaky").State);
        File.WriteAllText(Path.Combine(signal, "exit"), "");
        await E2E.Core.Waiting.ConditionWaiter.UntilAsync(token => ValueTask.FromResult(stack.Service("flaky").State == "Exited" ? E2E.Core.Waiting.Observation.Met(true) : E2E.Core.Waiting.Observation.NotYet("running")),
            new E2E.Core.Waiting.WaitOptions { Timeout = TimeSpan.FromSeconds(30), Interval = TimeSpan.FromMilliseconds(100) }, "flaky's exit", Soon);
        stack.Stop(TimeSpan.FromSeconds(1));
        Assert.Equal(new[] { "flaky (exit code 3)" }, stack.FailedBeforeStop);
    }

    [Fact]
    public async Task A_Petals_node_on_the_Docker_runtime_gets_upstreams_environment_reports_to_this_host_and_its_container_goes_with_it()
    {
        using var oracle = new E2E.Core.StandIns.Oracle.MockOracleServer();
        var told = new List<string>();
        Func<TimeSpan, bool>? stop = null;
        var node = await PetalsContainers.StartNodeAsync(new PetalsNodeLaunch
        {
            Name = "docker-node-" + Guid.NewGuid().ToString("N")[..6],
            BlockStart = 12,
            BlockEnd = 24,
            Key = new E2E.Core.Chain.EthKeyMaterial("0x" + new string('b', 64)),
            OracleUrl = oracle.Url,
            ReportInterval = TimeSpan.FromSeconds(1),
            WorkDirectory = Path.Combine(_dir, "docker-node"),
        }, PetalsContainers.DefaultImage, RealDocker.Endpoint, new Dictionary<string, string> { ["e2e.dev/run-id"] = "e2e-test" }, s => stop = s, Soon, told.Add);
        Assert.NotNull(stop);
        Assert.Equal(PetalsRuntime.Docker, node.Runtime);
        Assert.Equal("0x88f9B82462f6C4bf4a0Fb15e5c3971559a316e7f", node.Agent);
        using var inspector = RealDocker.Inspector();
        var container = await inspector.Containers.InspectContainerAsync(node.ContainerId!, Soon);
        var env = container.Config!.Env!;
        Assert.Contains("NUM_BLOCKS=12", env);
        Assert.Contains("PETALS_PORT=31330", env);
        Assert.Contains("API_PORT=31331", env);
        Assert.Contains("PETALS_HOST=0.0.0.0", env);
        Assert.Contains("E2E_PETALS_BLOCK_START=12", env);
        Assert.Contains(env, e => e.StartsWith($"ORACLE_API_URL=http://{E2E.Core.Containers.HostLoopbackRelay.HostName}:", StringComparison.Ordinal));
        Assert.Contains(told, t => t.Contains("ORACLE_API_URL", StringComparison.Ordinal) && t.Contains(oracle.Url, StringComparison.Ordinal));
        await E2E.Core.Waiting.ConditionWaiter.UntilAsync(token => ValueTask.FromResult(oracle.Reports(node.Agent, accepted: true).Count > 0 ? E2E.Core.Waiting.Observation.Met(true) : E2E.Core.Waiting.Observation.NotYet("no accepted report yet")),
            new E2E.Core.Waiting.WaitOptions { Timeout = TimeSpan.FromSeconds(30), Interval = TimeSpan.FromMilliseconds(100) }, "a report from the node in its container", Soon);
        node.Stop(TimeSpan.FromSeconds(5));
        await Assert.ThrowsAsync<Docker.DotNet.DockerContainerNotFoundException>(() => inspector.Containers.InspectContainerAsync(node.ContainerId!, Soon));
        Assert.Contains("serving e2e/tiny-bloom-24 blocks 12-23", File.ReadAllText(node.LogPath));
        Assert.False(Listening(node.Port));
    }
}
