namespace E2E.Core.Errors;

/// <summary>
/// What went wrong, independent of PowerShell. The cmdlet layer maps each kind to the
/// ErrorCategory of the same name, so the names here follow PowerShell's ErrorCategory.
/// </summary>
public enum ErrorKind
{
    InvalidArgument,
    InvalidData,
    InvalidOperation,
    ObjectNotFound,
    ResourceExists,
    PermissionDenied,
    OperationTimeout,
    OperationStopped,
    ResourceUnavailable,
    ConnectionError,
    NotInstalled,
    ReadError,
    WriteError,
}
