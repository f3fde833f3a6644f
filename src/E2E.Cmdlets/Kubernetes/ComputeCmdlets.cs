using System.Collections;
using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Errors;
using E2E.Core.Grpc;
using E2E.Core.Kubernetes;
using E2E.Core.Scopes;
using E2E.Core.StandIns.Kubernetes;

namespace E2E.Cmdlets.Kubernetes;

/// <summary>Compute cmdlets that take a Compute by name or from the pipeline.</summary>
public abstract class ComputeCmdletBase : ClusterCmdletBase
{
    /// <summary>The Compute's name.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Name", ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ComputeNameCompleter))]
    public string[] Name { get; set; } = Array.Empty<string>();

    /// <summary>A Compute from New-E2ECompute or Get-E2ECompute.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "Compute")]
    [ValidateNotNull]
    public ComputeInfo[] Compute { get; set; } = Array.Empty<ComputeInfo>();

    /// <summary>The namespace of -Name; the context's namespace by default.</summary>
    [Parameter(ParameterSetName = "Name", ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(NamespaceCompleter))]
    public string? Namespace { get; set; }

    /// <summary>The targets of this record: (cluster, namespace, name).</summary>
    protected IReadOnlyList<(E2ECluster Cluster, string Namespace, string Name)> Targets { get; private set; } = Array.Empty<(E2ECluster, string, string)>();

    protected override void PrepareRecord()
    {
        if (ParameterSetName == "Compute")
        {
            var clusters = SessionClusters.ForCurrentRunspace();
            Targets = Compute.Select(c => (clusters.Get(c.Cluster), c.Namespace, c.Name)).ToArray();
            return;
        }
        base.PrepareRecord();
        Targets = Name.Select(n => (TargetCluster, Namespace ?? TargetCluster.Namespace, n)).ToArray();
    }

    /// <summary>Runs <paramref name="work"/> for every target in parallel; failures are written as errors together after all have finished.</summary>
    protected async Task ForEachTargetAsync(Func<E2ECluster, string, string, Task> work)
    {
        var tasks = Targets.Select(async t =>
        {
            try
            {
                await work(t.Cluster, t.Namespace, t.Name).ConfigureAwait(false);
                return null;
            }
            catch (E2EException ex)
            {
                return ex;
            }
        }).ToArray();
        foreach (var failure in (await Task.WhenAll(tasks).ConfigureAwait(false)).OfType<E2EException>())
        {
            Error(failure);
        }
    }
}

/// <summary>Creates a SkyTorch Compute, as the Python client's Compute(...) does.</summary>
/// <remarks>
/// <para>Builds a compute.skytorch.dev/v1alpha1 Compute from the parameters (image, command, args, env, resources used as requests and limits, labels and annotations for the operator's objects, suspend, volumes as volumeClaimTemplates mounted into the server container), checks it before sending (the name must be an RFC 1035 label: InvalidName; the object must match the CRD's schema: KubeResourceInvalid) and server-side applies it with the Python client's field manager. The Compute also carries the scope's run labels, and its removal (with the PVCs the operator leaves) is registered in the scope.</para>
/// <para>With -Wait it returns once Ready (ComputeNotReady on timeout, with conditions and events). Several -Name values create several Computes in parallel. -Simulate sets the local cluster's simulated behaviour (NeverReady, CrashLoop, ImagePullError, HoldFinalizer) to test failure handling.</para>
/// </remarks>
/// <example>
/// <code>$compute = New-E2ECompute -Name test-managed -Image $env:SKYTORCH_TEST_IMAGE -Wait</code>
/// <para>Creates a Compute and waits until it is Ready.</para>
/// </example>
/// <example>
/// <code>New-E2ECompute -Name c1, c2 -Resources @{ cpu = '1'; memory = '2Gi' } -Wait -TimeoutSec 300</code>
/// <para>A pair created and waited in parallel, as the Python client's Cluster(c1, c2) does; all failures are reported together.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "E2ECompute", SupportsShouldProcess = true)]
[OutputType(typeof(ComputeInfo))]
public sealed class NewE2EComputeCommand : ClusterCmdletBase
{
    private E2EScope? _scope;

