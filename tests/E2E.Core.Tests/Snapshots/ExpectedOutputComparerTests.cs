using E2E.Core.Errors;
using E2E.Core.Snapshots;

namespace E2E.Core.Tests.Snapshots;

public sealed class ExpectedOutputComparerTests : IDisposable
{
    private readonly SampleProject _project = new();

    public void Dispose() => _project.Dispose();

    private OutputComparison[] Compare(ComparisonOptions? options = null) =>
        ExpectedOutputComparer.Compare(_project.Actual, _project.Expected, options ?? new ComparisonOptions()).ToArray();

    [Fact]
    public void Unchanged_copy_is_all_Equal()
    {
        var rows = Compare();
        Assert.True(rows.Length >= 40, $"{rows.Length} files");
        Assert.All(rows, r => Assert.Equal(OutputStatus.Equal, r.Status));
        Assert.Contains(rows, r => r.Kind == OutputKind.Toml);
        Assert.Contains(rows, r => r.Kind == OutputKind.Json);
        Assert.Contains(rows, r => r.Kind == OutputKind.Text);
        Assert.Equal(rows.Select(r => r.Path).Order(StringComparer.Ordinal), rows.Select(r => r.Path));
    }

    [Fact]
    public void Reviewed_changes_give_changed_rows_paths_and_warnings()
    {
        _project.ApplyReviewedChanges();
        var changed = Compare().Where(r => r.Status != OutputStatus.Equal).ToDictionary(r => r.Path);

        Assert.Equal(3, changed.Count);
        var lockRow = changed["requirements/framework-scipy/pylock.framework-scipy.toml"];
        Assert.Equal(OutputStatus.Changed, lockRow.Status);
        var version = Assert.Single(lockRow.Differences);
        Assert.Equal("packages[1].version", version.Path);
        Assert.Equal(("\"1.16.1\"", "\"1.16.2\""), (version.Expected, version.Actual));

        var size = changed["expected_manifests/linux_x86_64/env_metadata/framework-scipy.json"];
        Assert.Equal("archive_size", Assert.Single(size.Differences).Path);
        var sizeWarning = Assert.Single(size.Warnings);
        Assert.Equal("ArchiveSizeChanged", sizeWarning.Code);
        Assert.Contains("34%", sizeWarning.Message);

        var moved = changed["requirements/app-scipy-import/pylock.app-scipy-import.toml"];
        Assert.Equal("packages[0].marker", Assert.Single(moved.Differences).Path);
        var movedWarning = Assert.Single(moved.Warnings);
        Assert.Equal("PackageLayerChanged", movedWarning.Code);
        Assert.Contains("numpy", movedWarning.Message);
        Assert.Contains("moved out of a lower layer", movedWarning.Message);
    }

    [Fact]
    public void Ignoring_archive_only_keys_makes_a_dry_run_comparison_pass()
    {
        _project.Edit("expected_manifests/linux_x86_64/venvstacks.json", "\"archive_size\": 22401800", "\"archive_size\": 1");
        _project.Edit("expected_manifests/linux_x86_64/env_metadata/framework-scipy.json", "\"archive_size\": 22401800", "\"archive_size\": 1");
        Assert.Equal(2, Compare().Count(r => r.Status == OutputStatus.Changed));
        var options = new ComparisonOptions { IgnorePaths = new[] { "archive_size", "archive_hashes" } };
        Assert.All(Compare(options), r => Assert.Equal(OutputStatus.Equal, r.Status));
        Assert.Contains(Compare().Single(r => r.Path.EndsWith("venvstacks.json", StringComparison.Ordinal)).Differences, d => d.Path == "layers.frameworks[0].archive_size");
    }

