using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace E2E.Module.Tests;

/// <summary>Paths of the repository and of the module folder that dotnet build assembled.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string ModuleDir => Path.Combine(Root, "out", "E2E");

    public static string Manifest => Path.Combine(ModuleDir, "E2E.psd1");

    /// <summary>Points E2E_GANACHE at the repository's own ganache (tools/ganache, installed by test.sh) unless it is set.</summary>
    public static string UseRepositoryGanache()
    {
        var ganache = Environment.GetEnvironmentVariable("E2E_GANACHE");
        if (string.IsNullOrEmpty(ganache))
        {
            ganache = Path.Combine(Root, "tools", "ganache", "node_modules", ".bin", "ganache");
            Environment.SetEnvironmentVariable("E2E_GANACHE", ganache);
        }
        return File.Exists(ganache) ? ganache : throw new InvalidOperationException($"ganache is not installed at {ganache}: run ./test.sh, or npm ci --prefix tools/ganache.");
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "E2E.psd1")))
        {
            dir = dir.Parent;
        }
        return dir?.FullName ?? throw new InvalidOperationException("Cannot find the repository root (E2E.psd1) above " + AppContext.BaseDirectory);
    }
}

/// <summary>A real PowerShell runspace with the built module imported, as a user's session would have it.</summary>
public sealed class Pwsh : IDisposable
{
    private readonly Runspace _runspace;

    public Pwsh(bool importModule = true)
    {
        var state = InitialSessionState.CreateDefault2();
        _runspace = RunspaceFactory.CreateRunspace(state);
        _runspace.Open();
        if (importModule)
        {
            Run($"Import-Module '{Repo.Manifest}' -ErrorAction Stop");
        }
    }

    public Runspace Runspace => _runspace;

    /// <summary>Runs a script; returns its output and the error, warning and verbose streams.</summary>
    public Result Run(string script, IDictionary<string, object?>? variables = null)
    {
        using var ps = PowerShell.Create();
        ps.Runspace = _runspace;
        foreach (var (name, value) in variables ?? new Dictionary<string, object?>())
        {
            _runspace.SessionStateProxy.SetVariable(name, value);
        }
        ps.AddScript(script);
        Collection<PSObject> output;
        try
        {
            output = ps.Invoke();
        }
        catch (RuntimeException ex)
        {
            return new Result(new Collection<PSObject>(), ps.Streams.Error.ToArray(), ps.Streams.Warning.Select(w => w.Message).ToArray(), ps.Streams.Verbose.Select(v => v.Message).ToArray(), ex) { Progress = ps.Streams.Progress.ToArray() };
        }
        return new Result(output, ps.Streams.Error.ToArray(), ps.Streams.Warning.Select(w => w.Message).ToArray(), ps.Streams.Verbose.Select(v => v.Message).ToArray(), null) { Progress = ps.Streams.Progress.ToArray() };
    }

    public void Dispose() => _runspace.Dispose();

    public sealed record Result(Collection<PSObject> Output, ErrorRecord[] Errors, string[] Warnings, string[] Verbose, RuntimeException? Terminating)
    {
        /// <summary>The error that ended the script, else the first one written (a cmdlet's terminating error only ends its statement).</summary>
        /// <summary>The progress records written, in order (Write-Progress, from the cmdlets and their jobs).</summary>
        public ProgressRecord[] Progress { get; init; } = Array.Empty<ProgressRecord>();

        public ErrorRecord? Error => Terminating?.ErrorRecord ?? Errors.FirstOrDefault();

        public string? ErrorId => Error?.FullyQualifiedErrorId;

        public Result ShouldSucceed()
        {
            if (Terminating is not null || Errors.Length > 0)
            {
                throw new Xunit.Sdk.XunitException("PowerShell failed: " + (Terminating?.ErrorRecord.ToString() ?? string.Join("; ", Errors.Select(e => $"{e.FullyQualifiedErrorId}: {e}"))));
            }
            return this;
        }

        public IEnumerable<string> Strings => Output.Select(o => o?.ToString() ?? string.Empty);
    }
}
