using System.Diagnostics;
using System.Text.Json;
using E2E.Core.Errors;
using YamlDotNet.RepresentationModel;

namespace E2E.Core.Kubernetes;

public sealed record KubeCluster(string Name, string Server, byte[]? CertificateAuthorityData, bool InsecureSkipTlsVerify, string? TlsServerName);

public sealed record ExecConfig(string ApiVersion, string Command, IReadOnlyList<string> Args, IReadOnlyDictionary<string, string> Env, bool ProvideClusterInfo, string? InstallHint);

/// <summary>How a context authenticates. Secrets are never shown: <see cref="ToString"/> names only the kinds present.</summary>
public sealed record KubeUser(string Name, string? Token, string? TokenFile, byte[]? ClientCertificateData, byte[]? ClientKeyData, string? Username, string? Password, ExecConfig? Exec)
{
    public override string ToString()
    {
        var kinds = new[] { Token is null ? null : "token", TokenFile is null ? null : "token file", ClientCertificateData is null ? null : "client certificate", Username is null ? null : "basic", Exec is null ? null : "exec" }.OfType<string>();
        return $"{Name} ({string.Join(", ", kinds.DefaultIfEmpty("anonymous"))})";
    }
}

/// <summary>A resolved context: the cluster, the user and the namespace (the context's, else "default").</summary>
public sealed record KubeContext(string Name, KubeCluster Cluster, KubeUser User, string Namespace);

