using System.Reflection;

namespace E2E.Core.Errors;

/// <summary>
/// Every error id the module can raise. Ids are part of the public contract: never rename one,
/// add a new one instead. A test checks that ids are unique and that each has a meaning.
/// </summary>
public static class ErrorCatalog
{
    // Generic input problems.
    public static readonly ErrorId InvalidTimeout = new("InvalidTimeout", ErrorKind.InvalidArgument,
        "A timeout or interval is negative, zero where it must be positive, or not finite.");
    public static readonly ErrorId InvalidArgument = new("InvalidArgument", ErrorKind.InvalidArgument,
        "An argument is out of its allowed range; the message says which and why.");
    public static readonly ErrorId InvalidName = new("InvalidName", ErrorKind.InvalidArgument,
        "A name contains characters that are not allowed where it is used.");
    public static readonly ErrorId InvalidLabel = new("InvalidLabel", ErrorKind.InvalidArgument,
        "A label key or value does not follow the Kubernetes label syntax.");
    public static readonly ErrorId UnexpectedInput = new("UnexpectedInput", ErrorKind.InvalidArgument,
        "An argument made a library fail in a way no more specific id covers (an out-of-range number, a malformed value); the message has the library's words.");
    public static readonly ErrorId UnexpectedData = new("UnexpectedData", ErrorKind.InvalidData,
        "Data read from a file, a server or a process is malformed in a way no more specific id covers; the message has the reader's words.");
    public static readonly ErrorId UnexpectedIoFailure = new("UnexpectedIoFailure", ErrorKind.ReadError,
        "A file or network operation failed in a way no more specific id covers (a missing or unreadable path, a broken connection).");
    public static readonly ErrorId UnexpectedAccessDenied = new("UnexpectedAccessDenied", ErrorKind.PermissionDenied,
        "The operating system refused access to a file or folder.");
    public static readonly ErrorId OutOfMemory = new("OutOfMemory", ErrorKind.ResourceUnavailable,
        "The operation ran out of memory; nothing it was writing was kept half-written.");
    public static readonly ErrorId UnexpectedError = new("UnexpectedError", ErrorKind.InvalidOperation,
        "An error no more specific id covers; please report it with the message (it is a bug that it has no id of its own).");
    public static readonly ErrorId OperationCancelled = new("OperationCancelled", ErrorKind.OperationStopped,
        "The operation was stopped (Ctrl-C or a stopped pipeline).");

    // Scopes.
    public static readonly ErrorId ScopeNotFound = new("ScopeNotFound", ErrorKind.ObjectNotFound,
        "No scope with that id exists in this session.");
    public static readonly ErrorId NoCurrentScope = new("NoCurrentScope", ErrorKind.InvalidOperation,
        "A cleanup was to be registered, but no scope is active; call New-E2EScope first.");
    public static readonly ErrorId ScopeRemoved = new("ScopeRemoved", ErrorKind.InvalidOperation,
        "The scope was already removed; nothing more can be registered in it.");
    public static readonly ErrorId ScopeCleanupFailed = new("ScopeCleanupFailed", ErrorKind.InvalidOperation,
        "One of a scope's undo actions failed; the others still ran.");

    // Waiting.
    public static readonly ErrorId WaitTimedOut = new("WaitTimedOut", ErrorKind.OperationTimeout,
        "A condition did not become true before the timeout; the message shows the last observed state.");

    // Artifacts.
    public static readonly ErrorId ArtifactSourceNotFound = new("ArtifactSourceNotFound", ErrorKind.ObjectNotFound,
        "A file or directory named for export does not exist.");
    public static readonly ErrorId ArtifactExportDirMissing = new("ArtifactExportDirMissing", ErrorKind.ObjectNotFound,
        "The export directory named by E2E_EXPORT_TEST_ARTIFACTS does not exist; nothing was exported.");
    public static readonly ErrorId ArtifactExportFailed = new("ArtifactExportFailed", ErrorKind.WriteError,
        "Copying an artifact into the export directory failed (for example, it is not writable).");

