using E2E.Core.Errors;
using E2E.Core.Toml;

namespace E2E.Core.Udf;

/// <summary>A UDF package: a directory with pyproject.toml ([project] name, version, dependencies) and Python modules.</summary>
public sealed record UdfProject(string Directory, string Name, string Version, IReadOnlyList<string> Dependencies, string? RequiresPython, IReadOnlyList<string> PyModules)
{
    private static readonly HashSet<string> Ignored = new(StringComparer.Ordinal) { "__pycache__", ".venv", "venv", ".git", "dist", "build", ".e2e", "tests", ".pytest_cache" };

    public static UdfProject Load(string directory)
    {
        var full = Path.GetFullPath(directory);
        var pyproject = Path.Combine(full, "pyproject.toml");
        if (!File.Exists(pyproject))
        {
            throw new E2EException(ErrorCatalog.UdfProjectInvalid, $"'{full}' has no pyproject.toml, so it is not a UDF package.", full);
        }
        var toml = TomlParser.ParseFile(pyproject);
        var name = toml.Find("project", "name") as string;
        var version = toml.Find("project", "version") as string;
        if (string.IsNullOrWhiteSpace(name) || string.IsNullOrWhiteSpace(version))
        {
            throw new E2EException(ErrorCatalog.UdfProjectInvalid, $"{pyproject} must set [project] name and version as strings.", pyproject);
        }
        if (!UdfManifest.IsValidName(name))
        {
            throw new E2EException(ErrorCatalog.InvalidName,
                $"{pyproject}: [project] name '{name}' is not a valid project name (PEP 508: letters, digits, '.', '_' and '-', starting and ending with a letter or digit); it names files and store keys.", pyproject);
        }
        var dependencies = toml.Find("project", "dependencies") switch
        {
            null => Array.Empty<string>(),
            TomlArray array when array.All(d => d is string) => array.Cast<string>().ToArray(),
            _ => throw new E2EException(ErrorCatalog.UdfProjectInvalid, $"{pyproject}: [project] dependencies must be a list of strings.", pyproject),
        };
        return new UdfProject(full, name, version, dependencies, toml.Find("project", "requires-python") as string, FindModules(full));
    }

    /// <summary>Top-level .py modules and packages (directories with __init__.py), sorted.</summary>
    private static IReadOnlyList<string> FindModules(string directory)
    {
        var modules = System.IO.Directory.EnumerateFiles(directory, "*.py").Select(f => Path.GetFileNameWithoutExtension(f)!)
            .Concat(System.IO.Directory.EnumerateDirectories(directory)
                .Where(d => !Ignored.Contains(Path.GetFileName(d)) && File.Exists(Path.Combine(d, "__init__.py")))
                .Select(Path.GetFileName)
                .OfType<string>())
            .Where(m => m != "setup")
            .Order(StringComparer.Ordinal)
            .ToArray();
        return modules;
    }

    /// <summary>The files that belong in the modules zip, as (path inside the zip, file on disk).</summary>
    public IEnumerable<(string Name, string File)> ModuleFiles()
    {
        foreach (var module in PyModules)
        {
            var file = Path.Combine(Directory, module + ".py");
            if (File.Exists(file))
            {
                yield return (module + ".py", file);
                continue;
            }
            foreach (var entry in DeterministicZip.Walk(Path.Combine(Directory, module), Ignored))
            {
                yield return (module + "/" + entry.Name, entry.File);
            }
        }
    }
}
