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

    private static string Asset(string name) => Path.Combine(Assets, name);

    [Fact]
    public void Current_context_cluster_user_and_namespace_resolve_from_the_fixture()
    {
        var config = Kubeconfig.Load(new[] { Asset("kubeconfig.yml") });
        var current = config.Context();
        Assert.Equal(("federal-context", "https://horse.org:4443", "chisel-ns", "green-user"), (current.Name, current.Cluster.Server, current.Namespace, current.User.Name));
        var victorian = config.Context("victorian-context");
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", Encoding.ASCII.GetString(victorian.Cluster.CertificateAuthorityData!));
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", Encoding.ASCII.GetString(victorian.User.ClientCertificateData!));
        Assert.NotNull(victorian.User.ClientKeyData);
        Assert.True(config.Context("queen-anne-context").Cluster.InsecureSkipTlsVerify);
        Assert.Equal("black-token", config.Context("queen-anne-context").User.Token);
        Assert.DoesNotContain("black-token", config.Context("queen-anne-context").User.ToString());
    }

    [Fact]
    public void Basic_auth_and_missing_contexts()
    {
        var basic = Kubeconfig.Load(new[] { Asset("kubeconfig.user-pass.yml") }).Context();
        Assert.NotNull(basic.User.Username);
        Assert.NotNull(basic.User.Password);
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
        Assert.Equal(("dev", "https://first.example:6443", "first-token", "default"), (dev.Name, dev.Cluster.Server, dev.User.Token, dev.Namespace));
        Assert.Equal("prod-ns", config.Context("prod").Namespace);

        Assert.Equal(dev.Name, Kubectl(list, "config", "current-context"));
        Assert.Equal(dev.Cluster.Server, Kubectl(list, "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"));
        Assert.Equal(config.Context("prod").Namespace, Kubectl(list, "config", "view", "--minify", "--context", "prod", "-o", "jsonpath={.contexts[0].context.namespace}"));
    }

    private static string Kubectl(string kubeconfig, params string[] args) => KubeTestTools.Kubectl(kubeconfig, null, args);

    private string Plugin(string body) => KubeTestTools.WriteExecutable(Path.Combine(_root, $"plugin-{Guid.NewGuid():N}.sh"), "#!/bin/sh\n" + body + "\n");

    [Fact]
    public void Exec_plugins_give_tokens_cached_until_they_expire()
    {
        var calls = Path.Combine(_root, "calls");
        var plugin = Plugin($$$"""
            echo x >> '{{{calls}}}'
            server=$(printf '%s' "$KUBERNETES_EXEC_INFO" | sed -n 's/.*"server":"\([^"]*\)".*/\1/p')
            echo "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"tok-$server\",\"expirationTimestamp\":\"$EXPIRES\"}}"
            """);
        var expires = DateTimeOffset.UtcNow.AddHours(1).ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture);
        var config = Kubeconfig.Load(new[] { Write("exec.yml", $$"""
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
                  provideClusterInfo: true
                  env:
                  - name: EXPIRES
                    value: "{{expires}}"
            """) });
        var context = config.Context();
        var cache = new ExecCredentialCache();
        var credential = cache.Get(context.User.Exec!, context.Cluster);
        Assert.Equal("tok-https://127.0.0.1:6443", credential.Token);
        Assert.Same(credential, cache.Get(context.User.Exec!, context.Cluster));
        Assert.Single(File.ReadAllLines(calls));
        Assert.DoesNotContain("tok-", credential.ToString());

        // An expired credential is fetched again.
        var expired = context.User.Exec! with { Env = new Dictionary<string, string> { ["EXPIRES"] = "2001-01-01T00:00:00Z" } };
        cache.Get(expired, context.Cluster);
        cache.Get(expired, context.Cluster);
        Assert.Equal(3, File.ReadAllLines(calls).Length);
    }

    [Fact]
    public void A_plugin_that_prints_its_token_to_stderr_does_not_leak_it()
    {
        var cluster = new KubeCluster("k", "https://127.0.0.1:6443", null, false, null);
        var leaky = new ExecConfig("client.authentication.k8s.io/v1", Plugin("echo 'refresh failed for token=s3cr3t-refresh-value, Bearer abcdefghijklmnop, id eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl' >&2; exit 1"),
            Array.Empty<string>(), new Dictionary<string, string>(), false, null);
        var message = Assert.Throws<E2EException>(() => new ExecCredentialCache().Get(leaky, cluster)).Message;
        Assert.Contains("refresh failed", message);
        Assert.DoesNotContain("s3cr3t-refresh-value", message);
        Assert.DoesNotContain("abcdefghijklmnop", message);
        Assert.DoesNotContain("eyJhbGciOiJIUzI1NiJ9", message);
    }

    [Fact]
    public void Failing_or_missing_plugins_are_ExecPluginFailed()
    {
        var cluster = new KubeCluster("k", "https://127.0.0.1:6443", null, false, null);
        var failing = new ExecConfig("client.authentication.k8s.io/v1", Plugin("echo 'token expired, run login' >&2; exit 3"), Array.Empty<string>(), new Dictionary<string, string>(), false, null);
        var ex = Assert.Throws<E2EException>(() => new ExecCredentialCache().Get(failing, cluster));
        Assert.Same(ErrorCatalog.ExecPluginFailed, ex.Error);
        Assert.Contains("run login", ex.Message);
        var missing = failing with { Command = "/nonexistent/kubelogin", InstallHint = "Install kubelogin." };
        Assert.Contains("Install kubelogin.", Assert.Throws<E2EException>(() => new ExecCredentialCache().Get(missing, cluster)).Message);
        var garbage = failing with { Command = Plugin("echo not json") };
        Assert.Same(ErrorCatalog.ExecPluginFailed, Assert.Throws<E2EException>(() => new ExecCredentialCache().Get(garbage, cluster)).Error);
    }
}