    // Data formats.
    public static readonly ErrorId InvalidToml = new("InvalidToml", ErrorKind.InvalidData,
        "A TOML document does not follow TOML 1.0; the message gives the line and column.");
    public static readonly ErrorId InputLimitExceeded = new("InputLimitExceeded", ErrorKind.InvalidData,
        "A document nests deeper than 256 levels, or its YAML aliases expand past 1,000,000 nodes; it was not loaded (README: Limits).");
    public static readonly ErrorId InvalidJson = new("InvalidJson", ErrorKind.InvalidData,
        "A JSON document does not parse; the message gives the line and position.");

    // Expected outputs.
    public static readonly ErrorId ExpectedOutputNotFound = new("ExpectedOutputNotFound", ErrorKind.ObjectNotFound,
        "Neither the actual nor the expected path exists, so there is nothing to compare.");
    public static readonly ErrorId BuildFailed = new("BuildFailed", ErrorKind.InvalidOperation,
        "A build that Test-E2EReproducible ran failed; the message has its error.");
    public static readonly ErrorId ExpectedPathNotFound = new("ExpectedPathNotFound", ErrorKind.ObjectNotFound,
        "The expected-output path does not exist, while the actual one does; Update-ExpectedOutput records a first expected output.");
    public static readonly ErrorId NotARegularFile = new("NotARegularFile", ErrorKind.InvalidArgument,
        "A path to read as a file is a device, FIFO or socket; it is refused before it is opened.");
    public static readonly ErrorId OutputUnreadable = new("OutputUnreadable", ErrorKind.ReadError,
        "A file to compare could not be read (permissions, or it vanished).");
    public static readonly ErrorId SymlinkLoop = new("SymlinkLoop", ErrorKind.InvalidData,
        "A path is a symbolic link that never resolves (a loop).");
    public static readonly ErrorId InvalidReason = new("InvalidReason", ErrorKind.InvalidArgument,
        "An update reason must be one line of printable text.");
    public static readonly ErrorId ArchiveNotFound = new("ArchiveNotFound", ErrorKind.ObjectNotFound,
        "An archive to compare or read does not exist.");
    public static readonly ErrorId UnsafeArchiveMember = new("UnsafeArchiveMember", ErrorKind.InvalidData,
        "An archive member's name is absolute or climbs out of the archive with '..'.");
    public static readonly ErrorId UnsupportedArchive = new("UnsupportedArchive", ErrorKind.InvalidData,
        "A file is not a zip, tar, tar.gz or tar.xz archive, or it is corrupt.");

    // Chain and keys.
    public static readonly ErrorId InvalidHex = new("InvalidHex", ErrorKind.InvalidArgument,
        "A value that must be hexadecimal (0x-prefixed) is not, or has the wrong length.");
    public static readonly ErrorId InvalidKey = new("InvalidKey", ErrorKind.InvalidArgument,
        "A private key is missing, not 32 bytes, or outside the secp256k1 range.");
    public static readonly ErrorId InvalidSignature = new("InvalidSignature", ErrorKind.InvalidData,
        "A signature is malformed, or no public key can be recovered from it.");
    public static readonly ErrorId InvalidRlp = new("InvalidRlp", ErrorKind.InvalidData,
        "Bytes are not canonical RLP.");
    public static readonly ErrorId InvalidTransaction = new("InvalidTransaction", ErrorKind.InvalidData,
        "A transaction is malformed or breaks a validity rule (intrinsic gas, fee caps, chain id, signature).");
    public static readonly ErrorId InvalidCapability = new("InvalidCapability", ErrorKind.InvalidArgument,
        "An agent capability is not exactly 32 bytes.");
    public static readonly ErrorId ChainRpcFailed = new("ChainRpcFailed", ErrorKind.ConnectionError,
        "The chain's JSON-RPC endpoint failed or answered with an error.");
    public static readonly ErrorId ChainIdMismatch = new("ChainIdMismatch", ErrorKind.InvalidArgument,
        "The chain at the RPC URL has a different chain id from the one the transaction is signed for.");
    public static readonly ErrorId TransactionFailed = new("TransactionFailed", ErrorKind.InvalidOperation,
        "A transaction was mined with status 0 (reverted).");
    public static readonly ErrorId ReceiptTimedOut = new("ReceiptTimedOut", ErrorKind.OperationTimeout,
        "No receipt arrived for a transaction before the timeout.");

