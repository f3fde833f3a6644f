using E2E.Core.Errors;

namespace E2E.Core.Udf;

public sealed record PublishResult(string ManifestUri, int ZipsUploaded, int ZipsSkipped, long BytesUploaded);

/// <summary>
/// Publishing and fetching manifests in an object store: zips under zips/&lt;checksum&gt;.zip (uploaded only
/// when absent, so publishing the same manifest twice uploads nothing), manifests under manifests/&lt;name&gt;.json,
/// written last so a reader never sees a manifest whose zips are missing.
/// </summary>
public static class ManifestStore
{
    public static async Task<PublishResult> PublishAsync(UdfManifest manifest, IObjectStore store, CancellationToken cancellation)
    {
        var zipDir = manifest.LocalZipDirectory ?? throw new InvalidOperationException("The manifest has no local zips to publish.");
        int uploaded = 0, skipped = 0;
        long bytes = 0;
        foreach (var zip in manifest.Zips)
        {
            if (await store.ExistsAsync(zip.Key, cancellation).ConfigureAwait(false))
            {
                skipped++;
                continue;
            }
            await store.PutAsync(zip.Key, Path.Combine(zipDir, zip.Checksum + ".zip"), cancellation).ConfigureAwait(false);
            uploaded++;
            bytes += zip.Size;
        }
        var manifestFile = Path.Combine(zipDir, $"{manifest.Name}.manifest.json");
        File.WriteAllText(manifestFile, manifest.ToJson());
        await store.PutAsync(manifest.Key, manifestFile, cancellation).ConfigureAwait(false);
        return new PublishResult($"{store.Uri.TrimEnd('/')}/{manifest.Key}", uploaded, skipped, bytes);
    }

    public static async Task<UdfManifest> GetAsync(string name, IObjectStore store, CancellationToken cancellation)
    {
        var temp = Path.GetTempFileName();
        try
        {
            try
            {
                await store.GetAsync(UdfManifest.ManifestKey(name), temp, cancellation).ConfigureAwait(false);
            }
            catch (E2EException ex) when (ex.Error == ErrorCatalog.ManifestNotFound)
            {
                throw new E2EException(ErrorCatalog.ManifestNotFound, $"No manifest named '{name}' is published in {store.Uri}.", name, ex);
            }
            return UdfManifest.FromJson(File.ReadAllText(temp), $"{store.Uri}/{UdfManifest.ManifestKey(name)}");
        }
        finally
        {
            File.Delete(temp);
        }
    }

    public static async Task<IReadOnlyList<UdfManifest>> ListAsync(IObjectStore store, CancellationToken cancellation)
    {
        var manifests = new List<UdfManifest>();
        foreach (var key in await store.ListAsync("manifests/", cancellation).ConfigureAwait(false))
        {
            if (key.EndsWith(".json", StringComparison.Ordinal))
            {
                manifests.Add(await GetAsync(Path.GetFileNameWithoutExtension(key), store, cancellation).ConfigureAwait(false));
            }
        }
        return manifests;
    }

    /// <summary>Deletes a manifest, then the zips no other manifest in the store still uses.</summary>
    public static async Task<int> RemoveAsync(string name, IObjectStore store, CancellationToken cancellation)
    {
        var manifest = await GetAsync(name, store, cancellation).ConfigureAwait(false);
        await store.DeleteAsync(manifest.Key, cancellation).ConfigureAwait(false);
        var stillUsed = (await ListAsync(store, cancellation).ConfigureAwait(false)).SelectMany(m => m.Zips).Select(z => z.Checksum).ToHashSet(StringComparer.Ordinal);
        var removed = 0;
        foreach (var zip in manifest.Zips.Where(z => !stillUsed.Contains(z.Checksum)))
        {
            await store.DeleteAsync(zip.Key, cancellation).ConfigureAwait(false);
            removed++;
        }
        return removed;
    }

    /// <summary>
    /// Where workers keep extracted zips, keyed by checksum so every table store and run can share them:
    /// $E2E_CACHE_DIR, else $XDG_CACHE_HOME/e2e/udf, else ~/.cache/e2e/udf. Never beside the user's own files.
    /// </summary>
    public static string DefaultCacheDirectory =>
        Environment.GetEnvironmentVariable("E2E_CACHE_DIR") is { Length: > 0 } explicitDir ? explicitDir
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "e2e", "udf");

    /// <summary>
    /// What a worker does: fetch each zip into a cache keyed by checksum (reused when present), verify its
    /// checksum, extract it safely, and return the extracted folders to put on sys.path.
    /// </summary>
    public static async Task<IReadOnlyList<string>> MaterializeAsync(UdfManifest manifest, IObjectStore store, string cacheDirectory, CancellationToken cancellation)
    {
        Directory.CreateDirectory(cacheDirectory);
        var folders = new List<string>();
        foreach (var zip in manifest.Zips)
        {
            var folder = Path.Combine(cacheDirectory, zip.Checksum);
            if (!Directory.Exists(folder))
            {
                var download = Path.Combine(cacheDirectory, $".download-{Guid.NewGuid():N}.zip");
                try
                {
                    await store.GetAsync(zip.Key, download, cancellation).ConfigureAwait(false);
                    var actual = DeterministicZip.Checksum(download);
                    if (actual != zip.Checksum)
                    {
                        throw new E2EException(ErrorCatalog.ChecksumMismatch, $"{zip.Key} has checksum {actual}, but the manifest records {zip.Checksum}.", zip.Key);
                    }
                    try
                    {
                        DeterministicZip.ExtractSafely(download, folder);
                    }
                    catch (IOException) when (Directory.Exists(folder))
                    {
                        // Another worker extracted the same checksum first: same content, keep theirs.
                    }
                }
                finally
                {
                    File.Delete(download);
                }
            }
            folders.Add(folder);
        }
        return folders;
    }
}
