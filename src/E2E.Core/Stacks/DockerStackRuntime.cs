using System.Globalization;
using E2E.Core.Containers;
using E2E.Core.Errors;
using E2E.Core.Net;

namespace E2E.Core.Stacks;

/// <summary>
/// The Docker runtime of a stack, as docker compose lays it out: one bridge network per project
/// (&lt;project&gt;_default) where each service is reachable by its name, containers &lt;project&gt;-&lt;service&gt;-1 (or
/// container_name) with compose's project and service labels and the run's labels, images built from build:
/// when missing, ports published on 127.0.0.1 only, and Docker's own healthchecks.
/// </summary>
internal sealed class DockerStackRuntime(StackOptions options) : IStackRuntime
{
    private readonly DockerEngine _engine = DockerEngine.Connect(options.DockerEndpoint);
    private string? _network;
    private string? _networkName;
    private readonly List<string> _createdVolumes = new();

    public async Task<IStackService> StartAsync(ComposeProject project, ComposeService service, CancellationToken cancellation)
    {
        var labels = DockerEngine.OwnedLabels(options.Labels);
        labels["com.docker.compose.project"] = project.Name;
        if (_network is null)
        {
            _networkName = $"{project.Name}_default";
            _network = await _engine.CreateNetworkAsync(_networkName, labels, cancellation).ConfigureAwait(false);
        }
        labels["com.docker.compose.service"] = service.Name;
        var image = service.Image ?? $"{project.Name}-{service.Name}";
        if (service.BuildContext is not null && !await _engine.HasImageAsync(image, cancellation).ConfigureAwait(false))
        {
            // Labelled as the containers are, so that a sweep removes what a dead session built.
            await _engine.BuildAsync(Path.GetFullPath(service.BuildContext, project.Directory), image, cancellation, DockerEngine.OwnedLabels(options.Labels)).ConfigureAwait(false);
        }
        var environment = service.Environment.ToDictionary(p => p.Key, p => p.Value ?? Environment.GetEnvironmentVariable(p.Key));
        var ports = service.Ports.Select(p => (p.ContainerPort, p.HostPort == 0 ? Loopback.FreePort() : p.HostPort, p.Protocol)).ToArray();
        var binds = new List<string>();
        foreach (var mount in service.Volumes.Where(m => m.Source is not null))
        {
            var source = mount.Source!;
            if (mount.Type == VolumeMount.Volume)
            {
                var declared = project.NamedVolumes[source];
                source = declared.EngineName;
                if (!declared.External && !_createdVolumes.Contains(source))
                {
                    var volumeLabels = new Dictionary<string, string>(labels) { ["com.docker.compose.volume"] = declared.Name };
                    volumeLabels.Remove("com.docker.compose.service");
                    await _engine.CreateVolumeAsync(source, volumeLabels, cancellation).ConfigureAwait(false);
                    _createdVolumes.Add(source);
                }
            }
            binds.Add($"{source}:{mount.Target}{(mount.ReadOnly ? ":ro" : string.Empty)}");
        }
        var check = service.Healthcheck is { Disabled: false } h ? (h.Test, h.Interval, h.Timeout, h.Retries, h.StartPeriod) : ((IReadOnlyList<string>, TimeSpan, TimeSpan, int, TimeSpan)?)null;
        var id = await _engine.StartAsync(new ContainerSpec
        {
            Image = image,
            Name = service.ContainerName ?? $"{project.Name}-{service.Name}-1",
            Labels = labels,
            Environment = environment,
            Command = service.Command,
            Entrypoint = service.Entrypoint,
            Ports = ports,
            Network = _networkName,
            NetworkAliases = new[] { service.Name },
            Healthcheck = check,
            Binds = binds,
            AnonymousVolumes = service.Volumes.Where(m => m.Source is null).Select(m => m.Target).ToArray(),
        }, cancellation).ConfigureAwait(false);
        return new ContainerService(_engine, service, id);
    }

    /// <remarks>Named volumes the stack created go with it, as 'docker compose down -v' removes them: a test leaves nothing behind; external ones stay.</remarks>
    public void Teardown()
    {
        if (_network is not null)
        {
            _engine.RemoveNetworkAsync(_network, CancellationToken.None).GetAwaiter().GetResult();
            _network = null;
        }
        foreach (var volume in _createdVolumes)
        {
            _engine.RemoveVolumeAsync(volume, CancellationToken.None).GetAwaiter().GetResult();
        }
        _createdVolumes.Clear();
    }

    public void Dispose() => _engine.Dispose();

    private sealed class ContainerService(DockerEngine engine, ComposeService definition, string id) : IStackService
    {
        private bool _stopped;
        private ContainerRunState? _last;

        public ComposeService Definition { get; } = definition;

        public string Id { get; } = id;

        public string State
        {
            get
            {
                if (_stopped)
                {
                    return "Stopped";
                }
                var state = _last = engine.InspectAsync(Id, CancellationToken.None).GetAwaiter().GetResult();
                return !state.Running ? "Exited" : state.Health switch { "healthy" => "Healthy", "unhealthy" => "Unhealthy", _ => "Running" };
            }
        }

        public int? ExitCode => _last is { Running: false } last ? (int)last.ExitCode : null;

        public async Task<bool> ProbeHealthAsync(CancellationToken cancellation)
        {
            var state = _last = await engine.InspectAsync(Id, cancellation).ConfigureAwait(false);
            return state.Running && (state.Health is null || state.Health == "healthy");
        }

        public async Task<string> TailAsync(int lines, CancellationToken cancellation) =>
            string.Join('\n', await engine.LogsAsync(Id, lines, cancellation).ConfigureAwait(false));

        public IAsyncEnumerable<string> FollowAsync(int tail, CancellationToken cancellation) => engine.FollowLogsAsync(Id, tail, follow: true, cancellation);

        public bool Stop(TimeSpan grace)
        {
            _stopped = true;
            return engine.StopAndRemoveAsync(Id, grace, CancellationToken.None).GetAwaiter().GetResult();
        }

        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"container {Id[..Math.Min(12, Id.Length)]} ({Definition.Name})");
    }
}
