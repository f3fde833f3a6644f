using System.Collections.Concurrent;
using System.Globalization;
using E2E.Core.Chain;
using E2E.Core.Errors;
using E2E.Core.Net;
using E2E.Core.Oracle;
using E2E.Core.Processes;
using E2E.Core.StandIns.Petals;
using E2E.Core.Waiting;

namespace E2E.Core.Petals;

public enum PetalsRuntime
{
    Process,
    Docker,
}

/// <summary>How to start one node: the upstream node's settings, by their upstream names where it has them.</summary>
public sealed record PetalsNodeLaunch
{
    public required string Name { get; init; }

    public int BlockStart { get; init; }

    public int BlockEnd { get; init; } = PetalsModel.DefaultBlockCount;

    /// <summary>0: a free port.</summary>
    public int Port { get; init; }

    /// <summary>The key's hex, handed to the node by environment only.</summary>
    public EthKeyMaterial? Key { get; init; }

    public string? OracleUrl { get; init; }

    public OracleReportFormat ReportFormat { get; init; } = OracleReportFormat.Current;

    public TimeSpan ReportInterval { get; init; } = TimeSpan.FromSeconds(60);

    public string? ChainRpcUrl { get; init; }

    public long ChainId { get; init; } = 41956;

    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(300);

    public string ModelName { get; init; } = PetalsModel.DefaultName;

    /// <summary>Another program to run instead of the shipped node (the real petals node where it is installed); it gets the same environment.</summary>
    public IReadOnlyList<string>? Command { get; init; }

    /// <summary>The folder for the node's log and report spool.</summary>
    public required string WorkDirectory { get; init; }

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The environment the upstream node reads (PLUMISE_*, ORACLE_API_URL, MODEL_NAME, NUM_BLOCKS, PETALS_*,
    /// REPORT_INTERVAL) plus ours for what upstream lacks (the first block, the report format, heartbeats, spool).
    /// </summary>
    public Dictionary<string, string?> Environment(int port)
    {
        var environment = new Dictionary<string, string?>
        {
            ["PLUMISE_PRIVATE_KEY"] = Key?.Hex,
            ["PLUMISE_RPC_URL"] = ChainRpcUrl,
            ["PLUMISE_CHAIN_ID"] = ChainId.ToString(CultureInfo.InvariantCulture),
            ["ORACLE_API_URL"] = OracleUrl,
            ["MODEL_NAME"] = ModelName,
            ["NUM_BLOCKS"] = (BlockEnd - BlockStart).ToString(CultureInfo.InvariantCulture),
            ["PETALS_HOST"] = "127.0.0.1",
            ["PETALS_PORT"] = port.ToString(CultureInfo.InvariantCulture),
            ["REPORT_INTERVAL"] = ((int)Math.Ceiling(ReportInterval.TotalSeconds)).ToString(CultureInfo.InvariantCulture),
            ["E2E_PETALS_BLOCK_START"] = BlockStart.ToString(CultureInfo.InvariantCulture),
            ["E2E_PETALS_REPORT_FORMAT"] = ReportFormat.ToString(),
            ["E2E_PETALS_HEARTBEAT_INTERVAL"] = ((int)Math.Ceiling(HeartbeatInterval.TotalSeconds)).ToString(CultureInfo.InvariantCulture),
            ["E2E_PETALS_SPOOL"] = Path.Combine(WorkDirectory, "spool"),
        };
        return environment;
    }
}

/// <summary>A node this session started: where it serves, which blocks, as which agent, and how to stop it.</summary>
public sealed class PetalsNode : IDisposable
{
    private static readonly ConcurrentDictionary<string, PetalsNode> Running = new(StringComparer.OrdinalIgnoreCase);
    private readonly SupervisedProcess? _process;
    private readonly Func<TimeSpan, bool>? _stopContainer;
    private int _stopped;

    private PetalsNode(PetalsNodeLaunch launch, int port, string? agent, PetalsRuntime runtime, SupervisedProcess? process, string? containerId, Func<TimeSpan, bool>? stopContainer, string logPath)
    {
        Name = launch.Name;
        BlockStart = launch.BlockStart;
        BlockEnd = launch.BlockEnd;
        Port = port;
        Url = $"http://127.0.0.1:{port}";
        Agent = agent;
        Runtime = runtime;
        Model = launch.ModelName;
        _process = process;
        ContainerId = containerId;
        _stopContainer = stopContainer;
        LogPath = logPath;
    }

    public string Name { get; }

    public string Url { get; }

    public int Port { get; }

    public int BlockStart { get; }

    public int BlockEnd { get; }

