using System.Diagnostics;
using System.Text.Json;
using E2E.Core.Backfill;
using E2E.Core.Errors;
using E2E.Core.Tests.Udf;

namespace E2E.Core.Tests.Backfill;

/// <summary>
/// The Geneva engine's bridge against the stand-in geneva module (Pester/TestData/geneva-standin), which records
/// every library call: these prove the calls and arguments E2E makes, not Geneva itself (not installable here).
/// </summary>
public sealed class GenevaEngineTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-geneva-").FullName;
    private readonly string _standIn = UdfManifestTests.RepositoryPath("Pester", "TestData", "geneva-standin");
    private readonly string _log;
    private readonly string _uri;
    private readonly string[] _buildCalls;

    public GenevaEngineTests()
    {
        _log = Path.Combine(_root, "calls.jsonl");
        _uri = new Uri(Path.Combine(_root, "db")).AbsoluteUri;
        // 100 PNG rows in fragments of 25, built as the Oxford Pets suite builds its table; a manifest defined.
        var rows = Enumerable.Range(0, 100).Select(i => (IReadOnlyDictionary<string, object?>)new Dictionary<string, object?> { ["image"] = E2E.Core.Tables.PetImages.Png(16 + i, 20, 7), ["label"] = (long)(i % 37) });
        var table = GenevaEngine.CreateTableAsync(_uri, "pets", rows, 25, "python3", Bridge, CancellationToken.None, Environment).GetAwaiter().GetResult();
        Assert.Equal((100L, 4, 25), (table.RowCount, table.FragmentCount, table.FragmentSize));
        Python($$"""
            import geneva
            geneva.connect("{{_uri}}").define_manifest("simple-udfs-v1", None)
            """);
        _buildCalls = Calls().Select(c => c.GetProperty("call").GetString()!).ToArray();
        File.Delete(_log);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private Dictionary<string, string> Environment => new()
    {
        ["PYTHONPATH"] = string.Join(Path.PathSeparator, _standIn, UdfManifestTests.RepositoryPath("examples", "udfs", "geneva-simple")),
        ["GENEVA_STANDIN_LOG"] = _log,
    };

    private void Python(string code)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardError = true };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(code);
        foreach (var (name, value) in Environment)
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, error);
    }

    private static string Bridge => UdfManifestTests.RepositoryPath("module", "python", "e2e_geneva.py");

    private List<JsonElement> Calls() => File.ReadAllLines(_log).Select(l => JsonDocument.Parse(l).RootElement).ToList();

    private Task<BackfillJob> Run(GenevaBackfillRequest request, List<string>? progress = null) =>
        GenevaEngine.RunAsync(request, "python3", Bridge, Environment, progress is null ? null : progress.Add, CancellationToken.None);

    [Fact]
    public async Task A_backfill_makes_the_documented_calls_with_the_cmdlets_parameters_and_returns_genevas_job()
    {
        var job = await Run(new GenevaBackfillRequest
        {
            Uri = _uri, Table = "pets", Column = "size", BatchSize = 10, NumFragments = 2, CommitGranularity = 1, Concurrency = 2,
            Cluster = GenevaCluster.Local("e2e-local"), Manifest = "simple-udfs-v1",
            Register = new GenevaUdfColumn("size", "geneva_simple_udfs", "file_size", Array.Empty<string>()),
        });
        Assert.Equal((BackfillStatus.Done, "pets", "size", 100L, 50L), (job.Status, job.Table, job.Column, job.RowsPlanned, job.RowsDone));
        Assert.Matches("^[0-9a-f-]{36}$", job.Id); // geneva_jobs' uuid, not one of ours

        var calls = Calls();
        Assert.Equal(new[] { "connect", "open_table", "add_columns", "define_cluster", "context", "backfill", "context-exit" },
            calls.Select(c => c.GetProperty("call").GetString()).Where(c => c is not ("count_rows" or "checkout_latest")).Take(7));
        Assert.Equal(_uri, calls[0].GetProperty("args")[0].GetString());
        var context = calls.Single(c => c.GetProperty("call").GetString() == "context").GetProperty("kwargs");
        Assert.Equal(("e2e-local", "simple-udfs-v1"), (context.GetProperty("cluster").GetString(), context.GetProperty("manifest").GetString()));
        var backfill = calls.Single(c => c.GetProperty("call").GetString() == "backfill");
        Assert.Equal("size", backfill.GetProperty("args")[0].GetString());
        Assert.Equal("""{"batch_size":10,"num_frags":2,"commit_granularity":1,"concurrency":2}""", backfill.GetProperty("kwargs").GetRawText().Replace(" ", string.Empty, StringComparison.Ordinal));
        Assert.Contains("LOCAL_RAY", calls.Single(c => c.GetProperty("call").GetString() == "define_cluster").GetProperty("kwargs").GetProperty("cluster_type").GetString());
    }

    [Fact]
    public async Task An_async_backfill_polls_the_future_and_fills_the_rest_incrementally()
    {
        await Run(new GenevaBackfillRequest { Uri = _uri, Table = "pets", Column = "size", NumFragments = 1, Register = new GenevaUdfColumn("size", "geneva_simple_udfs", "file_size", Array.Empty<string>()) });
        var progress = new List<string>();
        var rest = await Run(new GenevaBackfillRequest { Uri = _uri, Table = "pets", Column = "size", BatchSize = 10, Async = true, PollSeconds = 0.05 }, progress);
        Assert.Equal((BackfillStatus.Done, 75L, 75L), (rest.Status, rest.RowsPlanned, rest.RowsDone));
        var names = Calls().Select(c => c.GetProperty("call").GetString()).ToList();
        Assert.Contains("backfill_async", names);
        Assert.Contains("done", names);
        Assert.DoesNotContain("context", names); // no cluster and no manifest: Geneva's default (a local Ray)
        Assert.All(progress, p => Assert.Contains("polls", p));

        // Geneva's job records (geneva_jobs) read back: both jobs, oldest first, and one by id.
        var jobs = await GenevaEngine.JobsAsync(_uri, "pets", "size", null, "python3", Bridge, Environment, CancellationToken.None);
        Assert.Equal(2, jobs.Count);
        Assert.Equal(rest.Id, jobs[1].Id);
        Assert.All(jobs, j => Assert.Equal(BackfillStatus.Done, j.Status));
        Assert.Single(await GenevaEngine.JobsAsync(_uri, null, null, rest.Id, "python3", Bridge, Environment, CancellationToken.None));
    }

    [Fact]
    public async Task Failures_have_ids_a_failed_job_is_a_record_and_a_missing_library_says_how_to_install_it()
    {
        // A column without a UDF: the backfill fails inside Geneva, and the record says so.
        var failed = await Run(new GenevaBackfillRequest { Uri = _uri, Table = "pets", Column = "label" });
        Assert.Equal(BackfillStatus.Failed, failed.Status);
        Assert.Contains("has no UDF", failed.Error);

        var missingTable = await Assert.ThrowsAsync<E2EException>(() => Run(new GenevaBackfillRequest { Uri = _uri, Table = "nope", Column = "size" }));
        // The same id as the Local engine's for a table that is not there.
        Assert.Same(ErrorCatalog.TableNotFound, missingTable.Error);
        Assert.Contains("no table 'nope'", missingTable.Message);

        var noGeneva = await Assert.ThrowsAsync<E2EException>(() => GenevaEngine.RunAsync(new GenevaBackfillRequest { Uri = _uri, Table = "pets", Column = "size" }, "python3",
            Bridge, new Dictionary<string, string> { ["PYTHONPATH"] = _root }, null, CancellationToken.None));
        Assert.Same(ErrorCatalog.GenevaNotInstalled, noGeneva.Error);
        Assert.Contains("pip install geneva", noGeneva.Message);
    }

    [Fact]
    public async Task Tables_are_built_in_fragments_described_read_back_and_given_udf_columns_through_the_library()
    {
        Assert.Equal(new[] { "connect", "create_table", "add", "add", "add" }, _buildCalls.Take(5)); // 25 rows by create_table, each next 25 by Table.add

        var modules = new[] { "geneva_simple_udfs" };
        var table = await GenevaEngine.AddColumnAsync(_uri, "pets", "size", "file_size", modules, Array.Empty<string>(), "python3", Bridge, CancellationToken.None, Environment);
        Assert.Equal(new[] { "image", "label", "size" }, table.Columns.Select(c => c.Name));
        Assert.Equal(new[] { "binary", "int64", "int64" }, table.Columns.Select(c => c.Type.ToString()));
        Assert.Same(ErrorCatalog.UdfNotFound, (await Assert.ThrowsAsync<E2EException>(() => GenevaEngine.AddColumnAsync(_uri, "pets", "x", "no_such_udf", modules, Array.Empty<string>(), "python3", Bridge, CancellationToken.None, Environment))).Error);
        Assert.Same(ErrorCatalog.ColumnExists, (await Assert.ThrowsAsync<E2EException>(() => GenevaEngine.AddColumnAsync(_uri, "pets", "size", "file_size", modules, Array.Empty<string>(), "python3", Bridge, CancellationToken.None, Environment))).Error);
        Assert.Same(ErrorCatalog.TableNotFound, (await Assert.ThrowsAsync<E2EException>(() => GenevaEngine.DescribeAsync(_uri, "nope", "python3", Bridge, CancellationToken.None, Environment))).Error);

        await Run(new GenevaBackfillRequest { Uri = _uri, Table = "pets", Column = "size", NumFragments = 1 });
        var filled = await GenevaEngine.RowsAsync(_uri, "pets", "size IS NOT NULL", null, "python3", Bridge, CancellationToken.None, Environment);
        Assert.Equal(25, filled.Count);
        Assert.All(filled, r => Assert.Equal((long)((byte[])r["image"]!).Length, r["size"])); // bytes and numbers come back typed
        Assert.Equal(3, (await GenevaEngine.RowsAsync(_uri, "pets", "size IS NULL", 3, "python3", Bridge, CancellationToken.None, Environment)).Count);
        var filter = Calls().Last(c => c.GetProperty("call").GetString() == "to_table").GetProperty("kwargs");
        Assert.Equal(("size IS NULL", 3), (filter.GetProperty("filter").GetString(), filter.GetProperty("limit").GetInt32()));
        Assert.Same(ErrorCatalog.InvalidFilter, (await Assert.ThrowsAsync<E2EException>(() => GenevaEngine.RowsAsync(_uri, "pets", "size >", null, "python3", Bridge, CancellationToken.None, Environment))).Error);
        var described = await GenevaEngine.DescribeAsync(_uri, "pets", "python3", Bridge, CancellationToken.None, Environment);
        Assert.True(described.Version > table.Version, "a commit is a new version");
        Assert.Equal(new[] { "pets" }, (await GenevaEngine.TablesAsync(_uri, "python3", Bridge, CancellationToken.None, Environment)).Select(t => t.Name));
    }

    [Fact]
    public async Task Cells_json_cannot_hold_as_they_are_are_read_back_as_values()
    {
        // NaN and infinities are not JSON, bytes are not text: the bridge writes each in its own form and reads come back typed.
        Python($$"""
            import geneva
            geneva.connect("{{_uri}}").create_table("measures", [{"n": i, "ratio": r, "raw": b"\x00\xff"} for i, r in enumerate([float("nan"), float("inf"), float("-inf"), 0.5])])
            """);
        var rows = await GenevaEngine.RowsAsync(_uri, "measures", null, null, "python3", Bridge, CancellationToken.None, Environment);
        var ratios = rows.OrderBy(r => (long)r["n"]!).Select(r => (double)r["ratio"]!).ToArray();
        Assert.True(double.IsNaN(ratios[0]));
        Assert.Equal(new[] { double.PositiveInfinity, double.NegativeInfinity, 0.5 }, ratios[1..]);
        Assert.All(rows, r => Assert.Equal(new byte[] { 0, 255 }, r["raw"]));
    }

    [Theory]
    [InlineData("int32", "int64")]
    [InlineData("double", "float64")]
    [InlineData("large_binary", "binary")]
    [InlineData("struct<width: int32, height: int32>", "struct")]
    [InlineData("fixed_size_list<item: float>[512]", "vector[float32, 512]")]
    [InlineData("large_string", "string")]
    public void Arrow_types_read_as_the_nearest_column_type(string arrow, string column) =>
        Assert.Equal(column, GenevaEngine.ColumnTypeOf(arrow).ToString());
}
