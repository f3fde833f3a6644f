using System.Management.Automation;
using System.Management.Automation.Language;
using System.Text.RegularExpressions;

namespace E2E.Module.Tests;

/// <summary>
/// Cross-checks of the static check (tools/pscheck, tree-sitter) against PowerShell's own parser and
/// binder: every script in the repository parses with the real parser, and the checker's fixtures are
/// judged the same way by the real static parameter binder.
/// </summary>
public sealed class ScriptCheckTests : IDisposable
{
    private static readonly string[] SkippedDirectories = { ".git", "node_modules", "out", "bin", "obj", "TestResults" };
    private static readonly string Fixtures = Path.Combine(Repo.Root, "tools", "pscheck", "fixtures");
    private readonly Pwsh _pwsh = new();

    public void Dispose() => _pwsh.Dispose();

    public static TheoryData<string> Scripts()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(Repo.Root, "*.*", SearchOption.AllDirectories)
                     .Where(f => f.EndsWith(".ps1", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".psm1", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".psd1", StringComparison.OrdinalIgnoreCase))
                     .Where(f => !Path.GetRelativePath(Repo.Root, f).Split(Path.DirectorySeparatorChar).Any(SkippedDirectories.Contains))
                     .Where(f => !f.StartsWith(Fixtures, StringComparison.Ordinal)))
        {
            data.Add(Path.GetRelativePath(Repo.Root, file));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Scripts))]
    public void Script_parses_with_the_real_PowerShell_parser(string relativePath)
    {
        Parser.ParseFile(Path.Combine(Repo.Root, relativePath), out _, out var errors);
        Assert.True(errors.Length == 0, string.Join("\n", errors.Select(e => $"{relativePath}:{e.Extent.StartLineNumber}:{e.Extent.StartColumnNumber}: {e.Message}")));
    }

    [Fact]
    public void Bad_syntax_fixture_is_bad_for_the_real_parser_too()
    {
        Parser.ParseFile(Path.Combine(Fixtures, "bad-syntax.ps1"), out _, out var errors);
        Assert.NotEmpty(errors);
    }

    [Theory]
    [InlineData("good.ps1")]
    [InlineData("bad-parameter.ps1")]
    [InlineData("ambiguous-parameter.ps1")]
    public void Parameter_fixtures_agree_with_the_real_binder(string fixture)
    {
        var text = File.ReadAllText(Path.Combine(Fixtures, fixture));
        var expectedBad = Regex.Matches(text, "^# expect: parameter: (?:parameter -(\\S+) of (\\S+)|(\\S+) has no parameter -(\\S+))", RegexOptions.Multiline)
            .Select(m => m.Groups[2].Success ? (Command: m.Groups[2].Value, Parameter: m.Groups[1].Value) : (Command: m.Groups[3].Value, Parameter: m.Groups[4].Value))
            .ToHashSet();
        var ast = Parser.ParseInput(text, out _, out var errors);
        Assert.Empty(errors);

        var realBad = new HashSet<(string Command, string Parameter)>();
        foreach (var command in ast.FindAll(a => a is CommandAst, searchNestedScriptBlocks: true).Cast<CommandAst>())
        {
            var name = command.GetCommandName();
            if (name is null || !name.Contains("E2E", StringComparison.Ordinal))
            {
                continue;
            }
            var bare = name.Split('\\').Last();
            var binding = _pwsh.Bind(command);
            foreach (var (parameter, _) in binding)
            {
                realBad.Add((bare, parameter));
            }
        }
        Assert.Equal(expectedBad.OrderBy(x => x.ToString()), realBad.OrderBy(x => x.ToString()));
    }
}
