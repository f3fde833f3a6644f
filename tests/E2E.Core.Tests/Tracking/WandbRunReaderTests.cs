using System.Buffers.Binary;
using System.Numerics;
using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Tracking;
using E2E.Core.Tracking.WandbProto;
using Google.Protobuf;
using Xunit;
using Record = E2E.Core.Tracking.WandbProto.Record;

namespace E2E.Core.Tests.Tracking;

public sealed class WandbRunReaderTests
{
    private static readonly string Leet = Fixtures.Path("wandb", "leet", "fixtures");

    public static TheoryData<string> WandbFiles() =>
        new(Directory.EnumerateFiles(Fixtures.Path("wandb"), "*.wandb", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(Fixtures.Path("wandb"), f)).Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(WandbFiles))]
    public void Every_fixture_equals_the_plain_python_reader(string relative)
    {
        var file = Fixtures.Path("wandb", relative);
        var expected = PlainReaders.Run("wandb", file);
        var run = WandbRunReader.ReadFile(file);
        PlainReaders.AssertSameMetrics(expected.GetProperty("metrics"), run, relative);
        if (expected.GetProperty("run_id").ValueKind == JsonValueKind.String)
        {
            Assert.Equal(expected.GetProperty("run_id").GetString(), run.RunId);
        }
        Assert.Equal(expected.GetProperty("damaged").GetInt32() > 0, run.Warnings.Count > 0);
    }

    [Fact]
    public void Record_counts_match_the_leet_manifest_readme()
    {
        // The "Record counts" table of leet/fixtures/README.md, and its "expected readable" for the wire files.
        var counts = File.ReadLines(Path.Combine(Leet, "README.md"))
            .Select(l => System.Text.RegularExpressions.Regex.Match(l, @"^\| (\S+\.wandb) \| (\d+) \|$"))
            .Where(m => m.Success)
            .ToDictionary(m => m.Groups[1].Value, m => int.Parse(m.Groups[2].Value));
        Assert.True(counts.Count >= 12);
        var readable = new Dictionary<string, int> { ["wire/bad-crc.wandb"] = 2, ["wire/truncated-tail.wandb"] = 4 };
        foreach (var (relative, count) in counts.Where(c => File.Exists(Path.Combine(Leet, c.Key))))
        {
            var warnings = new List<string>();
            var records = WandbTransactionLog.ReadRecords(File.ReadAllBytes(Path.Combine(Leet, relative)), relative, warnings);
            Assert.True(readable.GetValueOrDefault(relative, count) == records.Count, $"{relative}: {records.Count} records, expected {readable.GetValueOrDefault(relative, count)}");
            Assert.Equal(readable.ContainsKey(relative), warnings.Count > 0);
        }
    }

    [Fact]
    public void Damaged_files_are_read_up_to_the_damage_with_a_warning()
    {
        var badCrc = WandbRunReader.ReadFile(Path.Combine(Leet, "wire", "bad-crc.wandb"));
        Assert.Contains("offset 143 fails its checksum", Assert.Single(badCrc.Warnings));
        var truncated = WandbRunReader.ReadFile(Path.Combine(Leet, "wire", "truncated-tail.wandb"));
        Assert.Contains("49 bytes into the 99-byte chunk at offset 234", Assert.Single(truncated.Warnings));
        Assert.Equal(new[] { 1.0, 2.0, 3.0 }, truncated.Metrics["wire/metric"].Points.Select(p => p.Value));
    }

    [Fact]
    public void Reads_run_identity_config_summary_exit_and_edge_values()
    {
        var tiny = WandbRunReader.ReadFile(Path.Combine(Leet, "wandb", "single-tiny", "wandb", "run-20260102_030405-tiny0001", "run-tiny0001.wandb"));
        Assert.Equal(("tiny0001", "single-tiny-run", "leet-fixtures", "finished", 0), (tiny.RunId, tiny.Name, tiny.Project, tiny.Status, tiny.ExitCode!.Value));
        Assert.Equal(new[] { "eval/step_fn", "train/loss", "train/sine" }, tiny.Metrics.Keys);
        Assert.All(tiny.Metrics.Values, m => Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), m.Points.Select(p => p.Step)));
        Assert.Equal(1767323047000, tiny.Metrics["train/loss"].Points[0].TimestampMs);
        Assert.Equal(32L, tiny.Config["batch_size"]);
        Assert.Equal("32", tiny.Parameters["batch_size"]);
        Assert.Equal(0.285, tiny.Summary["train/loss"]);

        var nan = WandbRunReader.ReadFile(Path.Combine(Leet, "wandb", "edge-nan-inf", "wandb", "run-20260102_030405-nanedge1", "run-nanedge1.wandb"));
        var values = nan.Metrics["edge/nan_inf"].Points.Select(p => p.Value).ToList();
        Assert.Contains(values, double.IsNaN);
        Assert.Contains(double.PositiveInfinity, values);
        Assert.Contains(double.NegativeInfinity, values);
        Assert.Single(nan.Metrics["edge/single_point"].Points);

        var unicode = WandbRunReader.ReadFile(Path.Combine(Leet, "wandb", "edge-unicode", "wandb", "run-20260102_030405-uni00001", "run-uni00001.wandb"));
        Assert.Contains("损失/loss", unicode.Metrics.Keys);
        Assert.Contains("café", unicode.Tags.Keys);

        var multi = WandbRunReader.ReadRuns(Path.Combine(Leet, "wandb", "workspace-multi"));
        Assert.Equal(5, multi.Count);
        Assert.Equal(("failed", 1), (multi.Single(r => r.RunId == "wm4crash").Status!, multi.Single(r => r.RunId == "wm4crash").ExitCode!.Value));
        Assert.Equal("running", multi.Single(r => r.RunId == "wm3live").Status);
        Assert.Equal(new[] { "baseline", "best" }, multi.Single(r => r.RunId == "wm5best").Tags.Keys.Order());

        var stats = WandbRunReader.ReadFile(Path.Combine(Leet, "wandb", "system-stats", "wandb", "run-20260102_030405-sysstats1", "run-sysstats1.wandb"));
        Assert.Equal(60, stats.Metrics["system/cpu"].Count);

        var empty = WandbRunReader.ReadFile(Path.Combine(Leet, "wandb", "edge-empty", "wandb", "run-20260102_030405-empty001", "run-empty001.wandb"));
        Assert.Equal(("empty001", 0, "running"), (empty.RunId, empty.Metrics.Count, empty.Status!));
    }

    [Fact]
    public void Reads_the_real_2021_offline_run()
    {
        var run = Assert.Single(WandbRunReader.ReadRuns(Fixtures.Path("wandb", "tests", "assets", "wandb")));
        Assert.Equal(("g9dvvkua", "code-toad", "finished"), (run.RunId, run.Project!, run.Status!));
        // It has no history record; its one stats record gives the system/* series.
        Assert.NotEmpty(run.Metrics);
        Assert.All(run.Metrics.Keys, k => Assert.StartsWith("system/", k));
        Assert.All(run.Metrics.Values, m => Assert.Equal(1, m.Count));
        Assert.Empty(run.Warnings);
    }

    [Fact]
    public void Records_split_across_blocks_round_trip_and_padding_is_skipped()
    {
        var big = new Record { Num = 1, History = new HistoryRecord() };
        for (var i = 0; i < 3000; i++)
        {
            big.History.Item.Add(new HistoryItem { Key = $"metric/{i}", ValueJson = (i * 0.5).ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
        big.History.Step = new HistoryStep { Num = 7 };
        var small = new Record { Num = 2, Exit = new RunExitRecord { ExitCode = 0 } };
        var bytes = WandbTransactionLog.Write(new[] { big.ToByteArray(), small.ToByteArray() });
        Assert.True(bytes.Length > 2 * WandbTransactionLog.BlockSize, "the record must span more than two blocks (FIRST, MIDDLE, LAST)");
        var warnings = new List<string>();
        var records = WandbTransactionLog.ReadRecords(bytes, "mem", warnings);
        Assert.Empty(warnings);
        Assert.Equal(big, Record.Parser.ParseFrom(records[0]));
        Assert.Equal(small, Record.Parser.ParseFrom(records[1]));

        // A record that leaves fewer than 7 bytes in a block: the writer pads, the reader skips the padding.
        var filler = new byte[WandbTransactionLog.BlockSize - WandbTransactionLog.HeaderSize - 7 - 3];
        var padded = WandbTransactionLog.Write(new[] { filler, small.ToByteArray() });
        Assert.Equal(2, WandbTransactionLog.ReadRecords(padded, "mem", warnings).Count);
        Assert.Empty(warnings);
    }

    [Fact]
    public void A_LevelDB_masked_crc32c_is_accepted_too()
    {
        var payload = new Record { Num = 1, Exit = new RunExitRecord { ExitCode = 3 } }.ToByteArray();
        var crc = BitOperations.Crc32C(uint.MaxValue, (byte)1);
        foreach (var b in payload)
        {
            crc = BitOperations.Crc32C(crc, b);
        }
        crc = ~crc;
        var masked = ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
        var file = new byte[7 + 7 + payload.Length];
        ":W&B"u8.CopyTo(file);
        file[4] = 0xE1;
        file[5] = 0xBE;
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(7), masked);
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(11), (ushort)payload.Length);
        file[13] = 1;
        payload.CopyTo(file, 14);
        var warnings = new List<string>();
        Assert.Single(WandbTransactionLog.ReadRecords(file, "mem", warnings));
        Assert.Empty(warnings);
    }

    [Fact]
    public void A_file_that_is_not_a_wandb_log_is_TrackingStoreMalformed()
    {
        var error = Assert.Throws<E2EException>(() => WandbTransactionLog.ReadRecords("not a wandb file"u8.ToArray(), "x.wandb", new List<string>()));
        Assert.Equal(ErrorCatalog.TrackingStoreMalformed, error.Error);
        Assert.Contains("x.wandb", error.Message);
    }
}
