using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Chain;
using E2E.Core.Errors;
using E2E.Core.Oracle;
using E2E.Core.Petals;
using E2E.Core.Processes;

namespace E2E.Cmdlets.Petals;

/// <summary>Starts a Petals node serving a span of the model's blocks, as its own process or a Docker container.</summary>
/// <remarks>
/// <para>On the embedded default (-Runtime Process) the node is the module's node program in its own OS process on 127.0.0.1: it serves -Blocks of the 24-block model over HTTP (POST /forward), answers /health and /metrics (upstream MetricsCollector semantics, a proof of every forward), reports signed metrics to -OracleUrl every -ReportIntervalSec in -ReportFormat through the durable reporter (spooled, retried, one last report when stopped), and with -ChainRpc registers once through the 0x21 precompile and sends heartbeats through 0x22. It is configured by the environment variables the upstream node reads (PLUMISE_PRIVATE_KEY, ORACLE_API_URL, NUM_BLOCKS, PETALS_PORT, REPORT_INTERVAL, ...); the key reaches it by environment only, never its command line. -Command runs another program with that environment instead (the real node, where python with petals is installed).</para>
/// <para>-Runtime Docker runs -Image (plumise-petals:test, as upstream's compose builds it) through the Docker Engine API with the same environment and the port published on 127.0.0.1.</para>
/// <para>The cmdlet returns once the node's /health answers for the asked blocks; a node that exits first is PetalsNodeFailed with the end of its log. The node is recorded in the current scope before it starts and stopped with it (SIGTERM, then a kill of its process tree after the grace); its log is WorkDirectory/node.log (LogPath).</para>
/// </remarks>
/// <example>
/// <code>$oracle = Start-MockOracle
/// $a = Start-PetalsNode -Blocks 0..11 -OracleUrl $oracle.Url -PrivateKeyVariable NODE_A_KEY -ReportIntervalSec 2
/// $b = Start-PetalsNode -Blocks 12..23 -OracleUrl $oracle.Url -PrivateKeyVariable NODE_B_KEY -ReportIntervalSec 2
/// Invoke-DistributedInference -Prompt 'Hello' -MaxTokens 8</code>
/// <para>The seed's two-node layout: blocks 0-11 and 12-23, each node reporting to a verifying mock Oracle.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Start, "PetalsNode", SupportsShouldProcess = true, DefaultParameterSetName = "KeyVariable")]
[OutputType(typeof(PetalsNode))]
public sealed class StartPetalsNodeCommand : KeyCmdletBase
{
    /// <summary>The blocks to serve, consecutive and ascending: 0..11 (a range, or the same written as the text '0..11' or '0-11').</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [BlockRangeTransformation]
    [ValidateNotNullOrEmpty]
    public int[] Blocks { get; set; } = Array.Empty<int>();

    /// <summary>The node's name in this session; petals-FIRST-LAST by default (with a number added for a replica).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidatePattern("^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
    public string? Name { get; set; }

    /// <summary>The port on 127.0.0.1; a free one when 0 (the default).</summary>
    [Parameter]
    [ValidateRange(0, 65535)]
    public int Port { get; set; }

    /// <summary>The Oracle's base URL; without it the node reports nothing.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? OracleUrl { get; set; }

    /// <summary>Current (the reporter at upstream HEAD and the real Oracle; the default) or Legacy (what upstream's e2e suite and docker mock expect).</summary>
    [Parameter]
    public OracleReportFormat ReportFormat { get; set; } = OracleReportFormat.Current;

    /// <summary>Seconds between reports; 60 by default, as upstream.</summary>
    [Parameter]
    [Alias("ReportInterval")]
    [ValidateRange(1, 86400)]
    public int ReportIntervalSec { get; set; } = 60;

    /// <summary>A chain's JSON-RPC URL: the node registers there through 0x21 once and sends heartbeats through 0x22.</summary>
    [Parameter]
    [Alias("RpcUrl")]
    [ValidateNotNullOrEmpty]
    public string? ChainRpc { get; set; }

    /// <summary>The chain id the node's transactions are signed for; 41956 by default.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public long ChainId { get; set; } = 41956;

