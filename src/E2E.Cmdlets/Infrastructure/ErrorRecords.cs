using System.Management.Automation;
using E2E.Core.Errors;

namespace E2E.Cmdlets.Infrastructure;

/// <summary>Turns Core's errors into ErrorRecords with a stable id, a specific category and a target.</summary>
internal static class ErrorRecords
{
    public static ErrorRecord From(E2EException exception) =>
        new(exception, exception.Error.Id, Category(exception.Error.Kind), exception.Target);

    public static ErrorRecord From(ErrorId error, string message, object? target, Exception? inner = null) =>
        From(new E2EException(error, message, target, inner));

    public static ErrorCategory Category(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        ErrorKind.InvalidData => ErrorCategory.InvalidData,
        ErrorKind.InvalidOperation => ErrorCategory.InvalidOperation,
        ErrorKind.ObjectNotFound => ErrorCategory.ObjectNotFound,
        ErrorKind.ResourceExists => ErrorCategory.ResourceExists,
        ErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        ErrorKind.OperationTimeout => ErrorCategory.OperationTimeout,
        ErrorKind.OperationStopped => ErrorCategory.OperationStopped,
        ErrorKind.ResourceUnavailable => ErrorCategory.ResourceUnavailable,
        ErrorKind.ConnectionError => ErrorCategory.ConnectionError,
        ErrorKind.NotInstalled => ErrorCategory.NotInstalled,
        ErrorKind.ReadError => ErrorCategory.ReadError,
        ErrorKind.WriteError => ErrorCategory.WriteError,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Every ErrorKind must map to an ErrorCategory."),
    };
}
