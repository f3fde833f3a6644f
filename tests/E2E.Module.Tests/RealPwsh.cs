using System.Diagnostics;
using System.Text;

namespace E2E.Module.Tests;

/// <summary>
/// The real pwsh (the pinned dotnet tool, through tools/pwsh) as a child process, with the real Pester the
/// repository pins. One Pester major per process, as Pester requires.
/// </summary>
public static class RealPwsh
{
    /// <summary>The Pester versions tools/PesterPackages pins, read from its PackageDownload item.</summary>
    public static IReadOnlyList<string> PinnedPesterVersions { get; } = ReadPinnedPesterVersions();

    public static TheoryData<string> PesterVersions()
    {
        var data = new TheoryData<string>();
        foreach (var version in PinnedPesterVersions)
        {
            data.Add(version);
        }
        return data;
    }

    public sealed record Result(int ExitCode, string Output, string Error)
    {
        public Result ShouldSucceed() => ExitCode == 0 ? this : throw new Xunit.Sdk.XunitException($"pwsh exited {ExitCode}\n--- stdout\n{Output}\n--- stderr\n{Error}");
    }

    /// <summary>Runs a script in a fresh pwsh with the given environment additions; times out after two minutes.</summary>
    public static Result Run(string script, IReadOnlyDictionary<string, string>? environment = null)
    {
        var file = Path.Combine(Path.GetTempPath(), $"e2e-pwsh-{Guid.NewGuid():N}.ps1");
        File.WriteAllText(file, script);
        try
        {
            using var process = Start(file, environment);
            var output = new StringBuilder();
            var error = new StringBuilder();
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (error) { error.AppendLine(e.Data); } } };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"pwsh did not finish in two minutes:\n{output}\n{error}");
            }
            process.WaitForExit();
            return new Result(process.ExitCode, output.ToString(), error.ToString());
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>Sends a signal (TERM, HUP, KILL) to a process Start returned: that process is PowerShell itself (tools/pwsh execs the engine).</summary>
    public static void Signal(Process process, string signal) => Process.Start("kill", $"-{signal} {process.Id}")!.WaitForExit();

    /// <summary>
    /// Starts tools/pwsh on a script file with stdout and stderr redirected (the caller reads them). env and
    /// tools/pwsh exec the engine, so the process returned is PowerShell itself: a signal sent to it reaches PowerShell.
    /// SIGHUP is at its default action, as in a session started from a terminal: a test runner started under nohup
    /// ignores it, and a child inherits that, so a hangup would never reach the session.
    /// </summary>
    public static Process Start(string scriptFile, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("env")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "--default-signal=HUP", Path.Combine(Repo.Root, "tools", "pwsh"), "-NoProfile", "-NonInteractive", "-File", scriptFile })
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        return Process.Start(start)!;
    }

    /// <summary>PowerShell that imports the pinned Pester of this version, restored in the NuGet packages folder.</summary>
    public static string ImportPester(string version) => $"Import-Module '{PesterManifest(version)}' -Force -ErrorAction Stop";

    /// <summary>The NuGet packages folder restores fill: $NUGET_PACKAGES, else the default one.</summary>
    public static string PackagesFolder { get; } = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
        ? configured
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    /// <summary>Pester.psd1 of a pinned version in the NuGet packages folder ($NUGET_PACKAGES, else the default one).</summary>
    public static string PesterManifest(string version)
    {
        var manifest = Path.Combine(PackagesFolder, "pester", version, "tools", "Pester.psd1");
        return File.Exists(manifest) ? manifest : throw new FileNotFoundException($"Pester {version} is not restored: run 'dotnet restore tools/PesterPackages'.", manifest);
    }

    private static string[] ReadPinnedPesterVersions()
    {
        var project = System.Xml.Linq.XDocument.Load(Path.Combine(Repo.Root, "tools", "PesterPackages", "PesterPackages.csproj"));
        var versions = project.Descendants("PackageDownload").Single(e => (string?)e.Attribute("Include") == "Pester").Attribute("Version")!.Value;
        return versions.Split(';').Select(v => v.Trim('[', ']', ' ')).ToArray();
    }
}