    /// <summary>The Compute's name (an RFC 1035 label); several names create several Computes in parallel.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[] Name { get; set; } = Array.Empty<string>();

    /// <summary>The server image; $env:SKYTORCH_TEST_IMAGE, else ghcr.io/astefanutti/skytorch-server by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Image { get; set; }

    /// <summary>The container command.</summary>
    [Parameter]
    public string[]? Command { get; set; }

    /// <summary>The container arguments.</summary>
    [Parameter]
    public string[]? Arguments { get; set; }

    /// <summary>Environment variables (name = value).</summary>
    [Parameter]
    public Hashtable? Env { get; set; }

    /// <summary>Resources such as @{ cpu = '1'; memory = '2Gi'; 'nvidia.com/gpu' = '1' }, used as requests and limits.</summary>
    [Parameter]
    public Hashtable? Resources { get; set; }

    /// <summary>Labels the operator copies onto its StatefulSet, Service, GRPCRoute and pods.</summary>
    [Parameter]
    public Hashtable? Label { get; set; }

    /// <summary>Annotations the operator copies onto its objects.</summary>
    [Parameter]
    public Hashtable? Annotation { get; set; }

    /// <summary>Create the Compute suspended (no pod).</summary>
    [Parameter]
    public SwitchParameter Suspend { get; set; }

    /// <summary>Volumes as @{ name = 'data'; storage = '1Gi'; path = '/data' }.</summary>
    [Parameter]
    public Hashtable[]? Volume { get; set; }

    /// <summary>The namespace; the context's namespace by default.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(NamespaceCompleter))]
    public string? Namespace { get; set; }

    /// <summary>Wait until Ready before returning.</summary>
    [Parameter]
    public SwitchParameter Wait { get; set; }

    /// <summary>How long -Wait waits; 60 s by default (the Python client's ready() default).</summary>
    [Parameter]
    [ValidateRange(0.001, 86400)]
    public double TimeoutSec { get; set; } = 60;

