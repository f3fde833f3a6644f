namespace E2E.Module.Tests;

public sealed class UdfCmdletTests : IDisposable
{
    private readonly Pwsh _pwsh = new();
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-udf-cmdlets-").FullName;

    public UdfCmdletTests()
    {
        var project = Directory.CreateDirectory(Path.Combine(_root, "simple")).FullName;
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Repo.Root, "examples", "udfs", "simple")))
        {
            File.Copy(file, Path.Combine(project, Path.GetFileName(file)));
        }
    }

    public void Dispose()
    {
        _pwsh.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void Pack_publish_twice_get_and_remove()
    {
        var vars = new Dictionary<string, object?> { ["project"] = Path.Combine(_root, "simple"), ["bucket"] = new Uri(Path.Combine(_root, "bucket") + "/").AbsoluteUri };
        var result = _pwsh.Run("""
            $manifest = New-UdfManifest -Path $project -SkipSitePackages
            $first = $manifest | Publish-UdfManifest -Destination $bucket
            $second = Publish-UdfManifest -Manifest $manifest -Destination $bucket
            "$($first.ZipsUploaded) $($second.ZipsUploaded) $($second.ZipsSkipped)"
            (Get-UdfManifest -Store $bucket -Name oxford-pets-simple).Checksum -eq $manifest.Checksum
            @(Get-UdfManifest -Store $bucket).Count
            Remove-UdfManifest -Name oxford-pets-simple -Store $bucket -WhatIf
            @(Get-UdfManifest -Store $bucket).Count
            Remove-UdfManifest -Name oxford-pets-simple -Store $bucket -Force
            @(Get-UdfManifest -Store $bucket).Count
            """, vars).ShouldSucceed();
        Assert.Equal(new[] { "1 0 1", "True", "1", "1", "0" }, result.Strings);
    }

    [Fact]
    public void Errors_have_ids()
    {
        var vars = new Dictionary<string, object?> { ["empty"] = Directory.CreateDirectory(Path.Combine(_root, "empty")).FullName, ["bucket"] = Path.Combine(_root, "bucket2") };
        Assert.StartsWith("UdfProjectInvalid,", _pwsh.Run("New-UdfManifest -Path $empty -SkipSitePackages", vars).ErrorId);
        Assert.StartsWith("ManifestNotFound,", _pwsh.Run("Get-UdfManifest -Name nothing -Store $bucket", vars).ErrorId);
        Assert.StartsWith("UnsupportedStore,", _pwsh.Run("Get-UdfManifest -Store ftp://x/y").ErrorId);
    }
}
