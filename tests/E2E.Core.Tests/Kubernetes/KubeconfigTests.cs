using System.Diagnostics;
using System.Text;
using E2E.Core.Errors;
using E2E.Core.Kubernetes;

namespace E2E.Core.Tests.Kubernetes;

public sealed class KubeconfigTests : IDisposable
{
    private static readonly string Assets = Fixtures.Path("kubernetes", "kubernetes-client+csharp", "tests", "KubernetesClient.Tests", "assets");
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-kube-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <summary>
    /// A fixture kubeconfig copied beside stand-ins for the certificate and key files it names by relative paths
    /// (assets/ca.crt, ...), which were not vendored: KubernetesClient, like kubectl, reads them when a context is built.
    /// </summary>
    private string Asset(string name)
    {
        var copy = Path.Combine(_root, name);
        File.Copy(Path.Combine(Assets, name), copy, overwrite: true);
        var assets = Directory.CreateDirectory(Path.Combine(_root, "assets")).FullName;
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=fixture", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        foreach (var file in new[] { "ca.crt", "client.crt", "elliptic.crt" })
        {
            File.WriteAllText(Path.Combine(assets, file), certificate.ExportCertificatePem());
        }
        foreach (var file in new[] { "client.key", "elliptic-client.key" })
        {
            File.WriteAllText(Path.Combine(assets, file), key.ExportPkcs8PrivateKeyPem());
        }
        return copy;
    }

    [Fact]
    public void Current_context_cluster_user_and_namespace_resolve_from_the_fixture()
    {
        var config = Kubeconfig.Load(new[] { Asset("kubeconfig.yml") });
        var current = config.Context();
        // Relative certificate paths resolve against the kubeconfig's folder.
        Assert.Equal(Path.Combine(_root, "assets", "client.crt"), current.Configuration.ClientCertificateFilePath);
        Assert.Equal(("federal-context", "https://horse.org:4443", "chisel-ns", "horse-cluster"), (current.Name, current.Server, current.Namespace, current.ClusterName));
        var victorian = config.Context("victorian-context").Configuration;
        Assert.NotEmpty(victorian.SslCaCerts!);
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", Encoding.ASCII.GetString(Convert.FromBase64String(victorian.ClientCertificateData!)));
        Assert.NotNull(victorian.ClientCertificateKeyData);
        var queenAnne = config.Context("queen-anne-context");
        Assert.True(queenAnne.Configuration.SkipTlsVerify);
        Assert.Equal("black-token", queenAnne.Configuration.AccessToken);
        Assert.DoesNotContain("black-token", queenAnne.ToString());
    }

    [Fact]
    public void Basic_auth_and_missing_contexts()
    {
        var basic = Kubeconfig.Load(new[] { Asset("kubeconfig.user-pass.yml") }).Context();
        Assert.NotNull(basic.Configuration.Username);
        Assert.NotNull(basic.Configuration.Password);
        Assert.Same(ErrorCatalog.ContextNotFound, Assert.Throws<E2EException>(() => Kubeconfig.Load(new[] { Asset("kubeconfig.no-current-context.yml") }).Context()).Error);
        Assert.Same(ErrorCatalog.ContextNotFound, Assert.Throws<E2EException>(() => Kubeconfig.Load(new[] { Asset("kubeconfig.yml") }).Context("nope")).Error);
        Assert.Same(ErrorCatalog.KubeconfigNotFound, Assert.Throws<E2EException>(() => Kubeconfig.DefaultFiles(Path.Combine(_root, "missing"), _ => null)).Error);
        File.WriteAllText(Path.Combine(_root, "bad.yml"), "clusters: [\n  - : :\n");
        Assert.Same(ErrorCatalog.KubeconfigInvalid, Assert.Throws<E2EException>(() => Kubeconfig.Load(new[] { Path.Combine(_root, "bad.yml") })).Error);
    }