    /// <summary>A simulated failure on a Local cluster: NeverReady, CrashLoop, ImagePullError or HoldFinalizer.</summary>
    [Parameter]
    [ValidateSet("NeverReady", "CrashLoop", "ImagePullError", "HoldFinalizer")]
    public string? Simulate { get; set; }

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        _scope = Scopes.RequireCurrent("a Compute");
        if (Simulate is not null && TargetCluster.Provider != ClusterProvider.Local)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, $"-Simulate works only on a Local cluster; '{TargetCluster.Name}' is {TargetCluster.Provider}.", Simulate);
        }
    }

    protected override async Task ProcessAsync()
    {
        var cluster = TargetCluster;
        var schema = Computes.LoadSchema(ModuleFiles.ComputeCrd);
        var image = Image ?? (Environment.GetEnvironmentVariable("SKYTORCH_TEST_IMAGE") is { Length: > 0 } fromEnvironment ? fromEnvironment : "ghcr.io/astefanutti/skytorch-server");
        var objects = Name.Select(name => Computes.Validate(new ComputeDefinition
        {
            Name = name,
            Namespace = Namespace,
            Image = image,
            Command = Command,
            Args = Arguments,
            Env = Map(Env, nameof(Env)),
            Resources = Map(Resources, nameof(Resources)),
            Labels = Map(Label, nameof(Label)),
            Annotations = Map(Annotation, nameof(Annotation)),
            Suspend = Suspend,
            Volumes = Volume?.Select(ToVolume).ToArray(),
            MetadataLabels = _scope!.ResourceLabels,
            MetadataAnnotations = Simulate is null ? null : new Dictionary<string, string> { [SkyTorchSimulator.BehaviourAnnotation] = Simulate },
        }, cluster.Namespace, schema)).ToArray();
        var wanted = new List<System.Text.Json.Nodes.JsonObject>();
        foreach (var o in objects)
        {
            if (await ShouldProcessAsync($"Compute {KubeObjects.Namespace(o)}/{KubeObjects.Name(o)}", $"Create in cluster {cluster.Name}").ConfigureAwait(false))
            {
                wanted.Add(o);
            }
        }
        var results = await Task.WhenAll(wanted.Select(async o =>
        {
            var ns = KubeObjects.Namespace(o)!;
            var name = KubeObjects.Name(o);
            try
            {
                // Registered before the apply: a Ctrl-C after the server stored it must not leave it behind (removing an absent Compute does nothing).
                _scope!.Register("Compute", $"Compute {ns}/{name} on {cluster.Name}", context =>
                {
                    if (!cluster.IsDisposed)
                    {
                        Computes.RemoveAsync(cluster.Client, ns, name, TimeSpan.FromSeconds(60), removeClaims: true, null, context.Cancellation).GetAwaiter().GetResult();
                    }
                });
                var applied = await Computes.ApplyAsync(cluster.Client, o, CancelToken).ConfigureAwait(false);
                if (Wait)
                {
                    var state = "created";
                    applied = await WithProgressAsync(Activities.Compute + wanted.IndexOf(o), $"Compute {ns}/{name}: waiting for Ready (timeout {TimeoutSec:0.#} s)", () => state,
                        () => Computes.WaitReadyAsync(cluster.Client, ns, name, TimeSpan.FromSeconds(TimeoutSec), CancelToken, observed: s => state = s)).ConfigureAwait(false);
                }
                return (Info: ComputeInfo.From(applied, cluster.Name), Error: (E2EException?)null);
            }
            catch (E2EException ex)
            {
                return (Info: (ComputeInfo?)null, Error: ex);
            }
        })).ConfigureAwait(false);
        foreach (var (info, error) in results)
        {
            if (error is not null)
            {
                Error(error);
            }
            else
            {
                Output(info);
            }
        }
    }

    private static IReadOnlyDictionary<string, string>? Map(Hashtable? table, string parameter)
    {
        if (table is null)
        {
            return null;
        }
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in table)
        {
            var key = entry.Key?.ToString();
            if (string.IsNullOrEmpty(key))
            {
                throw new E2EException(ErrorCatalog.InvalidArgument, $"-{parameter} has an empty key.", parameter);
            }
            map[key] = LanguagePrimitives.ConvertTo<string>(entry.Value) ?? string.Empty;
        }
        return map;
    }

    private static ComputeVolume ToVolume(Hashtable table)
    {
        string Get(string key) => table[key]?.ToString() is { Length: > 0 } value ? value
            : throw new E2EException(ErrorCatalog.InvalidArgument, $"Each -Volume needs name, storage and path; '{key}' is missing.", key);
        return new ComputeVolume(Get("name"), Get("storage"), Get("path"));
    }
}

/// <summary>Gets Computes with their state.</summary>
/// <remarks>
/// <para>Each Compute shows its state (Pending, Ready, NotReady, Suspended, Deleting), the Ready condition's reason and message, its address and image; Object holds the whole resource. Without -Name, every Compute in the namespace (-AllNamespaces for all). A name that does not exist is a KubeResourceNotFound error.</para>
/// </remarks>
/// <example>
/// <code>Get-E2ECompute | Format-Table Name, State, Reason, Address</code>
/// <para>Lists the namespace's Computes.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "E2ECompute")]
[OutputType(typeof(ComputeInfo))]
public sealed class GetE2EComputeCommand : ClusterCmdletBase
{
    /// <summary>The Compute's name; every Compute when omitted.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ComputeNameCompleter))]
    public string? Name { get; set; }

    /// <summary>The namespace; the context's namespace by default.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(NamespaceCompleter))]
    public string? Namespace { get; set; }

