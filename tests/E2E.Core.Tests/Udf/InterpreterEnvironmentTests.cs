using E2E.Core.Errors;
using E2E.Core.Tests.Kubernetes;
using E2E.Core.Udf;

namespace E2E.Core.Tests.Udf;

/// <summary>
/// The interpreter's own packages as a UDF environment: requirements checked without an index, and the choice
/// New-UdfManifest makes. The "installed" distributions are metadata folders on the PYTHONPATH of a wrapper
/// interpreter, so the tests need no real package and change nothing on the machine.
/// </summary>
public sealed class InterpreterEnvironmentTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-interp-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string InterpreterWith(params (string Name, string Version)[] distributions) => FakeInterpreter(_root, distributions);

    /// <summary>A python3 (a wrapper script in a folder under <paramref name="root"/>) that sees the given distributions as installed.</summary>
    internal static string FakeInterpreter(string root, params (string Name, string Version)[] distributions)
    {
        var site = Directory.CreateDirectory(Path.Combine(root, "site-" + Guid.NewGuid().ToString("N")[..8])).FullName;
        foreach (var (name, version) in distributions)
        {
            var info = Directory.CreateDirectory(Path.Combine(site, $"{name.Replace('-', '_')}-{version}.dist-info")).FullName;
            File.WriteAllText(Path.Combine(info, "METADATA"), $"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
        }
        return KubeTestTools.WriteExecutable(Path.Combine(site, "python"), $"#!/bin/sh\nPYTHONPATH='{site}' exec python3 \"$@\"\n");
    }

    private string Package(string name, params string[] dependencies)
    {
        var folder = Directory.CreateDirectory(Path.Combine(_root, name)).FullName;
        File.WriteAllText(Path.Combine(folder, "pyproject.toml"),
            $"[project]\nname = \"{name}\"\nversion = \"0.1.0\"\ndependencies = [{string.Join(", ", dependencies.Select(d => $"\"{d}\""))}]\n");
        File.WriteAllText(Path.Combine(folder, "package_udfs.py"), "from e2e_udf import udf\n\n@udf(data_type=\"int64\")\ndef size(image: bytes) -> int:\n    return len(image)\n");
        return folder;
    }

    [Fact]
    public async Task Requirements_are_checked_by_name_extras_and_specifier_with_release_numbers()
    {
        var python = InterpreterWith(("torch", "1.13.0a0+gitunknown"), ("Pillow", "9.4.0"), ("numpy", "1.24.2"));
        var check = await InterpreterRequirements.CheckAsync(python,
            new[] { "torch>=1.13", "pillow[extra] (>=9,<10)", "numpy~=1.24", "numpy==1.*", "torch!=1.12; python_version > '3'", "torch>=2.2", "absent-package", "numpy<1.0" }, CancellationToken.None);
        // Debian's 1.13.0a0+gitunknown counts as 1.13.0; names match whatever their case.
        Assert.Equal("1.13.0a0+gitunknown", check.Satisfied["torch"]);
        Assert.Equal("9.4.0", check.Satisfied["pillow"]);
        Assert.Equal(new[] { "torch>=2.2 (torch 1.13.0a0+gitunknown is installed)", "absent-package (not installed)", "numpy<1.0 (numpy 1.24.2 is installed)" }, check.Unsatisfied);
        Assert.False(check.AllSatisfied);
    }

    [Fact]
    public async Task Auto_takes_the_interpreters_own_packages_when_it_has_them_and_records_their_versions()
    {
        var package = Package("interp-udfs", "fake-torch>=1.0");
        var withIt = await ManifestBuilder.BuildAsync(UdfProject.Load(package), new ManifestBuildOptions { Python = InterpreterWith(("fake-torch", "1.13.1")), OutputDirectory = Path.Combine(_root, "a") }, CancellationToken.None);
        Assert.Equal("interpreter", withIt.Environment);
        Assert.Equal("1.13.1", withIt.InterpreterPackages!["fake-torch"]);
        Assert.Equal(new[] { "py_modules" }, withIt.Zips.Select(z => z.Kind));
        Assert.True(withIt.SkipSitePackages);
        var json = UdfManifest.FromJson(withIt.ToJson(), "test");
        Assert.Equal(("interpreter", "1.13.1"), (json.EnvironmentKind, json.InterpreterPackages!["fake-torch"]));

        // Another version of a requirement is another package.
        var other = await ManifestBuilder.BuildAsync(UdfProject.Load(package), new ManifestBuildOptions { Python = InterpreterWith(("fake-torch", "2.0.0")), OutputDirectory = Path.Combine(_root, "b") }, CancellationToken.None);
        Assert.NotEqual(withIt.Checksum, other.Checksum);
        Assert.Equal(withIt.Zips[0].Checksum, other.Zips[0].Checksum);
    }

    [Fact]
    public async Task Interpreter_insists_and_names_what_is_missing_and_a_package_without_requirements_stays_isolated()
    {
        var package = Package("strict-udfs", "fake-torch>=2.2", "fake-vision");
        var python = InterpreterWith(("fake-torch", "1.13.1"));
        var error = await Assert.ThrowsAsync<E2EException>(() => ManifestBuilder.BuildAsync(UdfProject.Load(package),
            new ManifestBuildOptions { Python = python, Environment = UdfEnvironment.Interpreter, OutputDirectory = Path.Combine(_root, "c") }, CancellationToken.None));
        Assert.Same(ErrorCatalog.RequirementsNotInstalled, error.Error);
        Assert.Contains("fake-torch>=2.2 (fake-torch 1.13.1 is installed)", error.Message);
        Assert.Contains("fake-vision (not installed)", error.Message);
        Assert.False(Directory.Exists(Path.Combine(_root, "c")) && Directory.EnumerateFiles(Path.Combine(_root, "c"), "*.manifest.json").Any());

        var plain = await ManifestBuilder.BuildAsync(UdfProject.Load(Package("plain-udfs")), new ManifestBuildOptions { Python = python, OutputDirectory = Path.Combine(_root, "d") }, CancellationToken.None);
        Assert.Equal("isolated", plain.Environment);
        Assert.Equal(new[] { "py_modules", "site_packages" }, plain.Zips.Select(z => z.Kind));
        var none = await ManifestBuilder.BuildAsync(UdfProject.Load(package), new ManifestBuildOptions { Python = python, SkipSitePackages = true, OutputDirectory = Path.Combine(_root, "e") }, CancellationToken.None);
        Assert.Equal(("none", null), (none.Environment, none.InterpreterPackages));
    }
}
