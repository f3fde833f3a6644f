using System.Management.Automation;
using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace E2E.ModuleBuilder;

public sealed record ParameterSetDoc(string Name, bool Mandatory, int? Position, bool FromPipeline, bool FromPipelineByPropertyName);

public sealed record ParameterDoc(string Name, Type Type, IReadOnlyList<string> Aliases, IReadOnlyList<ParameterSetDoc> Sets, string Description)
{
    public bool IsSwitch => Type == typeof(SwitchParameter);

    public bool AcceptsPipeline => Sets.Any(s => s.FromPipeline || s.FromPipelineByPropertyName);
}

public sealed record ExampleDoc(string Code, IReadOnlyList<string> Remarks);

public sealed record CmdletDoc(
    Type Type,
    string Verb,
    string Noun,
    bool SupportsShouldProcess,
    ConfirmImpact ConfirmImpact,
    string? DefaultParameterSet,
    IReadOnlyList<Type> OutputTypes,
    IReadOnlyList<ParameterDoc> Parameters,
    string Synopsis,
    IReadOnlyList<string> Description,
    IReadOnlyList<ExampleDoc> Examples)
{
    public string Name => $"{Verb}-{Noun}";

    /// <summary>Parameter set names, the default first; the unnamed set when there is none.</summary>
    public IReadOnlyList<string> ParameterSetNames
    {
        get
        {
            var named = Parameters.SelectMany(p => p.Sets).Select(s => s.Name).Where(n => n != ParameterAttribute.AllParameterSets).Distinct().ToList();
            // A default set that only the Cmdlet attribute names (no parameter of its own, such as "Rows" beside "Quiet")
            // is still a way to call the cmdlet: without it the help showed only the other set, with its switch required.
            if (named.Count > 0 && DefaultParameterSet is { Length: > 0 } fallback && fallback != ParameterAttribute.AllParameterSets && !named.Contains(fallback))
            {
                named.Add(fallback);
            }
            if (named.Count == 0)
            {
                return new[] { ParameterAttribute.AllParameterSets };
            }
            return named.OrderBy(n => n == DefaultParameterSet ? 0 : 1).ThenBy(n => n, StringComparer.Ordinal).ToArray();
        }
    }

    /// <summary>The parameters that belong to a set, including those in every set.</summary>
    public IEnumerable<(ParameterDoc Parameter, ParameterSetDoc Set)> ParametersIn(string setName) =>
        Parameters.SelectMany(p => p.Sets
            .Where(s => s.Name == setName || s.Name == ParameterAttribute.AllParameterSets)
            .Take(1)
            .Select(s => (p, s)));
}

/// <summary>
/// Reads every cmdlet of an assembly: attributes by reflection (as PowerShell reads them) and help text
/// from the compiler's XML documentation file beside the assembly. One reader serves the MAML writer
/// and the contract tests.
/// </summary>
public static partial class CmdletCatalog
{
    public static IReadOnlyList<CmdletDoc> Load(string assemblyPath)
    {
        var assembly = Assembly.LoadFrom(assemblyPath);
        var xmlPath = Path.ChangeExtension(assemblyPath, ".xml");
        var docs = File.Exists(xmlPath) ? XmlDocs.Load(xmlPath) : new XmlDocs(new Dictionary<string, XElement>());
        return assembly.GetExportedTypes()
            .Where(t => !t.IsAbstract && t.GetCustomAttribute<CmdletAttribute>() is not null)
            .Select(t => Describe(t, docs))
            .OrderBy(c => c.Name, StringComparer.Ordinal)
            .ToArray();
    }

