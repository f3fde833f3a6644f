using System.Diagnostics;
using System.Globalization;
using E2E.Core.Containers;
using E2E.Core.Stacks;

namespace E2E.Bench;

/// <summary>
/// bench docker-stack: on the engine at $DOCKER_HOST with the images of tools/images/Build-TestImages.ps1, in rounds
/// of alternating order: the seed's stack (mock Oracle and two nodes, Pester/TestData/plumise, docker override) up and
/// healthy through ServiceStack (what Start-E2EStack -Runtime Docker runs) next to 'docker-compose up -d' plus polling
/// until every container is healthy, on the same files; and a node container's start to its first /health answer.
/// Options: --rounds N (default 3).
/// </summary>
internal static class DockerStack
{
    public static int Run(string[] args)
    {
        var rounds = int.Parse(Measure.Option(args, "--rounds", "3"), CultureInfo.InvariantCulture);
        if (Environment.GetEnvironmentVariable("DOCKER_HOST") is not { Length: > 0 })
        {
            Console.Error.WriteLine("docker-stack needs $DOCKER_HOST (tools/docker/dockerd.sh start) and the images of tools/images/Build-TestImages.ps1");
            return 2;
        }
        var data = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "Pester", "TestData", "plumise"));
        var files = new[] { Path.Combine(data, "docker-compose.test.yml"), Path.Combine(data, "docker-compose.docker.yml") };
        var module = new List<double>();
        var compose = new List<double>();
        var firstHealth = new List<double>();
        for (var round = 0; round < rounds; round++)
        {
            // Alternating which goes first, so both meet the machine's busy and quiet spells alike.
            var order = round % 2 == 0 ? new[] { "module", "compose" } : new[] { "compose", "module" };
            foreach (var which in order)
            {
                (which == "module" ? module : compose).Add(which == "module" ? ModuleUp(files) : ComposeUp(files));
            }
            firstHealth.Add(NodeFirstHealth());
        }
        Console.WriteLine($"docker-stack on {Environment.GetEnvironmentVariable("DOCKER_HOST")}, {rounds} rounds (median, min-max):");
        Console.WriteLine($"  seed stack up and healthy, Start-E2EStack -Runtime Docker (ServiceStack): {Summary(module)}");
        Console.WriteLine($"  seed stack up and healthy, docker-compose up -d + health polling:        {Summary(compose)}");
        Console.WriteLine($"  node container start to first /health answer:                            {Summary(firstHealth)}");
        return 0;
    }

    private static string Summary(List<double> seconds)
    {
        var sorted = seconds.Order().ToArray();
        return string.Create(CultureInfo.InvariantCulture, $"{sorted[sorted.Length / 2]:0.00} s ({sorted[0]:0.00}-{sorted[^1]:0.00})");
    }

    private static double ModuleUp(string[] files)
    {
        var work = Directory.CreateTempSubdirectory("e2e-bench-stack-").FullName;
        try
        {
            var clock = Stopwatch.StartNew();
            using var stack = ServiceStack.StartAsync(ComposeProject.Load(files, "benchmodule", _ => null), new StackOptions { Runtime = StackRuntime.Docker, WorkDirectory = work, StopGrace = TimeSpan.FromSeconds(5) }, _ => { }, null, CancellationToken.None).GetAwaiter().GetResult();
            var elapsed = clock.Elapsed.TotalSeconds;
            stack.Stop();
            return elapsed;
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static double ComposeUp(string[] files)
    {
        var arguments = files.SelectMany(f => new[] { "-f", f }).Concat(new[] { "-p", "benchcompose" }).ToArray();
        var clock = Stopwatch.StartNew();
        var (_, up) = Measure.Program("docker-compose", arguments.Concat(new[] { "up", "-d" }).ToArray());
        if (up != 0)
        {
            throw new InvalidOperationException("docker-compose up -d failed");
        }
        using (var engine = DockerEngine.Connect())
        {
            while (true)
            {
                var containers = engine.ListAsync(new Dictionary<string, string> { ["com.docker.compose.project"] = "benchcompose" }, CancellationToken.None).GetAwaiter().GetResult();
                if (containers.Count == 3 && containers.All(c => engine.InspectAsync(c.Id, CancellationToken.None).GetAwaiter().GetResult().Health == "healthy"))
                {
                    break;
                }
                if (clock.Elapsed > TimeSpan.FromMinutes(3))
                {
                    throw new TimeoutException("docker-compose's stack was not healthy within 3 minutes");
                }
                Thread.Sleep(50);
            }
        }
        var elapsed = clock.Elapsed.TotalSeconds;
        Measure.Program("docker-compose", arguments.Concat(new[] { "down", "-v", "-t", "5" }).ToArray());
        return elapsed;
    }

    private static double NodeFirstHealth()
    {
        using var engine = DockerEngine.Connect();
        var port = E2E.Core.Net.Loopback.FreePort();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        var id = engine.StartAsync(new ContainerSpec
        {
            Image = "plumise-petals:test",
            Name = "e2e-bench-node-" + Guid.NewGuid().ToString("N")[..8],
            Environment = new Dictionary<string, string?> { ["API_PORT"] = "31331", ["PETALS_HOST"] = "0.0.0.0" },
            Ports = new[] { (31331, port, "tcp") },
        }, CancellationToken.None).GetAwaiter().GetResult();
        try
        {
            // The node logs 'serving' before any probe, as Start-PetalsNode waits (a probe during the bind can crash it).
            while (!engine.LogsAsync(id, -1, CancellationToken.None).GetAwaiter().GetResult().Any(l => l.Contains(" serving ", StringComparison.Ordinal)))
            {
                Thread.Sleep(10);
            }
            while (true)
            {
                try
                {
                    if (http.GetAsync($"http://127.0.0.1:{port}/health").GetAwaiter().GetResult().IsSuccessStatusCode)
                    {
                        return clock.Elapsed.TotalSeconds;
                    }
                }
                catch (HttpRequestException)
                {
                }
                Thread.Sleep(10);
            }
        }
        finally
        {
            engine.StopAndRemoveAsync(id, TimeSpan.FromSeconds(5), CancellationToken.None).GetAwaiter().GetResult();
        }
    }
}
