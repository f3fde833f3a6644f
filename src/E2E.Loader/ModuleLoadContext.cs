using System.Reflection;
using System.Runtime.Loader;

namespace E2E.Loader;

/// <summary>
/// The module's own AssemblyLoadContext. E2E.psm1 loads this assembly (E2E.dll) into the default context
/// and asks it for the cmdlet assembly; every assembly found beside it (E2E.Cmdlets, E2E.Core and the
/// third-party packages) then loads here, so another module's different version of, say, YamlDotNet
/// cannot clash with ours. Anything not found beside it (System.*, System.Management.Automation) falls
/// back to the default context, which is what keeps PowerShell's own types shared.
/// </summary>
public sealed class ModuleLoadContext : AssemblyLoadContext
{
    private const string CmdletAssemblyName = "E2E.Cmdlets";

    private static readonly object Gate = new();
    private static ModuleLoadContext? _instance;

    private readonly string _directory;
    private readonly Assembly _cmdlets;

    private ModuleLoadContext(string directory)
        : base("E2E", isCollectible: false)
    {
        _directory = directory;
        _cmdlets = LoadFromAssemblyPath(Path.Combine(directory, CmdletAssemblyName + ".dll"));
    }

    /// <summary>Returns the cmdlet assembly, creating the context on first use (a re-import reuses it).</summary>
    public static Assembly Initialize()
    {
        lock (Gate)
        {
            _instance ??= new ModuleLoadContext(Path.GetDirectoryName(typeof(ModuleLoadContext).Assembly.Location)!);
            return _instance._cmdlets;
        }
    }

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        if (assemblyName.Name == typeof(ModuleLoadContext).Assembly.GetName().Name)
        {
            return typeof(ModuleLoadContext).Assembly;
        }
        var candidate = Path.Combine(_directory, assemblyName.Name + ".dll");
        return File.Exists(candidate) ? LoadFromAssemblyPath(candidate) : null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
    {
        // Native libraries shipped by packages (e_sqlite3 for Microsoft.Data.Sqlite) live under runtimes/<rid>/native.
        // A distribution's own .NET build may report a specific RID (debian.12-x64); packages ship portable ones (linux-x64).
        var os = OperatingSystem.IsWindows() ? "win" : OperatingSystem.IsMacOS() ? "osx" : "linux";
        var arch = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString().ToLowerInvariant();
        var rids = new[] { System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier, $"{os}-{arch}" };
        foreach (var rid in rids.Distinct())
        {
            foreach (var name in new[] { unmanagedDllName, "lib" + unmanagedDllName + ".so", unmanagedDllName + ".dll", "lib" + unmanagedDllName + ".dylib" })
            {
                var path = Path.Combine(_directory, "runtimes", rid, "native", name);
                if (File.Exists(path))
                {
                    return LoadUnmanagedDllFromPath(path);
                }
            }
        }
        return IntPtr.Zero;
    }
}
