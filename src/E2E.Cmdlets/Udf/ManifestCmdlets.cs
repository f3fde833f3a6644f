using System.Collections;
using System.Globalization;
using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Udf;

namespace E2E.Cmdlets.Udf;

/// <summary>Packs a UDF package into deterministic zips and a manifest.</summary>
/// <remarks>
/// <para>Reads the package's pyproject.toml ([project] name, version, dependencies) with the module's TOML 1.0 parser, finds its Python modules, and packs them into a zip. -Environment says where the workers get the requirements: Isolated builds or reuses the package's own environment (uv when it is on PATH, else python -m venv and pip; rebuilt only when the requirements or the Python version change) and packs its site-packages; Interpreter uses -Python's own site-packages, after checking that it has every requirement at a version its specifier allows (nothing more is packed; the manifest records the versions found, and a backfill whose interpreter lacks them is RequirementsNotInstalled); None (-SkipSitePackages) packs modules only. Auto, the default, is Interpreter when -Python already has every requirement of a package that has some (so a machine with torch from Debian and no package index packs a torch UDF), else Isolated. The manifest's Environment says which was chosen. Zips are deterministic (sorted members, fixed timestamps and modes) and named by a content checksum, so the same inputs give the same manifest checksum on any machine.</para>
/// <para>A package without pyproject.toml or without name and version is UdfProjectInvalid; malformed TOML is InvalidToml; a failed venv or pip is EnvironmentBuildFailed with the tool's output; a missing python is ToolNotFound. A failed environment build leaves no half-built environment behind.</para>
/// </remarks>
/// <example>
/// <code>$manifest = New-UdfManifest -Path ./examples/udfs/simple -SkipSitePackages
/// $manifest.Zips | Format-Table Kind, Checksum, Size</code>
/// <para>Packs the simple example's modules; its UDFs need nothing but the standard library.</para>
/// </example>
/// <example>
/// <code>New-UdfManifest -Path ./examples/udfs/torch-embedding -Python $env:E2E_TORCH_PYTHON | Format-List Name, Environment, InterpreterPackages</code>
/// <para>Packs the ResNet-18 embedding package to run on that interpreter's own torch and torchvision (Environment interpreter), with no package index needed.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "UdfManifest", SupportsShouldProcess = true)]
[OutputType(typeof(UdfManifest))]
public sealed class NewUdfManifestCommand : AsyncE2ECmdlet
{
    /// <summary>The UDF package directory (with pyproject.toml).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName")]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>Packs only the modules, not the environment's site-packages (-Environment None).</summary>
    [Parameter]
    public SwitchParameter SkipSitePackages { get; set; }

    /// <summary>Auto (the default), Isolated, Interpreter or None: where the workers get the package's requirements.</summary>
    [Parameter]
    public UdfEnvironment Environment { get; set; } = UdfEnvironment.Auto;

    /// <summary>The Python that builds the environment, or whose own packages an Interpreter environment uses; python3 on PATH by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Python { get; set; } = "python3";

    /// <summary>Where the zips go; the package's .e2e/dist folder by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? OutputPath { get; set; }

    /// <summary>Environment variables the workers set before importing the UDFs.</summary>
    [Parameter]
    public Hashtable? EnvVar { get; set; }

    /// <summary>The head node image, for engines that run in containers.</summary>
    [Parameter]
    public string? HeadImage { get; set; }

    /// <summary>The worker image, for engines that run in containers.</summary>
    [Parameter]
    public string? WorkerImage { get; set; }

    private string? _path;
    private string? _output;

    protected override void PrepareRecord()
    {
        _path = GetUnresolvedProviderPathFromPSPath(Path!);
        _output = OutputPath is null ? null : GetUnresolvedProviderPathFromPSPath(OutputPath);
    }

    protected override async Task ProcessAsync()
    {
        var project = UdfProject.Load(_path!);
        if (!await ShouldProcessAsync(project.Directory, $"Pack UDF package {project.Name} {project.Version}").ConfigureAwait(false))
        {
            return;
        }
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in EnvVar ?? new Hashtable())
        {
            env[Convert.ToString(entry.Key, CultureInfo.InvariantCulture)!] = Convert.ToString(entry.Value, CultureInfo.InvariantCulture) ?? string.Empty;
        }
        var modulesOnly = SkipSitePackages || Environment == UdfEnvironment.None;
        var manifest = await WithProgressAsync(Activities.Manifest, $"Pack {project.Name} {project.Version}",
            () => modulesOnly ? "packing modules" : $"choosing or building the environment of {project.Dependencies.Count} requirement(s) and packing",
            () => ManifestBuilder.BuildAsync(project, new ManifestBuildOptions
            {
                SkipSitePackages = modulesOnly, Environment = Environment, Python = Python, OutputDirectory = _output, EnvVars = env, HeadImage = HeadImage, WorkerImage = WorkerImage,
            }, CancelToken)).ConfigureAwait(false);
        Verbose(manifest.EnvironmentKind switch
        {
            "interpreter" => $"Environment: {Python}'s own packages ({string.Join(", ", manifest.InterpreterPackages!.Select(p => $"{p.Key} {p.Value}"))}); modules packed.",
            "isolated" => $"Environment: isolated, its site-packages packed with the modules.",
            _ => "Environment: none; modules packed.",
        });
        Output(manifest);
    }
}

