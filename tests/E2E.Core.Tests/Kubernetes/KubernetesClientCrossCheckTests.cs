using System.Net;
using System.Text.Json;
using E2E.Core.Kubernetes;
using E2E.Core.StandIns.Kubernetes;
using k8s.Autorest;
using k8s.Models;
using k8s;

namespace E2E.Core.Tests.Kubernetes;

/// <summary>
/// The local cluster's API server as KubernetesClient's own typed API sees it (kubectl's view is checked in
/// FakeApiServerTests): objects, server-side apply, merge patch, status, delete with propagation, watch, and
/// the answers KubernetesClient's first run against the fake got wrong.
/// </summary>
public sealed class KubernetesClientCrossCheckTests : IDisposable
{
    private readonly FakeApiServer _server = new();
    private readonly k8s.Kubernetes _kubernetes;

    public KubernetesClientCrossCheckTests() => _kubernetes = new k8s.Kubernetes(new KubernetesClientConfiguration { Host = _server.Url });

    public void Dispose()
    {
        _kubernetes.Dispose();
        _server.Dispose();
    }

    private static CancellationToken Soon => new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token;

    private static V1ConfigMap ConfigMap(string name, IDictionary<string, string>? data = null, IList<V1OwnerReference>? owners = null) =>
        new() { ApiVersion = "v1", Kind = "ConfigMap", Metadata = new V1ObjectMeta { Name = name, OwnerReferences = owners }, Data = data };

    [Fact]
    public async Task Typed_objects_apply_patch_and_namespaces_round_trip()
    {
        var created = await _kubernetes.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("plain", new Dictionary<string, string> { ["a"] = "1" }), "default", cancellationToken: Soon);
        Assert.False(string.IsNullOrEmpty(created.Metadata.Uid));

