using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Processes;
using k8s;
using k8s.Authentication;
using k8s.KubeConfigModels;

namespace E2E.Core.Kubernetes;

/// <summary>
/// Runs a kubeconfig exec credential plugin (client.authentication.k8s.io) the way kubectl does, in place of
/// KubernetesClient's runner, which waits for end of file on the plugin's stdout after it exits: a plugin that
/// leaves a child holding stdout (a backgrounded refresher, a daemonised agent) hung every cluster cmdlet
/// forever. Here the plugin's output is read as it comes, the wait ends when the plugin exits (what it wrote is
/// kept, a leftover child is not waited for), the whole call is bounded, and a failure says the exit code and
/// the plugin's stderr, redacted. Arguments go as they are (KubernetesClient joins them with spaces).
/// </summary>
public static class ExecCredentialPlugin
{
    /// <summary>How long a plugin may run; kubectl has no limit, KubernetesClient two minutes.</summary>
    public static TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>After the plugin exits, how long its output pipe may stay open before what was written is taken as all.</summary>
    private static readonly TimeSpan DrainGrace = TimeSpan.FromMilliseconds(500);

    public static ExecCredentialResponse Run(ExternalExecution exec, string context)
    {
        if (string.IsNullOrWhiteSpace(exec.Command))
        {
            throw Failed(exec, context, "it names no command");
        }
        var start = new ProcessStartInfo(exec.Command) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var argument in exec.Arguments ?? new List<string>())
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["KUBERNETES_EXEC_INFO"] = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["apiVersion"] = exec.ApiVersion ?? string.Empty,
            ["kind"] = "ExecCredential",
            ["spec"] = new Dictionary<string, object> { ["interactive"] = false },
        });
        foreach (var variable in exec.EnvironmentVariables ?? new List<Dictionary<string, string>>())
        {
            if (!variable.TryGetValue("name", out var name) || !variable.TryGetValue("value", out var value))
            {
                throw Failed(exec, context, $"an env entry lacks name or value ({string.Join(", ", variable.Keys)})");
            }
            start.Environment[name] = value;
        }
        ProcessGroup group;
        try
        {
            group = ProcessGroup.Start(start.Own());
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw Failed(exec, context, $"it could not be started: {ex.Message}");
        }
        var process = group.Leader;
        using (process)
        {
            process.StandardInput.Close(); // not interactive: a plugin that prompts reads end of file
            var stdout = new StringBuilder();
            var stderr = new StringBuilder();
            var readOut = Pump(process.StandardOutput, stdout);
            var readErr = Pump(process.StandardError, stderr);
            if (!process.WaitForExit(Timeout))
            {
                group.Terminate(TimeSpan.Zero);
                throw Failed(exec, context, $"it did not finish within {Timeout.TotalSeconds:0} s");
            }
            // Exited: take what it wrote, waiting briefly for the pipes only, never for children that hold them.
            Task.WaitAll(new[] { readOut, readErr }, DrainGrace);
            group.Terminate(TimeSpan.FromSeconds(1)); // what it left running
            string output, errors;
            lock (stdout)
            {
                output = stdout.ToString();
            }
            lock (stderr)
            {
                errors = stderr.ToString();
            }
            if (process.ExitCode != 0)
            {
                throw Failed(exec, context, $"it exited with code {process.ExitCode}{Said(errors)}");
            }
            ExecCredentialResponse? response;
            try
            {
                response = KubernetesJson.Deserialize<ExecCredentialResponse>(output);
            }
            catch (JsonException ex)
            {
                throw Failed(exec, context, $"its output is not an ExecCredential ({ex.Message}){Said(errors)}");
            }
            if (response is null || response.ApiVersion != exec.ApiVersion)
            {
                throw Failed(exec, context, $"it answered apiVersion '{response?.ApiVersion}', not the '{exec.ApiVersion}' the kubeconfig asks for");
            }
            if (response.Status is null || !response.Status.IsValid())
            {
                throw Failed(exec, context, "its ExecCredential has neither a token nor a client certificate and key");
            }
            return response;
        }
    }

    /// <summary>
    /// Reads a pipe to its end on a thread of its own: on the thread pool, a busy process (parallel tests on two cores)
    /// left the read unscheduled past the drain grace, and a plugin's output was lost.
    /// </summary>
    private static Task Pump(StreamReader reader, StringBuilder into)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            var buffer = new char[4096];
            try
            {
                int read;
                while ((read = reader.Read(buffer, 0, buffer.Length)) > 0)
                {
                    lock (into)
                    {
                        // Bounded: a plugin that writes without end is cut off, not held in memory.
                        if (into.Length < 1 << 20)
                        {
                            into.Append(buffer, 0, read);
                        }
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                // The pipe was closed under us when the process was disposed.
            }
            done.TrySetResult();
        }) { IsBackground = true, Name = "exec plugin output" };
        thread.Start();
        return done.Task;
    }

    private static string Said(string stderr)
    {
        var text = stderr.Trim();
        if (text.Length == 0)
        {
            return string.Empty;
        }
        var lines = text.Split('\n');
        return "; it said: " + SecretText.Redact(string.Join(" / ", lines.TakeLast(5).Select(l => l.Trim())));
    }

    private static E2EException Failed(ExternalExecution exec, string context, string why) =>
        new(ErrorCatalog.ExecPluginFailed, $"The exec credential plugin '{exec.Command}' of context '{context}' failed: {why}.{Hint(exec)}", context);

    /// <summary>The kubeconfig's installHint for the plugin, as a sentence to append (empty without one).</summary>
    internal static string Hint(ExternalExecution? exec) => exec?.InstallHint is { Length: > 0 } h ? " " + h.Trim() : string.Empty;
}

/// <summary>
/// The bearer token of an exec plugin, kept until 30 s before it expires (KubernetesClient's rule), fetched
/// again through <see cref="ExecCredentialPlugin"/>. Starts with the credential fetched when the context was
/// built, so a fresh context runs its plugin once, not twice.
/// </summary>
public sealed class ExecPluginTokenProvider(ExternalExecution exec, string context, ExecCredentialResponse first) : ITokenProvider
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ExecCredentialResponse _current = first;

    public async Task<AuthenticationHeaderValue> GetAuthenticationHeaderAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_current.Status.ExpirationTimestamp is { } expires && DateTime.UtcNow.AddSeconds(30) > expires)
            {
                _current = await Task.Run(() => ExecCredentialPlugin.Run(exec, context), cancellationToken).ConfigureAwait(false);
            }
            return new AuthenticationHeaderValue("Bearer", _current.Status.Token);
        }
        finally
        {
            _gate.Release();
        }
    }
}
