using E2E.Core.Errors;

namespace E2E.Core.Tracking;

/// <summary>
/// A tracking backend a workflow logs to: a store made in a temp folder (the embedded default), an
/// existing store path, or a running MLflow tracking server. It carries the environment variables
/// each library reads; they are given to the workflow's process, never set in the caller's.
/// </summary>
public sealed class TrackingBackend
{
    private TrackingBackend(TrackingBackendKind kind, string name, string project, string? storePath, string? trackingUri, bool ownsStore, IReadOnlyDictionary<string, string> environment)
    {
        Kind = kind;
        Name = name;
        Project = project;
        StorePath = storePath;
        TrackingUri = trackingUri;
        OwnsStore = ownsStore;
        Environment = environment;
    }

    public TrackingBackendKind Kind { get; }

    /// <summary>The backend's name in reports: mlflow, wandb, clearml.</summary>
    public string Name { get; }

    public string Project { get; }

    /// <summary>The folder the runs are read from (null for a tracking server).</summary>
    public string? StorePath { get; }

    /// <summary>The MLflow tracking server, when runs are read through its REST API.</summary>
    public string? TrackingUri { get; }

    /// <summary>True when the store was made for this backend and is removed with it; an existing store is never removed.</summary>
    public bool OwnsStore { get; }

    public IReadOnlyDictionary<string, string> Environment { get; }

    public bool IsStopped { get; private set; }

    /// <summary>How ClearML (title, series) pairs are named when read: the way tracelet maps "a/b" names, so they compare with the other backends.</summary>
    public ClearmlMetricNaming ClearmlNaming { get; init; } = ClearmlMetricNaming.SeriesTitle;

    public static string NameOf(TrackingBackendKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>A new, empty store under <paramref name="folder"/> (which the caller made and tracks for cleanup).</summary>
    public static TrackingBackend CreateLocal(TrackingBackendKind kind, string folder, string project)
    {
        var store = kind switch
        {
            TrackingBackendKind.MLflow => Path.Combine(folder, "mlruns"),
            TrackingBackendKind.WandB => Path.Combine(folder, "wandb"),
            _ => Path.Combine(folder, "clearml"),
        };
        Directory.CreateDirectory(store);
        return new TrackingBackend(kind, NameOf(kind), project, store, null, ownsStore: true, EnvironmentFor(kind, store, project, null));
    }

    /// <summary>An existing store: an mlruns folder, a wandb folder (WANDB_DIR), or a ClearML cache folder or offline session.</summary>
    public static TrackingBackend OpenExisting(TrackingBackendKind kind, string path, string project)
    {
        var local = TrackingPaths.LocalPath(path);
        if (!Directory.Exists(local) && !File.Exists(local))
        {
            throw new E2EException(ErrorCatalog.TrackingStoreNotFound, $"The {kind} store '{local}' does not exist.", local);
        }
        return new TrackingBackend(kind, NameOf(kind), project, local, null, ownsStore: false, EnvironmentFor(kind, local, project, null));
    }

    /// <summary>A running MLflow tracking server (http or https).</summary>
    public static TrackingBackend OpenServer(Uri trackingUri, string project)
    {
        if (trackingUri.Scheme is not ("http" or "https"))
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, $"A tracking URI must be http:// or https:// (an MLflow tracking server); '{trackingUri}' is not. Use -StorePath for a folder.", trackingUri);
        }
        var uri = trackingUri.ToString().TrimEnd('/');
        return new TrackingBackend(TrackingBackendKind.MLflow, "mlflow", project, null, uri, ownsStore: false, EnvironmentFor(TrackingBackendKind.MLflow, null, project, uri));
    }

    /// <summary>Runs the store holds now.</summary>
    public IReadOnlyList<TrackedRun> ReadRuns(CancellationToken cancellation = default)
    {
        if (IsStopped && OwnsStore)
        {
            throw new E2EException(ErrorCatalog.TrackingBackendStopped, $"The {Name} backend was stopped; its store is gone.", this);
        }
        if (TrackingUri is not null)
        {
            using var client = new MlflowRestClient(new Uri(TrackingUri));
            return client.ReadRunsAsync(Project, cancellation).GetAwaiter().GetResult();
        }
        return TrackingStores.ReadRuns(Kind, StorePath!, ClearmlNaming);
    }

    /// <summary>Removes a store this backend made; an existing store or a server is left alone.</summary>
    public void Stop()
    {
        if (IsStopped)
        {
            return;
        }
        IsStopped = true;
        if (OwnsStore && StorePath is not null)
        {
            if (Directory.Exists(StorePath))
            {
                Directory.Delete(StorePath, recursive: true);
            }
        }
    }

    private static IReadOnlyDictionary<string, string> EnvironmentFor(TrackingBackendKind kind, string? store, string project, string? trackingUri)
    {
        var environment = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["E2E_TRACKING_BACKEND"] = NameOf(kind),
            ["E2E_TRACKING_PROJECT"] = project,
        };
        switch (kind)
        {
            case TrackingBackendKind.MLflow:
                var uri = trackingUri ?? new Uri(store!).AbsoluteUri;
                environment["MLFLOW_TRACKING_URI"] = uri;
                environment["TRACELET_BACKEND_URL"] = uri;
                environment["MLFLOW_EXPERIMENT_NAME"] = project;
                break;
            case TrackingBackendKind.WandB:
                environment["WANDB_MODE"] = "offline";
                // wandb writes its runs into $WANDB_DIR/wandb.
                var wandbStore = store!.TrimEnd(Path.DirectorySeparatorChar);
                environment["WANDB_DIR"] = Path.GetFileName(wandbStore) == "wandb" ? Path.GetDirectoryName(wandbStore)! : wandbStore;
                environment["WANDB_CACHE_DIR"] = Path.Combine(environment["WANDB_DIR"], "cache");
                environment["WANDB_PROJECT"] = project;
                environment["WANDB_SILENT"] = "true";
                break;
            case TrackingBackendKind.ClearML:
                environment["CLEARML_OFFLINE_MODE"] = "1";
                environment["CLEARML_CACHE_DIR"] = store!;
                environment["CLEARML_WEB_HOST"] = string.Empty;
                environment["CLEARML_API_HOST"] = string.Empty;
                environment["CLEARML_FILES_HOST"] = string.Empty;
                break;
        }
        return environment;
    }

    public override string ToString() => $"{Name} ({TrackingUri ?? StorePath})";
}

/// <summary>One entry point for reading any backend's store.</summary>
public static class TrackingStores
{
    public static IReadOnlyList<TrackedRun> ReadRuns(TrackingBackendKind kind, string path, ClearmlMetricNaming clearmlNaming = ClearmlMetricNaming.TitleSeries) => kind switch
    {
        TrackingBackendKind.MLflow => MlflowFileStore.ReadRuns(path),
        TrackingBackendKind.WandB => WandbRunReader.ReadRuns(path),
        _ => ClearmlOfflineSession.ReadRuns(path, clearmlNaming),
    };
}
