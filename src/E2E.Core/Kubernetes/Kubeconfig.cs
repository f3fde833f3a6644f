using System.Security.Cryptography.X509Certificates;
using E2E.Core.Errors;
using k8s;
using k8s.Exceptions;
using k8s.KubeConfigModels;
using YamlDotNet.RepresentationModel;

namespace E2E.Core.Kubernetes;

/// <summary>
/// A resolved context: its name, the cluster's name and server, the namespace (the context's, else "default"),
/// and the KubernetesClient configuration that carries TLS and credentials. <see cref="ToString"/> shows no secret.
/// </summary>
public sealed record KubeContext(string Name, string ClusterName, string Server, string Namespace, KubernetesClientConfiguration Configuration)
{
    public override string ToString() => $"{Name} ({Server}, namespace {Namespace})";
}

/// <summary>
/// Kubeconfig loading through KubernetesClient, with kubectl's file rules on top: files from an explicit path,
/// else every file in KUBECONFIG (path-separator list, missing files skipped), else ~/.kube/config; merged with
/// the first file that names a cluster, user or context winning and the first non-empty current-context
/// winning. KubernetesClient 21 reads one file at a time (its merge is internal) and resolves relative paths
/// against one file only, so each file's relative paths are made absolute before the merge.
/// KubernetesClient builds the context: CA data and files, client certificates, insecure-skip-tls-verify,
/// tls-server-name, tokens, basic auth; exec plugins run through ExecCredentialPlugin (refreshed when their credential expires).
/// </summary>
public sealed class Kubeconfig
{
    private readonly K8SConfiguration _merged;
    private readonly IReadOnlyDictionary<string, string> _tokenFiles;

    private Kubeconfig(K8SConfiguration merged, IReadOnlyDictionary<string, string> tokenFiles, IReadOnlyList<string> files)
    {
        _merged = merged;
        _tokenFiles = tokenFiles;
        Files = files;
    }

    public string? CurrentContext => string.IsNullOrEmpty(_merged.CurrentContext) ? null : _merged.CurrentContext;

    public IReadOnlyList<string> Files { get; }

