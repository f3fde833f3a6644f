using System.Text;
using E2E.Core.Errors;

namespace E2E.Core.Artifacts;

public enum ArtifactExportStatus
{
    /// <summary>Copied into the export directory.</summary>
    Exported,

    /// <summary>The test passed and export was not forced.</summary>
    SkippedTestPassed,

    /// <summary>No export directory is configured (E2E_EXPORT_TEST_ARTIFACTS is unset or empty).</summary>
    SkippedNotConfigured,

    /// <summary>The configured export directory does not exist.</summary>
    SkippedExportDirMissing,

    /// <summary>The source was missing or the copy failed; <see cref="ArtifactExportResult.Error"/> says which.</summary>
    Failed,
}

/// <summary>What became of one artifact.</summary>
public sealed record ArtifactExportResult(string Source, string? Destination, ArtifactExportStatus Status, string Reason, ErrorId? Error = null);

/// <summary>Where and when to export: read from E2E_EXPORT_TEST_ARTIFACTS and E2E_FORCE_TEST_EXPORT.</summary>
public sealed record ArtifactExportSettings(string? ExportRoot, bool Force)
{
    public const string ExportDirVariable = "E2E_EXPORT_TEST_ARTIFACTS";
    public const string ForceVariable = "E2E_FORCE_TEST_EXPORT";

    public static ArtifactExportSettings FromEnvironment(Func<string, string?> getVariable)
    {
        var root = getVariable(ExportDirVariable);
        return new ArtifactExportSettings(string.IsNullOrWhiteSpace(root) ? null : ExpandHome(root), !string.IsNullOrEmpty(getVariable(ForceVariable)));
    }

    private static string ExpandHome(string path) =>
        path == "~" || path.StartsWith("~/", StringComparison.Ordinal)
            ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), path.Length > 2 ? path[2..] : string.Empty)
            : path;
}

/// <summary>
/// Copies a failing test's files into <c>&lt;export root&gt;/&lt;suite&gt;/&lt;test&gt;/</c> (the venvstacks
/// convention), by default only when the test failed. Problems never throw: a test's cleanup must not
/// mask its result, so each problem is a result with an error id, which the cmdlet shows as a warning.
/// </summary>
public static class ArtifactExporter
{
    public static IReadOnlyList<ArtifactExportResult> Export(IReadOnlyList<string> sources, string suite, string test, bool testFailed, ArtifactExportSettings settings)
    {
        if (!testFailed && !settings.Force)
        {
            return sources.Select(s => new ArtifactExportResult(s, null, ArtifactExportStatus.SkippedTestPassed,
                $"The test passed; set {ArtifactExportSettings.ForceVariable} to export anyway.")).ToArray();
        }
        if (settings.ExportRoot is null)
        {
            return sources.Select(s => new ArtifactExportResult(s, null, ArtifactExportStatus.SkippedNotConfigured,
                $"{ArtifactExportSettings.ExportDirVariable} is not set, so artifacts are not exported.")).ToArray();
        }
        if (!Directory.Exists(settings.ExportRoot))
        {
            return sources.Select(s => new ArtifactExportResult(s, null, ArtifactExportStatus.SkippedExportDirMissing,
                $"The export directory '{settings.ExportRoot}' ({ArtifactExportSettings.ExportDirVariable}) does not exist; '{s}' was not exported.",
                ErrorCatalog.ArtifactExportDirMissing)).ToArray();
        }

        var destination = DestinationFor(settings.ExportRoot, suite, test);
        var results = new List<ArtifactExportResult>();
        var usedNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var source in sources)
        {
            results.Add(ExportOne(source, destination, usedNames));
        }
        return results;
    }

    /// <summary>The folder for one test's artifacts; suite and test names are made safe as single path components.</summary>
    public static string DestinationFor(string exportRoot, string suite, string test)
    {
        var root = Path.GetFullPath(exportRoot);
        var path = Path.GetFullPath(Path.Combine(root, SafeComponent(suite), SafeComponent(test)));
        if (!path.StartsWith(root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new E2EException(ErrorCatalog.PathOutsideRoot, $"The artifact folder for '{suite}/{test}' would fall outside '{root}'.", path);
        }
        return path;
    }

    /// <summary>Maps any text to one readable path component: letters, digits, '.', '-', '_' kept; runs of anything else become '_'.</summary>
    public static string SafeComponent(string name)
    {
        var builder = new StringBuilder(name.Length);
        foreach (var c in name.Trim())
        {
            var keep = char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_';
            if (keep)
            {
                builder.Append(c);
            }
            else if (builder.Length == 0 || builder[^1] != '_')
            {
                builder.Append('_');
            }
        }
        // Leading dots would make hidden folders, and '.' or '..' would leave the export root.
        var safe = builder.ToString().Trim('_', '.');
        if (safe.Length > 120)
        {
            safe = safe[..120];
        }
        return safe.Length == 0 ? "_" : safe;
    }

    private static ArtifactExportResult ExportOne(string source, string destinationDir, HashSet<string> usedNames)
    {
        var full = Path.GetFullPath(source);
        var isFile = File.Exists(full);
        if (!isFile && !Directory.Exists(full))
        {
            return new ArtifactExportResult(source, null, ArtifactExportStatus.Failed,
                $"'{source}' does not exist, so it was not exported.", ErrorCatalog.ArtifactSourceNotFound);
        }
        // A scope temp directory exports under its prefix: the same test lands at the same path in every run.
        var name = UniqueName(E2E.Core.Scopes.E2EScope.StableName(full), usedNames);
        var target = Path.Combine(destinationDir, name);
        try
        {
            Directory.CreateDirectory(destinationDir);
            if (Directory.Exists(target))
            {
                // What an earlier run of this test exported there: replaced, not merged with.
                Directory.Delete(target, recursive: true);
            }
            if (isFile)
            {
                CopyFileAtomically(full, target);
            }
            else
            {
                CopyDirectory(full, target);
            }
            return new ArtifactExportResult(source, target, ArtifactExportStatus.Exported, $"Exported to '{target}'.");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new ArtifactExportResult(source, target, ArtifactExportStatus.Failed,
                $"Exporting '{source}' to '{target}' failed: {ex.Message}", ErrorCatalog.ArtifactExportFailed);
        }
    }

    private static string UniqueName(string name, HashSet<string> used)
    {
        var candidate = name;
        for (var n = 2; !used.Add(candidate); n++)
        {
            candidate = $"{Path.GetFileNameWithoutExtension(name)}-{n}{Path.GetExtension(name)}";
        }
        return candidate;
    }

    /// <summary>Copies through a temporary name and renames, so a reader never sees a half-written file.</summary>
    private static void CopyFileAtomically(string source, string target)
    {
        var partial = target + ".partial";
        E2E.Core.Naming.FileKinds.RequireRegularFile(source, "The artifact");
        File.Copy(source, partial, overwrite: true);
        File.Move(partial, target, overwrite: true);
    }

    /// <summary>Copies a tree without following directory links, so a link loop cannot make it run forever.</summary>
    private static void CopyDirectory(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (var entry in new DirectoryInfo(source).EnumerateFileSystemInfos())
        {
            var to = Path.Combine(target, entry.Name);
            if (entry is DirectoryInfo dir)
            {
                if (dir.LinkTarget is null)
                {
                    CopyDirectory(dir.FullName, to);
                }
            }
            else
            {
                CopyFileAtomically(entry.FullName, to);
            }
        }
    }
}
