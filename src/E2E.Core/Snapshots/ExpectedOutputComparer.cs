using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using DiffPlex.Renderer;
using E2E.Core.Errors;
using E2E.Core.Naming;
using E2E.Core.Toml;

namespace E2E.Core.Snapshots;

/// <summary>
/// Compares an actual file or tree with an expected one, file by file. Directory links are never followed
/// (a link is compared as a link), so a comparison cannot loop or read outside either tree. Files whose
/// bytes are identical are Equal without being parsed, which keeps large identical trees at disk speed.
/// </summary>
public static class ExpectedOutputComparer
{
    private static readonly string[] ArchiveSuffixes = { ".zip", ".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz" };

    /// <summary>Compares <paramref name="actualPath"/> with <paramref name="expectedPath"/> (files or directories).</summary>
    /// <remarks>
    /// With <paramref name="requireExpected"/> a missing expected path is ExpectedPathNotFound (a typo must not read as
    /// "every file is Extra"); Update-ExpectedOutput leaves it off, since its first run creates the expected tree.
    /// </remarks>
    public static IEnumerable<OutputComparison> Compare(string actualPath, string expectedPath, ComparisonOptions options, CancellationToken cancellation = default, bool requireExpected = false)
    {
        var actual = ResolveRoot(actualPath);
        var expected = ResolveRoot(expectedPath);
        if (actual is null && expected is null)
        {
            throw new E2EException(ErrorCatalog.ExpectedOutputNotFound, $"Neither '{actualPath}' nor '{expectedPath}' exists.", expectedPath);
        }
        if (expected is null && requireExpected)
        {
            throw new E2EException(ErrorCatalog.ExpectedPathNotFound,
                $"The expected output '{expectedPath}' does not exist (a typo?). To record '{actualPath}' as the expected output, use Update-ExpectedOutput.", expectedPath);
        }
        // A single actual file against an expected directory means the file of the same name in it.
        if (actual is FileInfo file && expected is DirectoryInfo dir)
        {
            expected = ResolveRoot(Path.Combine(dir.FullName, file.Name));
            return new[] { CompareEntry(file.Name, Entry(expected), Entry(file), options, cancellation) };
        }
        if (actual is not DirectoryInfo && expected is not DirectoryInfo)
        {
            var name = Path.GetFileName((actual ?? expected)!.FullName);
            return new[] { CompareEntry(name, Entry(expected), Entry(actual), options, cancellation) };
        }
        var expectedFiles = expected is DirectoryInfo e ? ListTree(e.FullName) : new SortedDictionary<string, TreeEntry>(StringComparer.Ordinal);
        var actualFiles = actual is DirectoryInfo a ? ListTree(a.FullName) : new SortedDictionary<string, TreeEntry>(StringComparer.Ordinal);
        var plan = expectedFiles.Keys.Union(actualFiles.Keys).Where(p => Selected(p, options)).Order(StringComparer.Ordinal).ToArray();
        return plan.AsParallel().AsOrdered().WithCancellation(cancellation).WithDegreeOfParallelism(Math.Max(2, Environment.ProcessorCount))
            .Select(rel => CompareEntry(rel, expectedFiles.GetValueOrDefault(rel), actualFiles.GetValueOrDefault(rel), options, cancellation));
    }

    /// <summary>Every file and link below a directory, by relative '/' path; directory links are listed, not entered.</summary>
    public static SortedDictionary<string, TreeEntry> ListTree(string root)
    {
        var files = new SortedDictionary<string, TreeEntry>(StringComparer.Ordinal);
        var pending = new Stack<DirectoryInfo>();
        pending.Push(new DirectoryInfo(root));
        while (pending.Count > 0)
        {
            foreach (var entry in pending.Pop().EnumerateFileSystemInfos())
            {
                var isLink = entry.Attributes.HasFlag(FileAttributes.ReparsePoint);
                if (entry is DirectoryInfo sub && !isLink)
                {
                    pending.Push(sub);
                }
                else
                {
                    files[Path.GetRelativePath(root, entry.FullName).Replace('\\', '/')] = new TreeEntry(entry.FullName, isLink);
                }
            }
        }
        return files;
    }

