using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using E2E.Core.Errors;
using E2E.Core.Naming;
using E2E.Core.Processes;

namespace E2E.Core.Snapshots;

public enum ArchiveVerdict
{
    Identical,

    /// <summary>Same members with the same contents; only timestamps, modes, owners, order or compression differ.</summary>
    MetadataOnly,

    ContentDiffers,
}

public enum ArchiveChange
{
    Missing,
    Extra,
    Content,
    Metadata,
    Order,
    Container,
}

public sealed record ArchiveMemberDifference(string Member, ArchiveChange Change, string? Expected, string? Actual, string? Diff = null)
{
    public override string ToString() => Change switch
    {
        ArchiveChange.Missing => $"{Member}: missing from the actual archive",
        ArchiveChange.Extra => $"{Member}: not in the expected archive",
        _ => $"{Member}: {Change.ToString().ToLowerInvariant()} {Expected} -> {Actual}",
    };
}

public sealed record ArchiveMember(
    string Name,
    string Type,
    long Size,
    string Sha256,
    int? Mode,
    DateTimeOffset? ModifiedAt,
    int? Uid,
    int? Gid,
    string? UserName,
    string? GroupName,
    string? LinkTarget,
    long? CompressedSize,
    byte[]? SmallContent);

public sealed record ArchiveListing(string Format, IReadOnlyList<ArchiveMember> Members, IReadOnlyDictionary<string, string> Container);

/// <summary>What differs between two archives, and whether it is only metadata (the first question of reproducibility debugging).</summary>
public sealed class ArchiveComparison
{
    public required string ExpectedFile { get; init; }

    public required string ActualFile { get; init; }

    public required ArchiveVerdict Verdict { get; init; }

    public required IReadOnlyList<ArchiveMemberDifference> Differences { get; init; }

    public bool OnlyMetadataDiffers => Verdict == ArchiveVerdict.MetadataOnly;

    public string Summary => Verdict switch
    {
        ArchiveVerdict.Identical => "identical",
        ArchiveVerdict.MetadataOnly => "differ only in metadata: " + Tally(),
        _ => "contents differ: " + Tally(),
    };

    private string Tally() => string.Join(", ", Differences.GroupBy(d => d.Change).Select(g => $"{g.Count()} {g.Key.ToString().ToLowerInvariant()}"));

    public string Report() => Summary + (Differences.Count == 0 ? string.Empty : "\n" + string.Join("\n", Differences.Select(d => d.Diff is null ? d.ToString() : d + "\n" + d.Diff)));
}

/// <summary>
/// A diffoscope-like comparison of zip, tar, tar.gz and tar.xz archives, member by member, entirely in memory:
/// nothing is extracted, and a member whose name is absolute or climbs with '..' is refused (UnsafeArchiveMember).
/// </summary>
public static class ArchiveComparer
{
    private const int SmallContentLimit = 1 << 20;

    // Members whose text diff is shown; their content is read again, after the listing, for these only, so that
    // memory follows what is shown, not the archive (1,000 small members once kept 3.2 GB).
    private const int MaxTextDiffs = 32;

