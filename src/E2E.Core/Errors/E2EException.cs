namespace E2E.Core.Errors;

/// <summary>
/// The one exception type Core raises for expected failures. It carries a stable <see cref="ErrorId"/>
/// and the object the error is about, which the cmdlet layer turns into an ErrorRecord.
/// Messages must never contain secrets: callers pass redacted text only.
/// </summary>
public class E2EException : Exception
{
    public E2EException(ErrorId error, string message, object? target = null, Exception? inner = null)
        : base(message, inner)
    {
        Error = error;
        Target = target;
    }

    public ErrorId Error { get; }

    public object? Target { get; }
}
