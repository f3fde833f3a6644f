using System.Globalization;
using E2E.Core.Containers;
using E2E.Core.Net;
using E2E.Core.StandIns.Petals;

namespace E2E.Core.Petals;

/// <summary>
/// The Docker runtime of a node: the node image run through the Docker Engine API with the environment of
/// upstream's compose file (PETALS_PORT 31330 for the swarm, API_PORT 31331 for /health and /metrics), both
/// published on 127.0.0.1, the node listening on every address inside its own network namespace (PETALS_HOST=0.0.0.0),
/// the run's labels on the container (so a sweep finds it after a crash), and the container's log copied to the
/// node's log file when it stops. An Oracle or chain URL naming this host's loopback is unreachable from a container
/// as given; it is rewritten to the host through a relay (<see cref="HostLoopbackRelay"/>), and each rewrite is told.
/// </summary>
public static class PetalsContainers
{
    /// <summary>The tag upstream's run_e2e.sh builds.</summary>
    public const string DefaultImage = "plumise-petals:test";

    public const int SwarmPort = 31330;
    public const int ApiPort = 31331;

    /// <remarks>The track callback gets the container's stop before the wait, so the caller records it for cleanup first.</remarks>
    public static async Task<PetalsNode> StartNodeAsync(PetalsNodeLaunch launch, string image, Uri? endpoint, IReadOnlyDictionary<string, string> labels, Action<Func<TimeSpan, bool>> track, CancellationToken cancellation, Action<string>? told = null)
    {
        var engine = DockerEngine.Connect(endpoint);
        HostLoopbackRelay? relay = null;
        var apiPort = launch.Port == 0 ? Loopback.FreePort() : launch.Port;
        var swarmPort = Loopback.FreePort();
        var environment = launch.Environment(SwarmPort);
        environment["PETALS_HOST"] = "0.0.0.0";
        environment["API_PORT"] = ApiPort.ToString(CultureInfo.InvariantCulture);
        // Inside the container the spool is the container's own folder.
        environment.Remove("E2E_PETALS_SPOOL");
        var extraHosts = new List<string>();
        if (new[] { launch.OracleUrl, launch.ChainRpcUrl }.Any(url => url is not null && Uri.TryCreate(url, UriKind.Absolute, out var uri) && HostLoopbackRelay.NamesHostLoopback(uri)))
        {
            relay = await HostLoopbackRelay.ForNetworkAsync(engine, null, cancellation).ConfigureAwait(false);
            foreach (var name in new[] { "ORACLE_API_URL", "PLUMISE_RPC_URL" })
            {
                if (environment.TryGetValue(name, out var url) && url is not null)
                {
                    environment[name] = relay.Rewrite(name, url);
                }
            }
            extraHosts.Add(relay.ExtraHost);
            foreach (var rewrite in relay.Rewrites)
            {
                told?.Invoke($"Petals node '{launch.Name}': {rewrite}: a container cannot reach this host's 127.0.0.1.");
            }
        }
        var containerLabels = DockerEngine.OwnedLabels(labels);
        containerLabels["e2e.dev/petals-node"] = launch.Name;
        Directory.CreateDirectory(launch.WorkDirectory);
        var logPath = Path.Combine(launch.WorkDirectory, "node.log");
        string? id = null;
        var stopped = 0;
        bool Stop(TimeSpan grace)
        {
            if (id is null || Interlocked.Exchange(ref stopped, 1) == 1)
            {
                return true;
            }
            try
            {
                var lines = engine.LogsAsync(id, -1, CancellationToken.None).GetAwaiter().GetResult();
                File.WriteAllLines(logPath, lines);
            }
            catch (E2E.Core.Errors.E2EException)
            {
                // The log is a courtesy; the container is removed regardless.
            }
            try
            {
                return engine.StopAndRemoveAsync(id, grace, CancellationToken.None).GetAwaiter().GetResult();
            }
            finally
            {
                relay?.Dispose();
                engine.Dispose();
            }
        }
        track(Stop);
        id = await engine.StartAsync(new ContainerSpec
        {
            Image = image,
            Name = $"e2e-{launch.Name}-{Guid.NewGuid().ToString("N")[..8]}",
            Labels = containerLabels,
            Environment = environment,
            Ports = new[] { (SwarmPort, swarmPort, "tcp"), (ApiPort, apiPort, "tcp") },
            ExtraHosts = extraHosts,
        }, cancellation).ConfigureAwait(false);
        var containerId = id;
        string Log(int lines) => string.Join('\n', engine.LogsAsync(containerId, lines, CancellationToken.None).GetAwaiter().GetResult());
        // Probed once the node has logged that it serves, as a process node is: Docker's proxy accepts on the published
        // port at once and connects through while the node's HttpListener may still be binding.
        return await PetalsNode.AttachContainerAsync(launch, apiPort, containerId, logPath, Stop,
            () => !engine.InspectAsync(containerId, CancellationToken.None).GetAwaiter().GetResult().Running,
            () => Log(40), () => Log(-1).Contains(PetalsNodeHost.ServingLogLine, StringComparison.Ordinal), cancellation).ConfigureAwait(false);
    }
}
