using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Scopes;

namespace E2E.Cmdlets.Scopes;

/// <summary>Gets the cleanup scopes of this session.</summary>
/// <remarks>
/// <para>Without parameters, returns the active scopes, newest last. -Current returns only the scope new resources register in. -Id looks scopes up by run id and reports an error (ScopeNotFound) for an id this session does not know. -All includes removed scopes.</para>
/// </remarks>
/// <example>
/// <code>Get-E2EScope -Current | Select-Object -ExpandProperty Entries</code>
/// <para>Lists what the current scope will undo, in registration order.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "E2EScope", DefaultParameterSetName = "List")]
[OutputType(typeof(E2EScope))]
public sealed class GetE2EScopeCommand : E2ECmdlet
{
    /// <summary>Run ids of the scopes to get.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Id", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ScopeIdCompleter))]
    public string[] Id { get; set; } = Array.Empty<string>();

    /// <summary>Gets only the current scope, if there is one.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Current")]
    public SwitchParameter Current { get; set; }

    /// <summary>Includes scopes that were already removed.</summary>
    [Parameter(ParameterSetName = "List")]
    public SwitchParameter All { get; set; }

    protected override void Process()
    {
        switch (ParameterSetName)
        {
            case "Id":
                foreach (var id in Id)
                {
                    try
                    {
                        WriteObject(Scopes.Get(id));
                    }
                    catch (E2E.Core.Errors.E2EException ex)
                    {
                        WriteE2EError(ex);
                    }
                }
                break;
            case "Current":
                if (Scopes.Current is { } current)
                {
                    WriteObject(current);
                }
                break;
            default:
                WriteObject(All ? Scopes.All : Scopes.Active, enumerateCollection: true);
                break;
        }
    }
}
