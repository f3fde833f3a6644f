using System.Collections;
using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Errors;
using E2E.Core.Stacks;

namespace E2E.Cmdlets.Petals;

/// <summary>Brings up a docker-compose stack: as local processes (the embedded default) or as Docker containers.</summary>
/// <remarks>
/// <para>Reads the compose files in order, later ones overriding earlier ones as docker compose merges them, with ${VAR}, ${VAR:-default} and $$ interpolated from the environment and -Variable. Services start in dependency order: each waits for what it depends on to have started, be healthy (condition service_healthy: its healthcheck passes) or have completed successfully; the cmdlet returns once every service runs and every service with a healthcheck is healthy.</para>
/// <para>-Runtime Process runs each service as a local process from the x-e2e extension field of its service (command, environment, working_dir, and optionally a healthcheck for the local run), so an upstream compose file runs unchanged beside an override file that adds x-e2e. Compose's own environment is passed too (x-e2e's wins), and the healthcheck's test runs locally. The command words e2e-petals-node and e2e-mock-oracle run the module's own node program and mock Oracle. Each service logs to WorkDirectory/SERVICE.log.</para>
/// <para>-Runtime Docker runs the services as containers through the Docker Engine API: a project network where services find each other by name, images built from build: when missing, ports published on 127.0.0.1 only, volumes mounted (host folders relative to the compose file; named volumes created as PROJECT_NAME and removed with the stack; external ones used as they are), Docker's healthchecks. A kill after the stop grace is the ordinary stop there, as docker compose has it.</para>
/// <para>A service that exits, or stays unhealthy for its retries, fails the start with StackServiceFailed and the end of every service's log; what was started is stopped again. The stack is recorded in the current scope before anything starts and stopped with it: services in reverse order, each SIGTERM, then after -StopGraceSec a kill of its whole process tree (or container).</para>
/// </remarks>
/// <example>
/// <code>$stack = Start-E2EStack -Path ./docker-compose.test.yml, ./docker-compose.e2e.yml
/// Get-E2EServiceLog -Stack $stack -Service mock-oracle | Select-String 'Received report from agent'</code>
/// <para>The upstream Plumise stack (mock Oracle and two nodes) as local processes, and the check its run_e2e.sh makes.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Start, "E2EStack", SupportsShouldProcess = true)]
[OutputType(typeof(ServiceStack))]
public sealed class StartE2EStackCommand : AsyncE2ECmdlet
{
    /// <summary>The compose files, base first, overrides after.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>The project name; the file's name: field or its folder's name by default.</summary>
    [Parameter]
    [ValidatePattern("^[a-z0-9][a-z0-9_-]{0,62}$")]
    public string? ProjectName { get; set; }

    /// <summary>Process (the default: local processes from x-e2e) or Docker (containers through the Docker Engine API).</summary>
    [Parameter]
    public StackRuntime Runtime { get; set; } = StackRuntime.Process;

    /// <summary>Variables for ${...} in the compose files, before the environment.</summary>
    [Parameter]
    public Hashtable? Variable { get; set; }

    /// <summary>Seconds each service may take to start, be healthy or complete; 120 by default.</summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public double StartTimeoutSec { get; set; } = 120;

    /// <summary>Seconds each service gets after SIGTERM before it is killed, when the stack stops; 10 by default.</summary>
    [Parameter]
    [ValidateRange(0, 600)]
    public double StopGraceSec { get; set; } = 10;

    /// <summary>With -Runtime Docker, the engine's address; $DOCKER_HOST or the local socket by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DockerHost { get; set; }

    private E2E.Core.Scopes.E2EScope? _scope;
    private string[] _paths = Array.Empty<string>();

    protected override void PrepareRecord()
    {
        _scope = Scopes.RequireCurrent("a service stack");
        _paths = Path.Select(GetUnresolvedProviderPathFromPSPath).ToArray();
    }

