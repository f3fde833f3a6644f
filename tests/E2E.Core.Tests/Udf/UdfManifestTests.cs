using System.Diagnostics;
using System.IO.Compression;
using E2E.Core.Errors;
using E2E.Core.Toml;
using E2E.Core.Udf;

namespace E2E.Core.Tests.Udf;

public sealed class UdfManifestTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-udf-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    public static string RepositoryPath(params string[] parts)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "E2E.psd1")))
            {
                return Path.Combine(new[] { dir.FullName }.Concat(parts).ToArray());
            }
        }
        throw new DirectoryNotFoundException("repository root");
    }

    /// <summary>A fresh copy of examples/udfs/simple, so builds never write into the repository.</summary>
    private string CopySimple(string name)
    {
        var target = Directory.CreateDirectory(Path.Combine(_root, name)).FullName;
        foreach (var file in Directory.EnumerateFiles(RepositoryPath("examples", "udfs", "simple")))
        {
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }
        return target;
    }

    [Fact]
    public void Project_reads_pyproject_and_finds_modules()
    {
        var project = UdfProject.Load(CopySimple("p"));
        Assert.Equal(("oxford-pets-simple", "0.1.0"), (project.Name, project.Version));
        Assert.Empty(project.Dependencies);
        Assert.Equal(new[] { "simple_udfs" }, project.PyModules);
    }

    [Theory]
    [InlineData("openclip", "openclip_udfs", "ClipEmbedding", "vector[float32, 512]")]
    [InlineData("blip", "blip_udfs", "BlipCaption", "string")]
    [InlineData("sentence-transformers", "text_udfs", "CaptionEmbedding", "vector[float32, 384]")]
    public void Model_packages_declare_stateful_gpu_udfs_without_importing_their_dependencies(string package, string module, string udf, string dataType)
    {
        var project = UdfProject.Load(RepositoryPath("examples", "udfs", package));
        Assert.Equal(new[] { module }, project.PyModules);
        Assert.NotEmpty(project.Dependencies);
        var output = RunPython($"import sys, json; sys.path[:0] = [r'{project.Directory}', r'{RepositoryPath("module", "python")}']\nimport {module}, e2e_udf\nprint(json.dumps(e2e_udf.describe({module})['{udf}'].as_dict()))");
        using var description = System.Text.Json.JsonDocument.Parse(output);
        Assert.Equal(dataType, description.RootElement.GetProperty("data_type").GetString());
        Assert.True(description.RootElement.GetProperty("stateful").GetBoolean());
        Assert.Equal(1.0, description.RootElement.GetProperty("num_gpus").GetDouble());
        Assert.Equal(E2E.Core.Tables.ColumnType.Parse(dataType), E2E.Core.Tables.ColumnType.Parse(description.RootElement.GetProperty("data_type").GetString()!));
    }

    [Fact]
    public void Bad_projects_have_ids()
    {
        var dir = Directory.CreateDirectory(Path.Combine(_root, "bad")).FullName;
        Assert.Same(ErrorCatalog.UdfProjectInvalid, Assert.Throws<E2EException>(() => UdfProject.Load(dir)).Error);
        File.WriteAllText(Path.Combine(dir, "pyproject.toml"), "[project]\nname = \"x\"\n");
        Assert.Same(ErrorCatalog.UdfProjectInvalid, Assert.Throws<E2EException>(() => UdfProject.Load(dir)).Error);
        File.WriteAllText(Path.Combine(dir, "pyproject.toml"), "[project\nname = \"x\"\n");
        Assert.IsType<TomlException>(Assert.ThrowsAny<E2EException>(() => UdfProject.Load(dir)));
    }

    [Fact]
    public void Zips_are_deterministic_and_content_addressed()
    {
        var a = CopySimple("a");
        var b = CopySimple("b");
        File.SetLastWriteTimeUtc(Path.Combine(b, "simple_udfs.py"), new DateTime(2001, 1, 1));
        var first = DeterministicZip.Create(UdfProject.Load(a).ModuleFiles(), Path.Combine(_root, "out1"));
        var second = DeterministicZip.Create(UdfProject.Load(b).ModuleFiles(), Path.Combine(_root, "out2"));
        Assert.Equal(first.Checksum, second.Checksum);
        Assert.Equal(File.ReadAllBytes(first.Path), File.ReadAllBytes(second.Path));
        Assert.Equal(first.Checksum + ".zip", Path.GetFileName(first.Path));
        Assert.Equal(first.Checksum, DeterministicZip.Checksum(first.Path));
        using var zip = ZipFile.OpenRead(first.Path);
        Assert.All(zip.Entries, e => Assert.Equal(new DateTimeOffset(1980, 1, 1, 0, 0, 0, TimeSpan.Zero), e.LastWriteTime.ToUniversalTime()));
        File.AppendAllText(Path.Combine(b, "simple_udfs.py"), "\n# changed\n");
        Assert.NotEqual(first.Checksum, DeterministicZip.Create(UdfProject.Load(b).ModuleFiles(), Path.Combine(_root, "out3")).Checksum);
    }

    [Fact]
    public void Extraction_refuses_members_that_escape_and_leaves_nothing()
    {
        var evil = Path.Combine(_root, "evil.zip");
        using (var zip = ZipFile.Open(evil, ZipArchiveMode.Create))
        {
            using (var w = new StreamWriter(zip.CreateEntry("ok.py").Open()))
            {
                w.Write("x = 1");
            }
            using (var w = new StreamWriter(zip.CreateEntry("../../escaped.py").Open()))
            {
                w.Write("x = 2");
            }
        }
        var target = Path.Combine(_root, "extract", "target");
        var ex = Assert.Throws<E2EException>(() => DeterministicZip.ExtractSafely(evil, target));
        Assert.Same(ErrorCatalog.UnsafeArchiveMember, ex.Error);
        Assert.False(Directory.Exists(target));
        Assert.False(File.Exists(Path.Combine(_root, "escaped.py")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_root, "extract")));
    }

    [Fact]
    public async Task Two_clean_builds_give_the_same_manifest_checksum_and_the_environment_is_reused()
    {
        var first = await ManifestBuilder.BuildAsync(UdfProject.Load(CopySimple("one")), new ManifestBuildOptions(), CancellationToken.None);
        var second = await ManifestBuilder.BuildAsync(UdfProject.Load(CopySimple("two")), new ManifestBuildOptions(), CancellationToken.None);
        Assert.Equal(new[] { "py_modules", "site_packages" }, first.Zips.Select(z => z.Kind));
        Assert.Equal(first.Checksum, second.Checksum);
        Assert.Equal(first.Zips.Select(z => z.Checksum), second.Zips.Select(z => z.Checksum));

        var project = UdfProject.Load(Path.Combine(_root, "one"));
        var env = Directory.EnumerateDirectories(Path.Combine(project.Directory, ".e2e"), "venv-*").Single();
        var stamp = Directory.GetCreationTimeUtc(env);
        var again = await ManifestBuilder.BuildAsync(project, new ManifestBuildOptions(), CancellationToken.None);
        Assert.Equal(first.Checksum, again.Checksum);
        Assert.Equal(stamp, Directory.GetCreationTimeUtc(Directory.EnumerateDirectories(Path.Combine(project.Directory, ".e2e"), "venv-*").Single()));

        var skipped = await ManifestBuilder.BuildAsync(project, new ManifestBuildOptions { SkipSitePackages = true }, CancellationToken.None);
        Assert.Single(skipped.Zips);
        Assert.NotEqual(first.Checksum, skipped.Checksum);
    }

    [Fact]
    public async Task A_missing_python_is_ToolNotFound_and_leaves_no_environment()
    {
        var project = UdfProject.Load(CopySimple("nopython"));
        var ex = await Assert.ThrowsAsync<E2EException>(() => ManifestBuilder.BuildAsync(project, new ManifestBuildOptions { Python = "/nonexistent/python3" }, CancellationToken.None));
        Assert.Same(ErrorCatalog.ToolNotFound, ex.Error);
        Assert.Empty(Directory.EnumerateDirectories(Path.Combine(project.Directory, ".e2e"), "venv-*"));
    }

    [Fact]
    public async Task File_store_publishes_once_fetches_verifies_and_removes()
    {
        var manifest = await ManifestBuilder.BuildAsync(UdfProject.Load(CopySimple("pub")), new ManifestBuildOptions { SkipSitePackages = true }, CancellationToken.None);
        var storeDir = Path.Combine(_root, "bucket");
        using var store = ObjectStores.Open(new Uri(storeDir + "/").AbsoluteUri);
        await ManifestStoreRoundTrip(manifest, store, Path.Combine(storeDir, "zips", manifest.Zips[0].Checksum + ".zip"));
    }

    /// <summary>Publish twice (second uploads nothing), read back, materialise into a cache and run the module, detect corruption, remove.</summary>
    internal static async Task ManifestStoreRoundTrip(UdfManifest manifest, IObjectStore store, string? localZipForCorruption)
    {
        var first = await ManifestStore.PublishAsync(manifest, store, CancellationToken.None);
        Assert.Equal((manifest.Zips.Count, 0), (first.ZipsUploaded, first.ZipsSkipped));
        var second = await ManifestStore.PublishAsync(manifest, store, CancellationToken.None);
        Assert.Equal((0, manifest.Zips.Count), (second.ZipsUploaded, second.ZipsSkipped));

        var read = await ManifestStore.GetAsync(manifest.Name, store, CancellationToken.None);
        Assert.Equal(manifest.Checksum, read.Checksum);
        Assert.Equal(manifest.Zips, read.Zips);

        var cache = Directory.CreateTempSubdirectory("e2e-udf-cache-").FullName;
        try
        {
            var folders = await ManifestStore.MaterializeAsync(read, store, cache, CancellationToken.None);
            var moduleDir = folders[0];
            Assert.True(File.Exists(Path.Combine(moduleDir, "simple_udfs.py")));
            var helper = RepositoryPath("module", "python");
            var output = RunPython($"import sys; sys.path[:0] = [r'{moduleDir}', r'{helper}']\nimport simple_udfs, e2e_udf\nprint(sorted(e2e_udf.describe(simple_udfs)), simple_udfs.file_size(b'abc'))");
            Assert.Equal("['dimensions', 'file_size', 'fingerprint'] 3", output.Trim());
            // A second worker reuses the cache.
            Assert.Equal(folders, await ManifestStore.MaterializeAsync(read, store, cache, CancellationToken.None));

            var missing = await Assert.ThrowsAsync<E2EException>(() => ManifestStore.GetAsync("no-such-udf", store, CancellationToken.None));
            Assert.Same(ErrorCatalog.ManifestNotFound, missing.Error);

            Assert.Equal(manifest.Zips.Count, await ManifestStore.RemoveAsync(manifest.Name, store, CancellationToken.None));
            Assert.Empty(await store.ListAsync("zips/", CancellationToken.None));
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }

    [Fact]
    public async Task A_corrupted_zip_in_the_store_is_ChecksumMismatch()
    {
        var manifest = await ManifestBuilder.BuildAsync(UdfProject.Load(CopySimple("corrupt")), new ManifestBuildOptions { SkipSitePackages = true }, CancellationToken.None);
        var storeDir = Path.Combine(_root, "bucket2");
        using var store = ObjectStores.Open(storeDir);
        await ManifestStore.PublishAsync(manifest, store, CancellationToken.None);
        var other = DeterministicZip.Create(new[] { ("simple_udfs.py", Path.Combine(_root, "corrupt", "pyproject.toml")) }, Path.Combine(_root, "other"));
        File.Copy(other.Path, Path.Combine(storeDir, "zips", manifest.Zips[0].Checksum + ".zip"), overwrite: true);
        var cache = Path.Combine(_root, "cache");
        var ex = await Assert.ThrowsAsync<E2EException>(() => ManifestStore.MaterializeAsync(manifest, store, cache, CancellationToken.None));
        Assert.Same(ErrorCatalog.ChecksumMismatch, ex.Error);
        Assert.False(Directory.Exists(Path.Combine(cache, manifest.Zips[0].Checksum)));
    }

    [Fact]
    public void Unknown_store_schemes_are_UnsupportedStore()
    {
        Assert.Same(ErrorCatalog.UnsupportedStore, Assert.Throws<E2EException>(() => ObjectStores.Open("ftp://host/x")).Error);
    }

    internal static string RunPython(string code)
    {
        var start = new ProcessStartInfo("python3", new[] { "-c", code }) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var python = Process.Start(start)!;
        var output = python.StandardOutput.ReadToEnd();
        var errors = python.StandardError.ReadToEnd();
        python.WaitForExit();
        Assert.True(python.ExitCode == 0, errors);
        return output;
    }
}