    /// <summary>Seconds between heartbeats; 300 by default, as upstream.</summary>
    [Parameter]
    [ValidateRange(1, 86400)]
    public int HeartbeatIntervalSec { get; set; } = 300;

    /// <summary>The model's name (the route only joins nodes of one model); e2e/tiny-bloom-24 by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string ModelName { get; set; } = PetalsModel.DefaultName;

    /// <summary>Process (the default: a local OS process) or Docker (the node image through the Docker Engine API).</summary>
    [Parameter]
    public PetalsRuntime Runtime { get; set; } = PetalsRuntime.Process;

    /// <summary>With -Runtime Process, a program and its arguments to run instead of the shipped node, with the same environment.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? Command { get; set; }

    /// <summary>With -Runtime Docker, the image; plumise-petals:test by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Image { get; set; } = PetalsContainers.DefaultImage;

    /// <summary>With -Runtime Docker, the engine's address; $DOCKER_HOST or the local socket by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DockerHost { get; set; }

    /// <summary>Seconds to wait for the node's /health; 60 by default.</summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public double StartTimeoutSec { get; set; } = 60;

    private E2E.Core.Scopes.E2EScope? _scope;

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        _scope = Scopes.RequireCurrent("a Petals node");
    }

    protected override async Task ProcessAsync()
    {
        var (start, end) = Span(Blocks);
        var name = Name ?? DefaultName(start, end);
        EthKeyMaterial? key = null;
        if (HasKey())
        {
            key = LoadKeyMaterial();
        }
        else if (OracleUrl is not null || ChainRpc is not null)
        {
            throw new E2EException(ErrorCatalog.InvalidKey, $"A node that reports to an Oracle or a chain needs a key: give -PrivateKey, -PrivateKeyPath, or set ${PrivateKeyVariable}.", PrivateKeyVariable);
        }
        if (Command is not null && Runtime == PetalsRuntime.Docker)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, "-Command runs a local program; it does not go with -Runtime Docker (give -Image).", "Command");
        }
        if (!await ShouldProcessAsync($"blocks {start}-{end - 1}", $"Start Petals node '{name}' ({Runtime})").ConfigureAwait(false))
        {
            return;
        }
        var workDirectory = _scope!.CreateTempDirectory($"petals-{name}");
        var launch = new PetalsNodeLaunch
        {
            Name = name,
            BlockStart = start,
            BlockEnd = end,
            Port = Port,
            Key = key,
            OracleUrl = OracleUrl,
            ReportFormat = ReportFormat,
            ReportInterval = TimeSpan.FromSeconds(ReportIntervalSec),
            ChainRpcUrl = ChainRpc,
            ChainId = ChainId,
            HeartbeatInterval = TimeSpan.FromSeconds(HeartbeatIntervalSec),
            ModelName = ModelName,
            Command = Command,
            WorkDirectory = workDirectory,
            StartTimeout = TimeSpan.FromSeconds(StartTimeoutSec),
        };
        // Recorded before it starts: whatever is started below is stopped with the scope, even if the wait fails.
        SupervisedProcess? process = null;
        PetalsNode? node = null;
        Func<TimeSpan, bool>? stopContainer = null;
        _scope.Register("Process", $"Petals node '{name}' (blocks {start}-{end - 1}, {Runtime})", _ =>
        {
            if (node is not null)
            {
                node.Stop(TimeSpan.FromSeconds(10));
            }
            else
            {
                process?.Stop(TimeSpan.FromSeconds(10));
                stopContainer?.Invoke(TimeSpan.FromSeconds(10));
            }
        });
        node = await WithProgressAsync(Activities.Petals, $"Petals node '{name}' blocks {start}-{end - 1}", () => "starting, waiting for /health", () =>
            Runtime == PetalsRuntime.Process
                ? PetalsNode.StartProcessAsync(launch, started => process = started, CancelToken)
                : PetalsContainers.StartNodeAsync(launch, Image, DockerHost is null ? null : new Uri(DockerHost), _scope.ResourceLabels, stop => stopContainer = stop, CancelToken, Verbose)).ConfigureAwait(false);
        Verbose($"{node} as agent {node.Agent ?? "(none)"}; log {node.LogPath}");
        Output(node);
    }

    private bool HasKey() => PrivateKey is not null || PrivateKeyPath is not null || !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(PrivateKeyVariable));

    private static (int Start, int End) Span(int[] blocks)
    {
        for (var i = 1; i < blocks.Length; i++)
        {
            if (blocks[i] != blocks[i - 1] + 1)
            {
                throw new E2EException(ErrorCatalog.InvalidArgument, $"-Blocks must be consecutive and ascending, such as 0..11; {blocks[i - 1]} is followed by {blocks[i]}.", "Blocks");
            }
        }
        PetalsModel.Default.CheckSpan(blocks[0], blocks[^1] + 1);
        return (blocks[0], blocks[^1] + 1);
    }

    private static string DefaultName(int start, int end)
    {
        var name = $"petals-{start}-{end - 1}";
        for (var n = 2; PetalsNode.Find(name) is not null; n++)
        {
            name = $"petals-{start}-{end - 1}-{n}";
        }
        return name;
    }
}

