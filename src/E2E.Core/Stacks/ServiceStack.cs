using System.Collections.Concurrent;
using E2E.Core.Errors;
using E2E.Core.Petals;
using E2E.Core.Processes;

namespace E2E.Core.Stacks;

public enum StackRuntime
{
    /// <summary>Each service a local process, from its x-e2e command.</summary>
    Process,

    /// <summary>Each service a container, through the Docker Engine API.</summary>
    Docker,
}

public sealed record StackOptions
{
    public StackRuntime Runtime { get; init; } = StackRuntime.Process;

    /// <summary>Where logs (and, for the Process runtime, nothing else) are written.</summary>
    public required string WorkDirectory { get; init; }

    /// <summary>How long a service may take to be started, healthy or completed.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>How long a service gets after SIGTERM before it is killed.</summary>
    public TimeSpan StopGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Labels put on containers and networks (the scope's run labels, so a sweep finds them).</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public Uri? DockerEndpoint { get; init; }

    /// <summary>Lines of each service's log put into the error when the stack fails to come up.</summary>
    public int FailureLogLines { get; init; } = 30;
}

/// <summary>One running service of a stack, whatever runs it.</summary>
public interface IStackService
{
    ComposeService Definition { get; }

    /// <summary>Running, Healthy, Unhealthy, Exited or Stopped.</summary>
    string State { get; }

    int? ExitCode { get; }

    /// <summary>The process id (Process runtime) or the container id (Docker runtime).</summary>
    string Id { get; }

    /// <summary>One health probe: true when healthy (a service without a healthcheck is healthy while it runs).</summary>
    Task<bool> ProbeHealthAsync(CancellationToken cancellation);

    Task<string> TailAsync(int lines, CancellationToken cancellation);

    IAsyncEnumerable<string> FollowAsync(int tail, CancellationToken cancellation);

    /// <summary>SIGTERM, the grace, then a kill of whatever is left; true when it ended within the grace.</summary>
    bool Stop(TimeSpan grace);
}

/// <summary>Starts the services of one runtime.</summary>
public interface IStackRuntime : IDisposable
{
    Task<IStackService> StartAsync(ComposeProject project, ComposeService service, CancellationToken cancellation);

    /// <summary>Removes what the runtime made for the whole stack (a network); after every service is stopped.</summary>
    void Teardown();
}

/// <summary>What a service of a running stack looks like to the user.</summary>
public sealed record StackServiceStatus(string Stack, string Service, string State, string Id, int? ExitCode, string Ports);

/// <summary>
/// A compose stack brought up as docker compose does: services in dependency order, each started once its
/// dependencies have started, are healthy (their healthcheck passes) or have completed successfully, as their
/// depends_on conditions ask; the stack is up when every service is started and every service with a
/// healthcheck is healthy. A service that exits or stays unhealthy fails the start: the error carries the end of
/// every service's log, and what was started is stopped again. Stop ends services in reverse order (SIGTERM,
/// grace, kill of the whole process tree or container).
/// </summary>
public sealed class ServiceStack : IDisposable
{
    private static readonly ConcurrentDictionary<string, ServiceStack> Running = new(StringComparer.Ordinal);
    private readonly IStackRuntime _runtime;
    private readonly StackOptions _options;
    private readonly List<IStackService> _services = new();
    private int _stopped;

    private ServiceStack(ComposeProject project, IStackRuntime runtime, StackOptions options)
    {
        Project = project;
        _runtime = runtime;
        _options = options;
    }

    public ComposeProject Project { get; }

    public string Name => Project.Name;

    public StackRuntime Runtime => _options.Runtime;

    public string WorkDirectory => _options.WorkDirectory;

    public IReadOnlyList<IStackService> Services
    {
        get
        {
            lock (_services)
            {
                return _services.ToArray();
            }
        }
    }

    public bool IsStopped => _stopped == 1;

    public static IReadOnlyList<ServiceStack> All => Running.Values.OrderBy(s => s.Name, StringComparer.Ordinal).ToArray();

