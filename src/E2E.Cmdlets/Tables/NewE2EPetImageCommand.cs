using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Tables;

namespace E2E.Cmdlets.Tables;

/// <summary>Generates small PNG pet images in the Oxford-IIIT layout, for suites that run without the dataset.</summary>
/// <remarks>
/// <para>Writes -Count RGB PNGs named Breed_N.png over 22 real Oxford-IIIT breed names, with varying sizes (16 to 63 pixels a side) and a seed for repeatability, so New-E2ETable -ImageDirectory gets the same rows, breeds and labels every run.</para>
/// </remarks>
/// <example>
/// <code>New-E2EPetImage -Path (New-E2ETempDirectory -Prefix images) -Count 100</code>
/// <para>One hundred images in a temporary folder removed with the scope.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "E2EPetImage", SupportsShouldProcess = true)]
[OutputType(typeof(FileInfo))]
public sealed class NewE2EPetImageCommand : E2ECmdlet
{
    /// <summary>The folder to write into; created when missing.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "FullName")]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>How many images; 100 by default.</summary>
    [Parameter]
    [ValidateRange(1, 1_000_000)]
    public int Count { get; set; } = 100;

    /// <summary>The random seed; the same seed gives the same images.</summary>
    [Parameter]
    public int Seed { get; set; } = 42;

    /// <summary>Returns the files written.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void Process()
    {
        var folder = GetUnresolvedProviderPathFromPSPath(Path!);
        if (!ShouldProcess(folder, $"Write {Count} pet images"))
        {
            return;
        }
        var activity = $"Writing {Count} pet images to {folder}";
        var clock = System.Diagnostics.Stopwatch.StartNew();
        PetImages.Generate(folder, Count, Seed, done =>
        {
            // A record per 250 ms is enough for a person and cheap for 100,000 images.
            if (done == Count || clock.ElapsedMilliseconds >= 250)
            {
                clock.Restart();
                // A new record each time: the host keeps the records it was given.
                WriteProgress(new ProgressRecord(Activities.Images, activity, $"{done} of {Count}") { PercentComplete = (int)(100L * done / Count) });
            }
        }, CancelToken);
        WriteProgress(Activities.Completed(Activities.Images, activity));
        if (PassThru)
        {
            WriteObject(new DirectoryInfo(folder).GetFiles("*.png").OrderBy(f => f.Name, StringComparer.Ordinal), enumerateCollection: true);
        }
    }
}
