using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Scopes;

namespace E2E.Cmdlets.Scopes;

/// <summary>Registers a script block to run when a scope is removed.</summary>
/// <remarks>
/// <para>For resources created by your own code rather than by an E2E cmdlet. The script block runs on the thread that removes the scope, in the order undo actions run: last registered first. If it throws, Remove-E2EScope reports ScopeCleanupFailed and carries on.</para>
/// <para>When the process exits with the scope still active, or is sent SIGTERM or SIGHUP, the session can no longer run code: the block then runs in a fresh runspace with -ArgumentList as its arguments (variables it closed over are not there, so pass what it needs as arguments), and a failure is written to stderr.</para>
/// </remarks>
/// <example>
/// <code>$id = New-TestDatabase
/// Register-E2ECleanup -Name "database $id" -ScriptBlock { param($dbId) Remove-TestDatabase $dbId } -ArgumentList $id</code>
/// <para>Deletes the database when the current scope is removed.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Register, "E2ECleanup", SupportsShouldProcess = true)]
[OutputType(typeof(ScopeEntry))]
public sealed class RegisterE2ECleanupCommand : E2ECmdlet
{
    /// <summary>The code that undoes the resource.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNull]
    public ScriptBlock? ScriptBlock { get; set; }

    /// <summary>What the script block undoes, for reports and errors.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>Arguments passed to the script block when it runs.</summary>
    [Parameter]
    public object[] ArgumentList { get; set; } = Array.Empty<object>();

    /// <summary>The scope to register in; defaults to the current scope.</summary>
    [Parameter(ValueFromPipeline = true)]
    [ValidateNotNull]
    public E2EScope? Scope { get; set; }

    /// <summary>Returns the registered entry.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void Process()
    {
        var scope = Scope ?? Scopes.RequireCurrent($"'{Name}'");
        if (!ShouldProcess($"{scope.Name} ({scope.Id})", $"Register cleanup '{Name}'"))
        {
            return;
        }
        var block = ScriptBlock!;
        var arguments = ArgumentList;
        var entry = scope.Register("Script", Name!, context =>
        {
            if (context.AtProcessExit)
            {
                RunDetached(block, arguments);
                return;
            }
            block.Invoke(arguments);
        });
        if (PassThru)
        {
            WriteObject(entry);
        }
    }

    /// <summary>
    /// At exit or on SIGTERM/SIGHUP the session is busy or gone: the block runs, with its arguments, in a fresh
    /// runspace. Variables it closed over are not there; parameters are (hence -ArgumentList).
    /// </summary>
    private static void RunDetached(ScriptBlock block, object[] arguments)
    {
        using var shell = PowerShell.Create();
        shell.AddScript(block.ToString());
        foreach (var argument in arguments)
        {
            shell.AddArgument(argument);
        }
        shell.Invoke();
        if (shell.HadErrors)
        {
            throw new InvalidOperationException(string.Join("; ", shell.Streams.Error.Select(e => e.ToString())));
        }
    }
}
