using System.Text.Json.Nodes;
using E2E.Core.Errors;
using E2E.Core.Kubernetes;
using E2E.Core.Scopes;
using E2E.Core.StandIns.Kubernetes;

namespace E2E.Core.Tests.Kubernetes;

// The sweep also reads kind cluster markers from E2E_STATE_DIR, which KindProviderTests points elsewhere.
[Collection("process environment")]
public sealed class ManifestAndSweepTests : IDisposable
{
    private readonly FakeApiServer _server = new();
    private readonly KubeClient _client;
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-manifests-").FullName;

    public ManifestAndSweepTests() => _client = KubeClient.ForUrl(_server.Url);

    public void Dispose()
    {
        _client.Dispose();
        _server.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private static CancellationToken Soon => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    private string Write(string name, string text)
    {
        var path = Path.Combine(_root, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public async Task A_folder_is_applied_CRDs_and_namespaces_first_with_instances_after_Established()
    {
        // File order puts the instance first; it must still go after its CRD and namespace.
        Write("deploy/01-instance.yaml", """
            apiVersion: compute.skytorch.dev/v1alpha1
            kind: Compute
            metadata: {name: from-folder, namespace: team}
            spec: {image: ghcr.io/astefanutti/skytorch-server}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: settings}
            data: {mode: e2e}
            """);
        Write("deploy/02-namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n");
        File.Copy(FakeApiServerTests.ComputeCrd, Path.Combine(_root, "deploy", "03-crd.yaml"));
        Write("deploy/notes.txt", "not a manifest");
        var documents = await Manifests.ReadAsync(new[] { Path.Combine(_root, "deploy") }, kustomize: false, Soon);
        Assert.Equal(4, documents.Count);
        var steps = new List<string>();
        var applied = await Manifests.ApplyAsync(_client, documents, "team", "e2e", TimeSpan.FromSeconds(10), steps.Add, Soon);
        Assert.Equal(new[] { "CustomResourceDefinition", "Namespace", "Compute", "ConfigMap" }, applied.Select(a => a.Kind));
        Assert.Contains(steps, s => s.StartsWith("waiting for CRD computes.compute.skytorch.dev", StringComparison.Ordinal));
        Assert.Equal("team", applied.Single(a => a.Kind == "ConfigMap").Namespace);
    }

    [Fact]
    public async Task A_broken_document_anywhere_means_nothing_is_read()
    {
        var good = Write("good.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n");
        var noName = Write("noname.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n");
        var broken = Write("broken.yaml", "apiVersion: v1\nkind: [\n");
        var ex = await Assert.ThrowsAsync<E2EException>(() => Manifests.ReadAsync(new[] { good, noName }, false, Soon));
        Assert.Same(ErrorCatalog.ManifestInvalid, ex.Error);
        Assert.Contains("metadata.name", ex.Message);
        var parse = await Assert.ThrowsAsync<E2EException>(() => Manifests.ReadAsync(new[] { good, broken }, false, Soon));
        Assert.Contains("line", parse.Message);
        Assert.Same(ErrorCatalog.ManifestInvalid, (await Assert.ThrowsAsync<E2EException>(() => Manifests.ReadAsync(new[] { Path.Combine(_root, "missing.yaml") }, false, Soon))).Error);
    }

    [Fact]
    public async Task Kustomize_directories_go_through_kubectl_kustomize()
    {
        File.Copy(Fixtures.Path("skytorch", "config", "e2e", "namespace.yaml"), Path.Combine(_root, "namespace.yaml"));
        Write("kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- namespace.yaml\ncommonLabels:\n  e2e.dev/suite: skytorch\n");
        var documents = await Manifests.ReadAsync(new[] { _root }, kustomize: true, Soon);
        var ns = Assert.Single(documents).Object;
        Assert.Equal(("Namespace", "skytorch"), (KubeObjects.Kind(ns), KubeObjects.Labels(ns)["e2e.dev/suite"]));
        Assert.Equal("skytorch-system", KubeObjects.Name(ns));
    }

    [Fact]
    public async Task Expired_labelled_objects_are_found_and_removed_and_live_ones_are_kept()
    {
        var past = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeSeconds();
        var future = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();
        static JsonObject Namespace(string name, string run, long expires) => new()
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Namespace",
            ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = new JsonObject { [E2EScope.RunIdLabel] = run, [E2EScope.ExpiresLabel] = expires.ToString(System.Globalization.CultureInfo.InvariantCulture) } },
        };
        await _client.CreateAsync(Namespace("old-run", "e2e-aaaaaaaaaa", past), Soon);
        await _client.CreateAsync(Namespace("live-run", "e2e-bbbbbbbbbb", future), Soon);
        await _client.CreateAsync(KubeObjects.Parse("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"inside","namespace":"old-run"}}"""), Soon);
        // Only this API server's objects: the sweep also lists temp roots and processes other runs on the machine left.
        var found = (await OrphanSweeper.FindAsync(_client, null, Soon)).Where(o => o.Where == _client.Server).ToArray();
        var expired = found.Where(o => o.IsExpired(DateTimeOffset.UtcNow)).ToArray();
        Assert.Equal(new[] { "old-run" }, expired.Select(o => o.Name));
        Assert.Equal(2, found.Count(o => o.Kind == "Namespace"));
        Assert.True(await OrphanSweeper.RemoveAsync(_client, expired[0], Soon));
        var namespaces = await _client.ResolveAsync("v1", "Namespace", Soon);
        Assert.Null(await _client.GetAsync(namespaces, null, "old-run", Soon));
        Assert.NotNull(await _client.GetAsync(namespaces, null, "live-run", Soon));
        Assert.Single(await OrphanSweeper.FindAsync(_client, "e2e-bbbbbbbbbb", Soon), o => o.Kind == "Namespace");
    }
}
