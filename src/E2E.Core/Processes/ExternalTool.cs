using System.Diagnostics;
using E2E.Core.Errors;

namespace E2E.Core.Processes;

/// <summary>Runs the command-line tools the module drives (uv, python, kind, kubectl): found on PATH, killed on cancellation, failures with the stderr tail.</summary>
public static class ExternalTool
{
    public static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator).Where(d => d.Length > 0).Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    /// <summary>Runs <paramref name="program"/> and returns its standard output; a non-zero exit is <paramref name="failure"/> with the last lines of stderr.</summary>
    public static async Task<string> RunAsync(string program, IReadOnlyList<string> arguments, string? workingDirectory, ErrorId failure, CancellationToken cancellation, IReadOnlyDictionary<string, string>? environment = null)
    {
        var stdout = string.Empty;
        var (exitCode, stderr) = await StreamAsync(program, arguments, workingDirectory, environment, async output => stdout = await output.ReadToEndAsync(cancellation).ConfigureAwait(false), cancellation).ConfigureAwait(false);
        if (exitCode != 0)
        {
            var tail = SecretText.Redact(string.Join("\n", stderr.Split('\n').TakeLast(15)));
            throw new E2EException(failure, $"'{Path.GetFileName(program)} {string.Join(' ', arguments)}' failed with exit code {exitCode}:\n{tail}", program);
        }
        return stdout;
    }

    /// <summary>
    /// Runs <paramref name="program"/>, handing its standard output to <paramref name="readOutput"/> as it comes (a
    /// protocol of lines, say); returns the exit code and standard error. Killed, with its children, on cancellation.
    /// With <paramref name="writeInput"/>, its standard input is written by that (at the same time as the output is
    /// read) and then closed; without, it has none.
    /// </summary>
    public static async Task<(int ExitCode, string Stderr)> StreamAsync(string program, IReadOnlyList<string> arguments, string? workingDirectory, IReadOnlyDictionary<string, string>? environment,
        Func<StreamReader, Task> readOutput, CancellationToken cancellation, Func<StreamWriter, Task>? writeInput = null)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = writeInput is not null, UseShellExecute = false };
        if (workingDirectory is not null)
        {
            start.WorkingDirectory = workingDirectory;
        }
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }
        ProcessGroup group;
        try
        {
            group = ProcessGroup.Start(start.Own());
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new E2EException(ErrorCatalog.ToolNotFound, $"'{program}' is not installed or not on PATH.", program, ex);
        }
        var process = group.Leader;
        using (process)
        {
            // Killed as a group, so that nothing it started holds the pipes open after it.
            using var registration = cancellation.Register(() => group.Terminate(TimeSpan.Zero));
            var stderr = process.StandardError.ReadToEndAsync(cancellation);
            var input = writeInput is null ? Task.CompletedTask : WriteAndCloseAsync(process.StandardInput, writeInput);
            await readOutput(process.StandardOutput).ConfigureAwait(false);
            await input.ConfigureAwait(false);
            await process.WaitForExitAsync(cancellation).ConfigureAwait(false);
            group.Terminate(TimeSpan.FromSeconds(1)); // what it left running
            return (process.ExitCode, await stderr.ConfigureAwait(false));
        }
    }

    private static async Task WriteAndCloseAsync(StreamWriter input, Func<StreamWriter, Task> write)
    {
        try
        {
            await write(input).ConfigureAwait(false);
        }
        catch (IOException)
        {
            // It stopped reading (it failed, or was killed): its exit code and stderr say why.
        }
        finally
        {
            try
            {
                input.Close();
            }
            catch (IOException)
            {
            }
        }
    }
}