    public static ServiceStack? Find(string name) => Running.TryGetValue(name, out var stack) ? stack : null;

    public IStackService Service(string name) => Services.FirstOrDefault(s => s.Definition.Name == name)
        ?? throw new E2EException(ErrorCatalog.StackNotFound, $"The stack {Name} runs no service '{name}' (it runs {string.Join(", ", Services.Select(s => s.Definition.Name))}).", name);

    /// <summary>Each service's state now.</summary>
    public IReadOnlyList<StackServiceStatus> ServiceStates =>
        Services.Select(s => new StackServiceStatus(Name, s.Definition.Name, s.State, s.Id, s.ExitCode, string.Join(", ", s.Definition.Ports))).ToArray();

    /// <summary>
    /// Brings <paramref name="project"/> up. <paramref name="track"/> gets the stack before anything starts, so the
    /// caller records its cleanup first; on failure the stack is already stopped when the error is thrown.
    /// </summary>
    public static async Task<ServiceStack> StartAsync(ComposeProject project, StackOptions options, Action<ServiceStack> track, Action<string>? progress, CancellationToken cancellation)
    {
        if (Running.ContainsKey(project.Name))
        {
            throw new E2EException(ErrorCatalog.StackInvalid, $"A stack named {project.Name} already runs in this session; stop it first or give another -ProjectName.", project.Name);
        }
        Directory.CreateDirectory(options.WorkDirectory);
        IStackRuntime runtime = options.Runtime == StackRuntime.Process ? new ProcessStackRuntime(options) : new DockerStackRuntime(options);
        var stack = new ServiceStack(project, runtime, options);
        track(stack);
        if (!Running.TryAdd(project.Name, stack))
        {
            runtime.Dispose();
            throw new E2EException(ErrorCatalog.StackInvalid, $"A stack named {project.Name} already runs in this session.", project.Name);
        }
        try
        {
            foreach (var service in project.Services)
            {
                foreach (var dependency in service.DependsOn)
                {
                    progress?.Invoke($"{service.Name}: waiting for {dependency.Service} ({dependency.Condition})");
                    await stack.WaitForAsync(stack.Service(dependency.Service), dependency.Condition, cancellation).ConfigureAwait(false);
                }
                progress?.Invoke($"starting {service.Name}");
                var started = await runtime.StartAsync(project, service, cancellation).ConfigureAwait(false);
                lock (stack._services)
                {
                    stack._services.Add(started);
                }
            }
            foreach (var service in stack.Services.Where(s => s.Definition.ProcessHealthcheck is { Disabled: false } || s.Definition.Healthcheck is { Disabled: false }))
            {
                progress?.Invoke($"waiting for {service.Definition.Name} to be healthy");
                await stack.WaitForAsync(service, ServiceDependency.Healthy, cancellation).ConfigureAwait(false);
            }
            foreach (var service in stack.Services)
            {
                if (service.State == "Exited" && service.ExitCode != 0)
                {
                    throw await stack.FailedAsync(service, $"exited with code {service.ExitCode}", cancellation).ConfigureAwait(false);
                }
            }
            return stack;
        }
        catch
        {
            stack.Stop();
            throw;
        }
    }