    private static CmdletDoc Describe(Type type, XmlDocs docs)
    {
        var cmdlet = type.GetCustomAttribute<CmdletAttribute>()!;
        var member = docs.Member("T:" + type.FullName);
        var parameters = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => (Property: p, Attributes: p.GetCustomAttributes<ParameterAttribute>().ToArray()))
            .Where(p => p.Attributes.Length > 0)
            .OrderBy(p => p.Attributes.Select(a => a.Position).Where(x => x >= 0).DefaultIfEmpty(int.MaxValue).Min())
            .ThenBy(p => p.Attributes.Any(a => a.Mandatory) ? 0 : 1)
            .ThenBy(p => p.Property.MetadataToken)
            .Select(p => new ParameterDoc(
                p.Property.Name,
                p.Property.PropertyType,
                p.Property.GetCustomAttributes<AliasAttribute>().SelectMany(a => a.AliasNames).ToArray(),
                p.Attributes.Select(a => new ParameterSetDoc(a.ParameterSetName, a.Mandatory, a.Position >= 0 ? a.Position : null, a.ValueFromPipeline, a.ValueFromPipelineByPropertyName)).ToArray(),
                Text(docs.Member($"P:{p.Property.DeclaringType!.FullName}.{p.Property.Name}")?.Element("summary"))))
            .ToArray();
        return new CmdletDoc(
            type,
            cmdlet.VerbName,
            cmdlet.NounName,
            cmdlet.SupportsShouldProcess,
            cmdlet.ConfirmImpact,
            cmdlet.DefaultParameterSetName,
            type.GetCustomAttributes<OutputTypeAttribute>().SelectMany(a => a.Type).Select(t => t.Type).OfType<Type>().ToArray(),
            parameters,
            Text(member?.Element("summary")),
            member?.Element("remarks")?.Elements("para").Select(Text).ToArray() ?? Array.Empty<string>(),
            member?.Elements("example").Select(e => new ExampleDoc(Code(e.Element("code")), e.Elements("para").Select(Text).ToArray())).ToArray() ?? Array.Empty<ExampleDoc>());
    }

    /// <summary>Prose: whitespace folded, as the compiler keeps line breaks from the source comment.</summary>
    private static string Text(XElement? element) =>
        element is null ? string.Empty : Whitespace().Replace(string.Concat(element.Nodes().Select(NodeText)), " ").Trim();

    private static string NodeText(XNode node) => node switch
    {
        XText text => text.Value,
        XElement { Name.LocalName: "c" } c => c.Value,
        XElement { Name.LocalName: "see" } see => (string?)see.Attribute("cref") is { } cref ? cref[(cref.LastIndexOf('.') + 1)..] : see.Value,
        XElement e => e.Value,
        _ => string.Empty,
    };

    /// <summary>Code: line breaks kept, the common indentation removed.</summary>
    private static string Code(XElement? element)
    {
        if (element is null)
        {
            return string.Empty;
        }
        var lines = element.Value.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').SkipWhile(string.IsNullOrWhiteSpace).Reverse().SkipWhile(string.IsNullOrWhiteSpace).Reverse().ToArray();
        // The first line usually starts right after <code>, unindented; the rest carry the XML file's indentation
        // as well as their own. The common indentation is measured on those other lines, so only the XML's goes.
        var rest = lines.Length > 1 && lines[0].Length > 0 && !char.IsWhiteSpace(lines[0][0]) ? lines.Skip(1) : lines;
        var indent = rest.Where(l => l.Trim().Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return string.Join("\n", lines.Select((l, i) => i == 0 && !ReferenceEquals(rest, lines) ? l : l.Length >= indent ? l[indent..] : l.TrimStart()));
    }

    [GeneratedRegex("\\s+")]
    private static partial Regex Whitespace();

    private sealed class XmlDocs(Dictionary<string, XElement> members)
    {
        public static XmlDocs Load(string path) =>
            new(XDocument.Load(path).Descendants("member")
                .Where(m => m.Attribute("name") is not null)
                .GroupBy(m => (string)m.Attribute("name")!)
                .ToDictionary(g => g.Key, g => g.First()));

        public XElement? Member(string name) => members.GetValueOrDefault(name);
    }
}
