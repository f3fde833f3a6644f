using E2E.Core.Errors;

namespace E2E.Core.Toml;

/// <summary>A TOML document that is not valid TOML 1.0, with the 1-based line and column of the problem.</summary>
public sealed class TomlException : E2EException
{
    public TomlException(string problem, int line, int column, string? source)
        : base(ErrorCatalog.InvalidToml, $"{source ?? "TOML"}:{line}:{column}: {problem}", source)
    {
        Problem = problem;
        Line = line;
        Column = column;
    }

    public string Problem { get; }

    public int Line { get; }

    public int Column { get; }
}