/// <summary>Stops Petals nodes started by Start-PetalsNode.</summary>
/// <remarks>
/// <para>Sends SIGTERM (the node stops serving, makes one last signed report and delivers what is pending), waits -GraceSec, then kills what is left of its process tree (or stops and removes its container). Stopping a stopped node does nothing. -Kill skips the grace: the node dies at once, as a crashed node would, without its last report.</para>
/// </remarks>
/// <example>
/// <code>Get-PetalsNode petals-12-23 | Stop-PetalsNode -Kill</code>
/// <para>Kills the node serving blocks 12-23, for example to test failover to a replica.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Stop, "PetalsNode", SupportsShouldProcess = true, DefaultParameterSetName = "Node")]
[OutputType(typeof(void))]
public sealed class StopPetalsNodeCommand : E2ECmdlet
{
    /// <summary>The node to stop.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = "Node")]
    [ValidateNotNull]
    public PetalsNode? Node { get; set; }

    /// <summary>The name of the node to stop.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Name", ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(PetalsNodeNameCompleter))]
    public string? Name { get; set; }

    /// <summary>Seconds the node gets to end after SIGTERM before it is killed; 10 by default.</summary>
    [Parameter]
    [ValidateRange(0, 600)]
    public double GraceSec { get; set; } = 10;

    /// <summary>Kill at once (SIGKILL), without the node's last report.</summary>
    [Parameter]
    public SwitchParameter Kill { get; set; }

    protected override void Process()
    {
        var node = Node ?? PetalsNode.Find(Name!)
            ?? throw new E2EException(ErrorCatalog.PetalsNodeNotFound, $"No Petals node named '{Name}' runs in this session (Get-PetalsNode lists them).", Name);
        if (!ShouldProcess(node.ToString(), Kill ? "Kill Petals node" : "Stop Petals node"))
        {
            return;
        }
        if (!node.Stop(Kill ? TimeSpan.Zero : TimeSpan.FromSeconds(GraceSec)) && !Kill && GraceSec > 0)
        {
            WriteWarning($"{node} did not end within {GraceSec:0.#} s of SIGTERM and was killed.");
        }
    }
}

/// <summary>Lists the Petals nodes started in this session.</summary>
/// <remarks>
/// <para>Each node has its name, URL, blocks, model, agent address, runtime, process or container id, state (Running, Exited on its own, Stopped) and log path. -Name filters by name (wildcards allowed).</para>
/// </remarks>
/// <example>
/// <code>Get-PetalsNode | Format-Table Name, Blocks, Url, Agent, State</code>
/// <para>The swarm this session runs.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "PetalsNode")]
[OutputType(typeof(PetalsNode))]
public sealed class GetPetalsNodeCommand : E2ECmdlet
{
    /// <summary>Only nodes whose name matches (wildcards allowed).</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(PetalsNodeNameCompleter))]
    public string? Name { get; set; }