    private string Write(string name, string yaml)
    {
        var path = Path.Combine(_root, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    [Fact]
    public void Merged_files_follow_kubectl_first_wins_rules_and_kubectl_agrees()
    {
        var first = Write("first.yml", """
            apiVersion: v1
            kind: Config
            current-context: ""
            clusters:
            - name: shared
              cluster: {server: "https://first.example:6443"}
            contexts:
            - name: dev
              context: {cluster: shared, user: alice}
            users:
            - name: alice
              user: {token: first-token}
            """);
        var second = Write("second.yml", """
            apiVersion: v1
            kind: Config
            current-context: dev
            clusters:
            - name: shared
              cluster: {server: "https://second.example:6443"}
            - name: other
              cluster: {server: "https://other.example:6443"}
            contexts:
            - name: dev
              context: {cluster: other, user: bob, namespace: team-b}
            - name: prod
              context: {cluster: other, user: bob, namespace: prod-ns}
            users:
            - name: bob
              user: {token: second-token}
            """);
        var list = string.Join(Path.PathSeparator, first, Path.Combine(_root, "missing.yml"), second);
        var files = Kubeconfig.DefaultFiles(null, name => name == "KUBECONFIG" ? list : null);
        Assert.Equal(new[] { first, second }, files);
        var config = Kubeconfig.Load(files);
        var dev = config.Context();
        // The first file's "dev" wins (cluster shared, user alice, no namespace -> default); current-context comes from the second file.
        Assert.Equal(("dev", "https://first.example:6443", "first-token", "default"), (dev.Name, dev.Server, dev.Configuration.AccessToken, dev.Namespace));
        Assert.Equal("prod-ns", config.Context("prod").Namespace);

        Assert.Equal(dev.Name, Kubectl(list, "config", "current-context"));
        Assert.Equal(dev.Server, Kubectl(list, "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"));
        Assert.Equal(config.Context("prod").Namespace, Kubectl(list, "config", "view", "--minify", "--context", "prod", "-o", "jsonpath={.contexts[0].context.namespace}"));
    }

    private static string Kubectl(string kubeconfig, params string[] args) => KubeTestTools.Kubectl(kubeconfig, null, args);

    private string Plugin(string body) => KubeTestTools.WriteExecutable(Path.Combine(_root, $"plugin-{Guid.NewGuid():N}.sh"), "#!/bin/sh\n" + body + "\n");

    [Fact]
    public async Task Exec_plugins_give_tokens_cached_until_they_expire()
    {
        var calls = Path.Combine(_root, "calls");
        var plugin = Plugin($$$"""
            echo x >> '{{{calls}}}'
            echo "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok-$EXPIRES\",\"expirationTimestamp\":\"$EXPIRES\"}}"
            """);
        var expires = DateTimeOffset.UtcNow.AddHours(1).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        var config = ExecConfig(plugin, $"      env:\n      - name: EXPIRES\n        value: \"{expires}\"");
        // The plugin runs when the context is built, and its credential is kept until it expires (KubernetesClient's
        // own runner ran it once more on first use, its token provider starting empty).
        var context = config.Context();
        var provider = context.Configuration.TokenProvider!;
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal($"Bearer tok-{expires}", (await provider.GetAuthenticationHeaderAsync(CancellationToken.None)).ToString());
        }
        Assert.Single(File.ReadAllLines(calls));
        Assert.DoesNotContain("tok-", context.ToString());

        // An expired credential is fetched again on every use.
        File.WriteAllText(calls, string.Empty);
        var expired = ExecConfig(plugin, "      env:\n      - name: EXPIRES\n        value: \"2001-01-01T00:00:00Z\"").Context().Configuration.TokenProvider!;
        await expired.GetAuthenticationHeaderAsync(CancellationToken.None);
        await expired.GetAuthenticationHeaderAsync(CancellationToken.None);
        Assert.Equal(3, File.ReadAllLines(calls).Length); // at build, then on each use
    }

    private Kubeconfig ExecConfig(string plugin, string extra = "") => Kubeconfig.Load(new[] { Write($"exec-{Guid.NewGuid():N}.yml", $$"""
            apiVersion: v1
            kind: Config
            current-context: c
            clusters:
            - name: k
              cluster: {server: "https://127.0.0.1:6443"}
            contexts:
            - name: c
              context: {cluster: k, user: u}
            users:
            - name: u
              user:
                exec:
                  apiVersion: client.authentication.k8s.io/v1
                  command: {{plugin}}
            {{extra}}
            """) });

    [Fact]
    public void A_plugin_that_prints_its_token_to_stderr_does_not_leak_it()
    {
        var leaky = ExecConfig(Plugin("echo 'refresh failed for token=s3cr3t-refresh-value, Bearer abcdefghijklmnop, id eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl' >&2; exit 1"));
        var ex = Assert.Throws<E2EException>(() => leaky.Context());
        Assert.Same(ErrorCatalog.ExecPluginFailed, ex.Error);
        Assert.DoesNotContain("s3cr3t-refresh-value", ex.Message);
        Assert.DoesNotContain("abcdefghijklmnop", ex.Message);
        Assert.DoesNotContain("eyJhbGciOiJIUzI1NiJ9", ex.Message);
    }

    [Fact]
    public async Task A_plugin_that_exits_leaving_a_child_on_its_stdout_does_not_hang_the_context()
    {
        // Under KubernetesClient's runner this waited for the child's end (here 300 s): it waits for end of file.
        var plugin = Plugin("""
            sleep 300 &
            echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-a-forking-plugin"}}'
            """);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var context = ExecConfig(plugin).Context();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        Assert.Equal("Bearer from-a-forking-plugin", (await context.Configuration.TokenProvider!.GetAuthenticationHeaderAsync(CancellationToken.None)).ToString());
        // The leftover child carries the session tag, so the orphan sweep can find it.
        foreach (var pid in Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsAsciiDigit)).Select(int.Parse!))
        {
            try
            {
                if (File.ReadAllText($"/proc/{pid}/cmdline").StartsWith("sleep\0300", StringComparison.Ordinal) && File.ReadAllText($"/proc/{pid}/environ").Contains(E2E.Core.Processes.OwnedProcesses.OwnerVariable + "=" + E2E.Core.Processes.OwnedProcesses.SessionTag, StringComparison.Ordinal))
                {
                    System.Diagnostics.Process.GetProcessById(pid).Kill();
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                // Gone, or not ours to read.
            }
        }
    }

