using System.Net.Http;
using System.Net.Sockets;
using Docker.DotNet;
using Docker.DotNet.Models;
using E2E.Core.Errors;

namespace E2E.Core.Containers;

/// <summary>What to run in a container: image, environment, ports published on the host, network, healthcheck.</summary>
public sealed record ContainerSpec
{
    public required string Image { get; init; }

    public required string Name { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public IReadOnlyDictionary<string, string?> Environment { get; init; } = new Dictionary<string, string?>();

    public IReadOnlyList<string>? Command { get; init; }

    public IReadOnlyList<string>? Entrypoint { get; init; }

    /// <summary>Container port to host port; every port is published on 127.0.0.1 only.</summary>
    public IReadOnlyList<(int ContainerPort, int HostPort, string Protocol)> Ports { get; init; } = Array.Empty<(int, int, string)>();

    public string? Network { get; init; }

    public IReadOnlyList<string> NetworkAliases { get; init; } = Array.Empty<string>();

    /// <summary>Host paths and named volumes mounted ("source:target[:ro]", as -v), and targets of anonymous volumes.</summary>
    public IReadOnlyList<string> Binds { get; init; } = Array.Empty<string>();

    public IReadOnlyList<string> AnonymousVolumes { get; init; } = Array.Empty<string>();

    /// <summary>Entries added to the container's /etc/hosts ("name:address", or "name:host-gateway"), as --add-host.</summary>
    public IReadOnlyList<string> ExtraHosts { get; init; } = Array.Empty<string>();

    /// <summary>Docker's own healthcheck: Test as compose writes it (["CMD", ...] or ["CMD-SHELL", line]).</summary>
    public (IReadOnlyList<string> Test, TimeSpan Interval, TimeSpan Timeout, int Retries, TimeSpan StartPeriod)? Healthcheck { get; init; }
}

/// <summary>A container's state as the engine reports it; Health is null without a healthcheck (else starting, healthy or unhealthy).</summary>
public sealed record ContainerRunState(bool Running, long ExitCode, string Status, string? Health);

/// <summary>A container the module started or found, as far as the suites need it.</summary>
public sealed record ContainerSummary(string Id, string Name, string Image, string State, IReadOnlyDictionary<string, string> Labels);

/// <summary>
/// The Docker Engine API through Docker.DotNet.Enhanced (the maintained Docker.DotNet, the one Testcontainers
/// uses): the engine from $DOCKER_HOST or the local socket, containers created with the run's labels, found
/// and removed by label, so that a sweep can remove what a killed run left behind. The PlumisePetals stacks
/// build on it.
/// </summary>
public sealed class DockerEngine : IDisposable
{
    /// <summary>Where the engine is when $DOCKER_HOST is not set.</summary>
    public static readonly Uri DefaultEndpoint = new("unix:///var/run/docker.sock");

    private readonly DockerClient _client;

    private DockerEngine(Uri endpoint)
    {
        Endpoint = endpoint;
        _client = new DockerClientBuilder().WithEndpoint(endpoint).WithTimeout(TimeSpan.FromSeconds(100)).Build();
    }

    public Uri Endpoint { get; }

    /// <summary>Label keys of the session that started a container or network: once that session is gone, a sweep takes it at once.</summary>
    public const string HostLabel = "e2e.dev/host";
    public const string SessionLabel = "e2e.dev/session";

    /// <summary>The run's labels plus this session's, for what a cmdlet creates on the engine.</summary>
    public static Dictionary<string, string> OwnedLabels(IReadOnlyDictionary<string, string> runLabels)
    {
        var labels = runLabels.ToDictionary(p => p.Key, p => p.Value);
        labels[HostLabel] = Environment.MachineName;
        labels[SessionLabel] = E2E.Core.Processes.OwnedProcesses.SessionTag;
        return labels;
    }

    /// <summary>True when an engine is configured ($DOCKER_HOST) or the local socket exists; a sweep asks nothing of a machine without one.</summary>
    public static bool IsConfigured(Func<string, string?>? environment = null) =>
        !string.IsNullOrEmpty((environment ?? Environment.GetEnvironmentVariable)("DOCKER_HOST")) || File.Exists(DefaultEndpoint.LocalPath);