    // Servers.
    public static readonly ErrorId ResourceBusy = new("ResourceBusy", ErrorKind.ResourceUnavailable,
        "A port or another exclusive resource is already in use.");
    public static readonly ErrorId OracleRejected = new("OracleRejected", ErrorKind.InvalidData,
        "The Oracle refused a report for good (bad signature, stale, replayed, malformed); retrying cannot help.");
    public static readonly ErrorId OracleUnavailable = new("OracleUnavailable", ErrorKind.ConnectionError,
        "The Oracle could not be reached or kept failing after every retry.");

    // Petals nodes, distributed inference, service stacks.
    public static readonly ErrorId PetalsBlocksUnavailable = new("PetalsBlocksUnavailable", ErrorKind.ResourceUnavailable,
        "No running node serves some blocks of the model (a gap, or every replica failed); the message names the blocks.");
    public static readonly ErrorId PetalsRouteConflict = new("PetalsRouteConflict", ErrorKind.InvalidData,
        "Nodes that cannot be combined into one route: another model or hidden size, or blocks outside the model.");
    public static readonly ErrorId PetalsNodeUnreachable = new("PetalsNodeUnreachable", ErrorKind.ConnectionError,
        "A Petals node did not answer /health as a node does.");
    public static readonly ErrorId PetalsNodeFailed = new("PetalsNodeFailed", ErrorKind.InvalidOperation,
        "A Petals node refused a request for a reason another node would share, or exited before it was ready (its log is in the error).");
    public static readonly ErrorId PetalsProtocolError = new("PetalsProtocolError", ErrorKind.InvalidData,
        "A hidden state on the wire had the wrong size or a value that is not finite.");
    public static readonly ErrorId PetalsNodeExists = new("PetalsNodeExists", ErrorKind.ResourceExists,
        "A node with that name is already running in this session.");
    public static readonly ErrorId PetalsNodeNotFound = new("PetalsNodeNotFound", ErrorKind.ObjectNotFound,
        "No node started in this session has that name.");
    public static readonly ErrorId StackInvalid = new("StackInvalid", ErrorKind.InvalidData,
        "A compose file the stack cmdlets cannot run: bad YAML, an unknown dependency, a dependency cycle, a service with nothing to run.");
    public static readonly ErrorId StackServiceFailed = new("StackServiceFailed", ErrorKind.InvalidOperation,
        "A service of a stack exited, or its healthcheck kept failing, before the stack was up; the logs of the stack are in the error.");
    public static readonly ErrorId StackNotFound = new("StackNotFound", ErrorKind.ObjectNotFound,
        "No stack or service started in this session has that name.");

    // UDF packages and object storage.
    public static readonly ErrorId UdfProjectInvalid = new("UdfProjectInvalid", ErrorKind.InvalidData,
        "A UDF package has no pyproject.toml, or it lacks [project] name and version.");
    public static readonly ErrorId EnvironmentBuildFailed = new("EnvironmentBuildFailed", ErrorKind.InvalidOperation,
        "Creating the UDF package's isolated environment (venv, pip or uv) failed; the message has the tool's output.");
    public static readonly ErrorId ChecksumMismatch = new("ChecksumMismatch", ErrorKind.InvalidData,
        "Downloaded content does not match the checksum the manifest records.");
    public static readonly ErrorId UnsupportedStore = new("UnsupportedStore", ErrorKind.InvalidArgument,
        "An object store URI is not file://, s3:// or gs://.");
    public static readonly ErrorId ManifestNotFound = new("ManifestNotFound", ErrorKind.ObjectNotFound,
        "No manifest with that name is published in the store.");
    public static readonly ErrorId StoreCredentialsMissing = new("StoreCredentialsMissing", ErrorKind.PermissionDenied,
        "An s3:// or gs:// store was given, but no credentials for it were found in the environment.");
    public static readonly ErrorId StoreFailed = new("StoreFailed", ErrorKind.ConnectionError,
        "The object store refused or failed a request.");

