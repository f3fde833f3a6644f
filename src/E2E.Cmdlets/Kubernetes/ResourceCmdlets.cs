using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Artifacts;
using E2E.Core.Errors;
using E2E.Core.Kubernetes;

namespace E2E.Cmdlets.Kubernetes;

/// <summary>Applies manifests to a cluster with server-side apply.</summary>
/// <remarks>
/// <para>-Path takes files and folders (every .yaml, .yml and .json in name order, kustomization files skipped); each file may hold several documents or a List. With -Kustomize each path is a kustomize directory built with kubectl kustomize. Every document is read and checked (apiVersion, kind, metadata.name) before the first is sent, so a broken file changes nothing (ManifestInvalid).</para>
/// <para>CustomResourceDefinitions and Namespaces are applied first and CRDs are waited Established before any other object is sent. Objects without a namespace go to -Namespace when given, else the context's namespace. Apply uses -FieldManager ("e2e") with force, as kubectl apply --server-side --force-conflicts.</para>
/// </remarks>
/// <example>
/// <code>Install-E2EManifest -Path ./config/e2e -Kustomize</code>
/// <para>Builds SkyTorch's e2e configuration and applies it.</para>
/// </example>
/// <example>
/// <code>Install-E2EManifest ./deploy/crds, ./deploy/operator.yaml -Namespace skytorch-system</code>
/// <para>Applies a folder of CRDs and a multi-document file.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Install, "E2EManifest", SupportsShouldProcess = true)]
[OutputType(typeof(AppliedObject))]
public sealed class InstallE2EManifestCommand : ClusterCmdletBase
{
    private readonly List<string> _paths = new();

    /// <summary>Manifest files or folders (or kustomize directories with -Kustomize).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    /// <summary>Treat each path as a kustomize directory (kubectl kustomize).</summary>
    [Parameter]
    public SwitchParameter Kustomize { get; set; }

    /// <summary>The namespace for namespaced objects that name none.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(NamespaceCompleter))]
    public string? Namespace { get; set; }

    /// <summary>The server-side apply field manager; "e2e" by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string FieldManager { get; set; } = "e2e";

    /// <summary>How long to wait for each CRD to become Established; 60 s by default.</summary>
    [Parameter]
    [ValidateRange(0.001, 3600)]
    public double TimeoutSec { get; set; } = 60;

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        _paths.AddRange(Path.Select(GetUnresolvedProviderPathFromPSPath));
    }

    protected override async Task EndAsync()
    {
        var documents = await Manifests.ReadAsync(_paths, Kustomize, CancelToken).ConfigureAwait(false);
        if (!await ShouldProcessAsync($"{documents.Count} object(s) from {string.Join(", ", _paths)}", $"Apply to cluster {TargetCluster.Name}").ConfigureAwait(false))
        {
            return;
        }
        var step = $"applying {documents.Count} object(s)";
        var applied = await WithProgressAsync(Activities.Install, $"Install {string.Join(", ", _paths.Select(System.IO.Path.GetFileName))} on {TargetCluster.Name}", () => step,
            () => Manifests.ApplyAsync(TargetCluster.Client, documents, Namespace, FieldManager, TimeSpan.FromSeconds(TimeoutSec), message => { step = message; Verbose(message); }, CancelToken)).ConfigureAwait(false);
        foreach (var item in applied)
        {
            Output(item);
        }
    }
}