    public static ArchiveComparison Compare(string expectedFile, string actualFile)
    {
        RequireArchiveFile(expectedFile);
        RequireArchiveFile(actualFile);
        if (ExpectedOutputComparer.FilesIdentical(expectedFile, actualFile))
        {
            Read(expectedFile); // still refuse unsafe or corrupt archives
            return new ArchiveComparison { ExpectedFile = expectedFile, ActualFile = actualFile, Verdict = ArchiveVerdict.Identical, Differences = Array.Empty<ArchiveMemberDifference>() };
        }
        var expected = Read(expectedFile);
        var actual = Read(actualFile);
        var differences = new List<ArchiveMemberDifference>();
        if (expected.Format != actual.Format)
        {
            differences.Add(new ArchiveMemberDifference("(archive)", ArchiveChange.Container, "format " + expected.Format, "format " + actual.Format));
        }
        foreach (var key in expected.Container.Keys.Union(actual.Container.Keys))
        {
            var (e, a) = (expected.Container.GetValueOrDefault(key), actual.Container.GetValueOrDefault(key));
            if (e != a)
            {
                differences.Add(new ArchiveMemberDifference("(archive)", ArchiveChange.Container, $"{key} {e}", $"{key} {a}"));
            }
        }
        var before = Keyed(expected.Members);
        var after = Keyed(actual.Members);
        foreach (var name in before.Keys.Where(k => !after.ContainsKey(k)))
        {
            differences.Add(new ArchiveMemberDifference(name, ArchiveChange.Missing, null, null));
        }
        foreach (var name in after.Keys.Where(k => !before.ContainsKey(k)))
        {
            differences.Add(new ArchiveMemberDifference(name, ArchiveChange.Extra, null, null));
        }
        var common = before.Keys.Where(after.ContainsKey).ToArray();
        var actualOrder = after.Keys.Where(before.ContainsKey).ToArray();
        if (!common.SequenceEqual(actualOrder))
        {
            differences.Add(new ArchiveMemberDifference("(archive)", ArchiveChange.Order, "member order " + string.Join(",", common.Take(5)), "member order " + string.Join(",", actualOrder.Take(5))));
        }
        foreach (var name in common)
        {
            CompareMember(name, before[name], after[name], differences);
        }
        AddTextDiffs(expectedFile, actualFile, before, after, differences);
        var verdict = differences.Count == 0 ? ArchiveVerdict.Identical
            : differences.Any(d => d.Change is ArchiveChange.Missing or ArchiveChange.Extra or ArchiveChange.Content) ? ArchiveVerdict.ContentDiffers
            : ArchiveVerdict.MetadataOnly;
        return new ArchiveComparison { ExpectedFile = expectedFile, ActualFile = actualFile, Verdict = verdict, Differences = differences };
    }

    private static void CompareMember(string name, ArchiveMember e, ArchiveMember a, List<ArchiveMemberDifference> differences)
    {
        if (e.Type != a.Type || e.Sha256 != a.Sha256 || e.LinkTarget != a.LinkTarget)
        {
            var what = e.Type != a.Type ? ($"type {e.Type}", $"type {a.Type}")
                : e.LinkTarget != a.LinkTarget ? ($"link {e.LinkTarget}", $"link {a.LinkTarget}")
                : ($"{e.Size} bytes sha256:{e.Sha256[..12]}", $"{a.Size} bytes sha256:{a.Sha256[..12]}");
            differences.Add(new ArchiveMemberDifference(name, ArchiveChange.Content, what.Item1, what.Item2));
        }
        void Meta(string field, object? x, object? y)
        {
            if (!Equals(x, y))
            {
                differences.Add(new ArchiveMemberDifference(name, ArchiveChange.Metadata, $"{field} {Show(x)}", $"{field} {Show(y)}"));
            }
        }
        Meta("mtime", e.ModifiedAt?.ToUniversalTime(), a.ModifiedAt?.ToUniversalTime());
        Meta("mode", e.Mode is { } m1 ? Convert.ToString(m1, 8) : null, a.Mode is { } m2 ? Convert.ToString(m2, 8) : null);
        Meta("uid", e.Uid, a.Uid);
        Meta("gid", e.Gid, a.Gid);
        Meta("user", e.UserName, a.UserName);
        Meta("group", e.GroupName, a.GroupName);
        if (e.Sha256 == a.Sha256)
        {
            Meta("compressed size", e.CompressedSize, a.CompressedSize);
        }
    }

    private static string Show(object? value) => value switch
    {
        null => "(none)",
        DateTimeOffset d => d.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty,
    };

    // Unified diffs of the first few small text members whose content differs, from a second read of both archives.
    private static void AddTextDiffs(string expectedFile, string actualFile, IReadOnlyDictionary<string, ArchiveMember> before, IReadOnlyDictionary<string, ArchiveMember> after, List<ArchiveMemberDifference> differences)
    {
        var wanted = differences.Where(d => d.Change == ArchiveChange.Content && before[d.Member].Type == after[d.Member].Type
                && before[d.Member].Size <= SmallContentLimit && after[d.Member].Size <= SmallContentLimit)
            .Select(d => d.Member).Take(MaxTextDiffs).ToHashSet(StringComparer.Ordinal);
        if (wanted.Count == 0)
        {
            return;
        }
        var expected = Keyed(Read(expectedFile, wanted.Contains).Members);
        var actual = Keyed(Read(actualFile, wanted.Contains).Members);
        for (var i = 0; i < differences.Count; i++)
        {
            var name = differences[i].Member;
            if (differences[i].Change == ArchiveChange.Content && wanted.Contains(name)
                && expected.GetValueOrDefault(name)?.SmallContent is { } x && actual.GetValueOrDefault(name)?.SmallContent is { } y && IsText(x) && IsText(y))
            {
                differences[i] = differences[i] with { Diff = ExpectedOutputComparer.UnifiedDiff(Encoding.UTF8.GetString(x), Encoding.UTF8.GetString(y), name) };
            }
        }
    }

