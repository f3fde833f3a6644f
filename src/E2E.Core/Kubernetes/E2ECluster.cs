using System.Text.RegularExpressions;
using E2E.Core.Errors;
using E2E.Core.Naming;
using E2E.Core.Processes;
using E2E.Core.StandIns.Kubernetes;

namespace E2E.Core.Kubernetes;

public enum ClusterProvider
{
    /// <summary>The in-process fake API server with the simulated SkyTorch operator and Gateway: no cluster needed.</summary>
    Local,

    /// <summary>A kind cluster created (and deleted) by the kind CLI.</summary>
    Kind,

    /// <summary>A cluster that already exists, reached through a kubeconfig context; never deleted.</summary>
    Existing,
}

/// <summary>
/// A cluster the tests run against, whatever provides it. It owns a kubeconfig file (so kubectl and other tools
/// reach the same cluster) and knows where the SkyTorch Gateway answers gRPC. Created clusters are deleted on
/// <see cref="Dispose"/>; existing ones are only let go.
/// </summary>
public sealed partial class E2ECluster : IDisposable
{
    private readonly FakeApiServer? _fake;
    private readonly SkyTorchSimulator? _simulator;
    private readonly Lazy<KubeClient> _client;
    private int _disposed;

    private E2ECluster(string name, ClusterProvider provider, string kubeconfigPath, KubeContext context, string gatewayHost, int gatewayPort, FakeApiServer? fake = null, SkyTorchSimulator? simulator = null)
    {
        Name = name;
        Provider = provider;
        KubeconfigPath = kubeconfigPath;
        Context = context;
        GatewayHost = gatewayHost;
        GatewayPort = gatewayPort;
        _fake = fake;
        _simulator = simulator;
        _client = new Lazy<KubeClient>(() => new KubeClient(Context));
        CreatedAt = DateTimeOffset.UtcNow;
    }

    public string Name { get; }

    public ClusterProvider Provider { get; }

    public string KubeconfigPath { get; }

    public KubeContext Context { get; }

    public string ContextName => Context.Name;

    public string Server => Context.Server;

    public string Namespace => Context.Namespace;

    /// <summary>Where the SkyTorch Gateway listens: status.addresses gives the host; the port is 50051 on kind (the suite's kind.yaml maps it) and a free port locally.</summary>
    public string GatewayHost { get; }

    public int GatewayPort { get; }

    public DateTimeOffset CreatedAt { get; }

    public bool IsDisposed => _disposed != 0;

    public KubeClient Client => IsDisposed ? throw new E2EException(ErrorCatalog.ClusterNotFound, $"The cluster '{Name}' was removed.", Name) : _client.Value;

    /// <summary>The fake API server behind a Local cluster (fault injection in tests); null for real clusters.</summary>
    public FakeApiServer? FakeServer => _fake;

    /// <summary>The simulated operator of a Local cluster; null for real clusters.</summary>
    public SkyTorchSimulator? Simulator => _simulator;

    public override string ToString() => $"{Name} ({Provider}, {Server}, namespace {Namespace})";

    /// <summary>Starts the in-process cluster: fake API server, the Compute CRD from <paramref name="computeCrdPath"/>, simulated operator and Gateway.</summary>
    public static async Task<E2ECluster> CreateLocalAsync(string name, string directory, string computeCrdPath, TimeSpan? startupDelay, CancellationToken cancellation)
    {
        ValidateName(name);
        var fake = new FakeApiServer();
        var simulator = new SkyTorchSimulator(fake) { StartupDelay = startupDelay ?? TimeSpan.FromMilliseconds(300) };
        try
        {
            await simulator.StartAsync(computeCrdPath, cancellation).ConfigureAwait(false);
            var path = Path.Combine(directory, $"kubeconfig-{name}");
            await File.WriteAllTextAsync(path, fake.Kubeconfig($"e2e-{name}"), cancellation).ConfigureAwait(false);
            var context = Kubeconfig.Load(new[] { path }).Context();
            return new E2ECluster(name, ClusterProvider.Local, path, context, "127.0.0.1", simulator.GatewayPort, fake, simulator);
        }
        catch
        {
            simulator.Dispose();
            fake.Dispose();
            throw;
        }
    }

