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
    /// <summary>The store key; a checksum that is not 64 hex digits (a tampered manifest) never becomes a key.</summary>
    [JsonIgnore]
    public string Key => System.Text.RegularExpressions.Regex.IsMatch(Checksum, "^[0-9a-f]{64}$")
        ? $"zips/{Checksum}.zip"
        : throw new E2EException(ErrorCatalog.ChecksumMismatch, $"A zip checksum '{Checksum}' is not 64 lowercase hex digits; the manifest was not made by New-UdfManifest.", Checksum);
}

/// <summary>
/// A UDF package's manifest, with Geneva's fields. <see cref="Checksum"/> covers what defines the package
/// (name, version, pip requirements, modules, zips, environment variables, images), not when or by whom it
/// was built, so two clean builds of the same inputs have the same checksum on any machine.
/// </summary>
public sealed partial record UdfManifest(
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
    /// <summary>
    /// Where the workers' packages come from: "isolated" (the packed site-packages, imported without the interpreter's
    /// own), "interpreter" (the worker interpreter's own, which had every requirement when the package was packed) or
    /// "none" (modules only). Manifests from before this field read as isolated or none.
    /// </summary>
    [JsonPropertyName("environment")]
    public string? Environment { get; init; }

    /// <summary>For an "interpreter" environment: each requirement's distribution and the version found when packing.</summary>
    [JsonPropertyName("interpreter_packages")]
    public IReadOnlyDictionary<string, string>? InterpreterPackages { get; init; }

    /// <summary>The environment kind, also for manifests written before the field existed.</summary>
    [JsonIgnore]
    public string EnvironmentKind => Environment ?? (SkipSitePackages ? "none" : "isolated");

    /// <summary>Where the zips were built; not part of the published manifest.</summary>
    [JsonIgnore]
    public string? LocalZipDirectory { get; init; }

    [JsonIgnore]
    public string Key => ManifestKey(Name);

    /// <summary>The store key of a manifest; the name must be a valid project name, so it can never lead outside manifests/.</summary>
    public static string ManifestKey(string name) => $"manifests/{ValidateName(name)}.json";

    /// <summary>
    /// A Python project name as PEP 508 allows it (letters, digits, '.', '_', '-', beginning and ending with a letter or
    /// digit): names become file names and store keys, so "../x", "/abs" or "a/b" must never get through.
    /// </summary>
    public static string ValidateName(string? name)
    {
        if (!IsValidName(name))
        {
            throw new E2EException(ErrorCatalog.InvalidName,
                $"'{name}' is not a valid UDF package name (PEP 508: letters, digits, '.', '_' and '-', starting and ending with a letter or digit).", name);
        }
        return name;
    }

    public static bool IsValidName([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] string? name) => name is { Length: > 0 and <= 200 } && ProjectName().IsMatch(name);

    [System.Text.RegularExpressions.GeneratedRegex("^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")]
    private static partial System.Text.RegularExpressions.Regex ProjectName();

    /// <summary>
    /// The checksum of what defines a package. An interpreter environment's package versions count (another torch is
    /// another package); other manifests pass none, which keeps their checksums as they were.
    /// </summary>
    public static string ComputeChecksum(string name, string version, IReadOnlyList<string> pip, IReadOnlyList<string> modules, bool skipSitePackages, IReadOnlyList<UdfZip> zips, IReadOnlyDictionary<string, string> env, string? headImage, string? workerImage,
        IReadOnlyDictionary<string, string>? interpreterPackages = null)
    {
        var fields = new List<KeyValuePair<string, object?>>
        {
            new("name", name), new("version", version), new("pip", pip), new("py_modules", modules), new("skip_site_packages", skipSitePackages),
            new("zips", zips.Select(z => z.Checksum).ToArray()),
            new("env_vars", env.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new KeyValuePair<string, object?>(p.Key, p.Value)).ToArray()),
            new("head_image", headImage), new("worker_image", workerImage),
        };
        if (interpreterPackages is not null)
        {
            fields.Add(new("interpreter_packages", interpreterPackages.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new KeyValuePair<string, object?>(p.Key, p.Value)).ToArray()));
        }
        var canonical = CanonicalJson.Serialize(fields.ToArray());
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(canonical))).ToLowerInvariant();
    }

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true });

    public static UdfManifest FromJson(string json, string source)
    {
        try
        {
            var manifest = JsonSerializer.Deserialize<UdfManifest>(json) ?? throw new JsonException("empty document");
            // Names and checksums become keys and folder names: a tampered manifest must not lead anywhere else.
            ValidateName(manifest.Name);
            foreach (var zip in manifest.Zips ?? Array.Empty<UdfZip>())
            {
                _ = zip.Key;
            }
            return manifest;
        }
        catch (JsonException ex)
        {
            throw new E2EException(ErrorCatalog.InvalidJson, $"{source} is not a valid manifest: {ex.Message}", source, ex);
        }
    }
}
