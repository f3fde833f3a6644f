using E2E.Core.Artifacts;
using E2E.Core.Errors;

namespace E2E.Core.Tests.Artifacts;

public sealed class ArtifactExporterTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-artifacts-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Export => Directory.CreateDirectory(Path.Combine(_root, "export")).FullName;

    private string MakeSource()
    {
        var src = Directory.CreateDirectory(Path.Combine(_root, "src")).FullName;
        File.WriteAllText(Path.Combine(src, "log.txt"), "log");
        Directory.CreateDirectory(Path.Combine(src, "outputs", "nested"));
        File.WriteAllText(Path.Combine(src, "outputs", "nested", "a.json"), "{}");
        return src;
    }

    [Fact]
    public void Failed_test_exports_files_and_trees_under_suite_and_test()
    {
        var src = MakeSource();
        var settings = new ArtifactExportSettings(Export, Force: false);
        var results = ArtifactExporter.Export(new[] { Path.Combine(src, "log.txt"), Path.Combine(src, "outputs") }, "Venvstacks", "locks match [py3.11]", testFailed: true, settings);
        Assert.All(results, r => Assert.Equal(ArtifactExportStatus.Exported, r.Status));
        var dest = Path.Combine(Export, "Venvstacks", "locks_match_py3.11");
        Assert.Equal("log", File.ReadAllText(Path.Combine(dest, "log.txt")));
        Assert.Equal("{}", File.ReadAllText(Path.Combine(dest, "outputs", "nested", "a.json")));
        Assert.Empty(Directory.EnumerateFiles(dest, "*.partial", SearchOption.AllDirectories));
    }

    [Fact]
    public void Passed_test_exports_nothing_unless_forced()
    {
        var src = MakeSource();
        var file = Path.Combine(src, "log.txt");
        var skipped = Assert.Single(ArtifactExporter.Export(new[] { file }, "s", "t", testFailed: false, new ArtifactExportSettings(Export, Force: false)));
        Assert.Equal(ArtifactExportStatus.SkippedTestPassed, skipped.Status);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Export));

        var forced = Assert.Single(ArtifactExporter.Export(new[] { file }, "s", "t", testFailed: false, new ArtifactExportSettings(Export, Force: true)));
        Assert.Equal(ArtifactExportStatus.Exported, forced.Status);
    }

    [Fact]
    public void Missing_export_dir_is_reported_with_an_id_not_thrown()
    {
        var src = MakeSource();
        var missing = Path.Combine(_root, "nope");
        var result = Assert.Single(ArtifactExporter.Export(new[] { Path.Combine(src, "log.txt") }, "s", "t", true, new ArtifactExportSettings(missing, false)));
        Assert.Equal(ArtifactExportStatus.SkippedExportDirMissing, result.Status);
        Assert.Same(ErrorCatalog.ArtifactExportDirMissing, result.Error);
        Assert.Contains(missing, result.Reason);
        Assert.False(Directory.Exists(missing));
    }

    [Fact]
    public void Unconfigured_export_is_skipped_quietly()
    {
        var settings = ArtifactExportSettings.FromEnvironment(_ => null);
        var result = Assert.Single(ArtifactExporter.Export(new[] { "x" }, "s", "t", true, settings));
        Assert.Equal(ArtifactExportStatus.SkippedNotConfigured, result.Status);
        Assert.Null(result.Error);
    }

    [Fact]
    public void Settings_read_both_variables()
    {
        var env = new Dictionary<string, string?> { ["E2E_EXPORT_TEST_ARTIFACTS"] = "/tmp/x", ["E2E_FORCE_TEST_EXPORT"] = "1" };
        var settings = ArtifactExportSettings.FromEnvironment(k => env.GetValueOrDefault(k));
        Assert.Equal("/tmp/x", settings.ExportRoot);
        Assert.True(settings.Force);
        env["E2E_FORCE_TEST_EXPORT"] = "";
        Assert.False(ArtifactExportSettings.FromEnvironment(k => env.GetValueOrDefault(k)).Force);
    }

    [Fact]
    public void Missing_source_is_ArtifactSourceNotFound_and_others_still_export()
    {
        var src = MakeSource();
        var results = ArtifactExporter.Export(new[] { Path.Combine(src, "gone.txt"), Path.Combine(src, "log.txt") }, "s", "t", true, new ArtifactExportSettings(Export, false));
        Assert.Same(ErrorCatalog.ArtifactSourceNotFound, results[0].Error);
        Assert.Equal(ArtifactExportStatus.Exported, results[1].Status);
    }

    [Fact]
    public void Unwritable_export_dir_is_ArtifactExportFailed()
    {
        // A file where the suite folder must go makes creation fail for any user, root included (root ignores modes).
        var export = Export;
        File.WriteAllText(Path.Combine(export, "s"), "a file where the suite folder should go");
        var src = MakeSource();
        var result = Assert.Single(ArtifactExporter.Export(new[] { Path.Combine(src, "log.txt") }, "s", "t", true, new ArtifactExportSettings(export, false)));
        Assert.Equal(ArtifactExportStatus.Failed, result.Status);
        Assert.Same(ErrorCatalog.ArtifactExportFailed, result.Error);
    }

    [Fact]
    public void Same_file_names_get_distinct_destinations()
    {
        var a = Directory.CreateDirectory(Path.Combine(_root, "a")).FullName;
        var b = Directory.CreateDirectory(Path.Combine(_root, "b")).FullName;
        File.WriteAllText(Path.Combine(a, "out.log"), "A");
        File.WriteAllText(Path.Combine(b, "out.log"), "B");
        var results = ArtifactExporter.Export(new[] { Path.Combine(a, "out.log"), Path.Combine(b, "out.log") }, "s", "t", true, new ArtifactExportSettings(Export, false));
        Assert.Equal("A", File.ReadAllText(results[0].Destination!));
        Assert.Equal("B", File.ReadAllText(results[1].Destination!));
        Assert.EndsWith("out-2.log", results[1].Destination);
    }

    [Fact]
    public void Directory_link_loops_are_not_followed()
    {
        var src = MakeSource();
        Directory.CreateSymbolicLink(Path.Combine(src, "outputs", "loop"), src);
        var result = Assert.Single(ArtifactExporter.Export(new[] { Path.Combine(src, "outputs") }, "s", "t", true, new ArtifactExportSettings(Export, false)));
        Assert.Equal(ArtifactExportStatus.Exported, result.Status);
        Assert.False(Directory.Exists(Path.Combine(result.Destination!, "loop")));
    }

    [Theory]
    [InlineData("..", "_")]
    [InlineData("../../etc", "etc")]
    [InlineData(".hidden", "hidden")]
    [InlineData("v1.2", "v1.2")]
    [InlineData("a/b\\c", "a_b_c")]
    [InlineData("  spaced  name ", "spaced_name")]
    [InlineData("", "_")]
    public void Names_become_single_safe_components(string name, string expected)
    {
        Assert.Equal(expected, ArtifactExporter.SafeComponent(name));
        var dest = ArtifactExporter.DestinationFor(_root, name, name);
        Assert.StartsWith(_root + Path.DirectorySeparatorChar, dest);
    }
}
