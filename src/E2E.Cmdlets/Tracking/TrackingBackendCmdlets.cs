using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Scopes;
using E2E.Core.Tracking;

namespace E2E.Cmdlets.Tracking;

/// <summary>Sets up an experiment-tracking backend (MLflow, W&amp;B or ClearML) for training workflows to log to.</summary>
/// <remarks>
/// <para>By default the store is made in a temp folder of the current scope: an MLflow FileStore (MLFLOW_TRACKING_URI=file://...), a W&amp;B offline folder (WANDB_MODE=offline, WANDB_DIR, WANDB_CACHE_DIR) or a ClearML offline cache (CLEARML_OFFLINE_MODE=1, CLEARML_CACHE_DIR), and it is removed with the scope or by Stop-TrackingBackend.</para>
/// <para>The same suite targets real infrastructure by one parameter: -TrackingUri names a running MLflow tracking server (runs are read through its REST API; MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD authenticate), -StorePath an existing store, which is read but never removed.</para>
/// <para>The backend's Environment holds the variables each library reads. Invoke-TrainingWorkflow gives them to the workflow's process only; the shell's own environment is not changed.</para>
/// </remarks>
/// <example>
/// <code>$mlflow = Start-TrackingBackend -Kind MLflow
/// $mlflow.Environment</code>
/// <para>Makes an empty MLflow FileStore in the current scope and shows the variables a workflow gets.</para>
/// </example>
/// <example>
/// <code>Start-TrackingBackend -Kind MLflow -TrackingUri http://127.0.0.1:5000 -Project nightly</code>
/// <para>Reads runs of the experiment 'nightly' from a running MLflow tracking server.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Start, "TrackingBackend", SupportsShouldProcess = true, DefaultParameterSetName = LocalSet)]
[OutputType(typeof(TrackingBackend))]
public sealed class StartTrackingBackendCommand : E2ECmdlet
{
    private const string LocalSet = "Local";
    private const string ServerSet = "Server";
    private const string ExistingSet = "Existing";

    /// <summary>The tracker: MLflow, WandB or ClearML.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = LocalSet)]
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = ExistingSet)]
    [Parameter(Position = 0, ParameterSetName = ServerSet)]
    public TrackingBackendKind Kind { get; set; } = TrackingBackendKind.MLflow;

    /// <summary>The MLflow experiment, W&amp;B project or ClearML project the workflows log to; e2e_test by default, as tracelet's suite.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Project { get; set; } = "e2e_test";

    /// <summary>A running MLflow tracking server (http:// or https://); runs are read through its REST API.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ServerSet)]
    [ValidateNotNull]
    public Uri? TrackingUri { get; set; }

    /// <summary>An existing store: an mlruns folder (or file:// URI), a WANDB_DIR folder or .wandb file, a ClearML cache folder, session folder or zip. It is never removed.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ExistingSet)]
    [ValidateNotNullOrEmpty]
    public string? StorePath { get; set; }

    /// <summary>The scope that owns a new store; the current scope by default.</summary>
    [Parameter(ParameterSetName = LocalSet)]
    [ValidateNotNull]
    public E2EScope? Scope { get; set; }

    protected override void Process()
    {
        switch (ParameterSetName)
        {
            case ServerSet:
                if (ShouldProcess(TrackingUri!.ToString(), "Use MLflow tracking server"))
                {
                    WriteObject(TrackingBackend.OpenServer(TrackingUri!, Project));
                }
                return;
            case ExistingSet:
                // A file:// URI goes to Core as it is (OpenExisting turns it into a path); anything else is a PowerShell path.
                var path = StorePath!.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? StorePath : GetUnresolvedProviderPathFromPSPath(StorePath);
                if (ShouldProcess(path, $"Use existing {Kind} store"))
                {
                    WriteObject(TrackingBackend.OpenExisting(Kind, path, Project));
                }
                return;
        }
        var scope = Scope ?? Scopes.RequireCurrent($"a {Kind} tracking store");
        if (!ShouldProcess(Path.Combine(scope.TempBase, scope.Id, $"tracelet_e2e_{TrackingBackend.NameOf(Kind)}-*"), $"Create {Kind} tracking store"))
        {
            return;
        }
        var folder = scope.CreateTempDirectory($"tracelet_e2e_{TrackingBackend.NameOf(Kind)}");
        var backend = TrackingBackend.CreateLocal(Kind, folder, Project);
        scope.Register("TrackingBackend", backend.ToString(), _ => backend.Stop());
        WriteVerbose($"{Kind} store at {backend.StorePath}");
        WriteObject(backend);
    }
}

/// <summary>Tears down a tracking backend: removes the store Start-TrackingBackend made.</summary>
/// <remarks>
/// <para>A store that was made in a scope is deleted with everything the workflows wrote to it. An existing store (-StorePath) or a tracking server (-TrackingUri) is only let go: nothing of the user's is deleted. Stopping a stopped backend does nothing.</para>
/// </remarks>
/// <example>
/// <code>$wandb = Start-TrackingBackend -Kind WandB
/// $wandb | Stop-TrackingBackend</code>
/// <para>Makes a W&amp;B offline store and removes it again.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Stop, "TrackingBackend", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(void))]
public sealed class StopTrackingBackendCommand : E2ECmdlet
{
    /// <summary>The backend to tear down.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
   
    [ValidateNotNull]
    public TrackingBackend? Backend { get; set; }

    protected override void Process()
    {
        var action = Backend!.OwnsStore ? "Remove tracking store" : "Stop using tracking backend (nothing is deleted)";
        if (ShouldProcess(Backend.StorePath ?? Backend.TrackingUri!, action))
        {
            Backend.Stop();
        }
    }
}