    /// <summary>List Computes in every namespace.</summary>
    [Parameter]
    public SwitchParameter AllNamespaces { get; set; }

    /// <summary>Only Computes whose labels match this selector (a=b, a in (x,y), !a).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Selector { get; set; }

    protected override async Task ProcessAsync()
    {
        var client = TargetCluster.Client;
        var ns = AllNamespaces ? string.Empty : Namespace ?? client.DefaultNamespace;
        if (Name is not null)
        {
            var o = await Computes.GetAsync(client, ns.Length == 0 ? client.DefaultNamespace : ns, Name, CancelToken).ConfigureAwait(false);
            Output(ComputeInfo.From(o, TargetCluster.Name));
            return;
        }
        var computes = await Computes.ResourceAsync(client, CancelToken).ConfigureAwait(false);
        foreach (var o in (await client.ListAsync(computes, ns, Selector, cancellation: CancelToken).ConfigureAwait(false)).Items)
        {
            Output(ComputeInfo.From(o, TargetCluster.Name));
        }
    }
}

/// <summary>Waits until Computes are Ready.</summary>
/// <remarks>
/// <para>Driven by a watch on the Compute (fieldSelector metadata.name), as the Python client's ready(): it returns as soon as Ready=True arrives. On timeout, or if the Compute is deleted while waited for, the error is ComputeNotReady (OperationTimeout) with the last conditions and recent events of its pods. Several Computes are waited in parallel and all failures are reported together.</para>
/// </remarks>
/// <example>
/// <code>Get-E2ECompute | Wait-E2ECompute -TimeoutSec 300</code>
/// <para>Waits for every Compute of the namespace.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Wait, "E2ECompute", DefaultParameterSetName = "Name")]
[OutputType(typeof(ComputeInfo))]
public sealed class WaitE2EComputeCommand : ComputeCmdletBase
{
    /// <summary>How long to wait; 60 s by default.</summary>
    [Parameter]
    [ValidateRange(0.001, 86400)]
    public double TimeoutSec { get; set; } = 60;

    protected override Task ProcessAsync() => ForEachTargetAsync(async (cluster, ns, name) =>
    {
        var state = "watching";
        var ready = await WithProgressAsync(Activities.Compute, $"Compute {ns}/{name}: waiting for Ready (timeout {TimeoutSec:0.#} s)", () => state,
            () => Computes.WaitReadyAsync(cluster.Client, ns, name, TimeSpan.FromSeconds(TimeoutSec), CancelToken, observed: s => state = s)).ConfigureAwait(false);
        Output(ComputeInfo.From(ready, cluster.Name));
    });
}

/// <summary>Suspends Computes (spec.suspend = true: the operator scales them to zero).</summary>
/// <remarks>
/// <para>Patches spec.suspend. The operator then removes the pod and reports Suspended=True (reason Suspended). Use -PassThru to get the Compute back.</para>
/// </remarks>
/// <example>
/// <code>Suspend-E2ECompute test-managed -PassThru</code>
/// <para>Suspends one Compute.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Suspend, "E2ECompute", SupportsShouldProcess = true, DefaultParameterSetName = "Name")]
[OutputType(typeof(ComputeInfo))]
public sealed class SuspendE2EComputeCommand : SuspensionCmdletBase
{
    protected override bool Suspend => true;
}

/// <summary>Resumes suspended Computes (spec.suspend = false).</summary>
/// <remarks>
/// <para>Patches spec.suspend. The operator starts the pod again and reports Suspended=False (reason Resumed); follow with Wait-E2ECompute.</para>
/// </remarks>
/// <example>
/// <code>Resume-E2ECompute test-managed -PassThru | Wait-E2ECompute</code>
/// <para>Resumes a Compute and waits until it is Ready again.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Resume, "E2ECompute", SupportsShouldProcess = true, DefaultParameterSetName = "Name")]
[OutputType(typeof(ComputeInfo))]
public sealed class ResumeE2EComputeCommand : SuspensionCmdletBase
{
    protected override bool Suspend => false;
}