    private static TreeEntry? Entry(FileSystemInfo? info) => info is null ? null : new TreeEntry(info.FullName, info.LinkTarget is not null);

    /// <summary>The file or directory at a path, following links to the end; null when nothing is there.</summary>
    public static FileSystemInfo? ResolveRoot(string path)
    {
        var full = Path.GetFullPath(path);
        FileSystemInfo info = Directory.Exists(full) ? new DirectoryInfo(full) : new FileInfo(full);
        if (info.LinkTarget is not null)
        {
            try
            {
                var target = info.ResolveLinkTarget(returnFinalTarget: true);
                if (target is null || !target.Exists)
                {
                    return null;
                }
                return target is DirectoryInfo ? new DirectoryInfo(full) : new FileInfo(full);
            }
            catch (IOException ex)
            {
                throw new E2EException(ErrorCatalog.SymlinkLoop, $"'{path}' is a symbolic link that does not resolve: {ex.Message}", path, ex);
            }
        }
        return info.Exists ? info : null;
    }

    private static bool Selected(string relativePath, ComparisonOptions options)
    {
        var name = Path.GetFileName(relativePath);
        bool Match(string glob) => FileGlob(glob).IsMatch(glob.Contains('/', StringComparison.Ordinal) ? relativePath : name);
        return (options.Include.Count == 0 || options.Include.Any(Match)) && !options.Exclude.Any(Match);
    }

    private static Regex FileGlob(string glob) =>
        new("^" + Regex.Escape(glob).Replace("\\*\\*/", "(?:.*/)?", StringComparison.Ordinal).Replace("\\*", "[^/]*", StringComparison.Ordinal).Replace("\\?", "[^/]", StringComparison.Ordinal) + "$", RegexOptions.CultureInvariant);

    /// <summary>Compares one relative path; problems become an Error row carrying the error id.</summary>
    public static OutputComparison CompareEntry(string relativePath, TreeEntry? expected, TreeEntry? actual, ComparisonOptions options, CancellationToken cancellation = default)
    {
        var expectedFile = expected?.FullPath;
        var actualFile = actual?.FullPath;
        var kind = options.Kind ?? KindByName(relativePath, expected?.IsLink == true || actual?.IsLink == true);
        try
        {
            // A device or FIFO in a tree (or given as the path) would never finish reading: refused before it is opened.
            foreach (var (file, entry) in new[] { (expectedFile, expected), (actualFile, actual) })
            {
                if (file is not null && entry?.IsLink != true)
                {
                    FileKinds.RequireRegularFile(file, "The output");
                }
            }
            if (expectedFile is null || actualFile is null)
            {
                var status = expectedFile is null ? OutputStatus.Extra : OutputStatus.Missing;
                var warning = ReviewRules.ForMissingOrExtra(relativePath, status);
                return new OutputComparison
                {
                    Path = relativePath, Status = status, Kind = kind ?? Sniff(expectedFile ?? actualFile!), ExpectedFile = expectedFile, ActualFile = actualFile,
                    Warnings = warning is null ? Array.Empty<ReviewWarning>() : new[] { warning },
                };
            }
            if (kind == OutputKind.Link)
            {
                return CompareLinks(relativePath, expectedFile, actualFile);
            }
            if (FilesIdentical(expectedFile, actualFile, out var sawNul))
            {
                return new OutputComparison { Path = relativePath, Status = OutputStatus.Equal, Kind = kind ?? (sawNul ? OutputKind.Binary : OutputKind.Text), ExpectedFile = expectedFile, ActualFile = actualFile };
            }
            return (kind ?? (sawNul || LooksBinary(actualFile) ? OutputKind.Binary : OutputKind.Text)) switch
            {
                OutputKind.Json => CompareStructured(relativePath, expectedFile, actualFile, OutputKind.Json, options, cancellation),
                OutputKind.Toml => CompareStructured(relativePath, expectedFile, actualFile, OutputKind.Toml, options, cancellation),
                OutputKind.Archive => CompareArchives(relativePath, expectedFile, actualFile, options),
                OutputKind.Binary => CompareBinary(relativePath, expectedFile, actualFile),
                _ => CompareText(relativePath, expectedFile, actualFile, options),
            };
        }
        catch (E2EException ex)
        {
            return new OutputComparison { Path = relativePath, Status = OutputStatus.Error, Kind = kind ?? OutputKind.Text, ExpectedFile = expectedFile, ActualFile = actualFile, Error = ex };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var error = new E2EException(ErrorCatalog.OutputUnreadable, $"{relativePath}: {ex.Message}", relativePath, ex);
            return new OutputComparison { Path = relativePath, Status = OutputStatus.Error, Kind = kind ?? OutputKind.Text, ExpectedFile = expectedFile, ActualFile = actualFile, Error = error };
        }
    }