/// <summary>Waits until a Kubernetes object meets a condition, driven by a watch.</summary>
/// <remarks>
/// <para>-For takes kubectl wait's forms: condition=Ready (or condition=Ready=False), jsonpath={.status.phase}=Running, jsonpath={.status.addresses[0].value} (any value), create and delete. The wait lists the object and then watches it, so it returns as soon as the change arrives rather than at the next poll; it resumes after dropped connections and relists after 410 Gone.</para>
/// <para>On timeout the error is WaitTimedOut (OperationTimeout) and its message shows the last observed conditions and the object's recent events. The object is returned (nothing for delete).</para>
/// </remarks>
/// <example>
/// <code>Wait-E2EResource deployment/skytorch-operator -Namespace skytorch-system -For condition=Available -TimeoutSec 60
/// Wait-E2EResource gateway/skytorch-gateway -Namespace skytorch-system -For condition=Programmed</code>
/// <para>The waits SkyTorch's CI does before running tests.</para>
/// </example>
/// <example>
/// <code>Wait-E2EResource crd/computes.compute.skytorch.dev -For condition=Established</code>
/// <para>Waits for a CRD, named as kubectl names resources (kind, plural, short name, with or without group).</para>
/// </example>
[Cmdlet(VerbsLifecycle.Wait, "E2EResource")]
[OutputType(typeof(KubeResourceInfo))]
public sealed class WaitE2EResourceCommand : ClusterCmdletBase
{
    /// <summary>The object as kind/name (deployment/x, compute/x, crd/computes.compute.skytorch.dev).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ResourceCompleter))]
    public string? Resource { get; set; }

    /// <summary>The condition: condition=Type[=Status], jsonpath={path}[=value], create or delete.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string? For { get; set; }

    /// <summary>The namespace; the context's namespace by default.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(NamespaceCompleter))]
    public string? Namespace { get; set; }

    /// <summary>How long to wait; 60 s by default.</summary>
    [Parameter]
    [ValidateRange(0.001, 86400)]
    public double TimeoutSec { get; set; } = 60;

    protected override async Task ProcessAsync()
    {
        var condition = WaitCondition.Parse(For!);
        var client = TargetCluster.Client;
        var (resource, ns, name) = await ResolveKindNameAsync(client, Resource!, Namespace).ConfigureAwait(false);
        var state = "watching";
        var o = await WithProgressAsync(Activities.Wait, $"Waiting for {Resource} {For} (timeout {TimeoutSec:0.#} s)", () => state,
            () => ResourceWaiter.WaitAsync(client, resource, ns, name, condition, TimeSpan.FromSeconds(TimeoutSec), CancelToken, observed: s => state = s)).ConfigureAwait(false);
        if (o is not null)
        {
            Output(KubeResourceInfo.From(o));
        }
    }
}

/// <summary>Gets the events about a resource and its pods, oldest first.</summary>
/// <remarks>
/// <para>For -Resource kind/name, or a Compute from the pipeline: the core/v1 Events whose involved object is that object or one of its StatefulSet pods (name-0, name-1, ...), the events the Python client's on_events handler receives. Each has Type (Normal or Warning), Reason, Message, the object, Count and LastTimestamp. -Type keeps only Normal or Warning events; -Last keeps the newest N.</para>
/// </remarks>
/// <example>
/// <code>Get-E2ECompute test-events | Get-E2EEvent | Where-Object Reason -EQ 'Started' | Should -Not -BeNullOrEmpty</code>
/// <para>Asserts that the Compute's pod started.</para>
/// </example>
/// <example>
/// <code>Get-E2EEvent -Resource compute/stuck -Type Warning</code>
/// <para>Shows what went wrong with a Compute's pods.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "E2EEvent", DefaultParameterSetName = "Resource")]
[OutputType(typeof(KubeEvent))]
public sealed class GetE2EEventCommand : ClusterCmdletBase
{
    /// <summary>The object as kind/name; its pods' events are included.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Resource")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ResourceCompleter))]
    public string? Resource { get; set; }

    /// <summary>A Compute from Get-E2ECompute or New-E2ECompute.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "Compute")]
    [ValidateNotNull]
    public ComputeInfo? Compute { get; set; }

    /// <summary>The namespace of -Resource; the context's namespace by default.</summary>
    [Parameter(ParameterSetName = "Resource", ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(NamespaceCompleter))]
    public string? Namespace { get; set; }

    /// <summary>Only Normal or only Warning events.</summary>
    [Parameter]
    [ValidateSet("Normal", "Warning")]
    public string? Type { get; set; }

    /// <summary>Only the newest N events.</summary>
    [Parameter]
    [ValidateRange(1, 10000)]
    public int Last { get; set; } = 1000;

