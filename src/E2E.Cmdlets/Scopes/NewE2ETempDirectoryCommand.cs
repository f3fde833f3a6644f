using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Scopes;

namespace E2E.Cmdlets.Scopes;

/// <summary>Creates a temporary directory that is deleted when the scope is removed.</summary>
/// <remarks>
/// <para>The directory is created under the system temp folder, in e2e/&lt;run id&gt;/, next to a marker file that records the run id and expiry, so a sweep can delete it even after a crash.</para>
/// </remarks>
/// <example>
/// <code>$work = New-E2ETempDirectory -Prefix build
/// Set-Content -Path (Join-Path $work 'input.txt') -Value 'data'</code>
/// <para>Creates a directory such as /tmp/e2e/e2e-3fa9c1d2e4/build-1a2b3c4d, removed with the current scope.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "E2ETempDirectory", SupportsShouldProcess = true)]
[OutputType(typeof(DirectoryInfo))]
public sealed class NewE2ETempDirectoryCommand : E2ECmdlet
{
    /// <summary>A plain name put in front of the directory's random suffix.</summary>
    [Parameter(Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Prefix { get; set; } = "tmp";

    /// <summary>The scope that owns the directory; defaults to the current scope.</summary>
    [Parameter(ValueFromPipeline = true)]
    [ValidateNotNull]
    public E2EScope? Scope { get; set; }

    protected override void Process()
    {
        var scope = Scope ?? Scopes.RequireCurrent("a temporary directory");
        if (!ShouldProcess(Path.Combine(scope.TempBase, scope.Id, Prefix + "-*"), "Create temporary directory"))
        {
            return;
        }
        // The provider's item, as Get-Item gives it: a bare DirectoryInfo has no PSPath, UnixMode, User or Group.
        var path = scope.CreateTempDirectory(Prefix);
        WriteObject(InvokeProvider.Item.Get(path).FirstOrDefault() ?? (object)new DirectoryInfo(path));
    }
}
