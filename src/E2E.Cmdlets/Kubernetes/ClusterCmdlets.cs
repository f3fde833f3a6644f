using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Errors;
using E2E.Core.Kubernetes;
using E2E.Core.Scopes;

namespace E2E.Cmdlets.Kubernetes;

/// <summary>Creates (or connects to) the Kubernetes cluster a suite runs against.</summary>
/// <remarks>
/// <para>-Provider Local (the default, or $env:E2E_CLUSTER_PROVIDER) starts an in-process Kubernetes API server on 127.0.0.1 with the SkyTorch Compute CRD, a simulated SkyTorch operator and a simulated Gateway that answers gRPC health checks: nothing to install. -Provider Kind runs the kind CLI with -Config (such as SkyTorch's tests/e2e/kind.yaml) and waits for the API server. -Provider Existing uses a kubeconfig context; contexts that do not look like test clusters (loopback servers, kind-, k3d-, minikube, or names with test, e2e, ci, dev, sandbox) are refused unless -Force.</para>
/// <para>Each cluster gets its own kubeconfig file (KubeconfigPath) so kubectl reaches the same cluster. Created clusters are registered in the current scope and deleted when it is removed; an existing cluster is only let go. Kind clusters also leave a marker file so Remove-E2EOrphan can find them if the process dies.</para>
/// </remarks>
/// <example>
/// <code>New-E2EScope -Name skytorch
/// $cluster = New-E2ECluster -Name skytorch</code>
/// <para>Starts the local cluster; every later cluster cmdlet uses it by default.</para>
/// </example>
/// <example>
/// <code>New-E2ECluster -Name skytorch -Provider Kind -Config ./tests/e2e/kind.yaml -TimeoutSec 300</code>
/// <para>Creates a kind cluster as SkyTorch's CI does.</para>
/// </example>
/// <example>
/// <code>New-E2ECluster -Provider Existing -Context kind-skytorch</code>
/// <para>Runs against a cluster that already exists.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "E2ECluster", SupportsShouldProcess = true)]
[OutputType(typeof(E2ECluster))]
public sealed class NewE2EClusterCommand : AsyncE2ECmdlet
{
    private E2EScope? _scope;
    private ClusterRegistry _clusters = null!;
    private string? _config;
    private string? _kubeconfig;
    private ClusterProvider _provider;

    /// <summary>The cluster's name (an RFC 1035 label); "e2e" by default. For Existing, the context name is used.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Name { get; set; } = "e2e";

    /// <summary>Local, Kind or Existing; by default $env:E2E_CLUSTER_PROVIDER, else Local.</summary>
    [Parameter]
    public ClusterProvider? Provider { get; set; }

    /// <summary>A kind cluster configuration file (Kind only).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Config { get; set; }

    /// <summary>The kind node image, such as kindest/node:v1.32.0 (Kind only).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? NodeImage { get; set; }

    /// <summary>The kubeconfig to read (Existing only); by default KUBECONFIG or ~/.kube/config.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Kubeconfig { get; set; }

    /// <summary>The context to use (Existing only); by default the current context. "in-cluster" uses the pod's service account (in a CronJob), when no -Kubeconfig is given.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ContextCompleter))]
    public string? Context { get; set; }

    /// <summary>Use an existing context even if it does not look like a test cluster.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Where the SkyTorch Gateway answers (Existing only); by default the API server's host.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? GatewayHost { get; set; }

    /// <summary>The Gateway's gRPC port (Existing only); 50051 by default, as SkyTorch's kind.yaml maps it.</summary>
    [Parameter]
    [ValidateRange(1, 65535)]
    public int GatewayPort { get; set; } = 50051;

    /// <summary>How long to wait for a kind cluster's API server; 300 s by default.</summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public double TimeoutSec { get; set; } = 300;