    /// <summary>Creates a kind cluster (kind create cluster --config) with its own kubeconfig file, and waits for the API server's /readyz.</summary>
    public static async Task<E2ECluster> CreateKindAsync(string name, string? configPath, string directory, string? nodeImage, TimeSpan timeout, IReadOnlyDictionary<string, string>? runLabels, CancellationToken cancellation)
    {
        ValidateName(name);
        var kind = ExternalTool.FindOnPath("kind") ?? throw new E2EException(ErrorCatalog.ToolNotFound, "The kind CLI is not on PATH (https://kind.sigs.k8s.io/docs/user/quick-start/#installation); -Provider Local runs without it.", "kind");
        var path = Path.Combine(directory, $"kubeconfig-{name}");
        var arguments = new List<string> { "create", "cluster", "--name", name, "--kubeconfig", path, "--wait", "0s" };
        if (configPath is not null)
        {
            arguments.AddRange(new[] { "--config", configPath });
        }
        if (nodeImage is not null)
        {
            arguments.AddRange(new[] { "--image", nodeImage });
        }
        // The marker goes first: if this process dies while kind works, Remove-E2EOrphan still finds the cluster.
        OrphanSweeper.WriteKindMarker(name, runLabels ?? new Dictionary<string, string>());
        try
        {
            await ExternalTool.RunAsync(kind, arguments, directory, ErrorCatalog.ClusterCreateFailed, cancellation).ConfigureAwait(false);
        }
        catch
        {
            await DeleteKindAsync(name, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        E2ECluster? cluster = null;
        try
        {
            var context = Kubeconfig.Load(new[] { path }).Context();
            cluster = new E2ECluster(name, ClusterProvider.Kind, path, context, "127.0.0.1", 50051);
            await cluster.WaitApiReadyAsync(timeout, cancellation).ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            cluster?.Dispose();
            await DeleteKindAsync(name, CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The context name that means the pod's own service account (KUBERNETES_SERVICE_HOST and the mounted token), as in a CronJob.</summary>
    public const string InClusterContextName = "in-cluster";

    /// <summary>
    /// Uses a context of an existing cluster, or the in-cluster service account for the context name "in-cluster";
    /// refuses contexts that do not look disposable unless <paramref name="force"/>.
    /// </summary>
    public static E2ECluster UseExisting(string? kubeconfigPath, string? contextName, bool force, string? gatewayHost, int gatewayPort)
    {
        if (contextName == InClusterContextName && kubeconfigPath is null)
        {
            var inCluster = KubeClient.InClusterContext(Environment.GetEnvironmentVariable);
            return Checked(inCluster, force, string.Empty, gatewayHost, gatewayPort);
        }
        var config = Kubeconfig.Load(kubeconfigPath);
        return Checked(config.Context(contextName), force, config.Files[0], gatewayHost, gatewayPort);
    }

    private static E2ECluster Checked(KubeContext context, bool force, string kubeconfigPath, string? gatewayHost, int gatewayPort)
    {
        if (!force && !LooksLikeTestCluster(context))
        {
            throw new E2EException(ErrorCatalog.ClusterNotTestCluster,
                $"The context '{context.Name}' (server {context.Server}) does not look like a test cluster: tests create and delete resources. Use -Force if it is one.", context.Name);
        }
        var host = gatewayHost ?? new Uri(context.Server).Host;
        return new E2ECluster(context.Name, ClusterProvider.Existing, kubeconfigPath, context, host, gatewayPort);
    }

    [GeneratedRegex("(^|[-_.])(kind|k3d|k3s|minikube|docker-desktop|rancher-desktop|orbstack|colima|microk8s)([-_.]|$)|test|e2e|(^|[-_.])ci([-_.]|$)|sandbox|scratch|dev", RegexOptions.IgnoreCase)]
    private static partial Regex TestClusterName();

    /// <summary>Loopback servers, local distributions (kind-, k3d-, minikube...) and names with test/e2e/ci/dev/sandbox count as test clusters.</summary>
    public static bool LooksLikeTestCluster(KubeContext context)
    {
        var host = Uri.TryCreate(context.Server, UriKind.Absolute, out var uri) ? uri.Host : string.Empty;
        var loopback = host is "localhost" or "127.0.0.1" or "[::1]" or "::1" || host.StartsWith("127.", StringComparison.Ordinal) || host.EndsWith(".localhost", StringComparison.Ordinal);
        return loopback || TestClusterName().IsMatch(context.Name) || TestClusterName().IsMatch(context.ClusterName);
    }

    /// <summary>Polls /readyz until the API server answers ok (kind returns before the API is up when --wait 0s).</summary>
    public async Task WaitApiReadyAsync(TimeSpan timeout, CancellationToken cancellation)
    {
        var deadline = DateTime.UtcNow + timeout;
        string last = "no answer yet";
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var text = await Client.GetTextAsync("/readyz", cancellation).ConfigureAwait(false);
                if (text.Trim() == "ok" || text.Contains("\"ok\"", StringComparison.Ordinal))
                {
                    return;
                }
                last = text.Trim();
            }
            catch (E2EException ex)
            {
                last = ex.Message;
            }
            await Task.Delay(500, cancellation).ConfigureAwait(false);
        }
        throw new E2EException(ErrorCatalog.ClusterCreateFailed, $"The API server of '{Name}' at {Server} was not ready within {timeout.TotalSeconds:0} s. Last observed: {last}", Name);
    }

    /// <summary>Loads a local image into every node of a kind cluster.</summary>
    public async Task ImportImageAsync(string image, CancellationToken cancellation)
    {
        if (Provider != ClusterProvider.Kind)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, $"Images can be imported into kind clusters only; '{Name}' is {Provider}.", Name);
        }
        var kind = ExternalTool.FindOnPath("kind") ?? throw new E2EException(ErrorCatalog.ToolNotFound, "The kind CLI is not on PATH.", "kind");
        await ExternalTool.RunAsync(kind, new[] { "load", "docker-image", image, "--name", Name }, null, ErrorCatalog.KubeApiFailed, cancellation).ConfigureAwait(false);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        if (_client.IsValueCreated)
        {
            _client.Value.Dispose();
        }
        _simulator?.Dispose();
        _fake?.Dispose();
        if (Provider == ClusterProvider.Kind)
        {
            DeleteKindAsync(Name, CancellationToken.None).GetAwaiter().GetResult();
        }
    }

    private static async Task DeleteKindAsync(string name, CancellationToken cancellation)
    {
        if (ExternalTool.FindOnPath("kind") is { } kind)
        {
            await ExternalTool.RunAsync(kind, new[] { "delete", "cluster", "--name", name }, null, ErrorCatalog.KubeApiFailed, cancellation).ConfigureAwait(false);
        }
        OrphanSweeper.RemoveKindMarker(name);
    }

    private static void ValidateName(string name)
    {
        if (!KubernetesNames.IsDnsLabel(name))
        {
            throw new E2EException(ErrorCatalog.InvalidName, $"'{name}' is not a valid cluster name: use 1-63 lowercase letters, digits and '-', starting with a letter.", name);
        }
    }
}

/// <summary>
/// The clusters of one session (a runspace: parallel runspaces keep their own), in creation order; the last one
/// is what cluster cmdlets use by default. Names are unique among the clusters that are still alive.
/// </summary>
public sealed class ClusterRegistry
{
    private readonly List<E2ECluster> _clusters = new();

