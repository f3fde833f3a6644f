using System.Collections;
using System.Globalization;
using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Kubernetes;
using E2E.Core.Processes;
using E2E.Core.Scopes;

namespace E2E.Cmdlets.Scopes;

/// <summary>Creates a cleanup scope and makes it the current one.</summary>
/// <remarks>
/// <para>Everything an E2E cmdlet creates while a scope is current (processes, servers, temporary directories, remote resources) registers an undo action in it. Remove-E2EScope runs those actions last-in first-out, carries on past failures and reports each one.</para>
/// <para>A scope has a run id (e2e- and ten hex digits), labels and an expiry. Resources are stamped with the run id and expiry, so that a later sweep can find the leftovers of a run that crashed. Scopes still active when the session or the process ends, or when pwsh is sent SIGTERM or SIGHUP, are removed then.</para>
/// <para>Each scope's temp root holds a marker with the run id, the pid, the pid's start time and a ledger of what the scope registered, each entry with its state (pending, done, failed and why). Every process the module starts carries its session's pid and start time in the environment variable E2E_OWNER, set before it starts and inherited by its children. New-E2EScope first removes, quietly (see -Verbose), what runs whose process is gone (kill -9, an OOM kill) left: their temp roots, the processes they started, which are killed, and where a Docker engine is configured ($DOCKER_HOST or the local socket) the containers, networks and images their sessions labelled. Cleanup blocks that such a run's ledger says never ran, or failed, are written as warnings: the sweep cannot run them. A run still alive is never touched, even when its pid has been reused. Set $env:E2E_SWEEP_ON_NEW_SCOPE = '0' to turn that off.</para>
/// <para>In Pester, create the scope in BeforeAll and remove it in AfterAll. In a scheduled script, remove it in a finally block.</para>
/// </remarks>
/// <example>
/// <code>BeforeAll { $scope = New-E2EScope -Name 'venvstacks' -Label @{ suite = 'venvstacks' } }
/// AfterAll { Remove-E2EScope -Scope $scope }</code>
/// <para>The Pester pattern: one scope per test file, removed whatever the tests did.</para>
/// </example>
/// <example>
/// <code>$scope = New-E2EScope -TimeToLive '00:30:00'
/// try { Invoke-NightlyWork } finally { $scope | Remove-E2EScope }</code>
/// <para>A scheduled script: the scope's resources expire after 30 minutes, so a sweep removes them if the script is killed.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "E2EScope", SupportsShouldProcess = true)]
[OutputType(typeof(E2EScope))]
public sealed class NewE2EScopeCommand : E2ECmdlet
{
    /// <summary>A readable name for reports; defaults to the run id.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>Labels stamped on every resource the scope creates. Keys and values follow the Kubernetes label syntax.</summary>
    [Parameter]
    public Hashtable? Label { get; set; }

    /// <summary>How long the scope's resources may live before a sweep may remove them; 2 hours by default. Accepts a TimeSpan or text such as '00:30:00'.</summary>
    [Parameter]
    public TimeSpan? TimeToLive { get; set; }

    protected override void Process()
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Label ?? new Hashtable())
        {
            labels[Convert.ToString(entry.Key, CultureInfo.InvariantCulture) ?? string.Empty] =
                Convert.ToString(entry.Value, CultureInfo.InvariantCulture) ?? string.Empty;
        }
        if (!ShouldProcess(Name ?? "new scope", "Create E2E scope"))
        {
            return;
        }
        var scope = Scopes.Create(Name, labels, TimeToLive);
        if (LocalLeftovers.EnabledOnNewScope(Environment.GetEnvironmentVariable))
        {
            foreach (var orphan in OwnedProcesses.Sweep())
            {
                WriteVerbose(orphan.Killed
                    ? $"Killed process {orphan.ProcessId} ({orphan.Command}), left running by session pid {orphan.OwnerProcessId}, which is gone."
                    : $"Could not kill process {orphan.ProcessId} ({orphan.Command}), left by session pid {orphan.OwnerProcessId}: {orphan.Error}");
            }
            // Ryuk's idea: what a dead session ran on the Docker engine carries its session label, and goes now.
            foreach (var (orphan, error) in OrphanSweeper.SweepDeadSessionsOnDockerAsync(TimeSpan.FromSeconds(10), CancellationToken.None).GetAwaiter().GetResult())
            {
                WriteVerbose(error is null ? $"Removed {orphan.Kind} {orphan.Name} at {orphan.Where}, left by run {orphan.RunId}." : $"Could not remove {orphan.Kind} {orphan.Name} at {orphan.Where}: {error}");
            }
            foreach (var leftover in LocalLeftovers.Sweep(scope.TempBase))
            {
                WriteVerbose(leftover.Removed
                    ? $"Removed {leftover.Path}, left by run {leftover.RunId} (pid {leftover.ProcessId}, no longer running)."
                    : $"Could not remove {leftover.Path}, left by run {leftover.RunId}: {leftover.Error}");
                // The sweep cannot run another session's cleanup blocks; a person must hear of them.
                foreach (var unfinished in leftover.Unfinished)
                {
                    WriteWarning($"Run {leftover.RunId} (pid {leftover.ProcessId}, gone): {unfinished}");
                }
            }
        }
        WriteVerbose($"Created scope {scope.Id}, expiring {scope.ExpiresAt:u}.");
        WriteObject(scope);
    }
}