    [Fact]
    public void A_plugin_that_hangs_is_stopped_at_the_time_limit()
    {
        var saved = ExecCredentialPlugin.Timeout;
        ExecCredentialPlugin.Timeout = TimeSpan.FromSeconds(1);
        try
        {
            var error = Assert.Throws<E2EException>(() => ExecConfig(Plugin("sleep 60")).Context());
            Assert.Same(ErrorCatalog.ExecPluginFailed, error.Error);
            Assert.Contains("did not finish within 1 s", error.Message);
        }
        finally
        {
            ExecCredentialPlugin.Timeout = saved;
        }
    }

    [Fact]
    public void Failing_or_missing_plugins_are_ExecPluginFailed()
    {
        var failing = Assert.Throws<E2EException>(() => ExecConfig(Plugin("echo 'token expired, run login' >&2; exit 3")).Context());
        Assert.Same(ErrorCatalog.ExecPluginFailed, failing.Error);
        // What KubernetesClient's runner lost: the exit code and what the plugin said.
        Assert.Contains("exited with code 3", failing.Message);
        Assert.Contains("token expired, run login", failing.Message);
        var missing = Assert.Throws<E2EException>(() => ExecConfig("/nonexistent/kubelogin", "      installHint: Install kubelogin.").Context());
        Assert.Same(ErrorCatalog.ExecPluginFailed, missing.Error);
        Assert.Contains("/nonexistent/kubelogin", missing.Message);
        Assert.Contains("Install kubelogin.", missing.Message);
        Assert.Same(ErrorCatalog.ExecPluginFailed, Assert.Throws<E2EException>(() => ExecConfig(Plugin("echo not json")).Context()).Error);
    }
}
