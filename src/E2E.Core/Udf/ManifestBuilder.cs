using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using E2E.Core.Errors;
using E2E.Core.Processes;

namespace E2E.Core.Udf;

/// <summary>Where a UDF package's workers get its requirements.</summary>
public enum UdfEnvironment
{
    /// <summary>Interpreter when -Python already has every requirement (and there is at least one), else Isolated.</summary>
    Auto,

    /// <summary>A virtual environment of its own, built with uv or pip and packed as site-packages.</summary>
    Isolated,

    /// <summary>The interpreter's own site-packages, checked to hold every requirement; nothing more is packed.</summary>
    Interpreter,

    /// <summary>Modules only (-SkipSitePackages).</summary>
    None,
}

public sealed record ManifestBuildOptions
{
    public bool SkipSitePackages { get; init; }

    public UdfEnvironment Environment { get; init; } = UdfEnvironment.Auto;

    /// <summary>The Python that builds the environment; python3 on PATH by default.</summary>
    public string Python { get; init; } = "python3";

    /// <summary>Where zips are written; &lt;package&gt;/.e2e/dist by default.</summary>
    public string? OutputDirectory { get; init; }

    public IReadOnlyDictionary<string, string> EnvVars { get; init; } = new Dictionary<string, string>();

    public string? HeadImage { get; init; }

    public string? WorkerImage { get; init; }

    public string CreatedBy { get; init; } = System.Environment.UserName;
}

/// <summary>
/// Packs a UDF package: its modules into one zip and, unless skipped, its isolated environment's
/// site-packages into another, then writes the manifest. The environment is built once per set of
/// requirements and Python version (uv when it is on PATH, else python -m venv and pip) and reused after.
/// </summary>
public static class ManifestBuilder
{
    public static async Task<UdfManifest> BuildAsync(UdfProject project, ManifestBuildOptions options, CancellationToken cancellation)
    {
        var output = options.OutputDirectory ?? Path.Combine(project.Directory, ".e2e", "dist");
        var (environment, interpreterPackages) = await ChooseEnvironmentAsync(project, options, cancellation).ConfigureAwait(false);
        var zips = new List<UdfZip>();
        var modules = DeterministicZip.Create(project.ModuleFiles(), output);
        zips.Add(new UdfZip("py_modules", modules.Checksum, modules.Size, modules.Members));
        if (environment == UdfEnvironment.Isolated)
        {
            var sitePackages = await EnsureEnvironmentAsync(project, options.Python, cancellation).ConfigureAwait(false);
            var packed = DeterministicZip.Create(DeterministicZip.Walk(sitePackages, new HashSet<string>(StringComparer.Ordinal) { "__pycache__" }), output);
            zips.Add(new UdfZip("site_packages", packed.Checksum, packed.Size, packed.Members));
        }
        // Only an isolated environment is packed: the others run on the worker interpreter's own site-packages.
        var skipSitePackages = environment != UdfEnvironment.Isolated;
        var checksum = UdfManifest.ComputeChecksum(project.Name, project.Version, project.Dependencies, project.PyModules, skipSitePackages, zips, options.EnvVars, options.HeadImage, options.WorkerImage, interpreterPackages);
        var manifest = new UdfManifest(project.Name, project.Version, project.Dependencies, project.PyModules, skipSitePackages, zips, checksum,
            DateTimeOffset.UtcNow, options.CreatedBy, options.EnvVars, options.HeadImage, options.WorkerImage)
        {
            LocalZipDirectory = output, Environment = environment.ToString().ToLowerInvariant(), InterpreterPackages = interpreterPackages,
        };
        File.WriteAllText(Path.Combine(output, $"{project.Name}.manifest.json"), manifest.ToJson());
        return manifest;
    }

