using E2E.Core.Errors;
using E2E.Core.Kubernetes;
using E2E.Core.Limits;
using E2E.Core.Toml;
using E2E.Core.Tables;
using E2E.Core.Tracking;
using E2E.Core.Udf;
using Xunit;

namespace E2E.Core.Tests.Limits;

/// <summary>Input built to crash the process or escape a folder: each must end as an error with an id, and touch nothing.</summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("hostile-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    // Without the limits each of these ended the test host with a stack overflow (exit 134), which no catch stops.

    [Fact]
    public void Toml_nested_10000_deep_is_InvalidToml()
    {
        var arrays = Assert.Throws<TomlException>(() => TomlParser.Parse("a = " + new string('[', 10000) + new string(']', 10000)));
        Assert.Equal(ErrorCatalog.InvalidToml, arrays.Error);
        Assert.Contains("nested deeper than 256", arrays.Message);
        var tables = Assert.Throws<TomlException>(() => TomlParser.Parse("a = " + string.Concat(Enumerable.Repeat("{b = ", 10000)) + "1" + new string('}', 10000)));
        Assert.Contains("nested deeper than 256", tables.Message);
        var dotted = Assert.Throws<TomlException>(() => TomlParser.Parse(string.Join('.', Enumerable.Repeat("k", 10000)) + " = 1"));
        Assert.Contains("more than 256 parts", dotted.Message);
        // What real files use still parses.
        Assert.NotNull(TomlParser.Parse("a = " + new string('[', 200) + new string(']', 200)));
    }

    [Theory]
    [InlineData("[")]
    [InlineData("{\"a\": ")]
    [InlineData("- ")]
    public void Yaml_and_json_nested_100000_deep_are_InputLimitExceeded(string level)
    {
        var text = string.Concat(Enumerable.Repeat(level, 100_000));
        var error = Assert.Throws<E2EException>(() => KubeObjects.ParseYaml(text, "deep.yaml"));
        Assert.Equal(ErrorCatalog.InputLimitExceeded, error.Error);
        Assert.Contains("deep.yaml", error.Message);
    }

    [Fact]
    public void A_yaml_alias_bomb_is_refused_before_it_expands()
    {
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + string.Concat(Enumerable.Range(1, 9).Select(i => $"{(char)('a' + i)}: &{(char)('a' + i)} [{string.Join(", ", Enumerable.Repeat($"*{(char)('a' + i - 1)}", 10))}]\n"));
        Assert.True(bomb.Length < 600);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var error = Assert.Throws<E2EException>(() => KubeObjects.ParseYaml(bomb, "laughs.yaml"));
        Assert.Equal(ErrorCatalog.InputLimitExceeded, error.Error);
        Assert.Contains("alias", error.Message);
        // A manifest with a few honest aliases still loads.
        Assert.Single(KubeObjects.ParseYaml("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m, labels: &l {a: b}, annotations: *l}\n", "ok.yaml"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30));
    }

    [Theory]
    [InlineData("a: &x\n  b: [*x]\n")]
    [InlineData("- &s [1, *s]\n")]
    [InlineData("services:\n  a: &x\n    image: [*x]\n")]
    public void A_yaml_alias_inside_the_node_it_names_is_refused_not_walked_forever(string yaml)
    {
        // Found by the compose tests: a cycle made the tree walk overflow the stack and end the process.
        var error = Assert.Throws<E2EException>(() => KubeObjects.ParseYaml(yaml, "cycle.yaml"));
        Assert.Equal(ErrorCatalog.InputLimitExceeded, error.Error);
        Assert.Contains("cycle", error.Message);
    }

    [Fact]
    public void Deep_kubeconfigs_and_mlflow_meta_files_are_InputLimitExceeded()
    {
        var kubeconfig = Path.Combine(_root, "config");
        File.WriteAllText(kubeconfig, "apiVersion: v1\nkind: Config\nclusters: " + new string('[', 100_000));
        Assert.Equal(ErrorCatalog.InputLimitExceeded, Assert.Throws<E2EException>(() => Kubeconfig.Load(new[] { kubeconfig })).Error);

        var run = Directory.CreateDirectory(Path.Combine(_root, "mlruns", "0", "r1")).FullName;
        File.WriteAllText(Path.Combine(_root, "mlruns", "0", "meta.yaml"), "name: Default\nexperiment_id: '0'\n");
        File.WriteAllText(Path.Combine(run, "meta.yaml"), "run_id: r1\ntags: " + new string('[', 100_000));
        Assert.Equal(ErrorCatalog.InputLimitExceeded, Assert.Throws<E2EException>(() => MlflowFileStore.ReadRuns(Path.Combine(_root, "mlruns"))).Error);
    }

    [Theory]
    [InlineData("../victim")]
    [InlineData("/etc/passwd")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData("")]
    public void A_udf_package_name_that_would_be_a_path_is_InvalidName(string name)
    {
        Assert.Equal(ErrorCatalog.InvalidName, Assert.Throws<E2EException>(() => UdfManifest.ManifestKey(name)).Error);
        var package = Directory.CreateDirectory(Path.Combine(_root, "pkg")).FullName;
        File.WriteAllText(Path.Combine(package, "pyproject.toml"), $"[project]\nname = \"{name.Replace("\\", "\\\\")}\"\nversion = \"1.0\"\n");
        var error = Assert.Throws<E2EException>(() => UdfProject.Load(package));
        Assert.True(error.Error == ErrorCatalog.InvalidName || error.Error == ErrorCatalog.UdfProjectInvalid, error.Error.Id);
        Assert.Equal("oxford-pets.simple_1", UdfManifest.ValidateName("oxford-pets.simple_1"));
    }

    [Fact]
    public async Task Store_keys_and_manifest_checksums_cannot_leave_the_store()
    {
        var bucket = Directory.CreateDirectory(Path.Combine(_root, "bucket")).FullName;
        var outside = Path.Combine(_root, "outside.json");
        File.WriteAllText(outside, "{}");
        using var store = new FileObjectStore(bucket);
        foreach (var key in new[] { "../outside.json", "manifests/../../outside.json", "/etc/hostname" })
        {
            Assert.Equal(ErrorCatalog.PathOutsideRoot, (await Assert.ThrowsAsync<E2EException>(() => store.DeleteAsync(key, CancellationToken.None))).Error);
            Assert.Equal(ErrorCatalog.PathOutsideRoot, (await Assert.ThrowsAsync<E2EException>(() => store.GetAsync(key, Path.Combine(_root, "copy"), CancellationToken.None))).Error);
        }
        Assert.True(File.Exists(outside));

        // A tampered manifest in the store: its zip "checksum" is a path.
        var tampered = """{"name": "evil", "version": "1", "checksum": "00", "pip": [], "py_modules": [], "skip_site_packages": true, "zips": [{"checksum": "../../outside", "size": 1}], "env_vars": {}}""";
        var error = Assert.Throws<E2EException>(() => UdfManifest.FromJson(tampered, "evil.json"));
        Assert.Equal(ErrorCatalog.ChecksumMismatch, error.Error);
        Assert.True(File.Exists(outside));
    }
}

