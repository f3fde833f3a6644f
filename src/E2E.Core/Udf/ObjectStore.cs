using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using E2E.Core.Errors;

namespace E2E.Core.Udf;

/// <summary>Where manifests and zips are published: a folder (file://) or a bucket (s3://, or gs:// through its S3-compatible endpoint).</summary>
public interface IObjectStore : IDisposable
{
    string Uri { get; }

    Task<bool> ExistsAsync(string key, CancellationToken cancellation);

    Task PutAsync(string key, string file, CancellationToken cancellation);

    Task GetAsync(string key, string file, CancellationToken cancellation);

    Task DeleteAsync(string key, CancellationToken cancellation);

    Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellation);
}

public static class ObjectStores
{
    /// <summary>
    /// Opens a store by URI. S3 endpoints other than AWS (moto, MinIO, GCS interoperability) come from
    /// E2E_S3_ENDPOINT or AWS_ENDPOINT_URL; credentials and region from the usual AWS environment variables.
    /// </summary>
    public static IObjectStore Open(string uri)
    {
        if (uri.StartsWith("file://", StringComparison.OrdinalIgnoreCase))
        {
            return new FileObjectStore(new Uri(uri).LocalPath);
        }
        if (uri.StartsWith("s3://", StringComparison.OrdinalIgnoreCase) || uri.StartsWith("gs://", StringComparison.OrdinalIgnoreCase))
        {
            var rest = uri[5..];
            var slash = rest.IndexOf('/');
            var bucket = slash < 0 ? rest : rest[..slash];
            var prefix = slash < 0 ? string.Empty : rest[(slash + 1)..].Trim('/');
            var endpoint = Environment.GetEnvironmentVariable("E2E_S3_ENDPOINT") ?? Environment.GetEnvironmentVariable("AWS_ENDPOINT_URL")
                ?? (uri.StartsWith("gs://", StringComparison.OrdinalIgnoreCase) ? "https://storage.googleapis.com" : null);
            return new S3ObjectStore(uri, bucket, prefix, endpoint);
        }
        if (Path.IsPathRooted(uri))
        {
            return new FileObjectStore(uri);
        }
        throw new E2EException(ErrorCatalog.UnsupportedStore, $"'{uri}' is not a file://, s3:// or gs:// URI.", uri);
    }
}

/// <summary>A folder; writes go through a temporary name and a rename.</summary>
public sealed class FileObjectStore(string root) : IObjectStore
{
    public string Uri { get; } = new Uri(Path.GetFullPath(root)).AbsoluteUri;

    private string PathOf(string key) => E2E.Core.Naming.SafePaths.Within(root, key);

    public Task<bool> ExistsAsync(string key, CancellationToken cancellation) => Task.FromResult(File.Exists(PathOf(key)));

    public Task PutAsync(string key, string file, CancellationToken cancellation)
    {
        var target = PathOf(key);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var partial = target + $".partial-{Guid.NewGuid():N}";
        File.Copy(file, partial);
        File.Move(partial, target, overwrite: true);
        return Task.CompletedTask;
    }

    public Task GetAsync(string key, string file, CancellationToken cancellation)
    {
        var source = PathOf(key);
        if (!File.Exists(source))
        {
            throw new E2EException(ErrorCatalog.ManifestNotFound, $"{Uri}/{key} does not exist.", key);
        }
        File.Copy(source, file, overwrite: true);
        return Task.CompletedTask;
    }