/// <summary>Suspend-E2ECompute and Resume-E2ECompute: the same patch of spec.suspend, either way.</summary>
public abstract class SuspensionCmdletBase : ComputeCmdletBase
{
    /// <summary>Output the patched Compute.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected abstract bool Suspend { get; }

    protected override Task ProcessAsync() => ForEachTargetAsync(async (cluster, ns, name) =>
    {
        if (await ShouldProcessAsync($"Compute {ns}/{name}", Suspend ? "Suspend" : "Resume").ConfigureAwait(false))
        {
            var patched = await Computes.SetSuspendedAsync(cluster.Client, ns, name, Suspend, CancelToken).ConfigureAwait(false);
            if (PassThru)
            {
                Output(ComputeInfo.From(patched, cluster.Name));
            }
        }
    });
}

/// <summary>Deletes Computes and waits until they are gone, with the PVCs the operator leaves.</summary>
/// <remarks>
/// <para>Deletes each Compute (background propagation: the operator's StatefulSet, Service, GRPCRoute and pods go by garbage collection), waits until it is gone, then deletes the PersistentVolumeClaims made from its volumeClaimTemplates, which nothing owns (-KeepClaims keeps them). A deletion still held after -TimeoutSec is DeletionBlocked, and the message names the finalizers and the owner chain; -RemoveFinalizers clears them (as kubectl patch would) when their controller is gone. Computes that do not exist are skipped. Several Computes are removed in parallel; failures are reported together.</para>
/// </remarks>
/// <example>
/// <code>Get-E2ECompute | Remove-E2ECompute -Confirm:$false</code>
/// <para>Removes every Compute of the namespace.</para>
/// </example>
[Cmdlet(VerbsCommon.Remove, "E2ECompute", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = "Name")]
[OutputType(typeof(void))]
public sealed class RemoveE2EComputeCommand : ComputeCmdletBase
{
    /// <summary>Keep the PVCs made from volumeClaimTemplates.</summary>
    [Parameter]
    public SwitchParameter KeepClaims { get; set; }

    /// <summary>How long to wait for each Compute to be gone; 60 s by default.</summary>
    [Parameter]
    [ValidateRange(0.001, 86400)]
    public double TimeoutSec { get; set; } = 60;

    /// <summary>Clear the Compute's finalizers after requesting deletion (for a Compute whose finalizer's controller is gone).</summary>
    [Parameter]
    public SwitchParameter RemoveFinalizers { get; set; }

    /// <summary>The grace period for the deletion, in seconds (the Python client's delete() uses 30).</summary>
    [Parameter]
    [ValidateRange(0, 86400)]
    public long? GracePeriodSec { get; set; }

    protected override Task ProcessAsync() => ForEachTargetAsync(async (cluster, ns, name) =>
    {
        if (await ShouldProcessAsync($"Compute {ns}/{name}", $"Delete from cluster {cluster.Name}").ConfigureAwait(false))
        {
            var claims = await WithProgressAsync(Activities.Compute, $"Compute {ns}/{name}: deleting and waiting until gone (timeout {TimeoutSec:0.#} s)", () => "deleting",
                () => Computes.RemoveAsync(cluster.Client, ns, name, TimeSpan.FromSeconds(TimeoutSec), !KeepClaims, GracePeriodSec, CancelToken, RemoveFinalizers)).ConfigureAwait(false);
            Verbose($"Removed Compute {ns}/{name}{(claims.Count > 0 ? " and PVCs " + string.Join(", ", claims) : string.Empty)}");
        }
    });
}