    private static bool IsText(byte[] content) => !content.AsSpan().Contains((byte)0) && Utf8(content);

    private static bool Utf8(byte[] content)
    {
        try
        {
            _ = new UTF8Encoding(false, true).GetString(content);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    /// <summary>Members by name; a name repeated in a tar keeps every copy, as name#2, name#3.</summary>
    private static Dictionary<string, ArchiveMember> Keyed(IReadOnlyList<ArchiveMember> members)
    {
        var result = new Dictionary<string, ArchiveMember>(StringComparer.Ordinal);
        foreach (var member in members)
        {
            var key = member.Name;
            for (var n = 2; result.ContainsKey(key); n++)
            {
                key = $"{member.Name}#{n}";
            }
            result[key] = member;
        }
        return result;
    }

    /// <summary>
    /// Lists an archive's members with their metadata and content hashes; the format comes from the file's magic
    /// bytes. The content of members up to 1 MiB is kept only for those <paramref name="keepContent"/> names.
    /// </summary>
    public static ArchiveListing Read(string path, Func<string, bool>? keepContent = null)
    {
        keepContent ??= _ => false;
        RequireArchiveFile(path);
        var head = new byte[512];
        int headLength;
        using (var probe = File.OpenRead(path))
        {
            headLength = probe.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        if (headLength == 0)
        {
            // An empty file is no archive (TarReader would read it as a tar with no members).
            throw new E2EException(ErrorCatalog.UnsupportedArchive, $"'{path}' is empty, so it is not a zip, tar, tar.gz or tar.xz archive.", path);
        }
        try
        {
            if (head[0] == 'P' && head[1] == 'K')
            {
                return ReadZip(path, keepContent);
            }
            if (head[0] == 0x1F && head[1] == 0x8B)
            {
                var container = new Dictionary<string, string>
                {
                    ["gzip mtime"] = BitConverter.ToUInt32(head, 4).ToString(CultureInfo.InvariantCulture),
                    ["gzip os"] = head[9].ToString(CultureInfo.InvariantCulture),
                };
                using var file = File.OpenRead(path);
                using var gzip = new GZipStream(file, CompressionMode.Decompress);
                return new ArchiveListing("tar.gz", ReadTar(gzip, path, keepContent), container);
            }
            if (head.AsSpan(0, 6).SequenceEqual(new byte[] { 0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00 }))
            {
                return new ArchiveListing("tar.xz", ReadXz(path, keepContent), new Dictionary<string, string>());
            }
            using var tar = File.OpenRead(path);
            return new ArchiveListing("tar", ReadTar(tar, path, keepContent), new Dictionary<string, string>());
        }
        // TarReader throws the last two on malformed numeric fields (found by the fuzz test).
        catch (Exception ex) when (ex is InvalidDataException or FormatException or EndOfStreamException or OverflowException or ArgumentException)
        {
            throw new E2EException(ErrorCatalog.UnsupportedArchive, $"'{path}' is not a readable zip, tar, tar.gz or tar.xz archive: {ex.Message}", path, ex);
        }
    }

    // Before anything opens it: there, and a regular file (a device or FIFO would never end).
    private static void RequireArchiveFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new E2EException(ErrorCatalog.ArchiveNotFound, $"The archive '{path}' does not exist.", path);
        }
        FileKinds.RequireRegularFile(path, "The archive");
    }

    private static ArchiveListing ReadZip(string path, Func<string, bool> keepContent)
    {
        using var zip = ZipFile.OpenRead(path);
        var members = new List<ArchiveMember>();
        foreach (var entry in zip.Entries)
        {
            var name = SafeName(entry.FullName, path);
            var isDirectory = entry.FullName.EndsWith('/');
            var unixMode = (entry.ExternalAttributes >> 16) & 0xFFFF;
            var (sha, content) = (string.Empty, (byte[]?)null);
            if (!isDirectory)
            {
                using var data = entry.Open();
                (sha, content) = Hash(data, entry.Length, keepContent(name), (entry.Crc32, $"{path}: {entry.FullName}"));
            }
            members.Add(new ArchiveMember(name, isDirectory ? "directory" : (unixMode & 0xF000) == 0xA000 ? "symlink" : "file", entry.Length, sha,
                unixMode == 0 ? null : unixMode & 0xFFF, entry.LastWriteTime, null, null, null, null, null, entry.CompressedLength, content));
        }
        return new ArchiveListing("zip", members, new Dictionary<string, string>());
    }

    private static List<ArchiveMember> ReadTar(Stream stream, string path, Func<string, bool> keepContent)
    {
        var members = new List<ArchiveMember>();
        using var reader = new TarReader(stream, leaveOpen: true);
        while (reader.GetNextEntry(copyData: false) is { } entry)
        {
            var name = SafeName(entry.Name, path);
            var length = entry.Length;
            var (sha, content) = entry.DataStream is { } data ? Hash(data, length, keepContent(name)) : (string.Empty, null);
            var posix = entry as PosixTarEntry;
            members.Add(new ArchiveMember(name, entry.EntryType.ToString(), length, sha, (int)entry.Mode, entry.ModificationTime,
                entry.Uid, entry.Gid, posix?.UserName, posix?.GroupName, string.IsNullOrEmpty(entry.LinkName) ? null : entry.LinkName, null, content));
        }
        return members;
    }

    /// <summary>.NET has no xz decoder, so the xz program decompresses into the tar reader.</summary>
    private static List<ArchiveMember> ReadXz(string path, Func<string, bool> keepContent)
    {
        var start = new ProcessStartInfo("xz", new[] { "--decompress", "--stdout", "--", path })
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        Process process;
        try
        {
            process = Process.Start(start.Own())!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new E2EException(ErrorCatalog.ToolNotFound, "Reading a .tar.xz archive needs the 'xz' program on PATH (Debian: apt-get install xz-utils).", "xz", ex);
        }
        using (process)
        {
            var errors = process.StandardError.ReadToEndAsync();
            List<ArchiveMember> members;
            try
            {
                members = ReadTar(process.StandardOutput.BaseStream, path, keepContent);
                process.StandardOutput.BaseStream.CopyTo(Stream.Null);
            }
            finally
            {
                process.WaitForExit();
            }
            if (process.ExitCode != 0)
            {
                throw new InvalidDataException($"xz failed: {errors.Result.Trim()}");
            }
            return members;
        }
    }

    /// <summary>
    /// Hashes a member's content (the caller owns the stream); with <paramref name="keep"/>, a small member's bytes are kept for a text diff. The bytes read
    /// must be the declared length, and a zip member's must match its CRC-32: a damaged archive is an error, never
    /// "Identical" or "only metadata differs".
    /// </summary>
    private static (string Sha256, byte[]? Small) Hash(Stream content, long length, bool keep, (uint Crc, string Where)? zip = null)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var crc = new System.IO.Hashing.Crc32();
        using var small = keep && length <= SmallContentLimit ? new MemoryStream((int)length) : null;
        var buffer = new byte[81920];
        long total = 0;
        int read;
        while ((read = content.Read(buffer, 0, buffer.Length)) > 0)
        {
            total += read;
            if (total > length)
            {
                break;
            }
            sha.AppendData(buffer, 0, read);
            crc.Append(buffer.AsSpan(0, read));
            small?.Write(buffer, 0, read);
        }
        var where = zip?.Where ?? "a tar member";
        if (total != length)
        {
            throw new E2EException(ErrorCatalog.UnsupportedArchive, $"{where}: the data is {(total > length ? "longer" : "shorter")} than the {length} bytes the archive declares (a damaged archive).", where);
        }
        if (zip is { } expected && crc.GetCurrentHashAsUInt32() != expected.Crc)
        {
            throw new E2EException(ErrorCatalog.UnsupportedArchive, $"{where}: the data does not match its CRC-32 (a damaged archive).", where);
        }
        return (Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant(), small?.ToArray());
    }

    /// <summary>Refuses names that would land outside an extraction folder: absolute, drive-rooted, or with a '..' segment.</summary>
    internal static string SafeName(string name, string archive)
    {
        var normalized = name.Replace('\\', '/');
        var unsafeName = normalized.StartsWith('/') || (normalized.Length >= 2 && normalized[1] == ':') || normalized.Split('/').Any(s => s == "..");
        if (unsafeName)
        {
            throw new E2EException(ErrorCatalog.UnsafeArchiveMember, $"Archive '{archive}' has a member named '{name}', which would land outside the extraction folder.", name);
        }
        return normalized;
    }
}
