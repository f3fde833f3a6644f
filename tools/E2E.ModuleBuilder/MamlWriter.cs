using System.Management.Automation;
using System.Xml.Linq;

namespace E2E.ModuleBuilder;

/// <summary>
/// Writes MAML command help (the format Get-Help reads for binary cmdlets; platyPS writes the same
/// shape), so that Get-Help works in the folder that dotnet build assembles.
/// </summary>
public static class MamlWriter
{
    private static readonly XNamespace Msh = "http://msh";
    private static readonly XNamespace Maml = "http://schemas.microsoft.com/maml/2004/10";
    private static readonly XNamespace Command = "http://schemas.microsoft.com/maml/dev/command/2004/10";
    private static readonly XNamespace Dev = "http://schemas.microsoft.com/maml/dev/2004/10";

    public static XDocument Write(IEnumerable<CmdletDoc> cmdlets) =>
        new(new XDeclaration("1.0", "utf-8", null),
            new XElement(Msh + "helpItems", new XAttribute("schema", "maml"),
                cmdlets.Select(CommandElement)));

    private static XElement CommandElement(CmdletDoc cmdlet) =>
        new(Command + "command",
            new XAttribute(XNamespace.Xmlns + "maml", Maml),
            new XAttribute(XNamespace.Xmlns + "command", Command),
            new XAttribute(XNamespace.Xmlns + "dev", Dev),
            new XElement(Command + "details",
                new XElement(Command + "name", cmdlet.Name),
                new XElement(Command + "verb", cmdlet.Verb),
                new XElement(Command + "noun", cmdlet.Noun),
                Description(cmdlet.Synopsis)),
            Description(cmdlet.Description.ToArray()),
            new XElement(Command + "syntax", cmdlet.ParameterSetNames.Select(set =>
                new XElement(Command + "syntaxItem",
                    new XElement(Maml + "name", cmdlet.Name),
                    cmdlet.ParametersIn(set).Select(p => Parameter(p.Parameter, p.Set))))),
            new XElement(Command + "parameters", cmdlet.Parameters.Select(p => Parameter(p, p.Sets[0]))),
            new XElement(Command + "inputTypes", cmdlet.Parameters.Where(p => p.AcceptsPipeline).Select(p =>
                new XElement(Command + "inputType",
                    TypeElement(p.Type),
                    Description($"Binds to -{p.Name}" + (p.Sets.Any(s => s.FromPipeline) ? "." : " by property name."))))),
            new XElement(Command + "returnValues", cmdlet.OutputTypes.Select(t =>
                new XElement(Command + "returnValue", TypeElement(t), Description(string.Empty)))),
            new XElement(Command + "examples", cmdlet.Examples.Select((e, i) =>
                new XElement(Command + "example",
                    new XElement(Maml + "title", $"-------------------------- Example {i + 1} --------------------------"),
                    new XElement(Dev + "code", e.Code),
                    new XElement(Dev + "remarks", e.Remarks.Select(r => new XElement(Maml + "para", r)))))),
            new XElement(Command + "relatedLinks"));

    private static XElement Parameter(ParameterDoc parameter, ParameterSetDoc set)
    {
        var pipeline = set.FromPipeline && set.FromPipelineByPropertyName ? "True (ByValue, ByPropertyName)"
            : set.FromPipeline ? "True (ByValue)"
            : set.FromPipelineByPropertyName ? "True (ByPropertyName)"
            : "False";
        var element = new XElement(Command + "parameter",
            new XAttribute("required", set.Mandatory ? "true" : "false"),
            new XAttribute("variableLength", parameter.Type.IsArray ? "true" : "false"),
            new XAttribute("globbing", "false"),
            new XAttribute("pipelineInput", pipeline),
            new XAttribute("position", set.Position?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "named"),
            new XAttribute("aliases", parameter.Aliases.Count == 0 ? "none" : string.Join(", ", parameter.Aliases)),
            new XElement(Maml + "name", parameter.Name),
            Description(parameter.Description));
        if (!parameter.IsSwitch)
        {
            element.Add(new XElement(Command + "parameterValue",
                new XAttribute("required", "true"),
                new XAttribute("variableLength", parameter.Type.IsArray ? "true" : "false"),
                FriendlyName(parameter.Type)));
        }
        element.Add(TypeElement(parameter.Type), new XElement(Dev + "defaultValue", "None"));
        return element;
    }

    private static XElement TypeElement(Type type) =>
        new(Dev + "type", new XElement(Maml + "name", FriendlyName(type)), new XElement(Maml + "uri"));

    private static XElement Description(params string[] paragraphs) =>
        new(Maml + "description", paragraphs.Select(p => new XElement(Maml + "para", p)));

    /// <summary>Names as PowerShell users write them: String[], Hashtable, Nullable&lt;TimeSpan&gt; as TimeSpan.</summary>
    public static string FriendlyName(Type type)
    {
        if (type == typeof(SwitchParameter))
        {
            return "SwitchParameter";
        }
        if (Nullable.GetUnderlyingType(type) is { } inner)
        {
            return FriendlyName(inner);
        }
        if (type.IsArray)
        {
            return FriendlyName(type.GetElementType()!) + "[]";
        }
        return type.Namespace is "System" or "System.Collections" or "System.Management.Automation" or "System.IO" ? type.Name : type.FullName ?? type.Name;
    }
}
