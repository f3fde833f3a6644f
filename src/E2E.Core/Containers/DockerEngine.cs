using System.Net.Http;
using System.Net.Sockets;
using Docker.DotNet;
using Docker.DotNet.Models;
using E2E.Core.Errors;

namespace E2E.Core.Containers;

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

    /// <summary>Containers, running or not, that carry every one of <paramref name="labels"/>.</summary>
    public Task<IReadOnlyList<ContainerSummary>> ListAsync(IReadOnlyDictionary<string, string> labels, CancellationToken cancellation) =>
        Call(async () =>
        {
            var filter = labels.ToDictionary(p => $"{p.Key}={p.Value}", _ => true);
            var found = await _client.Containers.ListContainersAsync(new ContainersListParameters
            {
                All = true,
                Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = filter },
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
            await Call(async () =>
            {
                try
                {
                    await _client.Containers.RemoveContainerAsync(container.Id, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, cancellation).ConfigureAwait(false);
                }
                catch (DockerContainerNotFoundException)
                {
                    // Removed meanwhile (auto-remove, another sweep): what was wanted.
                }
                return true;
            }).ConfigureAwait(false);
        }
        return found;
    }

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