/// <summary>
/// Kubeconfig loading as kubectl does it: files from an explicit path, else every file in KUBECONFIG
/// (path-separator list, missing files skipped), else ~/.kube/config; merged with the first file that names a
/// cluster, user or context winning and the first non-empty current-context winning; relative file paths
/// resolved against the file that holds them; certificate files read into data.
/// </summary>
public sealed class Kubeconfig
{
    private readonly Dictionary<string, KubeCluster> _clusters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, KubeUser> _users = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Cluster, string User, string? Namespace)> _contexts = new(StringComparer.Ordinal);

    public string? CurrentContext { get; private set; }

    public IReadOnlyList<string> Files { get; private set; } = Array.Empty<string>();

    public IReadOnlyCollection<string> ContextNames => _contexts.Keys;

    /// <summary>The files kubectl would read: <paramref name="explicitPath"/>, else KUBECONFIG, else ~/.kube/config.</summary>
    public static IReadOnlyList<string> DefaultFiles(string? explicitPath, Func<string, string?> environment)
    {
        if (!string.IsNullOrEmpty(explicitPath))
        {
            return File.Exists(explicitPath) ? new[] { Path.GetFullPath(explicitPath) }
                : throw new E2EException(ErrorCatalog.KubeconfigNotFound, $"The kubeconfig '{explicitPath}' does not exist.", explicitPath);
        }
        var list = environment("KUBECONFIG");
        if (!string.IsNullOrEmpty(list))
        {
            var files = list.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Where(File.Exists).Select(Path.GetFullPath).Distinct().ToArray();
            return files.Length > 0 ? files : throw new E2EException(ErrorCatalog.KubeconfigNotFound, $"None of the files in KUBECONFIG exists: {list}", list);
        }
        var home = Path.Combine(environment("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kube", "config");
        return File.Exists(home) ? new[] { home } : throw new E2EException(ErrorCatalog.KubeconfigNotFound, $"No kubeconfig: give a path, set KUBECONFIG, or create {home}.", home);
    }

    public static Kubeconfig Load(IReadOnlyList<string> files)
    {
        var config = new Kubeconfig { Files = files };
        foreach (var file in files)
        {
            config.Merge(file);
        }
        return config;
    }

    public static Kubeconfig Load(string? explicitPath = null) => Load(DefaultFiles(explicitPath, Environment.GetEnvironmentVariable));

    /// <summary>Resolves a context by name, or the current context.</summary>
    public KubeContext Context(string? name = null)
    {
        var contextName = name ?? CurrentContext
            ?? throw new E2EException(ErrorCatalog.ContextNotFound, $"The kubeconfig has no current-context; name one of: {string.Join(", ", _contexts.Keys.Order())}.");
        if (!_contexts.TryGetValue(contextName, out var context))
        {
            throw new E2EException(ErrorCatalog.ContextNotFound, $"The kubeconfig has no context '{contextName}'; it has: {string.Join(", ", _contexts.Keys.Order())}.", contextName);
        }
        var cluster = _clusters.GetValueOrDefault(context.Cluster)
            ?? throw new E2EException(ErrorCatalog.ContextNotFound, $"Context '{contextName}' names cluster '{context.Cluster}', which the kubeconfig does not define.", contextName);
        var user = _users.GetValueOrDefault(context.User) ?? new KubeUser(context.User, null, null, null, null, null, null, null);
        return new KubeContext(contextName, cluster, user, string.IsNullOrEmpty(context.Namespace) ? "default" : context.Namespace);
    }

    private void Merge(string file)
    {
        YamlMappingNode root;
        try
        {
            var yaml = new YamlStream();
            using (var reader = new StreamReader(file))
            {
                yaml.Load(reader);
            }
            if (yaml.Documents.Count == 0)
            {
                return;
            }
            root = yaml.Documents[0].RootNode as YamlMappingNode ?? throw new E2EException(ErrorCatalog.KubeconfigInvalid, $"{file} is not a kubeconfig (its top level is not a mapping).", file);
        }
        catch (YamlDotNet.Core.YamlException ex)
        {
            throw new E2EException(ErrorCatalog.KubeconfigInvalid, $"{file}: line {ex.Start.Line}, column {ex.Start.Column}: {ex.Message}", file, ex);
        }
        var directory = Path.GetDirectoryName(file)!;
        CurrentContext ??= Text(root, "current-context") is { Length: > 0 } current ? current : null;
        foreach (var (name, cluster) in NamedItems(root, "clusters", "cluster"))
        {
            _clusters.TryAdd(name, new KubeCluster(name, Text(cluster, "server") ?? string.Empty,
                Data(cluster, "certificate-authority-data") ?? FileData(directory, Text(cluster, "certificate-authority")),
                Text(cluster, "insecure-skip-tls-verify") == "true", Text(cluster, "tls-server-name")));
        }
        foreach (var (name, user) in NamedItems(root, "users", "user"))
        {
            _users.TryAdd(name, new KubeUser(name, Text(user, "token"), ResolvePath(directory, Text(user, "tokenFile")),
                Data(user, "client-certificate-data") ?? FileData(directory, Text(user, "client-certificate")),
                Data(user, "client-key-data") ?? FileData(directory, Text(user, "client-key")),
                Text(user, "username"), Text(user, "password"), Exec(directory, user)));
        }
        foreach (var (name, context) in NamedItems(root, "contexts", "context"))
        {
            _contexts.TryAdd(name, (Text(context, "cluster") ?? string.Empty, Text(context, "user") ?? string.Empty, Text(context, "namespace")));
        }
    }

    private static ExecConfig? Exec(string directory, YamlMappingNode user)
    {
        if (user.Children.TryGetValue(new YamlScalarNode("exec"), out var node) is false || node is not YamlMappingNode exec)
        {
            return null;
        }
        var command = Text(exec, "command") ?? string.Empty;
        // A command with a path separator is relative to the kubeconfig; a bare name is looked up on PATH.
        if (command.Contains('/', StringComparison.Ordinal) && !Path.IsPathRooted(command))
        {
            command = Path.GetFullPath(Path.Combine(directory, command));
        }
        var args = exec.Children.TryGetValue(new YamlScalarNode("args"), out var a) && a is YamlSequenceNode list ? list.Children.OfType<YamlScalarNode>().Select(s => s.Value ?? string.Empty).ToArray() : Array.Empty<string>();
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        if (exec.Children.TryGetValue(new YamlScalarNode("env"), out var e) && e is YamlSequenceNode entries)
        {
            foreach (var entry in entries.Children.OfType<YamlMappingNode>())
            {
                env[Text(entry, "name") ?? string.Empty] = Text(entry, "value") ?? string.Empty;
            }
        }
        return new ExecConfig(Text(exec, "apiVersion") ?? "client.authentication.k8s.io/v1", command, args, env, Text(exec, "provideClusterInfo") == "true", Text(exec, "installHint"));
    }

    private static IEnumerable<(string Name, YamlMappingNode Body)> NamedItems(YamlMappingNode root, string list, string body)
    {
        if (!root.Children.TryGetValue(new YamlScalarNode(list), out var node) || node is not YamlSequenceNode items)
        {
            yield break;
        }
        foreach (var item in items.Children.OfType<YamlMappingNode>())
        {
            if (Text(item, "name") is { } name && item.Children.TryGetValue(new YamlScalarNode(body), out var inner) && inner is YamlMappingNode mapping)
            {
                yield return (name, mapping);
            }
        }
    }

    private static string? Text(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;

    private static byte[]? Data(YamlMappingNode node, string key) => Text(node, key) is { Length: > 0 } text ? Convert.FromBase64String(text) : null;

    private static string? ResolvePath(string directory, string? path) => path is null ? null : Path.GetFullPath(Path.Combine(directory, path));

    /// <summary>Reads a referenced file; a missing one is kept as null so contexts that do not use it still load.</summary>
    private static byte[]? FileData(string directory, string? path) => ResolvePath(directory, path) is { } full && File.Exists(full) ? File.ReadAllBytes(full) : null;
}

/// <summary>A credential from an exec plugin: a token or a client certificate, and when it expires.</summary>
public sealed record ExecCredential(string? Token, string? ClientCertificateData, string? ClientKeyData, DateTimeOffset? Expires)
{
    public override string ToString() => $"exec credential ({(Token is null ? "certificate" : "token")}, expires {Expires?.ToString("u") ?? "never"})";
}

/// <summary>
/// Runs exec credential plugins (client.authentication.k8s.io v1 and v1beta1) and caches each credential until
/// it expires, as client-go does. A failing plugin is ExecPluginFailed with its stderr and install hint; the
/// credential itself never appears in messages.
/// </summary>
public sealed class ExecCredentialCache
{
    private readonly Dictionary<string, ExecCredential> _cache = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    public ExecCredentialCache(TimeProvider? time = null) => _time = time ?? TimeProvider.System;

    public int Runs { get; private set; }

    public ExecCredential Get(ExecConfig exec, KubeCluster cluster)
    {
        // Same plugin with different arguments or environment can mean a different identity.
        var key = string.Join("\0", exec.Args.Prepend(exec.Command).Concat(exec.Env.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => e.Key + "=" + e.Value)).Append(cluster.Server));
        lock (_cache)
        {
            if (_cache.TryGetValue(key, out var cached) && (cached.Expires is null || cached.Expires > _time.GetUtcNow().AddSeconds(10)))
            {
                return cached;
            }
            var credential = Run(exec, cluster);
            _cache[key] = credential;
            return credential;
        }
    }

    private ExecCredential Run(ExecConfig exec, KubeCluster cluster)
    {
        Runs++;
        var start = new ProcessStartInfo(exec.Command) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in exec.Args)
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var (name, value) in exec.Env)
        {
            start.Environment[name] = value;
        }
        var input = new Dictionary<string, object?> { ["apiVersion"] = exec.ApiVersion, ["kind"] = "ExecCredential", ["spec"] = new Dictionary<string, object?> { ["interactive"] = false } };
        if (exec.ProvideClusterInfo)
        {
            ((Dictionary<string, object?>)input["spec"]!)["cluster"] = new Dictionary<string, object?> { ["server"] = cluster.Server, ["insecure-skip-tls-verify"] = cluster.InsecureSkipTlsVerify };
        }
        start.Environment["KUBERNETES_EXEC_INFO"] = JsonSerializer.Serialize(input);
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new E2EException(ErrorCatalog.ExecPluginFailed, $"The exec credential plugin '{exec.Command}' could not start: {ex.Message}.{(exec.InstallHint is null ? string.Empty : " " + exec.InstallHint)}", exec.Command, ex);
        }
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(30_000))
            {
                process.Kill(entireProcessTree: true);
                throw new E2EException(ErrorCatalog.ExecPluginFailed, $"The exec credential plugin '{exec.Command}' did not finish within 30 s.", exec.Command);
            }
            if (process.ExitCode != 0)
            {
                throw new E2EException(ErrorCatalog.ExecPluginFailed, $"The exec credential plugin '{exec.Command}' failed with exit code {process.ExitCode}: {SecretText.Redact(errors.Result.Trim())}", exec.Command);
            }
            try
            {
                using var document = JsonDocument.Parse(output.Result);
                var status = document.RootElement.GetProperty("status");
                string? Field(string name) => status.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
                var expires = Field("expirationTimestamp") is { } stamp ? DateTimeOffset.Parse(stamp, System.Globalization.CultureInfo.InvariantCulture) : (DateTimeOffset?)null;
                var credential = new ExecCredential(Field("token"), Field("clientCertificateData"), Field("clientKeyData"), expires);
                return credential.Token is not null || (credential.ClientCertificateData is not null && credential.ClientKeyData is not null)
                    ? credential
                    : throw new E2EException(ErrorCatalog.ExecPluginFailed, $"The exec credential plugin '{exec.Command}' returned neither a token nor a client certificate and key.", exec.Command);
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw new E2EException(ErrorCatalog.ExecPluginFailed, $"The exec credential plugin '{exec.Command}' did not print an ExecCredential: {ex.GetType().Name}.", exec.Command, ex);
            }
        }
    }
}