/// <summary>Gets the gRPC endpoint of Computes, as the Python client finds it.</summary>
/// <remarks>
/// <para>The host is status.addresses[0].value (localhost when there is none), the port is 50051 (the cluster's Gateway port: 50051 on kind, a free port on the local cluster; -Port overrides it), and every call must carry the header compute-id: namespace/name, by which the Gateway's GRPCRoute picks the Compute.</para>
/// </remarks>
/// <example>
/// <code>Get-E2ECompute test-managed | Get-E2EComputeEndpoint</code>
/// <para>Shows the URL and the compute-id header.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "E2EComputeEndpoint", DefaultParameterSetName = "Name")]
[OutputType(typeof(ComputeEndpoint))]
public sealed class GetE2EComputeEndpointCommand : ComputeCmdletBase
{
    /// <summary>The gRPC port; the cluster's Gateway port by default.</summary>
    [Parameter]
    [ValidateRange(1, 65535)]
    public int? Port { get; set; }

    protected override Task ProcessAsync() => ForEachTargetAsync(async (cluster, ns, name) =>
    {
        var o = await Computes.GetAsync(cluster.Client, ns, name, CancelToken).ConfigureAwait(false);
        Output(Computes.Endpoint(o, Port ?? cluster.GatewayPort));
    });
}

/// <summary>Checks that Computes answer gRPC health checks through the Gateway.</summary>
/// <remarks>
/// <para>Calls grpc.health.v1.Health/Check for -Service (skytorch.torch.Service, the service the operator's readiness probe checks) at the Compute's endpoint over HTTP/2 with the compute-id header. Returns the result (Status Serving, NotServing, ServiceUnknown; elapsed time); a transport failure or a gRPC error status (UNAVAILABLE from the Gateway while the Compute is not ready, UNIMPLEMENTED when no route matches) is GrpcCallFailed; no answer within -TimeoutSec is GrpcDeadlineExceeded, UNAUTHENTICATED or PERMISSION_DENIED is GrpcPermissionDenied. -Quiet returns only $true or $false.</para>
/// </remarks>
/// <example>
/// <code>Get-E2ECompute test-managed | Test-E2ECompute -Quiet | Should -BeTrue</code>
/// <para>Asserts that the Compute serves.</para>
/// </example>
[Cmdlet(VerbsDiagnostic.Test, "E2ECompute", DefaultParameterSetName = "Name")]
[OutputType(typeof(HealthCheckResult), typeof(bool))]
public sealed class TestE2EComputeCommand : ComputeCmdletBase
{
    /// <summary>The gRPC service to check; skytorch.torch.Service by default ("" checks the server as a whole).</summary>
    [Parameter]
    [AllowEmptyString]
    public string Service { get; set; } = Computes.HealthService;

    /// <summary>The gRPC port; the cluster's Gateway port by default.</summary>
    [Parameter]
    [ValidateRange(1, 65535)]
    public int? Port { get; set; }

    /// <summary>How long the call may take; 10 s by default.</summary>
    [Parameter]
    [ValidateRange(0.001, 3600)]
    public double TimeoutSec { get; set; } = 10;

    /// <summary>Return only whether the service is serving.</summary>
    [Parameter]
    public SwitchParameter Quiet { get; set; }

    protected override Task ProcessAsync() => ForEachTargetAsync(async (cluster, ns, name) =>
    {
        var o = await Computes.GetAsync(cluster.Client, ns, name, CancelToken).ConfigureAwait(false);
        var endpoint = Computes.Endpoint(o, Port ?? cluster.GatewayPort);
        if (Quiet)
        {
            try
            {
                Output((await Computes.CheckHealthAsync(endpoint, Service, TimeSpan.FromSeconds(TimeoutSec), CancelToken).ConfigureAwait(false)).Healthy);
            }
            catch (E2EException ex) when (ex.Error == ErrorCatalog.GrpcCallFailed || ex.Error == ErrorCatalog.GrpcDeadlineExceeded || ex.Error == ErrorCatalog.GrpcPermissionDenied)
            {
                Verbose(ex.Message);
                Output(false);
            }
            return;
        }
        Output(await Computes.CheckHealthAsync(endpoint, Service, TimeSpan.FromSeconds(TimeoutSec), CancelToken).ConfigureAwait(false));
    });
}