    protected override void PrepareRecord() =>
        TargetCluster = Compute is null ? ResolveCluster(Cluster) : SessionClusters.ForCurrentRunspace().Get(Compute.Cluster);

    protected override async Task ProcessAsync()
    {
        var client = TargetCluster.Client;
        string? ns;
        string name;
        if (Compute is not null)
        {
            (ns, name) = (Compute.Namespace, Compute.Name);
        }
        else
        {
            (_, ns, name) = await ResolveKindNameAsync(client, Resource!, Namespace).ConfigureAwait(false);
        }
        var events = await Diagnostics.EventsAsync(client, ns, new[] { name }, int.MaxValue, CancelToken).ConfigureAwait(false);
        foreach (var e in events.Where(e => Type is null || string.Equals(e.Type, Type, StringComparison.OrdinalIgnoreCase)).TakeLast(Last))
        {
            Output(e);
        }
    }
}

/// <summary>Collects diagnostics for a resource or a namespace and saves them as files.</summary>
/// <remarks>
/// <para>For a resource (-Resource kind/name, or a Compute from the pipeline): the object, its conditions, finalizers and owner chain, the events of the object and of its pods, pod and container statuses, and container logs including the previous instance's. For -Namespace: every pod with its logs, every event and every Compute. The summary names the likely causes (a crash loop, an image pull error, a deletion held by a finalizer and its owner).</para>
/// <para>Files go to -OutputPath, else into the artifacts folder of the test ($env:E2E_EXPORT_TEST_ARTIFACTS/suite/test/diagnostics, as Export-E2EArtifact). With -OnFailure the cmdlet does nothing unless the current Pester test has failed, so it can sit in an AfterEach block: that is the suite's failure hook. Collection problems are warnings; they never replace the test's own failure.</para>
/// </remarks>
/// <example>
/// <code>AfterEach { Get-E2EDiagnostic -Namespace default -Suite skytorch -OnFailure }</code>
/// <para>Saves the namespace's diagnostics for every failed test, and only then.</para>
/// </example>
/// <example>
/// <code>Get-E2ECompute test-managed | Get-E2EDiagnostic -OutputPath ./diag</code>
/// <para>Collects everything about one Compute into ./diag and returns the report.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "E2EDiagnostic", DefaultParameterSetName = "Namespace")]
[OutputType(typeof(DiagnosticReport))]
public sealed class GetE2EDiagnosticCommand : ClusterCmdletBase
{
    private bool _skip;
    private string? _outputPath;
    private string? _test;

    /// <summary>The object as kind/name.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Resource")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ResourceCompleter))]
    public string? Resource { get; set; }

    /// <summary>A Compute from Get-E2ECompute or New-E2ECompute.</summary>
    [Parameter(Mandatory = true, ValueFromPipeline = true, ParameterSetName = "Compute")]
    [ValidateNotNull]
    public ComputeInfo? Compute { get; set; }

    /// <summary>With -Resource, the object's namespace; alone, collect the whole namespace.</summary>
    [Parameter(ParameterSetName = "Resource", ValueFromPipelineByPropertyName = true)]
    [Parameter(Mandatory = true, ParameterSetName = "Namespace", ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(NamespaceCompleter))]
    public string? Namespace { get; set; }

    /// <summary>Where to write the files; by default the test's artifacts folder.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? OutputPath { get; set; }

    /// <summary>The suite name for the artifacts folder; "e2e" by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Suite { get; set; } = "e2e";

    /// <summary>The test name for the artifacts folder; the running Pester test by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Test { get; set; }

    /// <summary>Collect only if the current Pester test has failed.</summary>
    [Parameter]
    public SwitchParameter OnFailure { get; set; }

    protected override void PrepareRecord()
    {
        _skip = OnFailure && !PesterTestFailed();
        if (_skip)
        {
            return;
        }
        TargetCluster = Compute is null ? ResolveCluster(Cluster) : SessionClusters.ForCurrentRunspace().Get(Compute.Cluster);
        _outputPath = OutputPath is null ? null : GetUnresolvedProviderPathFromPSPath(OutputPath);
        _test = Test ?? PesterTestName() ?? "manual";
    }