    private async Task WaitForAsync(IStackService service, string condition, CancellationToken cancellation)
    {
        var check = _options.Runtime == StackRuntime.Process ? service.Definition.ProcessHealthcheck : service.Definition.Healthcheck;
        var deadline = DateTimeOffset.UtcNow + _options.StartTimeout;
        var started = DateTimeOffset.UtcNow;
        var failures = 0;
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            var exited = service.State is "Exited";
            switch (condition)
            {
                case ServiceDependency.Started:
                    return;
                case ServiceDependency.CompletedSuccessfully:
                    if (exited)
                    {
                        if (service.ExitCode == 0)
                        {
                            return;
                        }
                        throw await FailedAsync(service, $"exited with code {service.ExitCode}, and others wait for it to complete successfully", cancellation).ConfigureAwait(false);
                    }
                    break;
                default:
                    if (exited)
                    {
                        throw await FailedAsync(service, $"exited with code {service.ExitCode} before it was healthy", cancellation).ConfigureAwait(false);
                    }
                    if (check is null or { Disabled: true })
                    {
                        return;
                    }
                    if (await service.ProbeHealthAsync(cancellation).ConfigureAwait(false))
                    {
                        return;
                    }
                    // Failures during the start period do not count, as Docker's.
                    if (DateTimeOffset.UtcNow - started >= check.StartPeriod && ++failures >= check.Retries && service.State == "Unhealthy")
                    {
                        throw await FailedAsync(service, $"is unhealthy: its healthcheck failed {failures} times in a row", cancellation).ConfigureAwait(false);
                    }
                    break;
            }
            if (DateTimeOffset.UtcNow >= deadline)
            {
                throw await FailedAsync(service, $"was not {(condition == ServiceDependency.CompletedSuccessfully ? "completed" : "healthy")} within {_options.StartTimeout.TotalSeconds:0} s", cancellation).ConfigureAwait(false);
            }
            var pause = check is null ? TimeSpan.FromMilliseconds(200) : TimeSpan.FromMilliseconds(Math.Clamp(check.Interval.TotalMilliseconds, 50, 5000));
            await Task.Delay(pause, cancellation).ConfigureAwait(false);
        }
    }

    private async Task<E2EException> FailedAsync(IStackService service, string what, CancellationToken cancellation)
    {
        var logs = new System.Text.StringBuilder();
        foreach (var each in Services)
        {
            string tail;
            try
            {
                tail = await each.TailAsync(_options.FailureLogLines, cancellation).ConfigureAwait(false);
            }
            catch (E2EException ex)
            {
                tail = $"(log not readable: {ex.Message})";
            }
            logs.Append("\n--- ").Append(each.Definition.Name).Append(" (").Append(each.State).Append(") ---\n").Append(tail);
        }
        return new E2EException(ErrorCatalog.StackServiceFailed, $"Stack {Name}: service {service.Definition.Name} {what}. Logs:{SecretText.Redact(logs.ToString())}", service.Definition.Name);
    }

    /// <summary>
    /// Services that had exited on their own with a non-zero code when the stack was stopped ("name (exit code N)"):
    /// a failure whatever the runtime, unlike a kill after the grace.
    /// </summary>
    public IReadOnlyList<string> FailedBeforeStop { get; private set; } = Array.Empty<string>();

    /// <summary>Stops every service, last started first, then the runtime's own resources. Returns the services that had to be killed.</summary>
    public IReadOnlyList<string> Stop(TimeSpan? grace = null)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return Array.Empty<string>();
        }
        var killed = new List<string>();
        var failed = new List<string>();
        try
        {
            foreach (var service in Services.Reverse())
            {
                if (service.State == "Exited" && service.ExitCode is { } code and not 0)
                {
                    failed.Add($"{service.Definition.Name} (exit code {code})");
                }
                if (!service.Stop(grace ?? _options.StopGrace))
                {
                    killed.Add(service.Definition.Name);
                }
            }
            FailedBeforeStop = failed;
            _runtime.Teardown();
        }
        finally
        {
            Running.TryRemove(new KeyValuePair<string, ServiceStack>(Name, this));
            _runtime.Dispose();
        }
        return killed;
    }

    public override string ToString() => $"stack {Name} ({Runtime}, {Services.Count} services)";

    public void Dispose() => Stop();
}

/// <summary>The Process runtime: each service its x-e2e command, as a supervised local process logging to WorkDirectory/&lt;service&gt;.log.</summary>
internal sealed class ProcessStackRuntime(StackOptions options) : IStackRuntime
{
    /// <summary>Words an x-e2e command may start with to run the module's own programs.</summary>
    public static IReadOnlyList<string> Resolve(IReadOnlyList<string> command) => command[0] switch
    {
        "e2e-petals-node" => new[] { DotnetHost.Find(), PetalsNode.NodeProgram }.Concat(command.Skip(1)).ToArray(),
        "e2e-mock-oracle" => new[] { DotnetHost.Find(), PetalsNode.NodeProgram, "mock-oracle" }.Concat(command.Skip(1)).ToArray(),
        _ => command,
    };

