using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using E2E.Core.Errors;

namespace E2E.Core.Udf;

/// <summary>
/// Zips that depend only on their inputs: members sorted by path, every timestamp 1980-01-01, modes fixed
/// (0644, or 0755 when the source is executable). The checksum is over the content (path, mode and SHA-256 of
/// each member), not the compressed bytes, so it is the same on any machine whatever its zlib version.
/// </summary>
public static class DeterministicZip
{
    private static readonly DateTimeOffset ZipEpoch = new(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public sealed record ZipResult(string Path, string Checksum, long Size, int Members);

    public static ZipResult Create(IEnumerable<(string Name, string File)> members, string outputDirectory)
    {
        var sorted = members.Select(m => (Name: m.Name.Replace('\\', '/'), m.File)).OrderBy(m => m.Name, StringComparer.Ordinal).ToArray();
        Directory.CreateDirectory(outputDirectory);
        var partial = Path.Combine(outputDirectory, $".partial-{Guid.NewGuid():N}.zip");
        var listing = new StringBuilder();
        using (var zip = ZipFile.Open(partial, ZipArchiveMode.Create))
        {
            foreach (var (name, file) in sorted)
            {
                var mode = IsExecutable(file) ? 0x1ED : 0x1A4; // 0755 : 0644
                var entry = zip.CreateEntry(name, CompressionLevel.Optimal);
                entry.LastWriteTime = ZipEpoch;
                entry.ExternalAttributes = (0x8000 | mode) << 16;
                var bytes = File.ReadAllBytes(file);
                using (var stream = entry.Open())
                {
                    stream.Write(bytes);
                }
                listing.Append(name).Append('\0').Append(Convert.ToString(mode, 8)).Append('\0').Append(Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant()).Append('\n');
            }
        }
        var checksum = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(listing.ToString()))).ToLowerInvariant();
        var final = Path.Combine(outputDirectory, checksum + ".zip");
        File.Move(partial, final, overwrite: true);
        return new ZipResult(final, checksum, new FileInfo(final).Length, sorted.Length);
    }

    /// <summary>The content checksum of an existing zip, computed as <see cref="Create"/> does; refuses unsafe member names.</summary>
    public static string Checksum(string zipPath)
    {
        using var zip = ZipFile.OpenRead(zipPath);
        var listing = new StringBuilder();
        foreach (var entry in zip.Entries.Where(e => !e.FullName.EndsWith('/')).OrderBy(e => e.FullName, StringComparer.Ordinal))
        {
            SafeMember(entry.FullName, zipPath);
            var mode = (entry.ExternalAttributes >> 16) & 0x1FF;
            using var stream = entry.Open();
            listing.Append(entry.FullName).Append('\0').Append(Convert.ToString(mode, 8)).Append('\0').Append(Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant()).Append('\n');
        }
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(listing.ToString()))).ToLowerInvariant();
    }

    /// <summary>
    /// Extracts into a fresh directory beside <paramref name="target"/> and renames it into place, so a reader
    /// sees all of it or none. A member that is absolute, climbs with '..' or is a link is refused.
    /// </summary>
    public static void ExtractSafely(string zipPath, string target)
    {
        var staging = target + $".partial-{Guid.NewGuid():N}";
        try
        {
            // Created first: an empty zip (an environment with no packages) still becomes a folder.
            Directory.CreateDirectory(staging);
            using (var zip = ZipFile.OpenRead(zipPath))
            {
                foreach (var entry in zip.Entries)
                {
                    var name = SafeMember(entry.FullName, zipPath);
                    if ((((entry.ExternalAttributes >> 16) & 0xF000) == 0xA000))
                    {
                        throw new E2EException(ErrorCatalog.UnsafeArchiveMember, $"'{zipPath}' has a symbolic link member '{name}'; links are not extracted.", name);
                    }
                    var destination = Path.GetFullPath(Path.Combine(staging, name));
                    if (!destination.StartsWith(Path.GetFullPath(staging) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                    {
                        throw new E2EException(ErrorCatalog.UnsafeArchiveMember, $"'{zipPath}' member '{name}' would land outside the target.", name);
                    }
                    if (entry.FullName.EndsWith('/'))
                    {
                        Directory.CreateDirectory(destination);
                        continue;
                    }
                    Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                    entry.ExtractToFile(destination);
                }
            }
            Directory.Move(staging, target);
        }
        catch
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
            throw;
        }
    }

    /// <summary>Files below a directory as (relative '/' path, file), skipping ignored directory names and compiled Python.</summary>
    public static IEnumerable<(string Name, string File)> Walk(string root, ISet<string> ignored)
    {
        if (!Directory.Exists(root))
        {
            yield break;
        }
        var pending = new Stack<string>();
        pending.Push(root);
        while (pending.Count > 0)
        {
            var dir = pending.Pop();
            foreach (var sub in Directory.EnumerateDirectories(dir))
            {
                if (!ignored.Contains(Path.GetFileName(sub)) && new DirectoryInfo(sub).LinkTarget is null)
                {
                    pending.Push(sub);
                }
            }
            foreach (var file in Directory.EnumerateFiles(dir))
            {
                if (!file.EndsWith(".pyc", StringComparison.Ordinal) && new FileInfo(file).LinkTarget is null)
                {
                    yield return (Path.GetRelativePath(root, file).Replace('\\', '/'), file);
                }
            }
        }
    }

    private static string SafeMember(string name, string zipPath) => Snapshots.ArchiveComparer.SafeName(name, zipPath);

    private static bool IsExecutable(string file) =>
        !OperatingSystem.IsWindows() && (File.GetUnixFileMode(file) & UnixFileMode.UserExecute) != 0;
}
