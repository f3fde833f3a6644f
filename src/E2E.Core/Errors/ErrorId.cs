namespace E2E.Core.Errors;

/// <summary>A stable error identifier: what Pester users match with <c>Should -Throw -ErrorId</c>.</summary>
public sealed record ErrorId(string Id, ErrorKind Kind, string Meaning)
{
    public override string ToString() => Id;
}