    public Task<IStackService> StartAsync(ComposeProject project, ComposeService service, CancellationToken cancellation)
    {
        var command = service.LocalCommand
            ?? throw new E2EException(ErrorCatalog.StackInvalid, $"Service {service.Name} has no x-e2e command, so the Process runtime cannot run it; give one in an override file (x-e2e: {{command: [...]}}), or use -Runtime Docker.", service.Name);
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var (name, value) in service.Environment.Concat(service.LocalEnvironment))
        {
            // "NAME" without a value takes the value from this process's environment, as compose does.
            environment[name] = value ?? Environment.GetEnvironmentVariable(name);
        }
        var workingDirectory = service.LocalWorkingDirectory is null ? project.Directory : Path.GetFullPath(service.LocalWorkingDirectory, project.Directory);
        var logPath = Path.Combine(options.WorkDirectory, $"{service.Name}.log");
        var process = SupervisedProcess.Start(Resolve(command), environment, workingDirectory, logPath, $"service {service.Name} of stack {project.Name}");
        return Task.FromResult<IStackService>(new ProcessService(service, process, environment, workingDirectory));
    }

    public void Teardown()
    {
    }

    public void Dispose()
    {
    }

    private sealed class ProcessService(ComposeService definition, SupervisedProcess process, IReadOnlyDictionary<string, string?> environment, string workingDirectory) : IStackService
    {
        private volatile string _health = "Running";
        private int _failures;
        private bool _stopped;

        public ComposeService Definition { get; } = definition;

        public string State => _stopped ? "Stopped" : process.HasExited ? "Exited" : _health;

        public int? ExitCode => process.ExitCode;

        public string Id => process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);

        public async Task<bool> ProbeHealthAsync(CancellationToken cancellation)
        {
            var check = Definition.ProcessHealthcheck;
            if (check is null or { Disabled: true })
            {
                return !process.HasExited;
            }
            var healthy = await HealthProbe.RunAsync(check, environment, workingDirectory, cancellation).ConfigureAwait(false);
            _failures = healthy ? 0 : _failures + 1;
            _health = healthy ? "Healthy" : _failures >= check.Retries ? "Unhealthy" : _health;
            return healthy;
        }

        public Task<string> TailAsync(int lines, CancellationToken cancellation) => Task.FromResult(process.Tail(lines));

        public async IAsyncEnumerable<string> FollowAsync(int tail, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellation)
        {
            // One offset for both: the tail ends and the follow starts at the same complete line (a tail read after the
            // offset was taken repeated a line the service wrote in between).
            var end = LogFile.EndOfLastLine(process.LogPath);
            if (tail > 0 && end > 0)
            {
                foreach (var line in LogFile.Tail(process.LogPath, tail, end).Split('\n'))
                {
                    yield return line;
                }
            }
            await foreach (var line in LogFile.FollowAsync(process.LogPath, end, () => process.HasExited, cancellation).ConfigureAwait(false))
            {
                yield return line;
            }
        }

        public bool Stop(TimeSpan grace)
        {
            _stopped = true;
            return process.Stop(grace);
        }
    }
}

/// <summary>Runs a compose healthcheck's test locally, within its timeout.</summary>
public static class HealthProbe
{
    public static async Task<bool> RunAsync(ServiceHealthcheck check, IReadOnlyDictionary<string, string?> environment, string? workingDirectory, CancellationToken cancellation)
    {
        var command = check.Command;
        if (command.Count == 0)
        {
            return false;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(check.Timeout);
        try
        {
            var variables = environment.Where(p => p.Value is not null).ToDictionary(p => p.Key, p => p.Value!);
            await ExternalTool.RunAsync(command[0], command.Skip(1).ToArray(), workingDirectory, ErrorCatalog.StackServiceFailed, timeout.Token, variables).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            return false;
        }
        catch (E2EException)
        {
            return false;
        }
    }
}