    public string Blocks => $"{BlockStart}-{BlockEnd - 1}";

    public string Model { get; }

    public string? Agent { get; }

    public PetalsRuntime Runtime { get; }

    public int? ProcessId => _process?.Id;

    public string? ContainerId { get; }

    public string LogPath { get; }

    /// <summary>Running, Exited (it ended on its own) or Stopped.</summary>
    public string State => _stopped == 1 ? "Stopped" : _process is { HasExited: true } ? "Exited" : "Running";

    public PetalsNodeInfo Info => new(Url, Model, BlockStart, BlockEnd, PetalsModel.DefaultHiddenSize, Agent);

    /// <summary>Nodes started in this process and not stopped, oldest first.</summary>
    public static IReadOnlyList<PetalsNode> All => Running.Values.OrderBy(n => n._sequence).ToArray();

    private long _sequence;
    private static long _started;

    public static PetalsNode? Find(string name) => Running.TryGetValue(name, out var node) ? node : null;

    /// <summary>
    /// Starts a node as its own OS process (the shipped node program on the .NET host, or <see cref="PetalsNodeLaunch.Command"/>),
    /// logging to WorkDirectory/node.log, and returns once its /health answers for the asked blocks. A node that exits first is
    /// PetalsNodeFailed with its log; a taken port (when the port was left to us) is retried on another.
    /// </summary>
    /// <remarks>The track callback gets the process before the wait, so the caller records it for cleanup before anything can go wrong.</remarks>
    public static async Task<PetalsNode> StartProcessAsync(PetalsNodeLaunch launch, Action<SupervisedProcess> track, CancellationToken cancellation)
    {
        CheckName(launch.Name);
        Directory.CreateDirectory(launch.WorkDirectory);
        var logPath = Path.Combine(launch.WorkDirectory, "node.log");
        for (var attempt = 1; ; attempt++)
        {
            var port = launch.Port == 0 ? Loopback.FreePort() : launch.Port;
            var command = launch.Command ?? new[] { DotnetHost.Find(), NodeProgram };
            var logStart = LogFile.End(logPath); // the log is appended to: a line of an earlier run is not this one's
            var process = SupervisedProcess.Start(command, launch.Environment(port), launch.WorkDirectory, logPath, $"Petals node '{launch.Name}' (blocks {launch.BlockStart}-{launch.BlockEnd - 1})");
            track(process);
            try
            {
                var info = await WaitReadyAsync(process, port, logStart, launch, cancellation).ConfigureAwait(false);
                return Register(new PetalsNode(launch, port, info.Agent, PetalsRuntime.Process, process, null, null, logPath));
            }
            catch (E2EException) when (process.ExitCode == PortInUseExit && launch.Port == 0 && attempt < 5)
            {
                // Another process took the free port between the probe and the node's bind; pick another.
            }
        }
    }

    /// <summary>A node whose container was started elsewhere (the Docker runtime): registered here so it is listed and stopped like the others.</summary>
    public static async Task<PetalsNode> AttachContainerAsync(PetalsNodeLaunch launch, int hostPort, string containerId, string logPath, Func<TimeSpan, bool> stop, Func<bool> exited, Func<string> log, Func<bool> serving, CancellationToken cancellation)
    {
        CheckName(launch.Name);
        var info = await WaitHealthyAsync(hostPort, launch, () => exited() ? "the container exited" : null, log, cancellation, serving).ConfigureAwait(false);
        return Register(new PetalsNode(launch, hostPort, info.Agent, PetalsRuntime.Docker, null, containerId, stop, logPath));
    }

    /// <summary>The node program beside this assembly, run with the .NET host.</summary>
    public static string NodeProgram => Path.Combine(Path.GetDirectoryName(typeof(PetalsNode).Assembly.Location)!, "E2E.PetalsNode.dll");

    /// <summary>The exit code of the node program when its port is taken.</summary>
    public const int PortInUseExit = 98;

    /// <remarks>
    /// The shipped node program is probed only once it has logged that it serves: a connection that arrives while its
    /// managed HttpListener binds can crash it (the endpoint's first accept completes on another thread before the
    /// listener's constructor has finished; an unhandled exception there, which no retry can catch). A command of
    /// the user's is probed from the start, as it logs what it likes.
    /// </remarks>
    private static Task<PetalsNodeInfo> WaitReadyAsync(SupervisedProcess process, int port, long logStart, PetalsNodeLaunch launch, CancellationToken cancellation) =>
        WaitHealthyAsync(port, launch, () => process.HasExited ? $"it exited with code {process.ExitCode}" : null, () => process.Tail(40), cancellation,
            launch.Command is null ? () => LogFile.Since(process.LogPath, logStart).Contains(PetalsNodeHost.ServingLogLine, StringComparison.Ordinal) : null);