    /// <summary>The engine at <paramref name="endpoint"/>, else $DOCKER_HOST, else the local socket; nothing is sent yet.</summary>
    public static DockerEngine Connect(Uri? endpoint = null, Func<string, string?>? environment = null)
    {
        var fromEnvironment = (environment ?? Environment.GetEnvironmentVariable)("DOCKER_HOST");
        return new DockerEngine(endpoint ?? (string.IsNullOrEmpty(fromEnvironment) ? DefaultEndpoint : new Uri(fromEnvironment)));
    }

    /// <summary>The engine's version and API version; DockerEngineUnreachable when nothing answers.</summary>
    public Task<VersionResponse> VersionAsync(CancellationToken cancellation) => Call(() => _client.System.GetVersionAsync(cancellation));

    /// <summary>Creates and starts a container with the given labels (the run's labels, so a sweep can find it).</summary>
    public Task<string> RunAsync(string image, string name, IReadOnlyDictionary<string, string> labels, IReadOnlyList<string>? command, CancellationToken cancellation) =>
        Call(async () =>
        {
            var created = await _client.Containers.CreateContainerAsync(new CreateContainerParameters
            {
                Image = image,
                Name = name,
                Labels = labels.ToDictionary(p => p.Key, p => p.Value),
                Cmd = command?.ToList()!, // null: the image's own command
            }, cancellation).ConfigureAwait(false);
            await _client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), cancellation).ConfigureAwait(false);
            return created.ID;
        });

    /// <summary>Creates and starts the container of <paramref name="spec"/>; returns its id.</summary>
    public Task<string> StartAsync(ContainerSpec spec, CancellationToken cancellation) =>
        Call(async () =>
        {
            var parameters = new CreateContainerParameters
            {
                Image = spec.Image,
                Name = spec.Name,
                Labels = spec.Labels.ToDictionary(p => p.Key, p => p.Value),
                Env = spec.Environment.Where(p => p.Value is not null).Select(p => $"{p.Key}={p.Value}").ToList(),
                Cmd = spec.Command?.ToList()!,
                Entrypoint = spec.Entrypoint?.ToList()!,
                ExposedPorts = spec.Ports.ToDictionary(p => $"{p.ContainerPort}/{p.Protocol}", _ => default(EmptyStruct)),
                Volumes = spec.AnonymousVolumes.Count == 0 ? null! : spec.AnonymousVolumes.ToDictionary(v => v, _ => default(EmptyStruct)),
                HostConfig = new HostConfig
                {
                    ExtraHosts = spec.ExtraHosts.Count == 0 ? null! : spec.ExtraHosts.ToList(),
                    Binds = spec.Binds.Count == 0 ? null! : spec.Binds.ToList(),
                    PortBindings = spec.Ports.GroupBy(p => $"{p.ContainerPort}/{p.Protocol}").ToDictionary(
                        g => g.Key,
                        g => (IList<PortBinding>)g.Select(p => new PortBinding { HostIP = "127.0.0.1", HostPort = p.HostPort.ToString(System.Globalization.CultureInfo.InvariantCulture) }).ToList()),
                },
            };
            if (spec.Healthcheck is { } check)
            {
                parameters.Healthcheck = new HealthcheckConfig { Test = check.Test.ToList(), Interval = check.Interval, Timeout = check.Timeout, Retries = check.Retries, StartPeriod = check.StartPeriod };
            }
            if (spec.Network is not null)
            {
                parameters.NetworkingConfig = new NetworkingConfig
                {
                    EndpointsConfig = new Dictionary<string, EndpointSettings> { [spec.Network] = new EndpointSettings { Aliases = spec.NetworkAliases.ToList() } },
                };
            }
            var created = await _client.Containers.CreateContainerAsync(parameters, cancellation).ConfigureAwait(false);
            await _client.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), cancellation).ConfigureAwait(false);
            return created.ID;
        });

    public Task<ContainerRunState> InspectAsync(string id, CancellationToken cancellation) =>
        Call(async () =>
        {
            var inspected = await _client.Containers.InspectContainerAsync(id, cancellation).ConfigureAwait(false);
            var state = inspected.State;
            return new ContainerRunState(state?.Running ?? false, state?.ExitCode ?? 0, state?.Status ?? "unknown", state?.Health?.Status);
        });

    /// <summary>The last <paramref name="tail"/> lines of the container's stdout and stderr.</summary>
    public Task<IReadOnlyList<string>> LogsAsync(string id, int tail, CancellationToken cancellation) =>
        Call(async () =>
        {
            var lines = new List<string>();
            await foreach (var line in FollowLogsAsync(id, tail, follow: false, cancellation).ConfigureAwait(false))
            {
                lines.Add(line);
            }
            return (IReadOnlyList<string>)lines;
        });

    /// <summary>The container's log lines, the last <paramref name="tail"/> first, then (with <paramref name="follow"/>) what it writes until cancelled or it ends.</summary>
    public async IAsyncEnumerable<string> FollowLogsAsync(string id, int tail, bool follow, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation)
    {
        var stream = await Call(() => _client.Containers.GetContainerLogsAsync(id, new ContainerLogsParameters
        {
            ShowStdout = true,
            ShowStderr = true,
            Follow = follow,
            Tail = tail < 0 ? "all" : tail.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }, cancellation)).ConfigureAwait(false);
        using (stream)
        {
            var buffer = new byte[8192];
            var pending = new System.Text.StringBuilder();
            while (true)
            {
                MultiplexedStream.ReadResult read;
                try
                {
                    read = await stream.ReadOutputAsync(buffer, 0, buffer.Length, cancellation).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    yield break;
                }
                if (read.EOF)
                {
                    break;
                }
                pending.Append(System.Text.Encoding.UTF8.GetString(buffer, 0, read.Count));
                var text = pending.ToString();
                var last = text.LastIndexOf('\n');
                if (last < 0)
                {
                    continue;
                }
                foreach (var line in text[..last].Split('\n'))
                {
                    yield return line;
                }
                pending.Clear().Append(text[(last + 1)..]);
            }
            if (pending.Length > 0)
            {
                yield return pending.ToString();
            }
        }
    }

    /// <summary>Stops the container (SIGTERM, then SIGKILL after <paramref name="grace"/>, done by the engine) and removes it. True when it ended within the grace.</summary>
    public Task<bool> StopAndRemoveAsync(string id, TimeSpan grace, CancellationToken cancellation) =>
        Call(async () =>
        {
            bool stoppedInTime;
            try
            {
                await _client.Containers.StopContainerAsync(id, new ContainerStopParameters { WaitBeforeKillSeconds = (uint)Math.Ceiling(grace.TotalSeconds) }, cancellation).ConfigureAwait(false);
                stoppedInTime = (await _client.Containers.InspectContainerAsync(id, cancellation).ConfigureAwait(false)).State?.ExitCode is not 137;
            }
            catch (DockerContainerNotFoundException)
            {
                return true;
            }
            await RemoveContainerAsync(id, cancellation).ConfigureAwait(false); // gone meanwhile (auto-remove) is fine
            return stoppedInTime;
        });

    /// <summary>Networks carrying every one of <paramref name="labels"/> (a key alone matches any value).</summary>
    public Task<IReadOnlyList<ContainerSummary>> ListNetworksAsync(IReadOnlyDictionary<string, string?> labels, CancellationToken cancellation) =>
        Call(async () =>
        {
            var found = await _client.Networks.ListNetworksAsync(new NetworksListParameters { Filters = LabelFilter(labels) }, cancellation).ConfigureAwait(false);
            return (IReadOnlyList<ContainerSummary>)found.Select(n => new ContainerSummary(n.ID, n.Name, string.Empty, "network",
                (IReadOnlyDictionary<string, string>?)n.Labels?.ToDictionary(p => p.Key, p => p.Value) ?? new Dictionary<string, string>())).ToArray();
        });

    /// <summary>The gateway address of <paramref name="network"/> (the host's end of its bridge): where a container reaches the host.</summary>
    public Task<System.Net.IPAddress> NetworkGatewayAsync(string network, CancellationToken cancellation) =>
        Call(async () =>
        {
            var inspected = await _client.Networks.InspectNetworkAsync(network, cancellation).ConfigureAwait(false);
            foreach (var config in inspected.IPAM?.Config ?? new List<IPAMConfig>())
            {
                if (System.Net.IPAddress.TryParse(config.Gateway, out var gateway) && gateway.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
                {
                    return gateway;
                }
            }
            throw new E2EException(ErrorCatalog.DockerApiFailed, $"The Docker network {network} has no IPv4 gateway, so containers on it cannot reach this host.", network);
        });

    /// <summary>Creates a named volume with <paramref name="labels"/>; an existing one of that name is used as it is.</summary>
    public Task<string> CreateVolumeAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken cancellation) =>
        Call(async () => (await _client.Volumes.CreateAsync(new VolumesCreateParameters { Name = name, Labels = labels.ToDictionary(p => p.Key, p => p.Value) }, cancellation).ConfigureAwait(false)).Name);

    /// <summary>Removes a named volume; false when it was already gone.</summary>
    public Task<bool> RemoveVolumeAsync(string name, CancellationToken cancellation) =>
        Call(async () =>
        {
            try
            {
                await _client.Volumes.RemoveAsync(name, force: true, cancellation).ConfigureAwait(false);
                return true;
            }
            catch (DockerApiException ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                return false;
            }
        });

    /// <summary>Volumes carrying every one of <paramref name="labels"/> (a key alone matches any value).</summary>
    public Task<IReadOnlyList<ContainerSummary>> ListVolumesAsync(IReadOnlyDictionary<string, string?> labels, CancellationToken cancellation) =>
        Call(async () =>
        {
            var found = await _client.Volumes.ListAsync(new VolumesListParameters { Filters = LabelFilter(labels) }, cancellation).ConfigureAwait(false);
            return (IReadOnlyList<ContainerSummary>)(found.Volumes ?? new List<VolumeResponse>()).Select(v => new ContainerSummary(v.Name, v.Name, string.Empty, "volume",
                (IReadOnlyDictionary<string, string>?)v.Labels?.ToDictionary(p => p.Key, p => p.Value) ?? new Dictionary<string, string>())).ToArray();
        });

    /// <summary>Images carrying every one of <paramref name="labels"/> (a key alone matches any value): id, first tag, labels.</summary>
    public Task<IReadOnlyList<ContainerSummary>> ListImagesAsync(IReadOnlyDictionary<string, string?> labels, CancellationToken cancellation) =>
        Call(async () =>
        {
            var found = await _client.Images.ListImagesAsync(new ImagesListParameters { Filters = LabelFilter(labels) }, cancellation).ConfigureAwait(false);
            return (IReadOnlyList<ContainerSummary>)found.Select(i => new ContainerSummary(i.ID, i.RepoTags?.FirstOrDefault(t => t != "<none>:<none>") ?? i.ID, i.ID, "image",
                (IReadOnlyDictionary<string, string>?)i.Labels?.ToDictionary(p => p.Key, p => p.Value) ?? new Dictionary<string, string>())).ToArray();
        });

    /// <summary>Removes one image (forcibly: every tag); false when it was already gone.</summary>
    public Task<bool> RemoveImageAsync(string image, CancellationToken cancellation) =>
        Call(async () =>
        {
            try
            {
                await _client.Images.DeleteImageAsync(image, new ImageDeleteParameters { Force = true }, cancellation).ConfigureAwait(false);
                return true;
            }
            catch (DockerImageNotFoundException)
            {
                return false;
            }
        });

    /// <summary>Removes one container (forcibly, with its anonymous volumes); false when it was already gone.</summary>
    public Task<bool> RemoveContainerAsync(string id, CancellationToken cancellation) =>
        Call(async () =>
        {
            try
            {
                await _client.Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, cancellation).ConfigureAwait(false);
                return true;
            }
            catch (DockerContainerNotFoundException)
            {
                return false;
            }
        });

    /// <summary>Creates a bridge network with the run's labels; returns its id.</summary>
    public Task<string> CreateNetworkAsync(string name, IReadOnlyDictionary<string, string> labels, CancellationToken cancellation) =>
        Call(async () => (await _client.Networks.CreateNetworkAsync(new NetworksCreateParameters { Name = name, Driver = "bridge", Labels = labels.ToDictionary(p => p.Key, p => p.Value) }, cancellation).ConfigureAwait(false)).ID);

    public Task RemoveNetworkAsync(string id, CancellationToken cancellation) =>
        Call(async () =>
        {
            try
            {
                await _client.Networks.DeleteNetworkAsync(id, cancellation).ConfigureAwait(false);
            }
            catch (DockerNetworkNotFoundException)
            {
                // Already gone.
            }
            return true;
        });

    /// <summary>True when the engine has <paramref name="image"/>.</summary>
    public Task<bool> HasImageAsync(string image, CancellationToken cancellation) =>
        Call(async () =>
        {
            try
            {
                await _client.Images.InspectImageAsync(image, cancellation).ConfigureAwait(false);
                return true;
            }
            catch (DockerImageNotFoundException)
            {
                return false;
            }
        });

    /// <summary>
    /// Builds <paramref name="contextDirectory"/> (its Dockerfile) as <paramref name="tag"/>: the folder goes to the engine as
    /// a tar stream; <paramref name="labels"/> go on the image (the run's, so a sweep finds what a dead session built).
    /// </summary>
    public Task BuildAsync(string contextDirectory, string tag, CancellationToken cancellation, IReadOnlyDictionary<string, string>? labels = null) =>
        Call(async () =>
        {
            using var context = new MemoryStream();
            await System.Formats.Tar.TarFile.CreateFromDirectoryAsync(contextDirectory, context, includeBaseDirectory: false, cancellation).ConfigureAwait(false);
            context.Position = 0;
            string? failure = null;
            await _client.Images.BuildImageFromDockerfileAsync(new ImageBuildParameters { Tags = new List<string> { tag }, Remove = true, Labels = labels?.ToDictionary(p => p.Key, p => p.Value) }, context, Array.Empty<AuthConfig>(), new Dictionary<string, string>(),
                new Progress<JSONMessage>(m => failure ??= m.Error?.Message), cancellation).ConfigureAwait(false);
            if (failure is not null)
            {
                throw new E2EException(ErrorCatalog.DockerApiFailed, $"Building {tag} from {contextDirectory} failed: {failure}", tag);
            }
            return true;
        });

    /// <summary>Containers, running or not, that carry every one of <paramref name="labels"/>.</summary>
    public Task<IReadOnlyList<ContainerSummary>> ListAsync(IReadOnlyDictionary<string, string> labels, CancellationToken cancellation) =>
        Call(async () =>
        {
            var found = await _client.Containers.ListContainersAsync(new ContainersListParameters
            {
                All = true,
                Filters = LabelFilter(labels.ToDictionary(p => p.Key, p => (string?)p.Value)),
            }, cancellation).ConfigureAwait(false);
            return (IReadOnlyList<ContainerSummary>)found.Select(c => new ContainerSummary(
                c.ID,
                c.Names?.FirstOrDefault()?.TrimStart('/') ?? c.ID,
                c.Image,
                c.State,
                (IReadOnlyDictionary<string, string>?)c.Labels?.ToDictionary(p => p.Key, p => p.Value) ?? new Dictionary<string, string>())).ToArray();
        });

    /// <summary>Removes (forcibly, with anonymous volumes) every container carrying <paramref name="labels"/>; returns what went.</summary>
    public async Task<IReadOnlyList<ContainerSummary>> RemoveAsync(IReadOnlyDictionary<string, string> labels, CancellationToken cancellation)
    {
        var found = await ListAsync(labels, cancellation).ConfigureAwait(false);
        foreach (var container in found)
        {
            // Removed meanwhile (auto-remove, another sweep) is what was wanted.
            await RemoveContainerAsync(container.Id, cancellation).ConfigureAwait(false);
        }
        return found;
    }

    /// <summary>The engine's label filter: key=value for each pair, the key alone where the value is null (any value).</summary>
    private static Dictionary<string, IDictionary<string, bool>> LabelFilter(IReadOnlyDictionary<string, string?> labels) =>
        new() { ["label"] = labels.ToDictionary(p => p.Value is null ? p.Key : $"{p.Key}={p.Value}", _ => true) };

    private async Task<T> Call<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or SocketException or IOException or TimeoutException)
        {
            throw new E2EException(ErrorCatalog.DockerEngineUnreachable, $"The Docker engine at {Endpoint} did not answer: {ex.Message}. Start it, or set DOCKER_HOST.", Endpoint.ToString(), ex);
        }
        catch (DockerApiException ex)
        {
            throw new E2EException(ErrorCatalog.DockerApiFailed, $"The Docker engine at {Endpoint} answered {(int)ex.StatusCode}: {ex.ResponseBody}", Endpoint.ToString(), ex);
        }
    }

    public void Dispose() => _client.Dispose();
}
