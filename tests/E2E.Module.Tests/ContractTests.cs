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
        "Receive", // reads what the other side holds (Receive-E2ETensor)
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

    /// <summary>Pipelines across nouns that the suites and the docs use, checked beside the Get-X | Verb-X pairs.</summary>
    private static readonly HashSet<(string Getter, string Taker)> CrossNounPipelines = new()
    {
        ("Get-PetalsRoute", "Invoke-DistributedInference"),
        ("Get-PetalsNode", "Invoke-DistributedInference"),
        ("Get-PetalsNode", "Get-PetalsRoute"),
        ("Get-E2ECompute", "Get-E2EComputeEndpoint"),
    };

    /// <summary>
    /// Every Get-X and each Verb-X (or a cross-noun pipeline above) with a parameter of a type Get-X returns (an E2E
    /// type, or an array of one): Get-E2EStack | Stop-E2EStack, Get-PetalsRoute | Invoke-DistributedInference, ...
    /// </summary>
    public static TheoryData<string, string> GetterPairs()
    {
        var pairs = new TheoryData<string, string>();
        foreach (var getter in Cmdlets.Where(c => c.Verb == "Get"))
        {
            var outputs = getter.OutputTypes.Where(t => t.Namespace?.StartsWith("E2E.", StringComparison.Ordinal) == true).ToArray();
            foreach (var taker in Cmdlets.Where(c => c.Name != getter.Name && (c.Noun == getter.Noun || CrossNounPipelines.Contains((getter.Name, c.Name)))))
            {
                if (taker.Parameters.Any(p => outputs.Contains(Taken(p.Type))))
                {
                    pairs.Add(getter.Name, taker.Name);
                }
            }
        }
        return pairs;
    }

    /// <summary>The type a parameter takes one of: its element type for an array.</summary>
    private static Type Taken(Type type) => type.IsArray ? type.GetElementType()! : type;

    [Fact]
    public void The_pairs_include_the_pipelines_the_suites_use()
    {
        var pairs = GetterPairs().Select(row => $"{row[0]} | {row[1]}").ToArray();
        foreach (var pipeline in CrossNounPipelines.Select(p => $"{p.Getter} | {p.Taker}").Append("Get-E2EStack | Stop-E2EStack").Append("Get-PetalsNode | Stop-PetalsNode"))
        {
            Assert.Contains(pipeline, pairs);
        }
    }

    [Theory]
    [MemberData(nameof(GetterPairs))]
    public void What_a_Get_cmdlet_returns_pipes_into_the_cmdlets_that_take_it(string getter, string taker)
    {
        var outputs = Cmdlet(getter).OutputTypes;
        var takers = Cmdlet(taker).Parameters.Where(p => outputs.Contains(Taken(p.Type))).ToArray();
        Assert.True(takers.Any(p => p.Sets.Any(s => s.FromPipeline || s.FromPipelineByPropertyName)),
            $"{getter} | {taker}: -{string.Join(", -", takers.Select(p => p.Name))} take{(takers.Length == 1 ? "s" : string.Empty)} what {getter} returns, so one must bind it from the pipeline");
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
    public void The_cmdlet_page_lists_every_cmdlet()
    {
        var page = File.ReadAllText(Path.Combine(Repo.Root, "docs", "cmdlets.md"));
        Assert.All(Cmdlets, c => Assert.Contains($"`{c.Name}`", page));
    }

    [Fact]
    public void The_readme_is_read_in_ten_minutes_and_each_suite_has_a_page()
    {
        Assert.True(new FileInfo(Path.Combine(Repo.Root, "README.md")).Length < 15 * 1024, "README.md must stay under 15 KB; the rest belongs in docs/");
        var readme = File.ReadAllText(Path.Combine(Repo.Root, "README.md"));
        var pages = new Dictionary<string, string>
        {
            ["OxfordPets"] = "docs/suites/oxfordpets.md",
            ["SkyTorch"] = "docs/suites/skytorch.md",
            ["Tracelet"] = "docs/suites/tracelet.md",
            ["Venvstacks"] = "docs/suites/venvstacks.md",
            ["PlumisePetals"] = "docs/suites/plumise-petals.md",
        };
        var suites = Directory.EnumerateFiles(Path.Combine(Repo.Root, "Pester"), "*.Tests.ps1").Select(f => Path.GetFileName(f)[..^".Tests.ps1".Length]);
        Assert.Equal(pages.Keys.Order(), suites.Where(s => s is not "Foundation" and not "Maintenance").Order());
        foreach (var page in pages.Values)
        {
            Assert.True(File.Exists(Path.Combine(Repo.Root, page)), $"no page {page}");
            Assert.Contains($"]({page})", readme);
        }
    }

    [Fact]
    public void The_manifest_claims_only_the_platform_that_is_tested()
    {
        var tags = (object[])((System.Collections.Hashtable)((System.Collections.Hashtable)ReadManifest(Path.Combine(Repo.Root, "E2E.psd1"))["PrivateData"]!)["PSData"]!)["Tags"]!;
        Assert.Contains("Linux", tags);
        Assert.DoesNotContain("Windows", tags);
        Assert.DoesNotContain("MacOS", tags);
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