    public Task DeleteAsync(string key, CancellationToken cancellation)
    {
        File.Delete(PathOf(key));
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellation)
    {
        var dir = PathOf(prefix);
        IReadOnlyList<string> keys = Directory.Exists(dir)
            ? Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Where(f => !f.Contains(".partial-", StringComparison.Ordinal)).Select(f => Path.GetRelativePath(root, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToArray()
            : Array.Empty<string>();
        return Task.FromResult(keys);
    }

    public void Dispose()
    {
    }
}

/// <summary>A bucket through AWSSDK.S3; any S3-compatible endpoint works with path-style addressing.</summary>
public sealed class S3ObjectStore : IObjectStore
{
    private readonly AmazonS3Client _client;
    private readonly string _bucket;
    private readonly string _prefix;

    public S3ObjectStore(string uri, string bucket, string prefix, string? endpoint)
    {
        Uri = uri;
        _bucket = bucket;
        _prefix = prefix.Length == 0 ? string.Empty : prefix + "/";
        var config = new AmazonS3Config { RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(Environment.GetEnvironmentVariable("AWS_REGION") ?? "us-east-1") };
        if (endpoint is not null)
        {
            config.ServiceURL = endpoint;
            config.ForcePathStyle = true;
        }
        _client = new AmazonS3Client(config);
    }

    public string Uri { get; }

    public async Task<bool> ExistsAsync(string key, CancellationToken cancellation)
    {
        try
        {
            await _client.GetObjectMetadataAsync(_bucket, _prefix + key, cancellation).ConfigureAwait(false);
            return true;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException)
        {
            throw Failed("check", key, ex);
        }
    }

    public async Task PutAsync(string key, string file, CancellationToken cancellation)
    {
        try
        {
            await _client.PutObjectAsync(new PutObjectRequest { BucketName = _bucket, Key = _prefix + key, FilePath = file }, cancellation).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException)
        {
            throw Failed("upload", key, ex);
        }
    }

    public async Task GetAsync(string key, string file, CancellationToken cancellation)
    {
        try
        {
            using var response = await _client.GetObjectAsync(_bucket, _prefix + key, cancellation).ConfigureAwait(false);
            var partial = file + $".partial-{Guid.NewGuid():N}";
            await using (var output = File.Create(partial))
            {
                await response.ResponseStream.CopyToAsync(output, cancellation).ConfigureAwait(false);
            }
            File.Move(partial, file, overwrite: true);
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            throw new E2EException(ErrorCatalog.ManifestNotFound, $"{Uri}/{key} does not exist.", key, ex);
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException)
        {
            throw Failed("download", key, ex);
        }
    }

    public async Task DeleteAsync(string key, CancellationToken cancellation)
    {
        try
        {
            await _client.DeleteObjectAsync(_bucket, _prefix + key, cancellation).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException)
        {
            throw Failed("delete", key, ex);
        }
    }

    public async Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellation)
    {
        var keys = new List<string>();
        var request = new ListObjectsV2Request { BucketName = _bucket, Prefix = _prefix + prefix };
        try
        {
            ListObjectsV2Response response;
            do
            {
                response = await _client.ListObjectsV2Async(request, cancellation).ConfigureAwait(false);
                keys.AddRange((response.S3Objects ?? new List<S3Object>()).Select(o => o.Key[_prefix.Length..]));
                request.ContinuationToken = response.NextContinuationToken;
            }
            while (response.IsTruncated == true);
        }
        catch (Exception ex) when (ex is AmazonServiceException or AmazonClientException)
        {
            throw Failed("list", prefix, ex);
        }
        return keys.Order(StringComparer.Ordinal).ToArray();
    }

    // The SDK's credential search fails with a page listing every provider it tried: one sentence says what to do.
    private E2EException Failed(string action, string key, Exception ex) => ex is AmazonClientException && ex.Message.Contains("credentials", StringComparison.OrdinalIgnoreCase)
        ? new(ErrorCatalog.StoreCredentialsMissing, $"Could not {action} '{key}' in {Uri}: no AWS credentials were found. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE), or run where an instance or pod role provides them.", key, ex)
        : new(ErrorCatalog.StoreFailed, $"Could not {action} '{key}' in {Uri}: {SecretText.Redact(ex.Message)}", key, ex);

    public void Dispose() => _client.Dispose();
}