/// <summary>Uploads a UDF manifest and its zips to object storage, skipping zips already there.</summary>
/// <remarks>
/// <para>-Destination is a file:// URI or folder (the default for local runs), or s3://bucket/prefix (AWSSDK.S3; any S3-compatible endpoint through $env:E2E_S3_ENDPOINT or $env:AWS_ENDPOINT_URL, which covers GCS via gs:// and its HMAC interoperability endpoint). Zips go to zips/&lt;checksum&gt;.zip and are uploaded only when absent, so publishing the same manifest twice uploads nothing; the manifest goes to manifests/&lt;name&gt;.json last, so readers never see a manifest whose zips are missing.</para>
/// </remarks>
/// <example>
/// <code>New-UdfManifest ./examples/udfs/simple | Publish-UdfManifest -Destination file:///tmp/udf-bucket</code>
/// <para>Packs and publishes to a local folder.</para>
/// </example>
/// <example>
/// <code>$env:E2E_S3_ENDPOINT = 'http://127.0.0.1:5000'
/// $manifest | Publish-UdfManifest -Destination s3://udfs/oxford-pets | Format-List ZipsUploaded, ZipsSkipped</code>
/// <para>Publishes to an S3-compatible server such as moto or MinIO.</para>
/// </example>
[Cmdlet(VerbsData.Publish, "UdfManifest", SupportsShouldProcess = true)]
[OutputType(typeof(PublishResult))]
public sealed class PublishUdfManifestCommand : AsyncE2ECmdlet
{
    /// <summary>The manifest from New-UdfManifest.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public UdfManifest? Manifest { get; set; }

    /// <summary>The store: file:// URI or folder, s3://bucket/prefix or gs://bucket/prefix.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? Destination { get; set; }

    protected override async Task ProcessAsync()
    {
        if (!await ShouldProcessAsync(Destination!, $"Publish UDF manifest {Manifest!.Name} ({Manifest.Checksum[..12]})").ConfigureAwait(false))
        {
            return;
        }
        using var store = ObjectStores.Open(Destination!);
        var result = await WithProgressAsync(Activities.Upload, $"Publish {Manifest.Name} to {Destination}", () => $"{Manifest.Zips.Count} zip(s) and the manifest",
            () => ManifestStore.PublishAsync(Manifest, store, CancelToken)).ConfigureAwait(false);
        Verbose($"{result.ZipsUploaded} zip(s) uploaded, {result.ZipsSkipped} already present; manifest at {result.ManifestUri}");
        Output(result);
    }
}

/// <summary>Gets UDF manifests published in an object store.</summary>
/// <remarks>
/// <para>With -Name, reads that manifest (ManifestNotFound when there is none); without it, lists every manifest in the store.</para>
/// </remarks>
/// <example>
/// <code>Get-UdfManifest -Store file:///tmp/udf-bucket | Format-Table Name, Version, Checksum</code>
/// <para>Lists the published UDF packages.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "UdfManifest")]
[OutputType(typeof(UdfManifest))]
public sealed class GetUdfManifestCommand : AsyncE2ECmdlet
{
    /// <summary>The manifest's name (the package name in pyproject.toml).</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ManifestNameCompleter))]
    public string? Name { get; set; }

    /// <summary>The store: file:// URI or folder, s3:// or gs://.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string? Store { get; set; }

    protected override async Task ProcessAsync()
    {
        using var store = ObjectStores.Open(Store!);
        if (Name is not null)
        {
            Output(await ManifestStore.GetAsync(Name, store, CancelToken).ConfigureAwait(false));
            return;
        }
        foreach (var manifest in await ManifestStore.ListAsync(store, CancelToken).ConfigureAwait(false))
        {
            Output(manifest);
        }
    }
}

/// <summary>Removes a published UDF manifest and the zips no other manifest uses.</summary>
/// <remarks>
/// <para>Deletes manifests/&lt;name&gt;.json, then each of its zips that no remaining manifest in the store refers to. Asks for confirmation (ConfirmImpact High); -Confirm:$false or -Force skips the question, -WhatIf shows what would go.</para>
/// </remarks>
/// <example>
/// <code>Remove-UdfManifest -Name oxford-pets-simple -Store file:///tmp/udf-bucket -Force</code>
/// <para>Removes the manifest and its now unused zips without asking.</para>
/// </example>
[Cmdlet(VerbsCommon.Remove, "UdfManifest", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveUdfManifestCommand : AsyncE2ECmdlet
{
    /// <summary>The manifest's name.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ManifestNameCompleter))]
    public string? Name { get; set; }

    /// <summary>The store: file:// URI or folder, s3:// or gs://.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string? Store { get; set; }

    /// <summary>Removes without asking for confirmation (-WhatIf still only shows).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    private bool _confirmed;

    protected override void PrepareRecord()
    {
        _confirmed = ShouldProcessUnlessForced(Force, $"{Store} {E2E.Core.Udf.UdfManifest.ManifestKey(Name!)}", "Remove UDF manifest and its unused zips");
    }

    protected override async Task ProcessAsync()
    {
        if (!_confirmed)
        {
            return;
        }
        using var store = ObjectStores.Open(Store!);
        var removed = await ManifestStore.RemoveAsync(Name!, store, CancelToken).ConfigureAwait(false);
        Verbose($"Removed manifest '{Name}' and {removed} zip(s).");
    }
}