    // Tables and backfills.
    public static readonly ErrorId FilterTimedOut = new("FilterTimedOut", ErrorKind.OperationTimeout,
        "A -Where filter ran longer than its time limit (60 s) and SQLite was interrupted; nothing was changed.");
    public static readonly ErrorId TableStoreNotFound = new("TableStoreNotFound", ErrorKind.ObjectNotFound,
        "The -Database file does not exist; only New-E2ETable creates a table store.");
    public static readonly ErrorId TableNotFound = new("TableNotFound", ErrorKind.ObjectNotFound,
        "No table with that name exists in the table store.");
    public static readonly ErrorId TableExists = new("TableExists", ErrorKind.ResourceExists,
        "A table with that name already exists.");
    public static readonly ErrorId ColumnExists = new("ColumnExists", ErrorKind.ResourceExists,
        "The table already has a column with that name.");
    public static readonly ErrorId ColumnNotFound = new("ColumnNotFound", ErrorKind.ObjectNotFound,
        "The table has no column with that name.");
    public static readonly ErrorId InvalidColumnType = new("InvalidColumnType", ErrorKind.InvalidArgument,
        "A column type is not int64, float64, string, binary, bool, struct or vector[float32, N].");
    public static readonly ErrorId UdfNotFound = new("UdfNotFound", ErrorKind.ObjectNotFound,
        "The manifest's modules declare no UDF with that name.");
    public static readonly ErrorId UdfTypeMismatch = new("UdfTypeMismatch", ErrorKind.InvalidData,
        "A UDF returned a value that does not fit the column's type.");
    public static readonly ErrorId UdfFailed = new("UdfFailed", ErrorKind.InvalidOperation,
        "A UDF raised an error for a row, and the error policy is to fail.");
    public static readonly ErrorId InvalidFilter = new("InvalidFilter", ErrorKind.InvalidArgument,
        "A -Where filter is not a single valid SQL expression over the table's columns.");
    public static readonly ErrorId JobNotFound = new("JobNotFound", ErrorKind.ObjectNotFound,
        "No backfill job with that id exists in the table store.");
    public static readonly ErrorId BackfillInterrupted = new("BackfillInterrupted", ErrorKind.OperationStopped,
        "A backfill job's driver is gone (killed, crashed, its machine lost) without finishing it; Invoke-Backfill again resumes it.");
    public static readonly ErrorId WorkerFailed = new("WorkerFailed", ErrorKind.InvalidOperation,
        "A UDF worker process died or broke the protocol; its batch is retried on another worker.");

    public static readonly ErrorId GenevaNotInstalled = new("GenevaNotInstalled", ErrorKind.NotInstalled,
        "-Engine Geneva needs the geneva package in the Python that -Python names.");
    public static readonly ErrorId GenevaFailed = new("GenevaFailed", ErrorKind.InvalidOperation,
        "The Geneva library failed before the backfill ran (connecting, opening the table, defining the cluster).");

    // Kubernetes.
    public static readonly ErrorId KubeconfigInvalid = new("KubeconfigInvalid", ErrorKind.InvalidData,
        "A kubeconfig file is not valid YAML or not a kubeconfig.");
    public static readonly ErrorId KubeconfigNotFound = new("KubeconfigNotFound", ErrorKind.ObjectNotFound,
        "No kubeconfig file exists at the given path, in KUBECONFIG, or at ~/.kube/config.");
    public static readonly ErrorId ContextNotFound = new("ContextNotFound", ErrorKind.ObjectNotFound,
        "The kubeconfig has no such context (or no current context), or the context names a missing cluster or user.");
    public static readonly ErrorId ExecPluginFailed = new("ExecPluginFailed", ErrorKind.PermissionDenied,
        "A kubeconfig exec credential plugin failed or returned no usable credential.");

