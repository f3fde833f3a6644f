using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using E2E.Core.Errors;

namespace E2E.Core.Snapshots;

public enum UpdateAction
{
    Add,
    Replace,
    Delete,
}

/// <summary>One file of the expected tree to write or delete so that it matches the actual output.</summary>
public sealed record OutputUpdate(string Path, UpdateAction Action, string? Source, string Target)
{
    public override string ToString() => $"{Action} {Path}";
}

/// <summary>
/// Makes expected outputs match actual ones on purpose: plans from a comparison (nothing is written when any
/// file cannot be compared), writes through a temporary file and a rename so no file is ever half-written,
/// recreates links instead of following them, and records why in a config file's "Last requested update" comment.
/// </summary>
public static partial class ExpectedOutputUpdater
{
    public const string DefaultConfigName = "expected-output-config.toml";
    private const string ReasonPrefix = "# Last requested update:";

    public static IReadOnlyList<OutputUpdate> Plan(string actualPath, string expectedPath, ComparisonOptions options, CancellationToken cancellation = default)
    {
        var actual = ExpectedOutputComparer.ResolveRoot(actualPath);
        var expected = ExpectedOutputComparer.ResolveRoot(expectedPath);
        var expectedRoot = Path.GetFullPath(expectedPath);
        var singleFile = actual is FileInfo && expected is not DirectoryInfo;
        if (actual is FileInfo file && expected is DirectoryInfo)
        {
            expectedRoot = Path.Combine(expectedRoot, file.Name);
            singleFile = true;
        }
        var comparisons = ExpectedOutputComparer.Compare(actualPath, expectedPath, options, cancellation).ToArray();
        var failed = comparisons.FirstOrDefault(c => c.Status == OutputStatus.Error);
        if (failed is not null)
        {
            throw failed.Error!;
        }
        return comparisons
            .Where(c => c.Status is not OutputStatus.Equal)
            .Select(c => new OutputUpdate(
                c.Path,
                c.Status switch { OutputStatus.Extra => UpdateAction.Add, OutputStatus.Missing => UpdateAction.Delete, _ => UpdateAction.Replace },
                c.ActualFile,
                c.ExpectedFile ?? Target(expectedRoot, c.Path, singleFile)))
            .ToArray();
    }

