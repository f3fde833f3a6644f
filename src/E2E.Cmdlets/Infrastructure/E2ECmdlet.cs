using System.Management.Automation;
using E2E.Core.Errors;

namespace E2E.Cmdlets.Infrastructure;

/// <summary>
/// The base of every E2E cmdlet: a cancellation token cancelled by StopProcessing (Ctrl-C or a stopped
/// pipeline; PowerShellStandard has no PipelineStopToken), and one place where Core's errors become
/// terminating ErrorRecords. Derived cmdlets override <see cref="Begin"/>, <see cref="Process"/> and <see cref="End"/>.
/// </summary>
public abstract class E2ECmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Cancelled when the user presses Ctrl-C or the pipeline is stopped.</summary>
    protected CancellationToken CancelToken => _stop.Token;

    protected virtual void Begin()
    {
    }

    protected virtual void Process()
    {
    }

    protected virtual void End()
    {
    }

    protected sealed override void BeginProcessing() => Guard(Begin);

    protected sealed override void ProcessRecord() => Guard(Process);

    protected sealed override void EndProcessing() => Guard(End);

    protected override void StopProcessing() => _stop.Cancel();

    /// <summary>Writes a non-terminating error for one failed item; the cmdlet carries on with the next.</summary>
    protected void WriteE2EError(E2EException exception) => WriteError(ErrorRecords.From(exception));

    /// <summary>A location as a URI: one with a scheme (file://, s3://, gs://) as given, a path (relative to the current location) as file://.</summary>
    protected string LocationUri(string location) =>
        Uri.TryCreate(location, UriKind.Absolute, out var uri) && uri.Scheme.Length > 1 ? location : new Uri(GetUnresolvedProviderPathFromPSPath(location)).AbsoluteUri;

    /// <summary>The E2E session state (scopes) of the runspace this cmdlet runs in.</summary>
    protected E2E.Core.Scopes.ScopeRegistry Scopes => SessionScopes.ForCurrentRunspace();

    /// <summary>
    /// ShouldProcess for cmdlets with -Force: -Force skips the confirmation prompt, but -WhatIf (the parameter
    /// or $WhatIfPreference) still only reports what would happen.
    /// </summary>
    protected bool ShouldProcessUnlessForced(bool force, string target, string action)
    {
        var whatIf = MyInvocation.BoundParameters.TryGetValue("WhatIf", out var bound)
            ? ((SwitchParameter)bound).IsPresent
            : LanguagePrimitives.IsTrue(SessionState.PSVariable.GetValue("WhatIfPreference"));
        return force && !whatIf || ShouldProcess(target, action);
    }

    /// <summary>Whether the Pester test now running has failed (see <see cref="PesterState"/>); false outside Pester.</summary>
    protected bool PesterTestFailed() => PesterState.CurrentTestFailed(SessionState);

    /// <summary>The expanded name of the Pester test now running, or null outside Pester.</summary>
    protected string? PesterTestName() => PesterState.CurrentTestName(SessionState);

    /// <summary>
    /// A wait on the pipeline thread (probes that run script blocks or read the table store) with a progress record per
    /// attempt (attempt, elapsed, the last observed state, the share of the timeout used) and a Completed record at the end.
    /// </summary>
    protected E2E.Core.Waiting.WaitResult WaitWithProgress(Func<E2E.Core.Waiting.Observation> probe, E2E.Core.Waiting.WaitOptions options, string description)
    {
        var activity = $"Waiting for {description} (timeout {options.Timeout.TotalSeconds:0.#} s)";
        try
        {
            return E2E.Core.Waiting.ConditionWaiter.Until(_ => probe(), options, description, CancelToken, (attempt, elapsed, seen) =>
                WriteProgress(new ProgressRecord(Activities.Wait, activity, $"attempt {attempt}, {elapsed.TotalSeconds:0.#} s: {seen.State}")
                {
                    PercentComplete = (int)Math.Min(100, 100 * elapsed.TotalSeconds / options.Timeout.TotalSeconds),
                }));
        }
        catch (E2E.Core.Waiting.ProbeCannotSucceedException ex) when (ex.InnerException is E2EException reason)
        {
            // The probe knows the wait cannot end well (a job whose driver is gone): its error, with its id.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(reason);
            throw;
        }
        finally
        {
            WriteProgress(Activities.Completed(Activities.Wait, activity));
        }
    }

    /// <summary>Signals the pipeline to stop without an error record, as PowerShell does for Ctrl-C.</summary>
    protected void StopCancelled() => throw new PipelineStoppedException();

    private void Guard(Action step)
    {
        try
        {
            step();
        }
        catch (E2EException ex)
        {
            ThrowTerminatingError(ErrorRecords.From(ex));
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            StopCancelled();
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count == 1 && ex.InnerException is E2EException inner)
        {
            ThrowTerminatingError(ErrorRecords.From(inner));
        }
        catch (Exception ex) when (IsForeign(ex))
        {
            // Raw library exceptions (an overflow, a malformed base64, a missing file) still get an id and a category.
            ThrowTerminatingError(ErrorRecords.FromUnexpected(ex is AggregateException { InnerExceptions.Count: 1 } one ? one.InnerException! : ex, null));
        }
    }

    /// <summary>An exception that is neither PowerShell's own (pipeline stops, script errors, prompts) nor already an E2E error.</summary>
    private static bool IsForeign(Exception ex) =>
        ex is not (E2EException or PipelineStoppedException or RuntimeException or OperationCanceledException or ThreadAbortException
            or StackOverflowException or AccessViolationException);

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _stop.Dispose();
        }
    }
}