    public static readonly ErrorId NotInCluster = new("NotInCluster", ErrorKind.ObjectNotFound,
        "In-cluster configuration was asked for, but KUBERNETES_SERVICE_HOST or the service account files are missing.");
    public static readonly ErrorId KubeApiUnreachable = new("KubeApiUnreachable", ErrorKind.ConnectionError,
        "The Kubernetes API server did not answer (connection refused, TLS failure, or timeout).");
    public static readonly ErrorId KubeResourceNotFound = new("KubeResourceNotFound", ErrorKind.ObjectNotFound,
        "The API server answered 404: the object (or its namespace) does not exist.");
    public static readonly ErrorId KubeResourceExists = new("KubeResourceExists", ErrorKind.ResourceExists,
        "The API server answered 409 AlreadyExists, or 409 Conflict on a stale resourceVersion or an apply conflict.");
    public static readonly ErrorId KubeResourceInvalid = new("KubeResourceInvalid", ErrorKind.InvalidData,
        "The API server (or the local schema check before sending) rejected the object as invalid (422); the causes name the fields.");
    public static readonly ErrorId KubeUnauthorized = new("KubeUnauthorized", ErrorKind.PermissionDenied,
        "The API server answered 401 or 403 for the credentials of the context.");
    public static readonly ErrorId KubeApiFailed = new("KubeApiFailed", ErrorKind.InvalidOperation,
        "The API server answered an error not covered by a more specific id; the message carries its Status.");
    public static readonly ErrorId KindNotServed = new("KindNotServed", ErrorKind.ObjectNotFound,
        "Discovery has no resource for that apiVersion and kind (is its CRD installed?).");
    public static readonly ErrorId ManifestInvalid = new("ManifestInvalid", ErrorKind.InvalidData,
        "A manifest file is not valid YAML or JSON, or a document lacks apiVersion, kind or metadata.name.");
    public static readonly ErrorId ClusterNotFound = new("ClusterNotFound", ErrorKind.ObjectNotFound,
        "No E2E cluster with that name exists in this session.");
    public static readonly ErrorId ClusterNotTestCluster = new("ClusterNotTestCluster", ErrorKind.PermissionDenied,
        "The context does not look like a disposable test cluster (loopback server, kind-, k3d-, minikube, or a name with test/e2e/ci); use -Force if it is one.");
    public static readonly ErrorId ClusterCreateFailed = new("ClusterCreateFailed", ErrorKind.InvalidOperation,
        "kind could not create the cluster, or its API server did not become ready.");
    public static readonly ErrorId ComputeNotReady = new("ComputeNotReady", ErrorKind.OperationTimeout,
        "A Compute did not become Ready in time (or was deleted while waited for); the message shows its conditions and recent events.");
    public static readonly ErrorId DeletionBlocked = new("DeletionBlocked", ErrorKind.OperationTimeout,
        "An object was deleted but is still there after the timeout, held by finalizers the message names.");
    // Containers (Docker Engine API).
    public static readonly ErrorId DockerEngineUnreachable = new("DockerEngineUnreachable", ErrorKind.ConnectionError,
        "Nothing answered at the Docker engine's address ($DOCKER_HOST or the local socket).");
    public static readonly ErrorId DockerApiFailed = new("DockerApiFailed", ErrorKind.InvalidOperation,
        "The Docker engine refused a request (its status and message are in the error).");
    public static readonly ErrorId ComputeUnavailable = new("ComputeUnavailable", ErrorKind.ResourceUnavailable,
        "A Compute's tensor service answered UNAVAILABLE through the Gateway: the Compute is not Ready (starting, suspended) or is gone.");
    public static readonly ErrorId TensorNotFound = new("TensorNotFound", ErrorKind.ObjectNotFound,
        "The Compute holds no tensor with that id: it was removed, or the Compute's server restarted (a suspend and resume frees every tensor).");
    public static readonly ErrorId TensorShapeMismatch = new("TensorShapeMismatch", ErrorKind.InvalidArgument,
        "A tensor's values do not fill its shape, or an operation's shapes do not fit (broadcasting, inner sizes, dimensions).");
    public static readonly ErrorId TensorDTypeNotSupported = new("TensorDTypeNotSupported", ErrorKind.InvalidArgument,
        "A tensor's element type is not one the operation or the cmdlet supports (float32, float64, int32, int64).");
    public static readonly ErrorId UnknownTensorOperation = new("UnknownTensorOperation", ErrorKind.InvalidArgument,
        "The Compute's server does not know the ATen operation (the message lists what the local server computes).");
    public static readonly ErrorId TensorOperationFailed = new("TensorOperationFailed", ErrorKind.InvalidOperation,
        "The Compute's server ran the operation and it failed; the message is the server's.");
    public static readonly ErrorId GrpcCallFailed = new("GrpcCallFailed", ErrorKind.ConnectionError,
        "A gRPC call failed: transport error (UNAVAILABLE), or a status other than OK, DEADLINE_EXCEEDED and the permission ones.");
    public static readonly ErrorId GrpcDeadlineExceeded = new("GrpcDeadlineExceeded", ErrorKind.OperationTimeout,
        "A gRPC call did not answer within its deadline (DEADLINE_EXCEEDED).");
    public static readonly ErrorId GrpcPermissionDenied = new("GrpcPermissionDenied", ErrorKind.PermissionDenied,
        "A gRPC call was refused: UNAUTHENTICATED or PERMISSION_DENIED.");