    public IReadOnlyList<E2ECluster> All
    {
        get
        {
            lock (_clusters)
            {
                _clusters.RemoveAll(c => c.IsDisposed);
                return _clusters.ToArray();
            }
        }
    }

    public E2ECluster? Current => All.LastOrDefault();

    public E2ECluster Get(string name) =>
        All.FirstOrDefault(c => c.Name == name) ?? throw new E2EException(ErrorCatalog.ClusterNotFound, $"No cluster named '{name}' exists in this session (New-E2ECluster creates one).", name);

    /// <summary>Throws ResourceBusy if a live cluster has this name (checked before creating one, which can take minutes).</summary>
    public void EnsureNameFree(string name)
    {
        if (All.Any(c => c.Name == name))
        {
            throw new E2EException(ErrorCatalog.ResourceBusy, $"A cluster named '{name}' already exists in this session.", name);
        }
    }

    /// <summary>Adds a cluster; if its name was taken meanwhile, the new cluster is disposed and ResourceBusy thrown.</summary>
    public E2ECluster Add(E2ECluster cluster)
    {
        lock (_clusters)
        {
            if (_clusters.Any(c => !c.IsDisposed && c.Name == cluster.Name))
            {
                cluster.Dispose();
                throw new E2EException(ErrorCatalog.ResourceBusy, $"A cluster named '{cluster.Name}' already exists in this session.", cluster.Name);
            }
            _clusters.Add(cluster);
            return cluster;
        }
    }
}
