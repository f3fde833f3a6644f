namespace E2E.Core.Tests.Snapshots;

/// <summary>
/// Copies of the venvstacks sample project's committed outputs (requirements/ and the linux_x86_64 expected
/// manifests) as an expected tree and an actual tree, for tests that change the actual one.
/// </summary>
public sealed class SampleProject : IDisposable
{
    private static readonly string Source = Fixtures.Path("venvstacks", "tests", "sample_project");

    public SampleProject()
    {
        Root = Directory.CreateTempSubdirectory("e2e-sample-").FullName;
        Expected = Copy(Path.Combine(Root, "expected"));
        Actual = Copy(Path.Combine(Root, "actual"));
    }

    public string Root { get; }

    public string Expected { get; }

    public string Actual { get; }

    public string ActualFile(string relative) => Path.Combine(Actual, relative);

    public void Edit(string relative, string find, string replace)
    {
        var path = ActualFile(relative);
        var text = File.ReadAllText(path);
        Assert.Contains(find, text);
        File.WriteAllText(path, text.Replace(find, replace, StringComparison.Ordinal));
    }

    /// <summary>The three changes the suite reviews: a relocked package, a grown archive, a package moved out of a lower layer.</summary>
    public void ApplyReviewedChanges()
    {
        Edit("requirements/framework-scipy/pylock.framework-scipy.toml", "version = \"1.16.1\"", "version = \"1.16.2\"");
        Edit("expected_manifests/linux_x86_64/env_metadata/framework-scipy.json", "\"archive_size\": 22401800", "\"archive_size\": 30000000");
        Edit("requirements/app-scipy-import/pylock.app-scipy-import.toml", "name = \"numpy\"\nversion = \"2.3.2\"\nmarker = \"sys_platform == 'from_lower_layer'\"\n", "name = \"numpy\"\nversion = \"2.3.2\"\n");
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);

    private static string Copy(string target)
    {
        foreach (var part in new[] { "requirements", Path.Combine("expected_manifests", "linux_x86_64") })
        {
            var from = Path.Combine(Source, part);
            foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            {
                var to = Path.Combine(target, part, Path.GetRelativePath(from, file));
                Directory.CreateDirectory(Path.GetDirectoryName(to)!);
                File.Copy(file, to);
            }
        }
        return target;
    }
}
