using System.Diagnostics;

namespace E2E.Core.Tests.Kubernetes;

/// <summary>The real kubectl, and executable stand-ins (exec plugins, a kind CLI), for the Kubernetes tests.</summary>
internal static class KubeTestTools
{
    /// <summary>Writes <paramref name="content"/> (a script with its #! line) and makes it executable.</summary>
    public static string WriteExecutable(string path, string content)
    {
        File.WriteAllText(path, content);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        return path;
    }

    /// <summary>Runs kubectl with KUBECONFIG (and HOME, where kubectl caches discovery, when given); asserts success and returns stdout, trimmed.</summary>
    public static string Kubectl(string kubeconfig, string? home, params string[] args)
    {
        var start = new ProcessStartInfo("kubectl", args) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["KUBECONFIG"] = kubeconfig;
        if (home is not null)
        {
            start.Environment["HOME"] = home;
        }
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(60_000), "kubectl hung");
        Assert.True(process.ExitCode == 0, $"kubectl {string.Join(' ', args)} failed: {errors.Result}{output.Result}");
        return output.Result.Trim();
    }
}
