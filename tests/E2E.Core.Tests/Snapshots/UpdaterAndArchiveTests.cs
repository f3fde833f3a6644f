using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using E2E.Core.Errors;
using E2E.Core.Snapshots;

namespace E2E.Core.Tests.Snapshots;

public sealed class UpdaterAndArchiveTests : IDisposable
{
    private readonly SampleProject _project = new();

    public void Dispose() => _project.Dispose();

    [Fact]
    public void Applying_the_plan_makes_expected_equal_actual_and_touches_only_changed_files()
    {
        _project.ApplyReviewedChanges();
        File.Delete(_project.ActualFile("requirements/framework-http-client/packages-framework-http-client.txt"));
        File.WriteAllText(_project.ActualFile("requirements/new-layer.txt"), "new\n");
        var untouched = Path.Combine(_project.Expected, "requirements", "framework-sklearn", "pylock.framework-sklearn.toml");
        var before = File.GetLastWriteTimeUtc(untouched);

        var plan = ExpectedOutputUpdater.Plan(_project.Actual, _project.Expected, new ComparisonOptions());
        Assert.Equal(5, plan.Count);
        Assert.Equal(UpdateAction.Delete, plan.Single(p => p.Path.EndsWith("packages-framework-http-client.txt", StringComparison.Ordinal)).Action);
        Assert.Equal(UpdateAction.Add, plan.Single(p => p.Path == "requirements/new-layer.txt").Action);
        Assert.Equal(3, plan.Count(p => p.Action == UpdateAction.Replace));
        foreach (var update in plan)
        {
            ExpectedOutputUpdater.Apply(update);
        }

        Assert.All(ExpectedOutputComparer.Compare(_project.Actual, _project.Expected, new ComparisonOptions()), r => Assert.Equal(OutputStatus.Equal, r.Status));
        Assert.Equal(before, File.GetLastWriteTimeUtc(untouched));
        Assert.Empty(Directory.EnumerateFiles(_project.Expected, "*.e2e-partial", SearchOption.AllDirectories));
    }

    [Fact]
    public void A_file_that_cannot_be_compared_stops_the_plan_before_anything_is_written()
    {
        _project.ApplyReviewedChanges();
        File.WriteAllText(_project.ActualFile("expected_manifests/linux_x86_64/venvstacks.json"), "{ broken");
        var ex = Assert.Throws<E2EException>(() => ExpectedOutputUpdater.Plan(_project.Actual, _project.Expected, new ComparisonOptions()));
        Assert.Same(ErrorCatalog.InvalidJson, ex.Error);
    }

    [Fact]
    public void Links_are_recreated_not_followed()
    {
        File.CreateSymbolicLink(_project.ActualFile("requirements/passwd-link"), "/etc/passwd");
        var update = Assert.Single(ExpectedOutputUpdater.Plan(_project.Actual, _project.Expected, new ComparisonOptions()));
        ExpectedOutputUpdater.Apply(update);
        Assert.Equal("/etc/passwd", new FileInfo(Path.Combine(_project.Expected, "requirements", "passwd-link")).LinkTarget);
    }

    [Fact]
    public void Reason_replaces_only_the_last_requested_update_comment_byte_for_byte()
    {
        var config = Path.Combine(_project.Root, ExpectedOutputUpdater.DefaultConfigName);
        File.Copy(Fixtures.Path("venvstacks", "tests", "expected-output-config.toml"), config);
        var original = File.ReadAllText(config);
        var when = new DateTimeOffset(2026, 11, 24, 10, 30, 5, TimeSpan.Zero);

        ExpectedOutputUpdater.RecordReason(config, "scipy 1.16.2 relock", when);

        var updated = File.ReadAllText(config);
        var expected = original.Replace("# Last requested update: always set Linux and macOS targets", "# Last requested update: scipy 1.16.2 relock (2026-11-24T10:30:05Z)", StringComparison.Ordinal);
        Assert.Equal(expected, updated);
        Assert.NotNull(TomlParserRoundTrip(config));
    }

