using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using E2E.Core.Errors;
using E2E.Core.Oracle;

namespace E2E.Core.Udf;

/// <summary>One packed zip: the UDF modules, or the environment's site-packages.</summary>
public sealed record UdfZip(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("checksum")] string Checksum,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("members")] int Members)
{
    [JsonIgnore]
    public string Key => $"zips/{Checksum}.zip";
}

/// <summary>
/// A UDF package's manifest, with Geneva's fields. <see cref="Checksum"/> covers what defines the package
/// (name, version, pip requirements, modules, zips, environment variables, images), not when or by whom it
/// was built, so two clean builds of the same inputs have the same checksum on any machine.
/// </summary>
public sealed record UdfManifest(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("pip")] IReadOnlyList<string> Pip,
    [property: JsonPropertyName("py_modules")] IReadOnlyList<string> PyModules,
    [property: JsonPropertyName("skip_site_packages")] bool SkipSitePackages,
    [property: JsonPropertyName("zips")] IReadOnlyList<UdfZip> Zips,
    [property: JsonPropertyName("checksum")] string Checksum,
    [property: JsonPropertyName("created_at")] DateTimeOffset CreatedAt,
    [property: JsonPropertyName("created_by")] string CreatedBy,
    [property: JsonPropertyName("env_vars")] IReadOnlyDictionary<string, string> EnvVars,
    [property: JsonPropertyName("head_image")] string? HeadImage,
    [property: JsonPropertyName("worker_image")] string? WorkerImage)
{
    /// <summary>Where the zips were built; not part of the published manifest.</summary>
    [JsonIgnore]
    public string? LocalZipDirectory { get; init; }

    [JsonIgnore]
    public string Key => ManifestKey(Name);

    public static string ManifestKey(string name) => $"manifests/{name}.json";

    public static string ComputeChecksum(string name, string version, IReadOnlyList<string> pip, IReadOnlyList<string> modules, bool skipSitePackages, IReadOnlyList<UdfZip> zips, IReadOnlyDictionary<string, string> env, string? headImage, string? workerImage)
    {
        var canonical = CanonicalJson.Serialize(new KeyValuePair<string, object?>[]
        {
            new("name", name), new("version", version), new("pip", pip), new("py_modules", modules), new("skip_site_packages", skipSitePackages),
            new("zips", zips.Select(z => z.Checksum).ToArray()),
            new("env_vars", env.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new KeyValuePair<string, object?>(p.Key, p.Value)).ToArray()),
            new("head_image", headImage), new("worker_image", workerImage),
        });
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical))).ToLowerInvariant();
    }

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true });

    public static UdfManifest FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<UdfManifest>(json) ?? throw new JsonException("empty document");
        }
        catch (JsonException ex)
        {
            throw new E2EException(ErrorCatalog.InvalidJson, $"{source} is not a valid manifest: {ex.Message}", source, ex);
        }
    }
}