    protected override async Task ProcessAsync()
    {
        if (_skip)
        {
            return;
        }
        var client = TargetCluster.Client;
        DiagnosticReport report;
        try
        {
            if (Compute is not null)
            {
                report = await Diagnostics.CollectAsync(client, await Computes.ResourceAsync(client, CancelToken).ConfigureAwait(false), Compute.Namespace, Compute.Name, CancelToken).ConfigureAwait(false);
            }
            else if (Resource is not null)
            {
                var (resource, ns, name) = await ResolveKindNameAsync(client, Resource, Namespace).ConfigureAwait(false);
                report = await Diagnostics.CollectAsync(client, resource, ns, name, CancelToken).ConfigureAwait(false);
            }
            else
            {
                report = await Diagnostics.CollectNamespaceAsync(client, Namespace!, CancelToken).ConfigureAwait(false);
            }
        }
        catch (E2EException ex) when (OnFailure)
        {
            // In a failure hook, a collection problem must not mask the test's own failure.
            Warning($"[{ex.Error.Id}] Diagnostics could not be collected: {ex.Message}");
            return;
        }
        var directory = _outputPath;
        if (directory is null)
        {
            var settings = ArtifactExportSettings.FromEnvironment(Environment.GetEnvironmentVariable);
            if (settings.ExportRoot is null)
            {
                Warning($"[{ErrorCatalog.ArtifactExportDirMissing.Id}] ${ArtifactExportSettings.ExportDirVariable} is not set; diagnostics were collected but not saved (use -OutputPath).");
                Output(report);
                return;
            }
            directory = System.IO.Path.Combine(ArtifactExporter.DestinationFor(settings.ExportRoot, Suite, _test!), "diagnostics");
        }
        foreach (var file in report.WriteTo(directory))
        {
            Verbose($"Wrote {file}");
        }
        Output(report);
    }
}

/// <summary>Lists what earlier test runs left behind, without removing anything.</summary>
/// <remarks>
/// <para>Finds what Remove-E2EOrphan would remove: Computes, PersistentVolumeClaims and Namespaces carrying the e2e.dev/run-id label whose e2e.dev/expires time has passed, kind clusters whose marker has expired, temp roots of runs that are dead (their markers' pid and start time; Unfinished lists the cleanups their ledger says never ran or failed), and processes the module started for a session that is gone (every such process carries its session's pid and start time in E2E_OWNER). Where a Docker engine is configured ($DOCKER_HOST or the local socket), containers, networks and images carrying a run label are listed too (a dead session's at once). -IncludeUnexpired lists objects whose time has not come too; -NoCluster, or no cluster in the session, looks only at local leftovers, kind markers and the Docker engine.</para>
/// </remarks>
/// <example>
/// <code>Get-E2EOrphan -NoCluster | Format-Table Kind, Name, RunId, ExpiresAt</code>
/// <para>What a scheduled sweep would remove on this machine.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "E2EOrphan")]
[OutputType(typeof(Orphan))]
public sealed class GetE2EOrphanCommand : OrphanCmdletBase
{
    protected override async Task ProcessAsync()
    {
        foreach (var orphan in await FindAsync().ConfigureAwait(false))
        {
            Output(orphan);
        }
    }
}

/// <summary>What finds the leftovers of earlier runs, shared by Get-E2EOrphan and Remove-E2EOrphan.</summary>
public abstract class OrphanCmdletBase : ClusterCmdletBase
{
    /// <summary>Only leftovers of this run id (e2e-xxxxxxxxxx).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? RunId { get; set; }

    /// <summary>Also take objects whose expiry has not passed (use with -RunId).</summary>
    [Parameter]
    public SwitchParameter IncludeUnexpired { get; set; }

    /// <summary>Only local leftovers and kind cluster markers, without a cluster connection.</summary>
    [Parameter]
    public SwitchParameter NoCluster { get; set; }

    private bool _withoutCluster;