    [Fact]
    public void Reason_keeps_crlf_and_a_byte_order_mark_and_is_appended_when_absent()
    {
        var config = Path.Combine(_project.Root, "crlf.toml");
        File.WriteAllBytes(config, new byte[] { 0xEF, 0xBB, 0xBF }.Concat(Encoding.UTF8.GetBytes("[env]\r\nA = \"1\"\r\n")).ToArray());
        ExpectedOutputUpdater.RecordReason(config, "first", new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero));
        var bytes = File.ReadAllBytes(config);
        Assert.Equal(new byte[] { 0xEF, 0xBB, 0xBF }, bytes[..3]);
        Assert.Equal("[env]\r\nA = \"1\"\r\n\r\n# Last requested update: first (2026-01-02T03:04:05Z)\r\n", Encoding.UTF8.GetString(bytes[3..]));
    }

    [Theory]
    [InlineData("")]
    [InlineData("two\nlines")]
    [InlineData("tab\tinside")]
    public void Bad_reasons_are_InvalidReason(string reason)
    {
        var ex = Assert.Throws<E2EException>(() => ExpectedOutputUpdater.ValidateReason(reason));
        Assert.Same(ErrorCatalog.InvalidReason, ex.Error);
    }

    [Fact]
    public void Config_is_found_at_or_above_the_expected_tree()
    {
        var config = Path.Combine(_project.Root, ExpectedOutputUpdater.DefaultConfigName);
        File.WriteAllText(config, "");
        Assert.Equal(config, ExpectedOutputUpdater.FindConfig(Path.Combine(_project.Expected, "requirements")));
    }

    [Fact]
    public void A_new_config_goes_beside_the_expected_folder_not_into_it()
    {
        // Inside, the next comparison would report it as a Missing file and the next update would delete it.
        var expected = Directory.CreateDirectory(Path.Combine(_project.Root, "lonely", "expected")).FullName;
        Assert.Equal(Path.Combine(_project.Root, "lonely", ExpectedOutputUpdater.DefaultConfigName), ExpectedOutputUpdater.FindConfig(expected));
    }

    [Fact]
    public void Damaged_and_empty_archives_are_errors_not_identical()
    {
        var dir = Directory.CreateTempSubdirectory("damaged-archives-").FullName;
        try
        {
            var good = Path.Combine(dir, "good.zip");
            using (var zip = System.IO.Compression.ZipFile.Open(good, System.IO.Compression.ZipArchiveMode.Create))
            {
                using var writer = new StreamWriter(zip.CreateEntry("data.txt", System.IO.Compression.CompressionLevel.NoCompression).Open());
                writer.Write("HELLO WORLD, stored without compression so one byte can be changed");
            }
            var bytes = File.ReadAllBytes(good);
            var at = System.Text.Encoding.ASCII.GetString(bytes).IndexOf("HELLO", StringComparison.Ordinal);
            bytes[at] = (byte)'J';
            var bad = Path.Combine(dir, "bad.zip");
            File.WriteAllBytes(bad, bytes);
            var crc = Assert.Throws<E2EException>(() => ArchiveComparer.Read(bad));
            Assert.Equal(ErrorCatalog.UnsupportedArchive, crc.Error);
            Assert.Contains("CRC-32", crc.Message);
            Assert.NotNull(ArchiveComparer.Read(good));

            var empty = Path.Combine(dir, "empty.tar");
            File.WriteAllBytes(empty, Array.Empty<byte>());
            Assert.Equal(ErrorCatalog.UnsupportedArchive, Assert.Throws<E2EException>(() => ArchiveComparer.Read(empty)).Error);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static object TomlParserRoundTrip(string path) => E2E.Core.Toml.TomlParser.ParseFile(path);

    // ---- archives -------------------------------------------------------------------------------

    private string Zip(string name, params (string Name, string Content, DateTimeOffset When)[] members)
    {
        var path = Path.Combine(_project.Root, name);
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (member, content, when) in members)
        {
            var entry = zip.CreateEntry(member, CompressionLevel.Optimal);
            entry.LastWriteTime = when;
            using var stream = entry.Open();
            stream.Write(Encoding.UTF8.GetBytes(content));
        }
        return path;
    }

    private string Tar(string name, bool gzip, params (string Name, string Content, DateTimeOffset When, UnixFileMode Mode)[] members)
    {
        var path = Path.Combine(_project.Root, name);
        using var file = File.Create(path);
        using Stream outer = gzip ? new GZipStream(file, CompressionLevel.Optimal) : file;
        using var writer = new TarWriter(outer, TarEntryFormat.Pax);
        foreach (var (member, content, when, mode) in members)
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, member) { ModificationTime = when, Mode = mode, DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)) };
            writer.WriteEntry(entry);
        }
        return path;
    }

    private static readonly DateTimeOffset T1 = new(2025, 8, 27, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset T2 = new(2026, 11, 24, 10, 0, 0, TimeSpan.Zero);
    private const UnixFileMode Rw = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    [Fact]
    public void Zips_that_differ_only_in_timestamps_are_metadata_only()
    {
        var a = Zip("a.zip", ("bin/run.py", "print(1)\n", T1), ("share/x.json", "{}", T1));
        var b = Zip("b.zip", ("bin/run.py", "print(1)\n", T2), ("share/x.json", "{}", T2));
        var result = ArchiveComparer.Compare(a, b);
        Assert.Equal(ArchiveVerdict.MetadataOnly, result.Verdict);
        Assert.True(result.OnlyMetadataDiffers);
        Assert.Equal(2, result.Differences.Count(d => d.Change == ArchiveChange.Metadata && d.Expected!.StartsWith("mtime", StringComparison.Ordinal)));
        Assert.StartsWith("differ only in metadata: 2 metadata", result.Summary);
    }

    [Fact]
    public void Content_changes_missing_members_and_order_are_reported_with_a_text_diff()
    {
        var a = Tar("a.tar.gz", gzip: true, ("layer/a.txt", "one\ntwo\n", T1, Rw), ("layer/b.txt", "b\n", T1, Rw), ("layer/c.txt", "c\n", T1, Rw));
        var b = Tar("b.tar.gz", gzip: true, ("layer/c.txt", "c\n", T1, Rw), ("layer/a.txt", "one\nTWO\n", T1, Rw | UnixFileMode.UserExecute), ("layer/d.txt", "d\n", T1, Rw));
        var result = ArchiveComparer.Compare(a, b);
        Assert.Equal(ArchiveVerdict.ContentDiffers, result.Verdict);
        var byChange = result.Differences.ToLookup(d => d.Change);
        Assert.Equal("layer/b.txt", Assert.Single(byChange[ArchiveChange.Missing]).Member);
        Assert.Equal("layer/d.txt", Assert.Single(byChange[ArchiveChange.Extra]).Member);
        Assert.Single(byChange[ArchiveChange.Order]);
        var content = Assert.Single(byChange[ArchiveChange.Content]);
        Assert.Contains("-two", content.Diff);
        Assert.Contains("+TWO", content.Diff);
        Assert.Contains(byChange[ArchiveChange.Metadata], d => d.Expected == "mode 644" && d.Actual == "mode 744");
    }

    [Fact]
    public void Listing_keeps_no_member_content_and_only_the_first_32_differing_text_members_get_a_diff()
    {
        var members = Enumerable.Range(0, 40).Select(i => ($"m/{i:00}.txt", $"line {i}\n", T1, Rw)).ToArray();
        var changed = members.Select(m => (m.Item1, m.Item2.ToUpperInvariant(), m.T1, m.Rw)).ToArray();
        var a = Tar("many-a.tar", gzip: false, members);
        var b = Tar("many-b.tar", gzip: false, changed);
        Assert.All(ArchiveComparer.Read(a).Members, m => Assert.Null(m.SmallContent));
        var content = ArchiveComparer.Compare(a, b).Differences.Where(d => d.Change == ArchiveChange.Content).ToArray();
        Assert.Equal(40, content.Length);
        Assert.Equal(32, content.Count(d => d.Diff is not null));
        Assert.Contains("+LINE 0", content[0].Diff);
    }

    [Fact]
    public void Tar_xz_is_read_through_xz_and_compares_with_tar_gz_by_content()
    {
        var tar = Tar("layer.tar", gzip: false, ("a.txt", "same\n", T1, Rw));
        var xz = tar + ".xz";
        using (var p = System.Diagnostics.Process.Start("xz", new[] { "--keep", "--force", tar })!)
        {
            p.WaitForExit();
            Assert.Equal(0, p.ExitCode);
        }
        var gz = Tar("layer.tar.gz", gzip: true, ("a.txt", "same\n", T1, Rw));
        Assert.Equal("tar.xz", ArchiveComparer.Read(xz).Format);
        var result = ArchiveComparer.Compare(gz, xz);
        Assert.Equal(ArchiveVerdict.MetadataOnly, result.Verdict);
        Assert.Contains(result.Differences, d => d.Change == ArchiveChange.Container && d.Expected == "format tar.gz" && d.Actual == "format tar.xz");
    }

    [Theory]
    [InlineData("../../x")]
    [InlineData("/etc/passwd")]
    [InlineData("a/../../b")]
    public void Members_escaping_the_archive_are_UnsafeArchiveMember(string member)
    {
        var bad = Zip("bad.zip", (member, "x", T1));
        var good = Zip("good.zip", ("x", "x", T1));
        var ex = Assert.Throws<E2EException>(() => ArchiveComparer.Compare(good, bad));
        Assert.Same(ErrorCatalog.UnsafeArchiveMember, ex.Error);
        Assert.Equal(member, ex.Target);
    }

    [Fact]
    public void Not_an_archive_is_UnsupportedArchive()
    {
        var junk = Path.Combine(_project.Root, "junk.tar.gz");
        File.WriteAllBytes(junk, new byte[] { 0x1F, 0x8B, 1, 2, 3 });
        var ex = Assert.Throws<E2EException>(() => ArchiveComparer.Read(junk));
        Assert.Same(ErrorCatalog.UnsupportedArchive, ex.Error);
    }

    [Fact]
    public void Reproducibility_report_separates_identical_trees_from_metadata_only_archives()
    {
        var first = Directory.CreateDirectory(Path.Combine(_project.Root, "run1")).FullName;
        var second = Directory.CreateDirectory(Path.Combine(_project.Root, "run2")).FullName;
        foreach (var (dir, when) in new[] { (first, T1), (second, T2) })
        {
            File.WriteAllText(Path.Combine(dir, "meta.json"), "{\"a\": 1}");
            File.Move(Zip($"{Path.GetFileName(dir)}.zip", ("m.txt", "same", when)), Path.Combine(dir, "layer.zip"));
        }
        var report = ReproducibilityReport.Compare(first, second, new ComparisonOptions());
        Assert.False(report.Reproducible);
        Assert.Equal(2, report.FilesCompared);
        Assert.True(report.OnlyArchiveMetadataDiffers);
        Assert.Equal("layer.zip", Assert.Single(report.Differences).Path);
    }
}
