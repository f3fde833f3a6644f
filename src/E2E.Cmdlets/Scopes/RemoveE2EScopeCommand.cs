using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Errors;
using E2E.Core.Scopes;

namespace E2E.Cmdlets.Scopes;

/// <summary>Removes a cleanup scope: undoes everything registered in it, last first.</summary>
/// <remarks>
/// <para>Runs every pending undo action of the scope in reverse registration order. When an action fails, removal carries on with the others, and each failure is written as a non-terminating error with the id ScopeCleanupFailed whose target is the failed entry. Removing a scope that is already removed does nothing.</para>
/// <para>Ctrl-C stops removal between two actions; the remaining ones stay pending, and removing the scope again finishes them.</para>
/// <para>The scope only undoes what this session created in it, so removal does not ask for confirmation; use -WhatIf to see what would be undone.</para>
/// <para>Removing the session's last active scope also ends the UDF workers that wait, idle, for a next backfill (see Invoke-Backfill): once it returns, no process the module started for the session is left.</para>
/// </remarks>
/// <example>
/// <code>AfterAll { Remove-E2EScope -Scope $scope }</code>
/// <para>Removes the scope created in BeforeAll.</para>
/// </example>
/// <example>
/// <code>Get-E2EScope | Remove-E2EScope -PassThru | Format-List ScopeId, Undone, Failed</code>
/// <para>Removes every active scope of the session and shows what each removal did.</para>
/// </example>
[Cmdlet(VerbsCommon.Remove, "E2EScope", SupportsShouldProcess = true, DefaultParameterSetName = "Scope")]
[OutputType(typeof(ScopeRemovalResult))]
public sealed class RemoveE2EScopeCommand : E2ECmdlet
{
    /// <summary>The scope to remove, as returned by New-E2EScope or Get-E2EScope.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Scope", ValueFromPipeline = true)]
    [ValidateNotNull]
    public E2EScope? Scope { get; set; }

    /// <summary>The run id of the scope to remove.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Id", ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ScopeIdCompleter))]
    public string? Id { get; set; }

    /// <summary>Returns an object describing what the removal did.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void Process()
    {
        var scope = Scope ?? Scopes.Get(Id!);
        if (scope.State == ScopeState.Removed)
        {
            WriteVerbose($"Scope {scope.Id} was already removed; nothing to do.");
        }
        var pending = scope.Entries.Where(e => e.State == UndoState.Pending).OrderByDescending(e => e.Sequence).ToArray();
        if (!ShouldProcess($"{scope.Name} ({scope.Id}): {pending.Length} undo action(s): {string.Join("; ", pending.Select(e => $"{e.Kind} {e.Description}"))}", "Remove E2E scope"))
        {
            return;
        }
        var activity = $"Removing scope {scope.Name} ({scope.Id})";
        var result = Scopes.Remove(scope, CancelToken, (entry, done, total) =>
            WriteProgress(new ProgressRecord(Activities.Scope, activity, $"{done + 1} of {total}: {entry.Kind} {entry.Description}") { PercentComplete = 100 * done / Math.Max(1, total) }));
        WriteProgress(Activities.Completed(Activities.Scope, activity));
        if (Scopes.Current is null && E2E.Core.Backfill.UdfWorkerPool.IdleProcessIds is { Count: > 0 } idle)
        {
            // Idle workers belong to the session, not to a scope: they go with its last one.
            E2E.Core.Backfill.UdfWorkerPool.DrainAsync().GetAwaiter().GetResult();
            WriteVerbose($"Ended {idle.Count} idle UDF worker(s): pid {string.Join(", ", idle)}.");
        }
        foreach (var entry in result.Ran)
        {
            WriteVerbose($"Undo {entry}");
            if (entry.State == UndoState.Failed)
            {
                WriteE2EError(new E2EException(ErrorCatalog.ScopeCleanupFailed,
                    $"Undo #{entry.Sequence} of scope {scope.Id} ({entry.Kind} {entry.Description}) failed: {entry.Error?.Message}", entry, entry.Error));
            }
        }
        if (PassThru)
        {
            WriteObject(result);
        }
        if (result.Cancelled)
        {
            WriteWarning($"Removal of scope {scope.Id} was stopped with {result.StillPending} undo action(s) still pending; run Remove-E2EScope again to finish.");
            StopCancelled();
        }
    }
}