    protected override void PrepareRecord()
    {
        // No cluster given and none in this session: the local and Docker leftovers are still worth a sweep.
        _withoutCluster = NoCluster || (Cluster is null && SessionClusters.ForCurrentRunspace().Current is null);
        if (!_withoutCluster)
        {
            base.PrepareRecord();
        }
        else if (!NoCluster)
        {
            WriteVerbose("No cluster in this session: looking at local leftovers, kind markers and the Docker engine only.");
        }
    }

    /// <summary>The cluster's client, or null with -NoCluster or without a cluster in the session.</summary>
    protected KubeClient? Client => _withoutCluster ? null : TargetCluster.Client;

    /// <summary>The leftovers found now: expired ones, or all with -IncludeUnexpired.</summary>
    protected async Task<IReadOnlyList<Orphan>> FindAsync()
    {
        var now = DateTimeOffset.UtcNow;
        return (await OrphanSweeper.FindAsync(Client, RunId, CancelToken).ConfigureAwait(false)).Where(o => IncludeUnexpired || o.IsExpired(now)).ToArray();
    }
}

/// <summary>Removes what earlier test runs left behind, found by their run labels.</summary>
/// <remarks>
/// <para>Every Compute, PersistentVolumeClaim and Namespace carrying the e2e.dev/run-id label whose e2e.dev/expires time has passed is removed (the labels every scope stamps on what it creates), and every kind cluster whose marker file has expired is deleted. Temp roots that runs now dead left behind (kill -9, an OOM kill; found by their markers' pid and start time) are removed too, and processes the module started for a session that is gone are killed (found by the E2E_OWNER tag in their environment, set before they start and inherited by their children); a live session's never are. Where a Docker engine is configured ($DOCKER_HOST or the local socket), containers, networks and images carrying a run label (Petals nodes, stacks and the images they built on the Docker runtime) are removed when expired, and at once when the session that made them is gone; without a cluster in the session (or with -NoCluster) only these and the local leftovers are swept. Cleanups that a dead run's ledger says never ran or failed are written as warnings. -RunId limits the sweep to one run; -IncludeUnexpired also takes objects whose time has not come (use with -RunId). Each removal asks for confirmation (ConfirmImpact High); -Force skips the prompt, -WhatIf lists what would go.</para>
/// </remarks>
/// <example>
/// <code>Remove-E2EOrphan -WhatIf</code>
/// <para>Lists expired leftovers without removing them.</para>
/// </example>
/// <example>
/// <code>Remove-E2EOrphan -Force -PassThru | Format-Table Kind, Namespace, Name, RunId</code>
/// <para>The scheduled clean-up: removes all expired leftovers and shows them.</para>
/// </example>
[Cmdlet(VerbsCommon.Remove, "E2EOrphan", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(Orphan))]
public sealed class RemoveE2EOrphanCommand : OrphanCmdletBase
{
    private IReadOnlyList<Orphan> _found = Array.Empty<Orphan>();
    private readonly List<Orphan> _confirmed = new();

    /// <summary>Skip the confirmation prompt (-WhatIf still only reports).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Output each removed orphan.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        // Found and confirmed on the pipeline thread: ShouldProcess prompts there.
        _found = FindAsync().GetAwaiter().GetResult();
        _confirmed.Clear();
        foreach (var orphan in _found)
        {
            if (ShouldProcessUnlessForced(Force, orphan.ToString(), "Remove leftover"))
            {
                _confirmed.Add(orphan);
            }
        }
    }

    protected override async Task ProcessAsync()
    {
        var client = Client;
        foreach (var orphan in _confirmed)
        {
            try
            {
                await OrphanSweeper.RemoveAsync(client, orphan, CancelToken).ConfigureAwait(false);
                Verbose($"Removed {orphan}");
                // The sweep cannot run a dead session's cleanup blocks; a person must hear of them.
                foreach (var unfinished in orphan.Unfinished)
                {
                    Warning($"Run {orphan.RunId}: {unfinished}");
                }
                if (PassThru)
                {
                    Output(orphan);
                }
            }
            catch (E2EException ex)
            {
                Error(ex); // One leftover that cannot go does not stop the sweep.
            }
        }
    }
}
