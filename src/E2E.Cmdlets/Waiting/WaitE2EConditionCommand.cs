using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Waiting;

namespace E2E.Cmdlets.Waiting;

/// <summary>Waits until a script block returns a true value, or fails with the last observed state.</summary>
/// <remarks>
/// <para>Runs the condition, then again after a delay that starts at -IntervalSec and grows by half each time up to -MaxIntervalSec, each delay spread by up to 20% so that parallel waits do not probe in lock step. The wait ends when the condition's last output is true (PowerShell's truth rules), or with a terminating error WaitTimedOut (category OperationTimeout) once -TimeoutSec has passed. The error message shows the number of attempts and the last observed state: all of the condition's output from its last run, joined with '; ', or the message of the error it threw. So a condition can say what it saw before its verdict, as in the first example.</para>
/// <para>A condition that throws counts as not yet true. Ctrl-C ends the wait at once. A single run of the condition cannot be interrupted, so keep it short; the wait itself never sleeps past the deadline.</para>
/// </remarks>
/// <example>
/// <code>Wait-E2ECondition -Description 'the server to answer' -TimeoutSec 30 -Condition {
///     $status = (Invoke-WebRequest -Uri http://127.0.0.1:8080/health -SkipHttpErrorCheck).StatusCode
///     "status=$status"
///     $status -eq 200
/// }</code>
/// <para>Waits up to 30 seconds for a health endpoint. On timeout the message ends with what the last probe saw, such as 'Last observed: status=503; False'.</para>
/// </example>
/// <example>
/// <code>{ Wait-E2ECondition { $false } -TimeoutSec 1 } | Should -Throw -ErrorId 'WaitTimedOut,*'</code>
/// <para>In Pester: asserting that a wait times out. Pester matches -ErrorId with -like against the full id ('WaitTimedOut,E2E.Cmdlets.Waiting.WaitE2EConditionCommand'), hence the wildcard.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Wait, "E2ECondition")]
[OutputType(typeof(WaitResult))]
public sealed class WaitE2EConditionCommand : E2ECmdlet
{
    /// <summary>The condition. Its last output decides: true ends the wait.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNull]
    public ScriptBlock? Condition { get; set; }

    /// <summary>How many seconds to wait in all; 30 by default. 0 probes once.</summary>
    [Parameter]
    public double TimeoutSec { get; set; } = 30;

    /// <summary>The first delay between two probes, in seconds; 0.25 by default.</summary>
    [Parameter]
    public double IntervalSec { get; set; } = 0.25;

    /// <summary>The longest delay between two probes, in seconds; 5 by default.</summary>
    [Parameter]
    public double MaxIntervalSec { get; set; } = 5;

    /// <summary>What is awaited, in words, for the timeout message.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Description { get; set; }

    /// <summary>Returns an object with the attempts, elapsed time and last value.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void Process()
    {
        var options = WaitOptions.FromSeconds(TimeoutSec, IntervalSec, MaxIntervalSec);
        var description = Description ?? $"{{ {Condition!.ToString().Trim()} }}";
        WaitResult result;
        try
        {
            result = WaitWithProgress(Observe, options, description);
        }
        catch (ProbeCannotSucceedException ex) when (ex.InnerException is RuntimeException runtime)
        {
            // Retrying a command that does not exist until the timeout only hides the typo.
            ThrowTerminatingError(runtime.ErrorRecord);
            throw;
        }
        WriteVerbose($"Condition met after {result.Attempts} attempt(s) in {result.Elapsed.TotalSeconds:0.###} s.");
        if (PassThru)
        {
            WriteObject(result);
        }
    }

    /// <summary>The last output decides; all of the output, joined, is the observed state shown on timeout.</summary>
    private Observation Observe()
    {
        System.Collections.ObjectModel.Collection<PSObject> output;
        try
        {
            output = Condition!.Invoke();
        }
        catch (RuntimeException ex) when (ex is CommandNotFoundException or ParseException || ex.ErrorRecord?.Exception is CommandNotFoundException)
        {
            throw new ProbeCannotSucceedException(ex);
        }
        var last = output.Count == 0 ? null : output[^1];
        var state = output.Count == 0 ? "no output" : string.Join("; ", output.Select(o => o is null ? "$null" : LanguagePrimitives.ConvertTo<string>(o)));
        if (state.Length > 1000)
        {
            state = state[..1000] + "…";
        }
        return new Observation(LanguagePrimitives.IsTrue(last), state, last?.BaseObject);
    }
}