    protected override async Task ProcessAsync()
    {
        var variables = Variable?.Cast<DictionaryEntry>().ToDictionary(e => e.Key.ToString()!, e => e.Value?.ToString(), StringComparer.Ordinal) ?? new Dictionary<string, string?>();
        var project = ComposeProject.Load(_paths, ProjectName, name => variables.TryGetValue(name, out var value) ? value : Environment.GetEnvironmentVariable(name));
        if (!await ShouldProcessAsync($"stack {project.Name}: {string.Join(", ", project.Services.Select(s => s.Name))}", $"Start ({Runtime})").ConfigureAwait(false))
        {
            return;
        }
        var options = new StackOptions
        {
            Runtime = Runtime,
            WorkDirectory = _scope!.CreateTempDirectory($"stack-{project.Name}"),
            StartTimeout = TimeSpan.FromSeconds(StartTimeoutSec),
            StopGrace = TimeSpan.FromSeconds(StopGraceSec),
            Labels = _scope.ResourceLabels,
            DockerEndpoint = DockerHost is null ? null : new Uri(DockerHost),
        };
        var state = "reading the compose files";
        var stack = await WithProgressAsync(Activities.Stack, $"Stack {project.Name} ({Runtime})", () => state, () =>
            ServiceStack.StartAsync(project, options, started =>
                _scope.Register("Stack", $"stack {project.Name} ({Runtime}: {string.Join(", ", project.Services.Select(s => s.Name))})", _ => StopAndReport(started)),
                step => state = step, CancelToken)).ConfigureAwait(false);
        Verbose($"{stack} is up; logs in {stack.WorkDirectory}");
        Output(stack);
    }

    private static void StopAndReport(ServiceStack stack)
    {
        if (StackCmdlets.StopProblem(stack, stack.Stop()) is { } problem)
        {
            throw new InvalidOperationException(problem);
        }
    }
}

/// <summary>Stops a stack started by Start-E2EStack.</summary>
/// <remarks>
/// <para>Stops the services last started first: SIGTERM, then after -GraceSec a kill of the service's whole process tree (or the container), then removes what the runtime made for the stack (its network). On the Docker runtime a kill after the grace is the ordinary stop, as docker compose down has it, and is told in verbose output only; on the Process runtime it is a warning. A service that had exited with a non-zero code on its own before the stop is a warning on either. Stopping a stopped stack does nothing; the scope that started it would also stop it.</para>
/// </remarks>
/// <example>
/// <code>Get-E2EStack plumise | Stop-E2EStack -GraceSec 2</code>
/// <para>Stops the stack named plumise.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Stop, "E2EStack", SupportsShouldProcess = true, DefaultParameterSetName = "Stack")]
[OutputType(typeof(void))]
public sealed class StopE2EStackCommand : E2ECmdlet
{
    /// <summary>The stack to stop.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = "Stack")]
    [ValidateNotNull]
    public ServiceStack? Stack { get; set; }

    /// <summary>The name of the stack to stop.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Name", ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(StackNameCompleter))]
    public string? Name { get; set; }

    /// <summary>Seconds each service gets after SIGTERM; the stack's -StopGraceSec by default.</summary>
    [Parameter]
    [ValidateRange(0, 600)]
    public double? GraceSec { get; set; }

    protected override void Process()
    {
        var stack = Stack ?? StackCmdlets.Find(Name!);
        if (!ShouldProcess(stack.ToString(), "Stop stack"))
        {
            return;
        }
        var killed = stack.Stop(GraceSec is { } grace ? TimeSpan.FromSeconds(grace) : null);
        if (stack.Runtime == StackRuntime.Docker && killed.Count > 0)
        {
            WriteVerbose($"Stack {stack.Name}: {string.Join(", ", killed)} did not end within the grace after SIGTERM and {(killed.Count == 1 ? "was" : "were")} killed, as docker compose stops them.");
        }
        if (StackCmdlets.StopProblem(stack, killed) is { } problem)
        {
            WriteWarning(problem);
        }
    }
}

/// <summary>Lists the stacks started in this session, with the state of each service.</summary>
/// <remarks>
/// <para>Each stack has its name, runtime, work directory and services; ServiceStates lists each service's state (Running, Healthy, Unhealthy, Exited, Stopped), process or container id, exit code and ports.</para>
/// </remarks>
/// <example>
/// <code>(Get-E2EStack plumise).ServiceStates | Format-Table Service, State, Id, Ports</code>
/// <para>What runs in the stack.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "E2EStack")]
[OutputType(typeof(ServiceStack))]
public sealed class GetE2EStackCommand : E2ECmdlet
{
    /// <summary>Only stacks whose name matches (wildcards allowed).</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(StackNameCompleter))]
    public string? Name { get; set; }

    protected override void Process()
    {
        if (Name is not null && !WildcardPattern.ContainsWildcardCharacters(Name))
        {
            WriteObject(StackCmdlets.Find(Name));
            return;
        }
        var pattern = Name is null ? null : new WildcardPattern(Name, WildcardOptions.IgnoreCase);
        WriteObject(ServiceStack.All.Where(s => pattern is null || pattern.IsMatch(s.Name)), enumerateCollection: true);
    }
}