public sealed class FilterLimitTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("filter-limit-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void A_filter_that_never_ends_is_interrupted_with_FilterTimedOut_and_Ctrl_C_stops_it_at_once()
    {
        var store = new TableStore(Path.Combine(_root, "t.db"));
        store.Create("t", new[] { ("n", ColumnType.Parse("int64")) }, Enumerable.Range(0, 3).Select(i => (IReadOnlyDictionary<string, object?>)new Dictionary<string, object?> { ["n"] = (long)i }), fragmentSize: 10);
        const string forever = "n IN (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c WHERE x < 0)";
        var saved = TableStore.FilterTimeLimit;
        TableStore.FilterTimeLimit = TimeSpan.FromSeconds(1);
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var error = Assert.Throws<E2EException>(() => store.Rows("t", where: forever).ToList());
            Assert.Equal(ErrorCatalog.FilterTimedOut, error.Error);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");

            TableStore.FilterTimeLimit = TimeSpan.FromMinutes(10);
            using var ctrlC = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
            clock.Restart();
            Assert.ThrowsAny<OperationCanceledException>(() => store.Rows("t", where: forever, cancellation: ctrlC.Token).ToList());
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        }
        finally
        {
            TableStore.FilterTimeLimit = saved;
        }
        Assert.Equal(3, store.Rows("t", where: "n >= 0").Count());
    }
}

/// <summary>Hostile values typed at a shell: each an id, never an unexpected error.</summary>
public sealed class HostileValueTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-hostile-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_root, recursive: true);
    }

    [Theory]
    [InlineData(1e308)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(-1)]
    public void An_absurd_timeout_is_InvalidTimeout(double seconds) =>
        Assert.Same(ErrorCatalog.InvalidTimeout, Assert.Throws<E2EException>(() => E2E.Core.Waiting.WaitOptions.FromSeconds(seconds, 1, 1)).Error);

    [Theory]
    [InlineData("sqlite_master")]
    [InlineData("SQLITE_sequence")]
    public void SQLite_reserved_names_are_InvalidName(string name) =>
        Assert.Same(ErrorCatalog.InvalidName, Assert.Throws<E2EException>(() => E2E.Core.Tables.TableStore.Identifier(name, "Table name")).Error);

    [Fact]
    public void A_filter_that_fails_as_it_runs_is_InvalidFilter()
    {
        var store = new E2E.Core.Tables.TableStore(Path.Combine(_root, "t.db"));
        store.Create("t", new[] { ("n", E2E.Core.Tables.ColumnType.Parse("int64")) }, new[] { new Dictionary<string, object?> { ["n"] = 1L } }, fragmentSize: 10);
        var ex = Assert.Throws<E2EException>(() => store.Rows("t", where: "length(zeroblob(2000000000)) > 0").ToList());
        Assert.Same(ErrorCatalog.InvalidFilter, ex.Error);
    }
}