    protected override void Process()
    {
        var pattern = Name is null ? null : new WildcardPattern(Name, WildcardOptions.IgnoreCase);
        var nodes = PetalsNode.All.Where(n => pattern is null || pattern.IsMatch(n.Name)).ToArray();
        if (Name is not null && !WildcardPattern.ContainsWildcardCharacters(Name) && nodes.Length == 0)
        {
            throw new E2EException(ErrorCatalog.PetalsNodeNotFound, $"No Petals node named '{Name}' runs in this session.", Name);
        }
        WriteObject(nodes, enumerateCollection: true);
    }
}

/// <summary>Reads a running node's metrics: tokens served, requests, latency, reports delivered, chain state.</summary>
/// <remarks>
/// <para>Asks the node's GET /metrics: upstream MetricsCollector's to_dict (total_tokens_processed, total_requests, total_latency_ms, avg_latency_ms, uptime_seconds, tokens_per_second) and the reporter's and chain's state (reports delivered and rejected, the registration transaction, heartbeats sent, the last chain error). Works on any node URL, including nodes this session did not start.</para>
/// </remarks>
/// <example>
/// <code>Get-PetalsNode | Get-PetalsNodeMetric | Format-Table Url, TotalTokensProcessed, ReportsDelivered, Heartbeats</code>
/// <para>What each node served and reported.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "PetalsNodeMetric")]
[OutputType(typeof(PetalsNodeMetrics))]
public sealed class GetPetalsNodeMetricCommand : AsyncE2ECmdlet
{
    /// <summary>The node's URL (a PetalsNode's Url binds by property name).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Url { get; set; }

    protected override async Task ProcessAsync()
    {
        using var client = new DistributedInference();
        Output(await client.MetricsAsync(Url!, CancelToken).ConfigureAwait(false));
    }
}

/// <summary>Plans the route through running nodes that covers every block of the model once.</summary>
/// <remarks>
/// <para>Asks each node's /health what it serves and chains them from block 0: at each block the node that serves it and reaches furthest (nodes serve any sub-span of their own, as Petals servers do, so replicas and overlapping spans are usable). Blocks no node serves are PetalsBlocksUnavailable, naming them; nodes of different models, or spans past the model's end, are PetalsRouteConflict. Without -Node or -Url, the nodes this session started.</para>
/// </remarks>
/// <example>
/// <code>(Get-PetalsRoute).Hops | Format-Table Blocks, @{ n = 'Node'; e = { $_.Node.Url } }</code>
/// <para>Which node computes which blocks.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "PetalsRoute")]
[OutputType(typeof(PetalsRoute))]
public sealed class GetPetalsRouteCommand : AsyncE2ECmdlet
{
    /// <summary>The nodes to route through (from Start-PetalsNode or Get-PetalsNode).</summary>
    [Parameter(ValueFromPipeline = true)]
    [ValidateNotNullOrEmpty]
    public PetalsNode[]? Node { get; set; }

    /// <summary>Node URLs to route through, instead of -Node (nodes this session did not start).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? Url { get; set; }

    private readonly List<string> _urls = new();

    protected override Task ProcessAsync()
    {
        _urls.AddRange(Node?.Select(n => n.Url) ?? Enumerable.Empty<string>());
        return Task.CompletedTask;
    }

    protected override async Task EndAsync()
    {
        using var client = new DistributedInference();
        var nodes = await client.DiscoverAsync(PetalsCmdlets.Urls(_urls, Url), CancelToken).ConfigureAwait(false);
        Output(PetalsRoute.Plan(nodes, PetalsModel.Of(nodes)));
    }
}