        var merged = await _kubernetes.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch("""{"data":{"b":"2"}}""", V1Patch.PatchType.MergePatch), "plain", "default", cancellationToken: Soon);
        Assert.Equal(new[] { "a", "b" }, merged.Data.Keys.Order());

        var applied = await _kubernetes.CoreV1.PatchNamespacedConfigMapAsync(
            new V1Patch("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied"},"data":{"k":"v"}}""", V1Patch.PatchType.ApplyPatch),
            "applied", "default", fieldManager: "cross-check", force: true, cancellationToken: Soon);
        Assert.Equal("v", applied.Data["k"]);
        Assert.Contains(applied.Metadata.ManagedFields, f => f.Manager == "cross-check" && f.Operation == "Apply");

        var ns = await _kubernetes.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "cross-check" } }, cancellationToken: Soon);
        Assert.Equal("Active", ns.Status?.Phase);

        var list = await _kubernetes.CoreV1.ListNamespacedConfigMapAsync("default", cancellationToken: Soon);
        Assert.Equal(new[] { "applied", "plain" }, list.Items.Select(c => c.Metadata.Name).Order());
    }

    [Fact]
    public async Task Delete_propagation_sent_by_KubernetesClient_is_honoured()
    {
        var owner = await _kubernetes.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("owner"), "default", cancellationToken: Soon);
        var reference = new List<V1OwnerReference> { new() { ApiVersion = "v1", Kind = "ConfigMap", Name = "owner", Uid = owner.Metadata.Uid } };
        await _kubernetes.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("dependent", owners: reference), "default", cancellationToken: Soon);

        await _kubernetes.CoreV1.DeleteNamespacedConfigMapAsync("owner", "default", propagationPolicy: "Orphan", cancellationToken: Soon);
        var orphan = await _kubernetes.CoreV1.ReadNamespacedConfigMapAsync("dependent", "default", cancellationToken: Soon);
        Assert.Empty(orphan.Metadata.OwnerReferences ?? new List<V1OwnerReference>());

        var second = await _kubernetes.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("second-owner"), "default", cancellationToken: Soon);
        var secondReference = new List<V1OwnerReference> { new() { ApiVersion = "v1", Kind = "ConfigMap", Name = "second-owner", Uid = second.Metadata.Uid } };
        var held = ConfigMap("held-dependent", owners: secondReference);
        held.Metadata.Finalizers = new List<string> { "e2e.dev/hold" };
        await _kubernetes.CoreV1.CreateNamespacedConfigMapAsync(held, "default", cancellationToken: Soon);
        await _kubernetes.CoreV1.DeleteNamespacedConfigMapAsync("second-owner", "default", propagationPolicy: "Foreground", cancellationToken: Soon);
        var waiting = await _kubernetes.CoreV1.ReadNamespacedConfigMapAsync("second-owner", "default", cancellationToken: Soon);
        Assert.Contains("foregroundDeletion", waiting.Metadata.Finalizers);
        Assert.NotNull(waiting.Metadata.DeletionTimestamp);
        await _kubernetes.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch("""{"metadata":{"finalizers":null}}""", V1Patch.PatchType.MergePatch), "held-dependent", "default", cancellationToken: Soon);
        var gone = await Assert.ThrowsAsync<HttpOperationException>(() => _kubernetes.CoreV1.ReadNamespacedConfigMapAsync("second-owner", "default", cancellationToken: Soon));
        Assert.Equal(HttpStatusCode.NotFound, gone.Response.StatusCode);
    }

    [Fact]
    public async Task A_JSON_patch_from_KubernetesClient_is_415()
    {
        await _kubernetes.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("target"), "default", cancellationToken: Soon);
        var refused = await Assert.ThrowsAsync<HttpOperationException>(() => _kubernetes.CoreV1.PatchNamespacedConfigMapAsync(
            new V1Patch("""[{"op":"add","path":"/data","value":{"a":"b"}}]""", V1Patch.PatchType.JsonPatch), "target", "default", cancellationToken: Soon));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, refused.Response.StatusCode);
    }

    [Fact]
    public async Task KubernetesClient_watches_see_changes_as_they_happen()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var seen = new List<(WatchEventType Type, string Name)>();
        var watching = Task.Run(async () =>
        {
            await foreach (var (type, item) in _kubernetes.CoreV1.WatchListNamespacedConfigMapAsync("default", cancellationToken: stop.Token))
            {
                seen.Add((type, item.Metadata.Name));
                if (type == WatchEventType.Deleted)
                {
                    return;
                }
            }
        });
        await Task.Delay(300);
        await _kubernetes.CoreV1.CreateNamespacedConfigMapAsync(ConfigMap("watched"), "default", cancellationToken: Soon);
        await _kubernetes.CoreV1.PatchNamespacedConfigMapAsync(new V1Patch("""{"data":{"x":"1"}}""", V1Patch.PatchType.MergePatch), "watched", "default", cancellationToken: Soon);
        await _kubernetes.CoreV1.DeleteNamespacedConfigMapAsync("watched", "default", cancellationToken: Soon);
        await watching.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(new[] { WatchEventType.Added, WatchEventType.Modified, WatchEventType.Deleted }, seen.Where(e => e.Name == "watched").Select(e => e.Type));
    }

    [Fact]
    public async Task The_module_client_and_KubernetesClient_see_the_same_objects()
    {
        using var ours = KubeClient.ForUrl(_server.Url);
        await ours.ApplyAsync(E2E.Core.Kubernetes.KubeObjects.Parse("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"shared","namespace":"default"},"data":{"from":"e2e"}}"""), cancellation: Soon);
        var theirs = await _kubernetes.CoreV1.ReadNamespacedConfigMapAsync("shared", "default", cancellationToken: Soon);
        Assert.Equal("e2e", theirs.Data["from"]);
        Assert.Equal(JsonSerializer.Serialize(theirs.Metadata.Uid), JsonSerializer.Serialize(E2E.Core.Kubernetes.KubeObjects.Uid((await ours.GetAsync(await ours.ResolveAsync("v1", "ConfigMap", Soon), "default", "shared", Soon))!)));
    }
}