/// <summary>More hostile values: each an id and a one-line reason.</summary>
// Sets AWS_* for the process.
[Collection("process environment")]
public sealed class HostileTargetTests
{
    [Theory]
    [InlineData("file:///etc/passwd")]
    [InlineData("not a url")]
    [InlineData("ftp://127.0.0.1/")]
    public void An_Oracle_URL_that_is_not_http_is_InvalidArgument(string url)
    {
        var ex = Assert.Throws<E2EException>(() => new E2E.Core.Oracle.OracleClient(url));
        Assert.Same(ErrorCatalog.InvalidArgument, ex.Error);
    }

    [Fact]
    public void A_missing_archive_is_ArchiveNotFound() =>
        Assert.Same(ErrorCatalog.ArchiveNotFound, Assert.Throws<E2EException>(() => E2E.Core.Snapshots.ArchiveComparer.Compare("/nonexistent/a.zip", "/nonexistent/b.zip")).Error);

    [Fact]
    public void An_s3_store_without_credentials_says_so_in_one_sentence()
    {
        var saved = new[] { "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_EC2_METADATA_DISABLED" }.ToDictionary(n => n, Environment.GetEnvironmentVariable);
        try
        {
            foreach (var name in saved.Keys)
            {
                Environment.SetEnvironmentVariable(name, null);
            }
            Environment.SetEnvironmentVariable("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials");
            Environment.SetEnvironmentVariable("AWS_CONFIG_FILE", "/nonexistent/config");
            Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", "true");
            using var store = E2E.Core.Udf.ObjectStores.Open("s3://bucket/prefix");
            var ex = Assert.Throws<E2EException>(() => store.ExistsAsync("x", CancellationToken.None).GetAwaiter().GetResult());
            Assert.Same(ErrorCatalog.StoreCredentialsMissing, ex.Error);
            Assert.DoesNotContain("\n", ex.Message);
        }
        finally
        {
            foreach (var (name, value) in saved)
            {
                Environment.SetEnvironmentVariable(name, value);
            }
        }
    }
}

/// <summary>Devices and FIFOs given as output are refused before they are opened (reading /dev/zero never ends; opening a FIFO blocks).</summary>
public sealed class NonRegularFileTests
{
    [Fact]
    public void A_device_or_a_FIFO_is_an_Error_row_with_NotARegularFile_at_once()
    {
        var root = Directory.CreateTempSubdirectory("e2e-fifo-").FullName;
        try
        {
            var fifo = Path.Combine(root, "actual", "pipe.json");
            Directory.CreateDirectory(Path.GetDirectoryName(fifo)!);
            Directory.CreateDirectory(Path.Combine(root, "expected"));
            File.WriteAllText(Path.Combine(root, "expected", "pipe.json"), "{}");
            using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", fifo)!)
            {
                mkfifo.WaitForExit();
            }
            var rows = E2E.Core.Snapshots.ExpectedOutputComparer.Compare(Path.Combine(root, "actual"), Path.Combine(root, "expected"), new E2E.Core.Snapshots.ComparisonOptions()).ToArray();
            var row = Assert.Single(rows);
            Assert.Equal(E2E.Core.Snapshots.OutputStatus.Error, row.Status);
            Assert.Same(E2E.Core.Errors.ErrorCatalog.NotARegularFile, row.Error!.Error);
            Assert.Contains("FIFO", row.Error.Message);

            var device = Assert.Single(E2E.Core.Snapshots.ExpectedOutputComparer.Compare("/dev/zero", Path.Combine(root, "expected", "pipe.json"), new E2E.Core.Snapshots.ComparisonOptions()));
            Assert.Same(E2E.Core.Errors.ErrorCatalog.NotARegularFile, device.Error!.Error);
            Assert.Same(E2E.Core.Errors.ErrorCatalog.NotARegularFile, Assert.Throws<E2E.Core.Errors.E2EException>(() => E2E.Core.Snapshots.ArchiveComparer.Read("/dev/zero")).Error);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
