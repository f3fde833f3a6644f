using System.Management.Automation;
using System.Management.Automation.Language;
using System.Reflection;
using System.Xml.Linq;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Errors;
using E2E.ModuleBuilder;

namespace E2E.Module.Tests;

/// <summary>
/// The conventions every cmdlet must follow, checked over the compiled assembly so that a new cmdlet
/// cannot ship without them (the PSScriptAnalyzer and ModuleHelp.Tests.ps1 checks, done without pwsh).
/// </summary>
public class ContractTests
{
    // The copy beside the tests has the compiler's XML documentation next to it; the module folder ships without it.
    private static readonly IReadOnlyList<CmdletDoc> Cmdlets = CmdletCatalog.Load(typeof(E2ECmdlet).Assembly.Location);

    /// <summary>Verbs that only read or wait; every other verb changes state and must support -WhatIf.</summary>
    private static readonly HashSet<string> ReadOnlyVerbs = new(StringComparer.OrdinalIgnoreCase)
    {
        "Get", "Test", "Compare", "Find", "Search", "Measure", "Wait", "Watch", "Show", "Format", "Select", "Resolve", "ConvertTo", "ConvertFrom", "Read", "Trace", "Debug",
    };

    /// <summary>Parameters that identify a thing and so must bind from the pipeline by property name.</summary>
    private static readonly HashSet<string> IdentifierParameters = new(StringComparer.Ordinal) { "Name", "Namespace", "Path", "LiteralPath", "Id" };

    /// <summary>
    /// Deliberate exceptions, each with its reason. New-E2ETable takes records from the pipeline; binding -Name by
    /// property name would take the table's name from every record's own 'name' field.
    /// </summary>
    private static readonly HashSet<string> PipelineBindingExceptions = new(StringComparer.Ordinal) { "New-E2ETable -Name" };

    public static TheoryData<string> CmdletNames() => new(Cmdlets.Select(c => c.Name));

    private static CmdletDoc Cmdlet(string name) => Cmdlets.Single(c => c.Name == name);

    [Fact]
    public void The_module_has_cmdlets()
    {
        Assert.True(Cmdlets.Count >= 7, $"only {Cmdlets.Count} cmdlets found");
    }