    /// <summary>The kind a name decides (links, .json, .toml, archives); null when the content must decide between Text and Binary.</summary>
    private static OutputKind? KindByName(string relativePath, bool isLink)
    {
        if (isLink)
        {
            return OutputKind.Link;
        }
        var name = relativePath.ToLowerInvariant();
        return name.EndsWith(".json", StringComparison.Ordinal) ? OutputKind.Json
            : name.EndsWith(".toml", StringComparison.Ordinal) ? OutputKind.Toml
            : ArchiveSuffixes.Any(s => name.EndsWith(s, StringComparison.Ordinal)) ? OutputKind.Archive
            : null;
    }

    private static OutputKind Sniff(string file) => LooksBinary(file) ? OutputKind.Binary : OutputKind.Text;

    public static OutputKind Detect(string relativePath, string anyFile) =>
        KindByName(relativePath, IsLink(anyFile)) ?? Sniff(anyFile);

    private static bool IsLink(string path) => new FileInfo(path).LinkTarget is not null;

    private static bool LooksBinary(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            Span<byte> head = stackalloc byte[8000];
            var read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            return head[..read].Contains((byte)0);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Same length and same bytes, read in large blocks.</summary>
    public static bool FilesIdentical(string a, string b) => FilesIdentical(a, b, out _);

    /// <summary>Same length and same bytes; also says whether the first 8000 bytes read from <paramref name="a"/> held a NUL (binary content).</summary>
    public static bool FilesIdentical(string a, string b, out bool sawNul)
    {
        sawNul = false;
        using var left = new FileStream(a, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        using var right = new FileStream(b, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        if (left.Length != right.Length)
        {
            return false;
        }
        const int block = 1 << 18;
        var bufferA = ArrayPool<byte>.Shared.Rent(block);
        var bufferB = ArrayPool<byte>.Shared.Rent(block);
        var first = true;
        try
        {
            while (true)
            {
                var readA = left.ReadAtLeast(bufferA.AsSpan(0, block), block, throwOnEndOfStream: false);
                var readB = right.ReadAtLeast(bufferB.AsSpan(0, block), block, throwOnEndOfStream: false);
                if (first)
                {
                    sawNul = bufferA.AsSpan(0, Math.Min(readA, 8000)).Contains((byte)0);
                    first = false;
                }
                if (readA != readB || !bufferA.AsSpan(0, readA).SequenceEqual(bufferB.AsSpan(0, readB)))
                {
                    return false;
                }
                if (readA < block)
                {
                    return true;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bufferA);
            ArrayPool<byte>.Shared.Return(bufferB);
        }
    }

    private static OutputComparison CompareStructured(string relativePath, string expectedFile, string actualFile, OutputKind kind, ComparisonOptions options, CancellationToken cancellation)
    {
        List<OutputDifference> differences;
        List<ReviewWarning> warnings;
        if (kind == OutputKind.Json)
        {
            (differences, warnings) = JsonStreamComparer.Compare(expectedFile, actualFile, options, cancellation);
        }
        else
        {
            var expected = DataTree.LoadToml(expectedFile);
            var actual = DataTree.LoadToml(actualFile);
            differences = StructuralDiff.Compare(expected, actual, options);
            warnings = ReviewRules.Check(relativePath, expected, actual, options);
        }
        return new OutputComparison
        {
            Path = relativePath,
            Status = differences.Count == 0 ? OutputStatus.Equal : OutputStatus.Changed,
            Kind = kind,
            ExpectedFile = expectedFile,
            ActualFile = actualFile,
            Differences = differences,
            Diff = differences.Count == 0 ? null : string.Join("\n", differences),
            Warnings = warnings,
        };
    }


    private static OutputComparison CompareText(string relativePath, string expectedFile, string actualFile, ComparisonOptions options)
    {
        var expected = options.Scrub(File.ReadAllText(expectedFile, Encoding.UTF8));
        var actual = options.Scrub(File.ReadAllText(actualFile, Encoding.UTF8));
        var equal = expected == actual;
        return new OutputComparison
        {
            Path = relativePath,
            Status = equal ? OutputStatus.Equal : OutputStatus.Changed,
            Kind = OutputKind.Text,
            ExpectedFile = expectedFile,
            ActualFile = actualFile,
            Diff = equal ? null : UnifiedDiff(expected, actual, relativePath),
        };
    }

    /// <summary>A unified diff with three lines of context; whitespace counts.</summary>
    public static string UnifiedDiff(string expected, string actual, string relativePath) =>
        UnidiffRenderer.GenerateUnidiff(expected, actual, "expected/" + relativePath, "actual/" + relativePath, ignoreWhitespace: false, ignoreCase: false, contextLines: 3);

    private static OutputComparison CompareBinary(string relativePath, string expectedFile, string actualFile)
    {
        var differences = new List<OutputDifference>();
        var (expectedSize, actualSize) = (new FileInfo(expectedFile).Length, new FileInfo(actualFile).Length);
        if (expectedSize != actualSize)
        {
            differences.Add(new OutputDifference("size", "Changed", expectedSize.ToString(System.Globalization.CultureInfo.InvariantCulture), actualSize.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }
        differences.Add(new OutputDifference("sha256", "Changed", Sha256(expectedFile), Sha256(actualFile)));
        return new OutputComparison
        {
            Path = relativePath, Status = OutputStatus.Changed, Kind = OutputKind.Binary, ExpectedFile = expectedFile, ActualFile = actualFile,
            Differences = differences, Diff = string.Join("\n", differences),
        };
    }

    public static string Sha256(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
    }

    private static OutputComparison CompareLinks(string relativePath, string expectedFile, string actualFile)
    {
        var expected = new FileInfo(expectedFile).LinkTarget ?? "(not a link)";
        var actual = new FileInfo(actualFile).LinkTarget ?? "(not a link)";
        var equal = expected == actual;
        var differences = equal ? Array.Empty<OutputDifference>() : new[] { new OutputDifference("target", "Changed", expected, actual) };
        return new OutputComparison
        {
            Path = relativePath, Status = equal ? OutputStatus.Equal : OutputStatus.Changed, Kind = OutputKind.Link,
            ExpectedFile = expectedFile, ActualFile = actualFile, Differences = differences, Diff = equal ? null : string.Join("\n", differences.Select(d => d.ToString())),
        };
    }

    private static OutputComparison CompareArchives(string relativePath, string expectedFile, string actualFile, ComparisonOptions options)
    {
        var result = ArchiveComparer.Compare(expectedFile, actualFile);
        var differences = result.Differences.Select(d => new OutputDifference(d.Member, d.Change.ToString(), d.Expected, d.Actual)).ToArray();
        return new OutputComparison
        {
            Path = relativePath,
            Status = result.Verdict == ArchiveVerdict.Identical ? OutputStatus.Equal : OutputStatus.Changed,
            Kind = OutputKind.Archive,
            ExpectedFile = expectedFile,
            ActualFile = actualFile,
            Differences = differences,
            Diff = result.Report(),
        };
    }
}

/// <summary>A file or link found in a tree; <see cref="IsLink"/> comes from the directory listing itself.</summary>
public sealed record TreeEntry(string FullPath, bool IsLink);