    // Experiment tracking.
    public static readonly ErrorId TrackingStoreNotFound = new("TrackingStoreNotFound", ErrorKind.ObjectNotFound,
        "A tracking store path (an MLflow mlruns folder, a .wandb file or folder, a ClearML offline session) does not exist or holds no run.");
    public static readonly ErrorId TrackingStoreMalformed = new("TrackingStoreMalformed", ErrorKind.InvalidData,
        "A tracking store file is not in the format its backend writes; the message gives the file and the line or byte offset.");
    public static readonly ErrorId TrackingServerUnreachable = new("TrackingServerUnreachable", ErrorKind.ConnectionError,
        "Nothing answered at the tracking server's URI.");
    public static readonly ErrorId TrackingServerFailed = new("TrackingServerFailed", ErrorKind.InvalidOperation,
        "The tracking server refused a request (its status and error code are in the message).");
    public static readonly ErrorId TrackingServerUnauthorized = new("TrackingServerUnauthorized", ErrorKind.PermissionDenied,
        "The tracking server refused the credentials (401/403); set MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD.");
    public static readonly ErrorId TrackedRunNotFound = new("TrackedRunNotFound", ErrorKind.ObjectNotFound,
        "No run with that id or name is in the tracking store.");
    public static readonly ErrorId WorkflowNotFound = new("WorkflowNotFound", ErrorKind.ObjectNotFound,
        "A training workflow is neither a built-in name nor an existing script file.");
    public static readonly ErrorId WorkflowFailed = new("WorkflowFailed", ErrorKind.InvalidOperation,
        "A training workflow exited with a non-zero code or wrote no results; the message has the end of its stderr.");
    public static readonly ErrorId WorkflowTimedOut = new("WorkflowTimedOut", ErrorKind.OperationTimeout,
        "A training workflow ran past its timeout and was killed with its whole process tree.");
    public static readonly ErrorId RequirementsNotInstalled = new("RequirementsNotInstalled", ErrorKind.NotInstalled,
        "A UDF package runs on the interpreter's own packages, and that interpreter lacks a requirement (or has a version outside its specifier); the message lists them.");
    public static readonly ErrorId TorchNotAvailable = new("TorchNotAvailable", ErrorKind.NotInstalled,
        "An operation needs PyTorch and the interpreter it was given (-Python, or E2E_TORCH_PYTHON) cannot import torch.");
    public static readonly ErrorId TrackingBackendStopped = new("TrackingBackendStopped", ErrorKind.InvalidOperation,
        "A tracking backend was already stopped; its store is gone.");

    // Tools.
    public static readonly ErrorId ToolNotFound = new("ToolNotFound", ErrorKind.NotInstalled,
        "A program the operation needs (such as xz or python3) is not on PATH.");

    // Paths.
    public static readonly ErrorId PathOutsideRoot = new("PathOutsideRoot", ErrorKind.InvalidArgument,
        "A path would land outside the directory it must stay in.");

    /// <summary>All ids declared above, found by reflection so the list cannot drift.</summary>
    public static IReadOnlyList<ErrorId> All { get; } = typeof(ErrorCatalog)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.FieldType == typeof(ErrorId))
        .Select(f => (ErrorId)f.GetValue(null)!)
        .ToArray();
}
