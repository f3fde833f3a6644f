using System.Management.Automation;
using System.Management.Automation.Internal;
using System.Reflection;
using System.Text.Json;

namespace E2E.ModuleBuilder;

/// <summary>
/// The module's commands and their parameters as JSON, for the static check of .ps1 files (which runs
/// in node and cannot load .NET assemblies). Common parameters are read from PowerShell's own
/// CommonParameters and ShouldProcessParameters types, so the list cannot drift from the engine.
/// </summary>
public static class CommandTable
{
    public static string ToJson(IEnumerable<CmdletDoc> cmdlets, string version)
    {
        var table = new
        {
            module = "E2E",
            version,
            commonParameters = ParameterNames(typeof(CommonParameters)),
            shouldProcessParameters = ParameterNames(typeof(ShouldProcessParameters)),
            commands = cmdlets.Select(c => new
            {
                name = c.Name,
                supportsShouldProcess = c.SupportsShouldProcess,
                parameters = c.Parameters.Select(p => new
                {
                    name = p.Name,
                    aliases = p.Aliases,
                    type = MamlWriter.FriendlyName(p.Type),
                    isSwitch = p.IsSwitch,
                    positions = p.Sets.Where(s => s.Position is not null).Select(s => s.Position).Distinct(),
                }),
            }),
        };
        return JsonSerializer.Serialize(table, new JsonSerializerOptions { WriteIndented = true });
    }

    private static IEnumerable<object> ParameterNames(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<ParameterAttribute>() is not null)
            .Select(p => new { name = p.Name, aliases = p.GetCustomAttributes<AliasAttribute>().SelectMany(a => a.AliasNames) });
}
