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

    /// <summary>
    /// The catch-all for an exception Core did not turn into an E2EException: it still gets a catalogue id and a category
    /// chosen by what went wrong, never NotSpecified, with the original exception inside and its message redacted.
    /// </summary>
    public static ErrorRecord FromUnexpected(Exception exception, object? target)
    {
        var id = exception switch
        {
            ArgumentException or OverflowException or ArithmeticException or IndexOutOfRangeException => ErrorCatalog.UnexpectedInput,
            FormatException or System.Text.Json.JsonException or InvalidDataException or System.Text.DecoderFallbackException => ErrorCatalog.UnexpectedData,
            UnauthorizedAccessException => ErrorCatalog.UnexpectedAccessDenied,
            IOException or System.Net.Http.HttpRequestException or System.Net.Sockets.SocketException => ErrorCatalog.UnexpectedIoFailure,
            OutOfMemoryException or InsufficientMemoryException => ErrorCatalog.OutOfMemory,
            _ => ErrorCatalog.UnexpectedError,
        };
        var message = SecretText.Redact($"{exception.GetType().Name}: {exception.Message}");
        return From(new E2EException(id, message, target, exception));
    }

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
