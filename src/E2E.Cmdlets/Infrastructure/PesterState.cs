using System.Collections;
using System.Management.Automation;

namespace E2E.Cmdlets.Infrastructure;

/// <summary>
/// What the failure hooks (Export-E2EArtifact, Get-E2EDiagnostic -OnFailure) need to know of the Pester test
/// that is running: its name and whether it has failed so far. Pester has no on-failure hook (pester/Pester#1821)
/// and no public API for this, so this is the one place that reads Pester's internal state; the meta-test
/// (tests/E2E.Module.Tests/PesterHookTests.cs) runs it under every Pester version CI pins.
/// </summary>
internal static class PesterState
{
    // Pester's own outcomes travel as errors with these ids; a test that carries only these has not failed.
    private static readonly HashSet<string> ResultIds = new(StringComparer.Ordinal) { "PesterTestSkipped", "PesterTestPending", "PesterTestInconclusive" };

    /// <summary>
    /// True when the running test has failed. Pester copies a test's errors to $____Pester.CurrentTest only
    /// after its AfterEach blocks have run (pester/Pester#2409, 5.7.1 and 6.2.0 alike), so inside AfterEach the
    /// errors of BeforeEach and of the test body are found where Pester collects them: the ErrorRecord list of
    /// the Invoke-ScriptBlock call that runs setup, body and teardown ($______parameters, which the teardown
    /// sees through dynamic scoping). CurrentTest.ErrorRecord is read as well: it holds the Should failures
    /// collected under Should.ErrorAction = 'Continue', and whatever a later Pester fills in before AfterEach.
    /// </summary>
    public static bool CurrentTestFailed(SessionState session)
    {
        var test = CurrentTest(session);
        if (test is null)
        {
            return false;
        }
        var running = session.PSVariable.GetValue("______parameters");
        return HasFailure(Property(running, "ErrorRecord")) || HasFailure(Property(test, "ErrorRecord"));
    }

    /// <summary>The expanded name of the running test (data-driven names filled in), or null outside Pester.</summary>
    public static string? CurrentTestName(SessionState session)
    {
        var test = CurrentTest(session);
        return (Property(test, "ExpandedName") ?? Property(test, "Name"))?.ToString();
    }

    private static object? CurrentTest(SessionState session) => Property(session.PSVariable.GetValue("____Pester"), "CurrentTest");

    private static object? Property(object? value, string name)
    {
        if (value is null)
        {
            return null;
        }
        if (PSObject.AsPSObject(value).BaseObject is IDictionary dictionary)
        {
            return dictionary.Contains(name) ? dictionary[name] : null;
        }
        return PSObject.AsPSObject(value).Properties[name]?.Value;
    }

    private static bool HasFailure(object? records) =>
        records is IEnumerable list && list.Cast<object?>().Any(r =>
            PSObject.AsPSObject(r ?? string.Empty).BaseObject is not ErrorRecord record || !ResultIds.Contains(record.FullyQualifiedErrorId));
}