    private static string Target(string expectedRoot, string relativePath, bool singleFile)
    {
        if (singleFile)
        {
            return expectedRoot;
        }
        var target = Path.GetFullPath(Path.Combine(expectedRoot, relativePath));
        if (!target.StartsWith(expectedRoot.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new E2EException(ErrorCatalog.PathOutsideRoot, $"'{relativePath}' would be written outside '{expectedRoot}'.", relativePath);
        }
        return target;
    }

    /// <summary>One update on its own (see <see cref="ApplyAll"/>).</summary>
    public static void Apply(OutputUpdate update) => ApplyAll(new[] { update }, CancellationToken.None);

    /// <summary>
    /// All or nothing: every new file is staged beside its target first; if one cannot be (or Ctrl-C comes), the
    /// staged copies go and the expected tree is as it was. Only then are they renamed into place.
    /// </summary>
    public static void ApplyAll(IReadOnlyList<OutputUpdate> updates, CancellationToken cancellation)
    {
        var staged = new List<string?>();
        try
        {
            foreach (var update in updates)
            {
                cancellation.ThrowIfCancellationRequested();
                staged.Add(Stage(update));
            }
        }
        catch
        {
            foreach (var copy in staged)
            {
                Discard(copy);
            }
            throw;
        }
        for (var i = 0; i < updates.Count; i++)
        {
            Commit(updates[i], staged[i]);
        }
    }

    /// <summary>
    /// The first half of an all-or-nothing update: a file's new content is copied beside its target
    /// (".e2e-partial"), where a failure (a device, a vanished file, a full disk) leaves the expected tree as it
    /// was. Links and deletions need nothing staged. Returns the staged path, or null.
    /// </summary>
    private static string? Stage(OutputUpdate update)
    {
        if (update.Action == UpdateAction.Delete || new FileInfo(update.Source!).LinkTarget is not null)
        {
            return null;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(update.Target)!);
        var partial = update.Target + ".e2e-partial";
        E2E.Core.Naming.FileKinds.RequireRegularFile(update.Source!, "The actual output");
        File.Copy(update.Source!, partial, overwrite: true);
        return partial;
    }

    /// <summary>The second half: renames the staged copy over its target, recreates a link, or deletes.</summary>
    private static void Commit(OutputUpdate update, string? staged)
    {
        if (update.Action == UpdateAction.Delete)
        {
            RemoveEntry(update.Target);
            return;
        }
        if (staged is not null)
        {
            File.Move(staged, update.Target, overwrite: true);
            return;
        }
        // A link (to a file or a directory) is recorded as a link: whatever is at the target goes first.
        Directory.CreateDirectory(Path.GetDirectoryName(update.Target)!);
        RemoveEntry(update.Target);
        File.CreateSymbolicLink(update.Target, new FileInfo(update.Source!).LinkTarget!);
    }

    /// <summary>Removes a staged copy that will not be committed.</summary>
    private static void Discard(string? staged)
    {
        if (staged is not null && File.Exists(staged))
        {
            File.Delete(staged);
        }
    }

    // A file, or a link (to a file or a directory: the link itself, never what it points to), or a real directory.
    private static void RemoveEntry(string path)
    {
        var entry = new FileInfo(path);
        if (entry.LinkTarget is not null || File.Exists(path))
        {
            entry.Delete();
        }
        else if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }

    /// <summary>
    /// The config file to record reasons in: the nearest expected-output-config.toml at or above the expected path, else a
    /// new one beside it (in its parent folder: inside, the next comparison would see it as an expected file that the
    /// actual output lacks, and the next update would delete it).
    /// </summary>
    public static string FindConfig(string expectedPath)
    {
        var full = Path.GetFullPath(expectedPath);
        var start = Directory.Exists(full) ? full : Path.GetDirectoryName(full)!;
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, DefaultConfigName);
            if (File.Exists(candidate))
            {
                return candidate;
            }
            if (Directory.Exists(Path.Combine(dir.FullName, ".git")))
            {
                break;
            }
        }
        return Path.Combine(Directory.Exists(full) ? Path.GetDirectoryName(full) ?? full : start, DefaultConfigName);
    }

    public static string ValidateReason(string? reason)
    {
        var trimmed = reason?.Trim() ?? string.Empty;
        if (trimmed.Length is 0 or > 500 || trimmed.Any(char.IsControl))
        {
            throw new E2EException(ErrorCatalog.InvalidReason, "The reason must be one line of 1 to 500 printable characters.", reason);
        }
        return trimmed;
    }

    /// <summary>
    /// Sets the last "# Last requested update:" comment to the reason and UTC time; every other byte of the
    /// file (line endings, other comments, a byte order mark) stays as it was. A missing comment is appended.
    /// </summary>
    public static void RecordReason(string configPath, string reason, DateTimeOffset when)
    {
        reason = ValidateReason(reason);
        var line = $"{ReasonPrefix} {reason} ({when.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)})";
        var bytes = File.Exists(configPath) ? File.ReadAllBytes(configPath) : Array.Empty<byte>();
        var hasBom = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF;
        var text = Encoding.UTF8.GetString(bytes, hasBom ? 3 : 0, bytes.Length - (hasBom ? 3 : 0));
        var newline = text.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
        var matches = ReasonLine().Matches(text);
        if (matches.Count > 0)
        {
            var last = matches[^1];
            text = text[..last.Index] + line + text[(last.Index + last.Length)..];
        }
        else
        {
            if (text.Length == 0)
            {
                text = "# Expected output configuration" + newline;
            }
            else if (!text.EndsWith('\n'))
            {
                text += newline;
            }
            text += newline + line + newline;
        }
        var output = (hasBom ? new byte[] { 0xEF, 0xBB, 0xBF } : Array.Empty<byte>()).Concat(Encoding.UTF8.GetBytes(text)).ToArray();
        var partial = configPath + ".e2e-partial";
        File.WriteAllBytes(partial, output);
        File.Move(partial, configPath, overwrite: true);
    }

    [GeneratedRegex(@"^# Last requested update:[^\r\n]*", RegexOptions.Multiline)]
    private static partial Regex ReasonLine();
}