    [Theory]
    [MemberData(nameof(CmdletNames))]
    public void Verb_is_approved(string name)
    {
        // The same list Get-Verb prints: the constants of PowerShell's Verbs* classes.
        var approved = typeof(VerbsCommon).Assembly.GetExportedTypes()
            .Where(t => t.Namespace == "System.Management.Automation" && t.Name.StartsWith("Verbs", StringComparison.Ordinal))
            .SelectMany(t => t.GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral).Select(f => (string)f.GetRawConstantValue()!))
            .ToHashSet(StringComparer.Ordinal);
        Assert.True(approved.Count > 90);
        Assert.Contains(Cmdlet(name).Verb, approved);
    }

    [Theory]
    [MemberData(nameof(CmdletNames))]
    public void Noun_is_singular_and_prefixed_where_generic(string name)
    {
        var noun = Cmdlet(name).Noun;
        Assert.False(noun.EndsWith('s') && !noun.EndsWith("ss", StringComparison.Ordinal), $"{name}: nouns are singular");
        Assert.Matches("^[A-Z][A-Za-z0-9]+$", noun);
    }

    [Theory]
    [MemberData(nameof(CmdletNames))]
    public void Declares_its_output_type(string name)
    {
        Assert.NotEmpty(Cmdlet(name).OutputTypes);
    }

    [Theory]
    [MemberData(nameof(CmdletNames))]
    public void State_changing_verbs_support_ShouldProcess(string name)
    {
        var cmdlet = Cmdlet(name);
        if (!ReadOnlyVerbs.Contains(cmdlet.Verb))
        {
            Assert.True(cmdlet.SupportsShouldProcess, $"{name} changes state and must declare SupportsShouldProcess");
        }
    }

    [Theory]
    [MemberData(nameof(CmdletNames))]
    public void Identifier_parameters_bind_by_property_name(string name)
    {
        foreach (var parameter in Cmdlet(name).Parameters.Where(p => IdentifierParameters.Contains(p.Name) && !PipelineBindingExceptions.Contains($"{name} -{p.Name}")))
        {
            Assert.True(parameter.Sets.Any(s => s.FromPipelineByPropertyName), $"{name} -{parameter.Name} must take its value from the pipeline by property name");
            if (parameter.Name == "Path")
            {
                Assert.Contains("PSPath", parameter.Aliases);
                Assert.Contains("FullName", parameter.Aliases);
            }
        }
    }

    [Theory]
    [MemberData(nameof(CmdletNames))]
    public void Derives_from_the_E2E_base(string name)
    {
        Assert.True(InheritsByName(Cmdlet(name).Type, typeof(E2ECmdlet).FullName!), $"{name} must derive from E2ECmdlet (cancellation and error ids)");
    }

    private static bool InheritsByName(Type? type, string baseName)
    {
        for (; type is not null; type = type.BaseType)
        {
            if (type.FullName == baseName)
            {
                return true;
            }
        }
        return false;
    }

    [Theory]
    [MemberData(nameof(CmdletNames))]
    public void Help_is_complete(string name)
    {
        var cmdlet = Cmdlet(name);
        Assert.False(string.IsNullOrWhiteSpace(cmdlet.Synopsis), $"{name}: synopsis (<summary>)");
        Assert.NotEmpty(cmdlet.Description);
        Assert.NotEmpty(cmdlet.Examples);
        Assert.All(cmdlet.Examples, e => Assert.False(string.IsNullOrWhiteSpace(e.Code), $"{name}: example without code"));
        Assert.All(cmdlet.Examples, e => Assert.NotEmpty(e.Remarks));
        Assert.All(cmdlet.Parameters, p => Assert.False(string.IsNullOrWhiteSpace(p.Description), $"{name} -{p.Name} has no description"));
    }

    [Theory]
    [MemberData(nameof(CmdletNames))]
    public void Examples_parse_and_use_the_cmdlet(string name)
    {
        foreach (var example in Cmdlet(name).Examples)
        {
            Parser.ParseInput(example.Code, out _, out var errors);
            Assert.True(errors.Length == 0, $"{name} example does not parse: {string.Join("; ", errors.Select(e => e.Message))}\n{example.Code}");
            Assert.Contains(name, example.Code, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Theory]
    [MemberData(nameof(CmdletNames))]
    public void Returned_E2E_types_have_a_format_view(string name)
    {
        var format = XDocument.Load(Path.Combine(Repo.Root, "module", "E2E.Format.ps1xml"));
        var viewed = format.Descendants("TypeName").Select(t => t.Value).ToHashSet();
        foreach (var type in Cmdlet(name).OutputTypes.Where(t => t.Namespace?.StartsWith("E2E.", StringComparison.Ordinal) == true))
        {
            Assert.Contains(type.FullName!, viewed);
        }
    }

    [Fact]
    public void Manifest_exports_exactly_the_compiled_cmdlets()
    {
        var manifest = ReadManifest(Path.Combine(Repo.Root, "E2E.psd1"));
        var exported = ((object[])manifest["CmdletsToExport"]!).Cast<string>().ToArray();
        Assert.DoesNotContain(exported, e => e.Contains('*', StringComparison.Ordinal));
        Assert.Equal(Cmdlets.Select(c => c.Name).Order(StringComparer.Ordinal), exported.Order(StringComparer.Ordinal));
        foreach (var key in new[] { "FunctionsToExport", "AliasesToExport", "VariablesToExport" })
        {
            Assert.Empty((object[])manifest[key]!);
        }
        Assert.False(string.IsNullOrWhiteSpace((string?)manifest["Author"]));
        Assert.False(string.IsNullOrWhiteSpace((string?)manifest["Description"]));
        Assert.Equal("7.4", manifest["PowerShellVersion"]);
    }

    [Fact]
    public void One_version_number_everywhere()
    {
        var assemblyVersion = typeof(E2ECmdlet).Assembly.GetName().Version!;
        var expected = $"{assemblyVersion.Major}.{assemblyVersion.Minor}.{assemblyVersion.Build}";
        Assert.Equal(expected, ReadManifest(Path.Combine(Repo.Root, "E2E.psd1"))["ModuleVersion"]);
        Assert.Equal(expected, ReadManifest(Repo.Manifest)["ModuleVersion"]);
    }

    [Fact]
    public void Every_error_kind_maps_to_the_PowerShell_category_of_the_same_name()
    {
        foreach (var kind in Enum.GetValues<ErrorKind>())
        {
            Assert.Equal(kind.ToString(), ErrorRecords.Category(kind).ToString());
        }
    }

    [Fact]
    public void Error_records_carry_id_category_and_target()
    {
        var record = ErrorRecords.From(ErrorCatalog.ScopeNotFound, "gone", "e2e-0123456789");
        Assert.Equal("ScopeNotFound", record.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, record.CategoryInfo.Category);
        Assert.Equal("e2e-0123456789", record.TargetObject);
    }

    [Fact]
    public void Readme_lists_every_cmdlet()
    {
        var readme = File.ReadAllText(Path.Combine(Repo.Root, "README.md"));
        Assert.All(Cmdlets, c => Assert.Contains($"`{c.Name}`", readme));
    }

    [Fact]
    public void Maml_help_file_is_emitted_by_the_build()
    {
        var maml = XDocument.Load(Path.Combine(Repo.ModuleDir, "en-US", "E2E.Cmdlets.dll-Help.xml"));
        XNamespace command = "http://schemas.microsoft.com/maml/dev/command/2004/10";
        var names = maml.Descendants(command + "details").Select(d => d.Element(command + "name")!.Value).Order(StringComparer.Ordinal);
        Assert.Equal(Cmdlets.Select(c => c.Name).Order(StringComparer.Ordinal), names);
    }

    /// <summary>Reads a .psd1 as data with PowerShell's own parser (no code runs).</summary>
    internal static System.Collections.Hashtable ReadManifest(string path)
    {
        var ast = Parser.ParseFile(path, out _, out var errors);
        Assert.Empty(errors);
        var table = (HashtableAst)ast.Find(a => a is HashtableAst, searchNestedScriptBlocks: false)!;
        return (System.Collections.Hashtable)table.SafeGetValue();
    }
}
