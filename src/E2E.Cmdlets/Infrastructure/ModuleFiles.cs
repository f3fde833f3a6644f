namespace E2E.Cmdlets.Infrastructure;

/// <summary>Files shipped beside the module's assemblies (out/E2E/bin/../python).</summary>
public static class ModuleFiles
{
    public static string ModuleRoot { get; } = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(ModuleFiles).Assembly.Location)!, ".."));

    /// <summary>The UDF worker; its folder also holds e2e_udf.py, the decorator UDF packages import.</summary>
    public static string WorkerScript => Path.Combine(ModuleRoot, "python", "e2e_worker.py");

    /// <summary>The bridge -Engine Geneva runs in the user's Python: the Geneva library's documented calls.</summary>
    public static string GenevaBridgeScript => Path.Combine(ModuleRoot, "python", "e2e_geneva.py");

    /// <summary>The built-in training workflows (simple_pytorch, lightning) and, beside them, the tracking logger they use.</summary>
    public static string TrackingWorkflowScript => Path.Combine(TrackingDirectory, "e2e_workflows.py");

    /// <summary>The tracking logger (e2e_tracking) and the built-in workflows.</summary>
    public static string TrackingDirectory => Path.Combine(ModuleRoot, "python", "tracking");

    /// <summary>SkyTorch's Compute CRD, shipped for schema checks and the local cluster.</summary>
    public static string ComputeCrd => Path.Combine(ModuleRoot, "kubernetes", "compute.skytorch.dev_computes.yaml");
}