/// <summary>Generates text through the swarm of Petals nodes, or in this process as the reference.</summary>
/// <remarks>
/// <para>For every new token the hidden state goes through the route's nodes in order (Get-PetalsRoute), each computing its blocks; greedy decoding over the deterministic 24-block model gives exactly the tokens a single-process run of all blocks gives (-SingleProcess computes that reference here). A node that fails mid-generation (killed, refusing, timing out) is dropped and its blocks go to a replica from the same state, so the output is unchanged and the failover is listed in the result; without a replica the call fails with PetalsBlocksUnavailable naming the blocks.</para>
/// <para>Several prompts (an array, or from the pipeline) run concurrently, up to -ThrottleLimit at a time; results come in input order. Each result has the text and token ids, the route, per-hop latency (calls, mean and max ms per node), failovers, duration and tokens per second.</para>
/// <para>The nodes come from -Node (or nodes piped in), -Url, a route piped from Get-PetalsRoute (-Route: exactly its nodes, so a failover can only use a replica that is part of it), or else every node this session runs.</para>
/// </remarks>
/// <example>
/// <code>Get-PetalsRoute | Invoke-DistributedInference -Prompt 'The cat' -MaxTokens 8</code>
/// <para>Generates along the route just planned.</para>
/// </example>
/// <example>
/// <code>$swarm = Invoke-DistributedInference -Prompt 'The cat' -MaxTokens 16
/// $reference = Invoke-DistributedInference -Prompt 'The cat' -MaxTokens 16 -SingleProcess
/// $swarm.Text -eq $reference.Text</code>
/// <para>The distributed run agrees with the reference token for token.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Invoke, "DistributedInference", SupportsShouldProcess = true, DefaultParameterSetName = "Swarm")]
[OutputType(typeof(PetalsInferenceResult))]
public sealed class InvokeDistributedInferenceCommand : AsyncE2ECmdlet
{
    /// <summary>The prompt (printable ASCII); several run concurrently.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public string[] Prompt { get; set; } = Array.Empty<string>();

    /// <summary>How many tokens to generate; 16 by default.</summary>
    [Parameter]
    [ValidateRange(1, 4096)]
    public int MaxTokens { get; set; } = 16;

    /// <summary>The nodes to route through (from Start-PetalsNode or Get-PetalsNode, or piped in); the nodes this session started by default.</summary>
    [Parameter(ParameterSetName = "Swarm", ValueFromPipeline = true)]
    [ValidateNotNullOrEmpty]
    public PetalsNode[]? Node { get; set; }

    /// <summary>Node URLs to route through, instead of -Node.</summary>
    [Parameter(ParameterSetName = "Swarm")]
    [ValidateNotNullOrEmpty]
    public string[]? Url { get; set; }

    /// <summary>The route to generate along (from Get-PetalsRoute, usually piped in): exactly its nodes.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Route", ValueFromPipeline = true)]
    [ValidateNotNull]
    public PetalsRoute? Route { get; set; }

    /// <summary>Compute every block in this process: the reference the swarm must agree with.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "SingleProcess")]
    public SwitchParameter SingleProcess { get; set; }

    /// <summary>Prompts generated at once; 4 by default.</summary>
    [Parameter]
    [ValidateRange(1, 256)]
    public int ThrottleLimit { get; set; } = 4;

    /// <summary>Seconds one hop may take before its node counts as failed; 30 by default.</summary>
    [Parameter(ParameterSetName = "Swarm")]
    [Parameter(ParameterSetName = "Route")]
    [ValidateRange(0.1, 3600)]
    public double HopTimeoutSec { get; set; } = 30;

    private readonly List<string> _prompts = new();
    private readonly List<string> _nodeUrls = new();
    private readonly List<PetalsRoute> _routes = new();
    private bool _promptsGiven;

    protected override Task BeginAsync()
    {
        // Prompts given as arguments are taken once, whatever else (nodes, a route) the pipeline brings record by record.
        _promptsGiven = MyInvocation.BoundParameters.ContainsKey(nameof(Prompt));
        if (_promptsGiven)
        {
            _prompts.AddRange(Prompt);
        }
        return Task.CompletedTask;
    }

    protected override Task ProcessAsync()
    {
        if (!_promptsGiven)
        {
            _prompts.AddRange(Prompt);
        }
        _nodeUrls.AddRange(Node?.Select(n => n.Url) ?? Enumerable.Empty<string>());
        if (Route is not null && !_routes.Contains(Route))
        {
            _routes.Add(Route);
        }
        return Task.CompletedTask;
    }