    /// <summary>
    /// Auto takes the interpreter's own packages when it has every requirement (a machine with torch from Debian and
    /// no package index still packs a torch UDF), else builds an isolated environment; a package without requirements
    /// is isolated as before. Interpreter insists, naming what is missing.
    /// </summary>
    private static async Task<(UdfEnvironment, IReadOnlyDictionary<string, string>?)> ChooseEnvironmentAsync(UdfProject project, ManifestBuildOptions options, CancellationToken cancellation)
    {
        var wanted = options.SkipSitePackages ? UdfEnvironment.None : options.Environment;
        if (wanted is UdfEnvironment.None or UdfEnvironment.Isolated || (wanted == UdfEnvironment.Auto && project.Dependencies.Count == 0))
        {
            return (wanted == UdfEnvironment.None ? UdfEnvironment.None : UdfEnvironment.Isolated, null);
        }
        var check = await InterpreterRequirements.CheckAsync(options.Python, project.Dependencies, cancellation).ConfigureAwait(false);
        if (check.AllSatisfied)
        {
            return (UdfEnvironment.Interpreter, check.Satisfied);
        }
        if (wanted == UdfEnvironment.Interpreter)
        {
            throw new E2EException(ErrorCatalog.RequirementsNotInstalled,
                $"'{options.Python}' does not have every requirement of {project.Name}: {string.Join("; ", check.Unsatisfied)}.", project.Name);
        }
        return (UdfEnvironment.Isolated, null);
    }

    /// <summary>The site-packages folder of the package's environment, building the environment when its inputs changed.</summary>
    public static async Task<string> EnsureEnvironmentAsync(UdfProject project, string python, CancellationToken cancellation)
    {
        var version = (await ExternalTool.RunAsync(python, new[] { "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])" }, project.Directory, ErrorCatalog.EnvironmentBuildFailed, cancellation).ConfigureAwait(false)).Trim();
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(version + "\n" + string.Join("\n", project.Dependencies.Order(StringComparer.Ordinal))))).ToLowerInvariant()[..12];
        var env = Path.Combine(project.Directory, ".e2e", $"venv-{key}");
        var ready = Path.Combine(env, ".e2e-ready");
        if (!File.Exists(ready))
        {
            if (Directory.Exists(env))
            {
                Directory.Delete(env, recursive: true); // a half-built environment from an interrupted run
            }
            try
            {
                var uv = ExternalTool.FindOnPath("uv");
                if (uv is not null)
                {
                    await ExternalTool.RunAsync(uv, new[] { "venv", "--python", python, env }, project.Directory, ErrorCatalog.EnvironmentBuildFailed, cancellation).ConfigureAwait(false);
                    if (project.Dependencies.Count > 0)
                    {
                        await ExternalTool.RunAsync(uv, new[] { "pip", "install", "--python", Path.Combine(env, "bin", "python") }.Concat(project.Dependencies).ToArray(), project.Directory, ErrorCatalog.EnvironmentBuildFailed, cancellation).ConfigureAwait(false);
                    }
                }
                else
                {
                    // Without requirements pip is not needed, and leaving it out keeps the environment small.
                    var venvArgs = project.Dependencies.Count == 0 ? new[] { "-m", "venv", "--without-pip", env } : new[] { "-m", "venv", env };
                    await ExternalTool.RunAsync(python, venvArgs, project.Directory, ErrorCatalog.EnvironmentBuildFailed, cancellation).ConfigureAwait(false);
                    if (project.Dependencies.Count > 0)
                    {
                        await ExternalTool.RunAsync(Path.Combine(env, "bin", "python"), new[] { "-m", "pip", "install", "--disable-pip-version-check", "--no-input" }.Concat(project.Dependencies).ToArray(), project.Directory, ErrorCatalog.EnvironmentBuildFailed, cancellation).ConfigureAwait(false);
                    }
                }
                File.WriteAllText(ready, version);
            }
            catch
            {
                if (Directory.Exists(env))
                {
                    Directory.Delete(env, recursive: true);
                }
                throw;
            }
        }
        return Directory.EnumerateDirectories(Path.Combine(env, "lib"), "python*").Select(d => Path.Combine(d, "site-packages")).First(Directory.Exists);
    }
}