    public IReadOnlyCollection<string> ContextNames => _merged.Contexts.Select(c => c.Name).ToArray();

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
        var clusters = new List<Cluster>();
        var users = new List<User>();
        var contexts = new List<Context>();
        var tokenFiles = new Dictionary<string, string>(StringComparer.Ordinal);
        string? current = null;
        foreach (var file in files)
        {
            K8SConfiguration one;
            if (File.Exists(file))
            {
                E2E.Core.Limits.InputLimits.CheckYaml(File.ReadAllText(file), file);
            }
            try
            {
                one = KubernetesClientConfiguration.LoadKubeConfig(new FileInfo(file), useRelativePaths: false);
            }
            catch (Exception ex) when (ex is KubeConfigException or YamlDotNet.Core.YamlException or InvalidOperationException or ArgumentException or FormatException or OverflowException)
            {
                throw new E2EException(ErrorCatalog.KubeconfigInvalid, $"{file}: {ex.Message}", file, ex);
            }
            if (one is null)
            {
                continue; // A file of comments only: an empty kubeconfig, as kubectl reads it.
            }
            var directory = Path.GetDirectoryName(Path.GetFullPath(file))!;
            // An empty list item ("- ") comes back as null, and an entry without a name names nothing: both are skipped, as kubectl does.
            foreach (var cluster in (one.Clusters ?? Enumerable.Empty<Cluster>()).Where(c => c?.Name is { Length: > 0 }))
            {
                if (cluster.ClusterEndpoint is { } endpoint)
                {
                    endpoint.CertificateAuthority = Absolute(directory, endpoint.CertificateAuthority);
                }
                AddFirst(clusters, cluster, c => c.Name);
            }
            foreach (var (user, tokenFile) in TokenFiles(file))
            {
                if (!users.Any(seen => seen.Name == user)) // the first file that names a user wins, tokenFile included
                {
                    tokenFiles.TryAdd(user, Absolute(directory, tokenFile)!);
                }
            }
            foreach (var user in (one.Users ?? Enumerable.Empty<User>()).Where(u => u?.Name is { Length: > 0 }))
            {
                if (user.UserCredentials is { } credentials)
                {
                    credentials.ClientCertificate = Absolute(directory, credentials.ClientCertificate);
                    credentials.ClientKey = Absolute(directory, credentials.ClientKey);
                    // kubectl: an exec command with a path separator is relative to its kubeconfig; a bare name is looked up on PATH.
                    if (credentials.ExternalExecution is { Command: { } command } exec && command.Contains('/', StringComparison.Ordinal))
                    {
                        exec.Command = Absolute(directory, command);
                    }
                }
                AddFirst(users, user, u => u.Name);
            }
            foreach (var context in (one.Contexts ?? Enumerable.Empty<Context>()).Where(c => c?.Name is { Length: > 0 }))
            {
                AddFirst(contexts, context, c => c.Name);
            }
            current ??= string.IsNullOrEmpty(one.CurrentContext) ? null : one.CurrentContext;
        }
        var merged = new K8SConfiguration { ApiVersion = "v1", Kind = "Config", Clusters = clusters, Users = users, Contexts = contexts, CurrentContext = current };
        return new Kubeconfig(merged, tokenFiles, files);
    }

    public static Kubeconfig Load(string? explicitPath = null) => Load(DefaultFiles(explicitPath, Environment.GetEnvironmentVariable));

    /// <summary>Resolves a context by name, or the current context. An exec plugin runs here the first time (KubernetesClient's way).</summary>
    public KubeContext Context(string? name = null)
    {
        var contextName = name ?? CurrentContext
            ?? throw new E2EException(ErrorCatalog.ContextNotFound, $"The kubeconfig has no current-context; name one of: {string.Join(", ", ContextNames.Order())}.");
        var context = _merged.Contexts.FirstOrDefault(c => c.Name == contextName)
            ?? throw new E2EException(ErrorCatalog.ContextNotFound, $"The kubeconfig has no context '{contextName}'; it has: {string.Join(", ", ContextNames.Order())}.", contextName);
        var clusterName = context.ContextDetails?.Cluster ?? string.Empty;
        var cluster = _merged.Clusters.FirstOrDefault(c => c.Name == clusterName)
            ?? throw new E2EException(ErrorCatalog.ContextNotFound, $"Context '{contextName}' names cluster '{clusterName}', which the kubeconfig does not define.", contextName);
        var userName = context.ContextDetails?.User ?? string.Empty;
        var user = _merged.Users.FirstOrDefault(u => u.Name == userName);
        KubernetesClientConfiguration configuration;
        try
        {
            if (user?.UserCredentials?.ExternalExecution is { } exec)
            {
                // Our runner, not KubernetesClient's (see ExecCredentialPlugin); the library then sees a plain credential.
                var credential = ExecCredentialPlugin.Run(exec, contextName);
                configuration = KubernetesClientConfiguration.BuildConfigFromConfigObject(WithCredential(userName, credential), contextName);
                if (!string.IsNullOrEmpty(credential.Status.Token))
                {
                    configuration.TokenProvider = new ExecPluginTokenProvider(exec, contextName, credential);
                }
            }
            else
            {
                configuration = HasCredentials(user?.UserCredentials)
                    ? KubernetesClientConfiguration.BuildConfigFromConfigObject(_merged, contextName)
                    : Anonymous(cluster.ClusterEndpoint ?? new ClusterEndpoint());
            }
            if (configuration.TokenProvider is null && string.IsNullOrEmpty(configuration.AccessToken) && _tokenFiles.TryGetValue(userName, out var tokenFile))
            {
                configuration.TokenProvider = new k8s.Authentication.TokenFileAuth(tokenFile);
            }
        }
        catch (Exception ex) when (ex is KubeConfigException or System.ComponentModel.Win32Exception or InvalidOperationException or IOException or FormatException
            or System.Security.Cryptography.CryptographicException or ArgumentException or UriFormatException)
        {
            throw Translate(ex, user?.UserCredentials?.ExternalExecution, contextName);
        }
        var ns = context.ContextDetails?.Namespace;
        configuration.Namespace = string.IsNullOrEmpty(ns) ? "default" : ns;
        return new KubeContext(contextName, clusterName, cluster.ClusterEndpoint?.Server ?? string.Empty, configuration.Namespace, configuration);
    }

    /// <summary>
    /// A copy of the merged kubeconfig in which <paramref name="userName"/>'s exec plugin is replaced by the credential it
    /// gave: a token, or a client certificate and key (PEM from the plugin; base64 as a kubeconfig holds them).
    /// </summary>
    private K8SConfiguration WithCredential(string userName, ExecCredentialResponse credential)
    {
        var copy = KubernetesYaml.Deserialize<K8SConfiguration>(KubernetesYaml.Serialize(_merged));
        var user = copy.Users.First(u => u.Name == userName);
        user.UserCredentials.ExternalExecution = null;
        user.UserCredentials.Token = credential.Status.Token;
        if (credential.Status.ClientCertificateData is { } certificate && credential.Status.ClientKeyData is { } key)
        {
            user.UserCredentials.ClientCertificateData = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(certificate));
            user.UserCredentials.ClientKeyData = Convert.ToBase64String(System.Text.Encoding.ASCII.GetBytes(key));
        }
        return copy;
    }

    /// <summary>A context built by hand, for a server that needs no credentials (the local cluster, tests).</summary>
    public static KubeContext Direct(string server, string @namespace = "default") =>
        new("direct", "direct", server, @namespace, new KubernetesClientConfiguration { Host = server, Namespace = @namespace });

    /// <summary>
    /// users[].user.tokenFile of one file: kubectl reads the token from that file, KubernetesClient 21's kubeconfig
    /// model has no such field (a user with only a tokenFile would silently become anonymous).
    /// </summary>
    private static IEnumerable<(string User, string TokenFile)> TokenFiles(string file)
    {
        var yaml = new YamlStream();
        try
        {
            using var reader = new StreamReader(file);
            yaml.Load(reader);
        }
        catch (Exception ex) when (ex is YamlDotNet.Core.YamlException or InvalidOperationException or ArgumentException)
        {
            // KubernetesClient's loader read this file; ours is stricter (duplicate keys): the same id either way.
            throw new E2EException(ErrorCatalog.KubeconfigInvalid, $"{file}: {ex.Message}", file, ex);
        }
        var users = yaml.Documents.Count == 0 ? null : Child(yaml.Documents[0].RootNode, "users") as YamlSequenceNode;
        foreach (var entry in users?.Children ?? Enumerable.Empty<YamlNode>())
        {
            if (Child(entry, "name") is YamlScalarNode { Value: { } name } && Child(Child(entry, "user"), "tokenFile") is YamlScalarNode { Value: { Length: > 0 } tokenFile })
            {
                yield return (name, tokenFile);
            }
        }
    }

    private static YamlNode? Child(YamlNode? node, string key) =>
        node is YamlMappingNode mapping && mapping.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    private static bool HasCredentials(UserCredentials? credentials) =>
        credentials is not null && (!string.IsNullOrEmpty(credentials.Token) || !string.IsNullOrEmpty(credentials.UserName)
            || !string.IsNullOrEmpty(credentials.ClientCertificateData) || !string.IsNullOrEmpty(credentials.ClientCertificate)
            || credentials.ExternalExecution is not null || credentials.AuthProvider is not null);

    /// <summary>
    /// A context whose user has no credentials, which kubectl accepts (anonymous requests) and KubernetesClient 21
    /// refuses ("does not have appropriate auth credentials"): the cluster's TLS settings, no user.
    /// </summary>
    private static KubernetesClientConfiguration Anonymous(ClusterEndpoint endpoint)
    {
        var configuration = new KubernetesClientConfiguration { Host = endpoint.Server, SkipTlsVerify = endpoint.SkipTlsVerify, TlsServerName = endpoint.TlsServerName };
        var pem = !string.IsNullOrEmpty(endpoint.CertificateAuthorityData) ? System.Text.Encoding.ASCII.GetString(Convert.FromBase64String(endpoint.CertificateAuthorityData))
            : !string.IsNullOrEmpty(endpoint.CertificateAuthority) ? File.ReadAllText(endpoint.CertificateAuthority) : null;
        configuration.SslCaCerts = pem is null ? null : PemRoots(pem);
        return configuration;
    }

    /// <summary>CA certificates from PEM text, for configurations the module builds itself (anonymous, in-cluster).</summary>
    internal static X509Certificate2Collection PemRoots(string pem)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPem(pem);
        return roots;
    }

    /// <summary>
    /// KubernetesClient's configuration errors as ours: an exec failure it raised (exec plugins run through
    /// <see cref="ExecCredentialPlugin"/>, so only a library path can still do so) is ExecPluginFailed with the
    /// command and its install hint, anything else KubeconfigInvalid; both redacted (plugins print tokens).
    /// </summary>
    internal static E2EException Translate(Exception ex, ExternalExecution? exec, string target)
    {
        var message = SecretText.Redact(ex.Message);
        var isExec = ex.Message.StartsWith("external exec failed", StringComparison.OrdinalIgnoreCase) || ex is System.ComponentModel.Win32Exception;
        if (!isExec)
        {
            return new E2EException(ErrorCatalog.KubeconfigInvalid, $"Context '{target}' cannot be used: {message}", target, ex);
        }
        var command = exec?.Command is { } c ? $" '{c}'" : string.Empty;
        return new E2EException(ErrorCatalog.ExecPluginFailed, $"The exec credential plugin{command} of context '{target}' failed: {message}{ExecCredentialPlugin.Hint(exec)}", target, ex);
    }

    private static string? Absolute(string directory, string? path) =>
        string.IsNullOrEmpty(path) || Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(directory, path));

    private static void AddFirst<T>(List<T> items, T item, Func<T, string> name)
    {
        if (!items.Any(existing => name(existing) == name(item)))
        {
            items.Add(item);
        }
    }
}