    protected override async Task EndAsync()
    {
        using var client = new DistributedInference(hopTimeout: TimeSpan.FromSeconds(HopTimeoutSec));
        if (SingleProcess)
        {
            foreach (var prompt in _prompts)
            {
                Output(client.Reference(prompt, MaxTokens, PetalsModel.Default));
            }
            return;
        }
        IReadOnlyList<PetalsNodeInfo> nodes;
        if (ParameterSetName == "Route")
        {
            if (_routes.Count > 1)
            {
                throw new E2EException(ErrorCatalog.InvalidArgument, $"{_routes.Count} routes came in; generation follows one. Pipe one Get-PetalsRoute.", "Route");
            }
            nodes = _routes[0].Hops.Select(h => h.Node).Distinct().ToArray();
        }
        else
        {
            nodes = await client.DiscoverAsync(PetalsCmdlets.Urls(_nodeUrls, Url), CancelToken).ConfigureAwait(false);
        }
        if (!await ShouldProcessAsync(string.Join(", ", nodes.Select(n => $"{n.Blocks}@{n.Url}")), $"Generate {MaxTokens} tokens for {_prompts.Count} prompt(s)").ConfigureAwait(false))
        {
            return;
        }
        using var throttle = new SemaphoreSlim(ThrottleLimit);
        var done = 0;
        var results = await WithProgressAsync(Activities.Petals, $"Distributed inference of {_prompts.Count} prompt(s), {MaxTokens} tokens each", () => $"{Volatile.Read(ref done)} of {_prompts.Count} done", () =>
            Task.WhenAll(_prompts.Select(async prompt =>
            {
                await throttle.WaitAsync(CancelToken).ConfigureAwait(false);
                try
                {
                    return await client.GenerateAsync(prompt, MaxTokens, nodes, CancelToken).ConfigureAwait(false);
                }
                finally
                {
                    Interlocked.Increment(ref done);
                    throttle.Release();
                }
            }))).ConfigureAwait(false);
        foreach (var result in results)
        {
            foreach (var failover in result.Failovers)
            {
                Verbose($"Token {failover.Token}: blocks {failover.Blocks} failed at {failover.FailedNode} ({failover.Reason}); {failover.Replacement} took over.");
            }
            Output(result);
        }
    }
}

/// <summary>
/// Lets -Blocks take 0..11 as typed in a command's arguments, where PowerShell passes it as the text "0..11"
/// (the range operator only runs in expression mode), and "0-11" as logs write spans.
/// </summary>
public sealed class BlockRangeTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject wrapped ? wrapped.BaseObject : inputData;
        if (value is not string text)
        {
            return inputData;
        }
        var match = System.Text.RegularExpressions.Regex.Match(text.Trim(), "^([0-9]{1,4})\\s*(?:\\.\\.|-)\\s*([0-9]{1,4})$");
        if (!match.Success)
        {
            return int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var single)
                ? new[] { single }
                : throw new ArgumentTransformationMetadataException($"'{text}' is not a span of blocks such as 0..11 or 0-11.");
        }
        var first = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        var last = int.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture);
        return last < first
            ? throw new ArgumentTransformationMetadataException($"'{text}' runs backwards; blocks are given first to last, such as 0..11.")
            : Enumerable.Range(first, last - first + 1).ToArray();
    }
}

internal static class PetalsCmdlets
{
    /// <summary>The URLs given, else the nodes this session runs; none at all is PetalsBlocksUnavailable.</summary>
    public static IReadOnlyList<string> Urls(IEnumerable<string>? fromNodes, IEnumerable<string>? urls)
    {
        var all = (fromNodes ?? Enumerable.Empty<string>()).Concat(urls ?? Enumerable.Empty<string>()).Distinct(StringComparer.Ordinal).ToList();
        if (all.Count == 0)
        {
            all.AddRange(PetalsNode.All.Where(n => n.State == "Running").Select(n => n.Url));
        }
        return all.Count > 0 ? all
            : throw new E2EException(ErrorCatalog.PetalsBlocksUnavailable, "No Petals node runs in this session; start some with Start-PetalsNode, or give -Node or -Url.", "0-23");
    }

}

/// <summary>Completes the names of the Petals nodes this session runs.</summary>
public sealed class PetalsNodeNameCompleter : LiveCompleter
{
    protected override IEnumerable<(string Value, string Tip)> Candidates(string word, System.Collections.IDictionary bound, CancellationToken cancellation) =>
        PetalsNode.All.Where(n => n.Name.StartsWith(word, StringComparison.OrdinalIgnoreCase)).Select(n => (n.Name, $"{n.Blocks} at {n.Url}"));
}