    protected override void PrepareRecord()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable("E2E_CLUSTER_PROVIDER");
        _provider = Provider ?? (string.IsNullOrEmpty(fromEnvironment) ? ClusterProvider.Local
            : Enum.TryParse<ClusterProvider>(fromEnvironment, ignoreCase: true, out var parsed) ? parsed
            : throw new E2EException(ErrorCatalog.InvalidArgument, $"E2E_CLUSTER_PROVIDER is '{fromEnvironment}'; use Local, Kind or Existing.", fromEnvironment));
        _scope = _provider == ClusterProvider.Existing ? Scopes.Current : Scopes.RequireCurrent("a cluster");
        _clusters = SessionClusters.ForCurrentRunspace();
        if (_provider != ClusterProvider.Existing)
        {
            _clusters.EnsureNameFree(Name);
        }
        _config = Config is null ? null : GetUnresolvedProviderPathFromPSPath(Config);
        _kubeconfig = Kubeconfig is null ? null : GetUnresolvedProviderPathFromPSPath(Kubeconfig);
    }

    protected override async Task ProcessAsync()
    {
        var target = _provider == ClusterProvider.Existing ? $"context {Context ?? "(current)"}" : $"{_provider} cluster {Name}";
        if (!await ShouldProcessAsync(target, _provider == ClusterProvider.Existing ? "Use existing cluster" : "Create cluster").ConfigureAwait(false))
        {
            return;
        }
        E2ECluster cluster;
        switch (_provider)
        {
            case ClusterProvider.Local:
                var directory = _scope!.CreateTempDirectory("cluster");
                cluster = await WithProgressAsync(Activities.Cluster, $"Local cluster {Name}", () => "starting the API server, operator and Gateway",
                    () => E2ECluster.CreateLocalAsync(Name, directory, ModuleFiles.ComputeCrd, null, CancelToken)).ConfigureAwait(false);
                break;
            case ClusterProvider.Kind:
                Verbose($"kind create cluster --name {Name}{(_config is null ? string.Empty : " --config " + _config)}");
                var folder = _scope!.CreateTempDirectory("cluster");
                cluster = await WithProgressAsync(Activities.Cluster, $"kind cluster {Name} (timeout {TimeoutSec:0} s)", () => "kind create cluster",
                    () => E2ECluster.CreateKindAsync(Name, _config, folder, NodeImage, TimeSpan.FromSeconds(TimeoutSec), _scope.ResourceLabels, CancelToken)).ConfigureAwait(false);
                break;
            default:
                cluster = E2ECluster.UseExisting(_kubeconfig, Context, Force, GatewayHost, GatewayPort);
                break;
        }
        _clusters.Add(cluster);
        if (_scope is not null)
        {
            _scope.TrackDisposable(cluster, "Cluster", cluster.ToString());
        }
        Verbose($"Cluster {cluster}; kubeconfig {cluster.KubeconfigPath}");
        Output(cluster);
    }
}

/// <summary>Lists the clusters of this session.</summary>
/// <remarks>
/// <para>Without -Name, every cluster created or connected in this session, oldest first; the last one is what cluster cmdlets use by default.</para>
/// </remarks>
/// <example>
/// <code>Get-E2ECluster | Format-Table Name, Provider, Server, KubeconfigPath</code>
/// <para>Shows where each cluster is and which kubeconfig reaches it.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "E2ECluster")]
[OutputType(typeof(E2ECluster))]
public sealed class GetE2EClusterCommand : E2ECmdlet
{
    /// <summary>The cluster's name; every cluster when omitted.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ClusterNameCompleter))]
    public string? Name { get; set; }

    protected override void Process()
    {
        var clusters = SessionClusters.ForCurrentRunspace();
        WriteObject(Name is null ? clusters.All : new[] { clusters.Get(Name) }, enumerateCollection: true);
    }
}

/// <summary>Deletes a cluster this session created, or lets go of an existing one.</summary>
/// <remarks>
/// <para>Local clusters stop their API server, operator and Gateway; kind clusters are deleted with kind delete cluster; for an existing cluster only the session's connection is closed. Removing the scope that created a cluster does the same.</para>
/// </remarks>
/// <example>
/// <code>Get-E2ECluster skytorch | Remove-E2ECluster</code>
/// <para>Deletes the cluster named skytorch.</para>
/// </example>
[Cmdlet(VerbsCommon.Remove, "E2ECluster", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class RemoveE2EClusterCommand : E2ECmdlet
{
    /// <summary>The cluster to remove.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public E2ECluster? Cluster { get; set; }

    protected override void Process()
    {
        if (ShouldProcess(Cluster!.ToString(), Cluster.Provider == ClusterProvider.Existing ? "Disconnect from cluster" : "Delete cluster"))
        {
            var activity = $"Removing cluster {Cluster.Name}";
            WriteProgress(new ProgressRecord(Activities.Cluster, activity, Cluster.Provider == ClusterProvider.Kind ? "kind delete cluster" : "stopping"));
            Cluster.Dispose();
            WriteProgress(Activities.Completed(Activities.Cluster, activity));
        }
    }
}

/// <summary>Loads local container images into a kind cluster.</summary>
/// <remarks>
/// <para>Runs kind load docker-image for each image, as SkyTorch's CI does with skytorch-operator:test and skytorch-server:test. Only kind clusters take images this way; other providers give an InvalidArgument error.</para>
/// </remarks>
/// <example>
/// <code>Import-E2EImage -Image skytorch-operator:test, skytorch-server:test</code>
/// <para>Makes the locally built images available to the cluster's nodes.</para>
/// </example>
[Cmdlet(VerbsData.Import, "E2EImage", SupportsShouldProcess = true)]
[OutputType(typeof(void))]
public sealed class ImportE2EImageCommand : ClusterCmdletBase
{
    /// <summary>The images to load, such as skytorch-server:test.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNullOrEmpty]
    public string[] Image { get; set; } = Array.Empty<string>();

    protected override async Task ProcessAsync()
    {
        foreach (var image in Image)
        {
            if (await ShouldProcessAsync(image, $"Load image into kind cluster {TargetCluster.Name}").ConfigureAwait(false))
            {
                await WithProgressAsync(Activities.Cluster, $"kind load docker-image {image}", () => $"into {TargetCluster.Name}",
                    () => TargetCluster.ImportImageAsync(image, CancelToken)).ConfigureAwait(false);
                Verbose($"Loaded {image} into {TargetCluster.Name}");
            }
        }
    }
}