    private static async Task<PetalsNodeInfo> WaitHealthyAsync(int port, PetalsNodeLaunch launch, Func<string?> ended, Func<string> log, CancellationToken cancellation, Func<bool>? listening = null)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var url = $"http://127.0.0.1:{port}";
        PetalsNodeInfo? info = null;
        var options = new WaitOptions { Timeout = launch.StartTimeout, Interval = TimeSpan.FromMilliseconds(50), MaxInterval = TimeSpan.FromMilliseconds(500) };
        try
        {
            await ConditionWaiter.UntilAsync(async token =>
            {
                if (ended() is { } why)
                {
                    throw new ProbeCannotSucceedException(new E2EException(ErrorCatalog.PetalsNodeFailed, $"Petals node '{launch.Name}' stopped before it was ready: {why}. Its log ends:\n{log()}", launch.Name));
                }
                if (listening is not null && !listening())
                {
                    return Observation.NotYet("the node has not logged that it serves yet");
                }
                try
                {
                    info = PetalsNodeInfo.Parse(url, await http.GetStringAsync(url + "/health", token).ConfigureAwait(false));
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !token.IsCancellationRequested)
                {
                    return Observation.NotYet($"/health: {ex.Message}");
                }
                if (info.BlockStart != launch.BlockStart || info.BlockEnd != launch.BlockEnd)
                {
                    throw new ProbeCannotSucceedException(new E2EException(ErrorCatalog.PetalsNodeFailed, $"Petals node '{launch.Name}' serves blocks {info.Blocks}, not the {launch.BlockStart}-{launch.BlockEnd - 1} asked for.", launch.Name));
                }
                return Observation.Met();
            }, options, $"Petals node '{launch.Name}' at {url}", cancellation).ConfigureAwait(false);
        }
        catch (ProbeCannotSucceedException ex) when (ex.InnerException is E2EException reason)
        {
            throw reason;
        }
        catch (E2EException ex) when (ex.Error == ErrorCatalog.WaitTimedOut)
        {
            throw new E2EException(ErrorCatalog.PetalsNodeFailed, $"{ex.Message} Its log ends:\n{log()}", launch.Name, ex);
        }
        return info!;
    }

    private static PetalsNode Register(PetalsNode node)
    {
        node._sequence = Interlocked.Increment(ref _started);
        if (!Running.TryAdd(node.Name, node))
        {
            // Another start of the same name won the race since CheckName.
            node.Stop(TimeSpan.FromSeconds(5));
            throw NameTaken(node.Name);
        }
        return node;
    }

    private static void CheckName(string name)
    {
        if (Running.ContainsKey(name))
        {
            throw NameTaken(name);
        }
    }

    private static E2EException NameTaken(string name) =>
        new(ErrorCatalog.PetalsNodeExists, $"A Petals node named '{name}' is already running in this session; stop it or choose another -Name.", name);

    /// <summary>SIGTERM (the node makes its last report), then after <paramref name="grace"/> a kill of what is left. True when it ended in time.</summary>
    public bool Stop(TimeSpan grace)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return true;
        }
        Running.TryRemove(new KeyValuePair<string, PetalsNode>(Name, this));
        return _process?.Stop(grace) ?? _stopContainer?.Invoke(grace) ?? true;
    }

    public override string ToString() => $"Petals node '{Name}' blocks {Blocks} at {Url} ({Runtime})";

    public void Dispose() => Stop(TimeSpan.FromSeconds(10));
}

/// <summary>The .NET host that runs the module's programs.</summary>
public static class DotnetHost
{
    /// <summary>This process's host when it is dotnet (the dotnet-tool pwsh), else $DOTNET_HOST_PATH, $DOTNET_ROOT/dotnet, or dotnet on PATH.</summary>
    public static string Find()
    {
        if (Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            return self;
        }
        foreach (var candidate in new[] { Environment.GetEnvironmentVariable("DOTNET_HOST_PATH"), Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } root ? Path.Combine(root, "dotnet") : null })
        {
            if (!string.IsNullOrEmpty(candidate) && File.Exists(candidate))
            {
                return candidate;
            }
        }
        return ExternalTool.FindOnPath("dotnet")
            ?? throw new E2EException(ErrorCatalog.ToolNotFound, "The Petals node program runs on the .NET host (dotnet), which was not found: install the .NET runtime, or set DOTNET_ROOT.", "dotnet");
    }
}