    [Fact]
    public void Key_order_and_number_spelling_do_not_matter_but_values_do()
    {
        var dir = Directory.CreateTempSubdirectory("e2e-json-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "e.json"), """{"a": 1, "b": {"x": [1, 2], "y": "s"}}""");
            File.WriteAllText(Path.Combine(dir, "a.json"), """{"b": {"y": "s", "x": [1.0, 2e0]}, "a": 1.00}""");
            Assert.Equal(OutputStatus.Equal, ExpectedOutputComparer.Compare(Path.Combine(dir, "a.json"), Path.Combine(dir, "e.json"), new ComparisonOptions()).Single().Status);
            File.WriteAllText(Path.Combine(dir, "a.json"), """{"b": {"y": "s", "x": [2, 1], "z": null}, "a": 1}""");
            var row = ExpectedOutputComparer.Compare(Path.Combine(dir, "a.json"), Path.Combine(dir, "e.json"), new ComparisonOptions()).Single();
            Assert.Equal(new[] { "b.x[0]: 1 -> 2", "b.x[1]: 2 -> 1", "b.z: added null" }, row.Differences.Select(d => d.ToString()));
            var unordered = ExpectedOutputComparer.Compare(Path.Combine(dir, "a.json"), Path.Combine(dir, "e.json"), new ComparisonOptions { UnorderedPaths = new[] { "b.x" }, IgnorePaths = new[] { "b.z" } }).Single();
            Assert.Equal(OutputStatus.Equal, unordered.Status);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Scrubbers_hide_timestamps_guids_and_temp_paths()
    {
        var dir = Directory.CreateTempSubdirectory("e2e-scrub-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "e.log"), "run 3f2504e0-4f89-11d3-9a0c-0305e82c3301 at 2025-08-27T00:00:00+00:00 in /tmp/build-1/x\n");
            File.WriteAllText(Path.Combine(dir, "a.log"), "run 0a1b2c3d-4f89-11d3-9a0c-0305e82c3301 at 2026-11-24 10:00:00Z in /tmp/build-2/x\n");
            var plain = ExpectedOutputComparer.Compare(Path.Combine(dir, "a.log"), Path.Combine(dir, "e.log"), new ComparisonOptions()).Single();
            Assert.Equal(OutputStatus.Changed, plain.Status);
            Assert.Contains("-run 3f2504e0", plain.Diff);
            Assert.Contains("+run 0a1b2c3d", plain.Diff);
            Assert.StartsWith("--- expected/a.log", plain.Diff);
            var scrubbed = ExpectedOutputComparer.Compare(Path.Combine(dir, "a.log"), Path.Combine(dir, "e.log"), new ComparisonOptions { Scrubbers = Scrubber.BuiltIn }).Single();
            Assert.Equal(OutputStatus.Equal, scrubbed.Status);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Missing_and_extra_layers_are_rows_with_warnings()
    {
        File.Delete(_project.ActualFile("expected_manifests/linux_x86_64/env_metadata/app-scipy-import.json"));
        File.Copy(_project.ActualFile("expected_manifests/linux_x86_64/env_metadata/framework-scipy.json"), _project.ActualFile("expected_manifests/linux_x86_64/env_metadata/framework-new.json"));
        var rows = Compare().Where(r => r.Status != OutputStatus.Equal).ToArray();
        Assert.Equal(OutputStatus.Missing, rows.Single(r => r.Path.EndsWith("app-scipy-import.json", StringComparison.Ordinal)).Status);
        Assert.Equal(OutputStatus.Extra, rows.Single(r => r.Path.EndsWith("framework-new.json", StringComparison.Ordinal)).Status);
        Assert.Equal(new[] { "LayerRemoved", "LayerAdded" }.Order(), rows.SelectMany(r => r.Warnings).Select(w => w.Code).Order());
    }

    [Fact]
    public void Lock_version_going_down_layers_vanishing_and_unexplained_hash_changes_warn()
    {
        _project.Edit("expected_manifests/linux_x86_64/env_metadata/framework-scipy.json", "\"lock_version\": 5", "\"lock_version\": 4");
        _project.Edit("requirements/framework-scipy/pylock.framework-scipy.meta.json", "\"requirements_hash\": \"sha256:990cf", "\"requirements_hash\": \"sha256:000cf");
        var json = File.ReadAllText(_project.ActualFile("expected_manifests/linux_x86_64/venvstacks.json"));
        var doc = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        doc["layers"]!["applications"]!.AsArray().RemoveAt(0);
        File.WriteAllText(_project.ActualFile("expected_manifests/linux_x86_64/venvstacks.json"), doc.ToJsonString());

        var warnings = Compare().SelectMany(r => r.Warnings).Select(w => w.Code).Order().ToArray();
        Assert.Contains("LockVersionDecreased", warnings);
        Assert.Contains("HashChangedWithoutInputChange", warnings);
        Assert.Contains("LayerRemoved", warnings);
    }

    [Fact]
    public void Archive_hash_change_with_same_inputs_warns()
    {
        _project.Edit("expected_manifests/linux_x86_64/env_metadata/framework-scipy.json", "\"archive_hashes\": {\n    \"sha256\": \"", "\"archive_hashes\": {\n    \"sha256\": \"0");
        var row = Compare().Single(r => r.Status == OutputStatus.Changed);
        Assert.Equal("HashChangedWithoutInputChange", Assert.Single(row.Warnings).Code);
    }

    [Fact]
    public void A_byte_order_mark_is_not_a_difference_and_invalid_utf8_is_one_files_error()
    {
        var path = "expected_manifests/linux_x86_64/venvstacks.json";
        var actual = _project.ActualFile(path);
        File.WriteAllBytes(actual, new byte[] { 0xEF, 0xBB, 0xBF }.Concat(File.ReadAllBytes(actual)).ToArray());
        Assert.Equal(OutputStatus.Equal, Compare().Single(r => r.Path.EndsWith("venvstacks.json", StringComparison.Ordinal)).Status);

        File.WriteAllBytes(actual, new byte[] { (byte)'{', (byte)'"', (byte)'a', (byte)'"', (byte)':', (byte)'"', 0xFF, 0xFE, (byte)'"', (byte)'}' });
        var rows = Compare().ToList();
        Assert.Equal(ErrorCatalog.InvalidJson, rows.Single(r => r.Path.EndsWith("venvstacks.json", StringComparison.Ordinal)).Error!.Error);
        Assert.Contains(rows, r => r.Status == OutputStatus.Equal);
    }

    [Fact]
    public void Toml_moments_compare_as_moments_not_as_text()
    {
        var dir = Directory.CreateTempSubdirectory("toml-dates-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "a.toml"), "created = 1979-05-27T07:32:00Z\nlocal = 1979-05-27 07:32:00\nfrac = 07:32:00.500\n");
            File.WriteAllText(Path.Combine(dir, "b.toml"), "created = 1979-05-27T00:32:00-07:00\nlocal = 1979-05-27T07:32:00\nfrac = 07:32:00.5\n");
            var same = Assert.Single(ExpectedOutputComparer.Compare(Path.Combine(dir, "a.toml"), Path.Combine(dir, "b.toml"), new ComparisonOptions()));
            Assert.Equal(OutputStatus.Equal, same.Status);
            File.WriteAllText(Path.Combine(dir, "b.toml"), "created = 1979-05-27T07:32:00-07:00\nlocal = 1979-05-27T07:32:00\nfrac = 07:32:00.5\n");
            var changed = Assert.Single(ExpectedOutputComparer.Compare(Path.Combine(dir, "a.toml"), Path.Combine(dir, "b.toml"), new ComparisonOptions()));
            Assert.Equal(OutputStatus.Changed, changed.Status);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Invalid_documents_are_error_rows_with_ids()
    {
        File.WriteAllText(_project.ActualFile("expected_manifests/linux_x86_64/venvstacks.json"), "{ \"layers\": ");
        File.WriteAllText(_project.ActualFile("requirements/framework-scipy/pylock.framework-scipy.toml"), "lock-version = \n");
        var errors = Compare().Where(r => r.Status == OutputStatus.Error).ToDictionary(r => Path.GetFileName(r.Path), r => r.Error!.Error);
        Assert.Same(ErrorCatalog.InvalidJson, errors["venvstacks.json"]);
        Assert.Same(ErrorCatalog.InvalidToml, errors["pylock.framework-scipy.toml"]);
    }

    [Fact]
    public void Nothing_to_compare_and_link_loops_have_ids()
    {
        var nothing = Assert.Throws<E2EException>(() => ExpectedOutputComparer.Compare(Path.Combine(_project.Root, "no1"), Path.Combine(_project.Root, "no2"), new ComparisonOptions()).ToArray());
        Assert.Same(ErrorCatalog.ExpectedOutputNotFound, nothing.Error);
        var a = Path.Combine(_project.Root, "loop-a");
        var b = Path.Combine(_project.Root, "loop-b");
        File.CreateSymbolicLink(a, b);
        File.CreateSymbolicLink(b, a);
        var loop = Assert.Throws<E2EException>(() => ExpectedOutputComparer.Compare(a, _project.Expected, new ComparisonOptions()).ToArray());
        Assert.Same(ErrorCatalog.SymlinkLoop, loop.Error);
    }

    [Fact]
    public void Links_inside_a_tree_are_compared_as_links_and_never_followed()
    {
        Directory.CreateSymbolicLink(Path.Combine(_project.Actual, "outside"), "/etc");
        Directory.CreateSymbolicLink(Path.Combine(_project.Expected, "outside"), "/usr");
        Directory.CreateSymbolicLink(Path.Combine(_project.Actual, "requirements", "loop"), _project.Actual);
        var rows = Compare().Where(r => r.Status != OutputStatus.Equal).ToArray();
        var outside = rows.Single(r => r.Path == "outside");
        Assert.Equal((OutputKind.Link, OutputStatus.Changed), (outside.Kind, outside.Status));
        Assert.Equal("target: /usr -> /etc", outside.Diff);
        Assert.Equal(OutputStatus.Extra, rows.Single(r => r.Path == "requirements/loop").Status);
        Assert.Equal(2, rows.Length);
    }

    [Fact]
    public void A_single_file_compares_with_its_namesake_in_an_expected_directory()
    {
        var meta = "requirements/framework-scipy/pylock.framework-scipy.meta.json";
        var row = ExpectedOutputComparer.Compare(_project.ActualFile(meta), Path.Combine(_project.Expected, "requirements", "framework-scipy"), new ComparisonOptions()).Single();
        Assert.Equal(("pylock.framework-scipy.meta.json", OutputStatus.Equal), (row.Path, row.Status));
    }

    [Fact]
    public void Include_and_exclude_select_files()
    {
        var options = new ComparisonOptions { Include = new[] { "*.json" }, Exclude = new[] { "expected_manifests/**/venvstacks.json" } };
        var rows = Compare(options);
        Assert.All(rows, r => Assert.EndsWith(".json", r.Path));
        Assert.DoesNotContain(rows, r => r.Path.EndsWith("/venvstacks.json", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.Path.EndsWith(".meta.json", StringComparison.Ordinal));
    }
}