/// <summary>Reads the log of one service of a stack, or follows it.</summary>
/// <remarks>
/// <para>Writes the last -Tail lines (all when -Tail is not given) of the service's stdout and stderr. With -Follow it goes on writing lines as the service writes them, until Ctrl-C or the service ends.</para>
/// </remarks>
/// <example>
/// <code>Get-E2EServiceLog -Stack $stack -Service petals-node-a -Tail 20</code>
/// <para>The last 20 lines of node A, as run_e2e.sh shows them.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "E2EServiceLog", DefaultParameterSetName = "Stack")]
[OutputType(typeof(string))]
public sealed class GetE2EServiceLogCommand : AsyncE2ECmdlet
{
    /// <summary>The stack.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "Stack")]
    [ValidateNotNull]
    public ServiceStack? Stack { get; set; }

    /// <summary>The stack's name, instead of -Stack.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Name")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(StackNameCompleter))]
    public string? StackName { get; set; }

    /// <summary>The service whose log to read.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(StackServiceCompleter))]
    public string? Service { get; set; }

    /// <summary>How many of the last lines; all by default.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int? Tail { get; set; }

    /// <summary>Keep writing lines as the service writes them, until Ctrl-C or the service ends.</summary>
    [Parameter]
    public SwitchParameter Follow { get; set; }

    protected override async Task ProcessAsync()
    {
        var service = (Stack ?? StackCmdlets.Find(StackName!)).Service(Service!);
        if (!Follow)
        {
            var text = await service.TailAsync(Tail ?? int.MaxValue, CancelToken).ConfigureAwait(false);
            if (text.Length > 0)
            {
                foreach (var line in text.Split('\n'))
                {
                    Output(line);
                }
            }
            return;
        }
        await foreach (var line in service.FollowAsync(Tail ?? int.MaxValue, CancelToken).ConfigureAwait(false))
        {
            Output(line);
        }
    }
}

internal static class StackCmdlets
{
    /// <summary>
    /// What went wrong in a stop, or null: a service that had failed on its own before it, whatever the runtime; and
    /// on the Process runtime a service that ignored SIGTERM. On Docker, SIGTERM, grace, SIGKILL is the ordinary stop
    /// (docker compose down says nothing of it; a shell as PID 1 ignores SIGTERM).
    /// </summary>
    public static string? StopProblem(ServiceStack stack, IReadOnlyList<string> killed)
    {
        var problems = new List<string>();
        if (stack.FailedBeforeStop.Count > 0)
        {
            problems.Add($"{string.Join(", ", stack.FailedBeforeStop)} had already failed");
        }
        if (stack.Runtime == StackRuntime.Process && killed.Count > 0)
        {
            problems.Add($"{string.Join(", ", killed)} did not end after SIGTERM and had to be killed");
        }
        return problems.Count == 0 ? null : $"Stack {stack.Name}: {string.Join("; ", problems)}.";
    }

    public static ServiceStack Find(string name) => ServiceStack.Find(name)
        ?? throw new E2EException(ErrorCatalog.StackNotFound, $"No stack named '{name}' runs in this session (Get-E2EStack lists them).", name);
}

/// <summary>Completes the names of the stacks this session runs.</summary>
public sealed class StackNameCompleter : LiveCompleter
{
    protected override IEnumerable<(string Value, string Tip)> Candidates(string word, IDictionary bound, CancellationToken cancellation) =>
        ServiceStack.All.Select(s => (s.Name, $"{s.Runtime}: {string.Join(", ", s.Services.Select(x => x.Definition.Name))}"));
}

/// <summary>Completes the services of the stack given by -Stack or -StackName (of every running stack when neither is given yet).</summary>
public sealed class StackServiceCompleter : LiveCompleter
{
    protected override IEnumerable<(string Value, string Tip)> Candidates(string word, IDictionary bound, CancellationToken cancellation)
    {
        var stack = (bound.Contains("Stack") ? ((bound["Stack"] as PSObject)?.BaseObject ?? bound["Stack"]) as ServiceStack : null)
            ?? (Bound(bound, "StackName") is { } name ? ServiceStack.Find(name) : null);
        return (stack is null ? ServiceStack.All : new[] { stack })
            .SelectMany(s => s.Services.Select(x => (x.Definition.Name, $"{s.Name}: {x.State}")));
    }
}
