using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Amazon.S3;
using E2E.Core.Udf;

namespace E2E.Core.Tests.Udf;

/// <summary>moto_server as a real S3 endpoint on 127.0.0.1 (it ships with the machine's Python).</summary>
public sealed class MotoFixture : IAsyncLifetime
{
    private Process? _moto;

    public string Endpoint { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            Endpoint = $"http://127.0.0.1:{((IPEndPoint)probe.LocalEndpoint).Port}";
        }
        _moto = Process.Start(new ProcessStartInfo("moto_server", new[] { "-H", "127.0.0.1", "-p", new Uri(Endpoint).Port.ToString() }) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        _moto.OutputDataReceived += (_, _) => { };
        _moto.ErrorDataReceived += (_, _) => { };
        _moto.BeginOutputReadLine();
        _moto.BeginErrorReadLine();
        using var http = new HttpClient();
        for (var i = 0; i < 100; i++)
        {
            try
            {
                await http.GetAsync(Endpoint);
                break;
            }
            catch (HttpRequestException)
            {
                await Task.Delay(200);
            }
        }
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "testing");
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "testing");
        Environment.SetEnvironmentVariable("AWS_REGION", "us-east-1");
    }

    public Task DisposeAsync()
    {
        if (_moto is { HasExited: false })
        {
            _moto.Kill(entireProcessTree: true);
            _moto.WaitForExit(5000);
        }
        _moto?.Dispose();
        return Task.CompletedTask;
    }
}

// Sets AWS_* and E2E_S3_ENDPOINT for the process.
[Collection("process environment")]
public sealed class MotoS3Tests(MotoFixture moto) : IClassFixture<MotoFixture>, IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-s3-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task S3_store_publishes_once_fetches_verifies_and_removes()
    {
        var project = Directory.CreateDirectory(Path.Combine(_root, "simple")).FullName;
        foreach (var file in Directory.EnumerateFiles(UdfManifestTests.RepositoryPath("examples", "udfs", "simple")))
        {
            File.Copy(file, Path.Combine(project, Path.GetFileName(file)));
        }
        var manifest = await ManifestBuilder.BuildAsync(UdfProject.Load(project), new ManifestBuildOptions { SkipSitePackages = true }, CancellationToken.None);
        using (var admin = new AmazonS3Client(new AmazonS3Config { ServiceURL = moto.Endpoint, ForcePathStyle = true }))
        {
            await admin.PutBucketAsync("udfs");
        }
        var previous = Environment.GetEnvironmentVariable("E2E_S3_ENDPOINT");
        Environment.SetEnvironmentVariable("E2E_S3_ENDPOINT", moto.Endpoint);
        try
        {
            using var store = ObjectStores.Open("s3://udfs/oxford-pets");
            await UdfManifestTests.ManifestStoreRoundTrip(manifest, store, null);
        }
        finally
        {
            Environment.SetEnvironmentVariable("E2E_S3_ENDPOINT", previous);
        }
    }

    [Fact]
    public async Task A_missing_bucket_is_StoreFailed()
    {
        var previous = Environment.GetEnvironmentVariable("E2E_S3_ENDPOINT");
        Environment.SetEnvironmentVariable("E2E_S3_ENDPOINT", moto.Endpoint);
        try
        {
            using var store = ObjectStores.Open("s3://no-such-bucket");
            var file = Path.Combine(_root, "x.txt");
            File.WriteAllText(file, "x");
            var ex = await Assert.ThrowsAsync<E2E.Core.Errors.E2EException>(() => store.PutAsync("k", file, CancellationToken.None));
            Assert.Same(E2E.Core.Errors.ErrorCatalog.StoreFailed, ex.Error);
        }
        finally
        {
            Environment.SetEnvironmentVariable("E2E_S3_ENDPOINT", previous);
        }
    }
}
