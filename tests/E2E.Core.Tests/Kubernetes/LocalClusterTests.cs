using System.Diagnostics;
using System.Text.Json.Nodes;
using E2E.Core.Errors;
using E2E.Core.Grpc;
using E2E.Core.Kubernetes;
using E2E.Core.StandIns.Kubernetes;

namespace E2E.Core.Tests.Kubernetes;

public sealed class LocalClusterTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-local-").FullName;
    private E2ECluster _cluster = null!;

    private KubeClient Client => _cluster.Client;

    public async Task InitializeAsync() =>
        _cluster = await E2ECluster.CreateLocalAsync($"t{Guid.NewGuid():N}"[..12], _root, FakeApiServerTests.ComputeCrd, TimeSpan.FromMilliseconds(100), CancellationToken.None);

    public Task DisposeAsync()
    {
        foreach (var error in _cluster.Simulator!.ReconcileErrors)
        {
            Console.WriteLine("simulator: " + error);
        }
        _cluster.Dispose();
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    private static CancellationToken Soon => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    private async Task<JsonObject> Create(string name, string? behaviour = null, IReadOnlyList<ComputeVolume>? volumes = null)
    {
        var definition = new ComputeDefinition
        {
            Name = name,
            Image = "ghcr.io/astefanutti/skytorch-server",
            Env = new Dictionary<string, string> { ["MODEL"] = "tiny" },
            Resources = new Dictionary<string, string> { ["cpu"] = "1" },
            Volumes = volumes,
            MetadataLabels = new Dictionary<string, string> { ["e2e.dev/run-id"] = "e2e-0123456789" },
            MetadataAnnotations = behaviour is null ? null : new Dictionary<string, string> { [SkyTorchSimulator.BehaviourAnnotation] = behaviour },
        };
        var o = Computes.Validate(definition, _cluster.Namespace, Computes.LoadSchema(FakeApiServerTests.ComputeCrd));
        return await Computes.ApplyAsync(Client, o, Soon);
    }

    [Fact]
    public async Task A_compute_becomes_Ready_serves_gRPC_health_through_the_gateway_and_leaves_nothing_behind()
    {
        await Create("test-managed", volumes: new[] { new ComputeVolume("data", "1Gi", "/data") });
        var ready = await Computes.WaitReadyAsync(Client, "default", "test-managed", Timeout, Soon);
        var info = ComputeInfo.From(ready, _cluster.Name);
        Assert.Equal(("Ready", true, "AllComponentsReady", "127.0.0.1"), (info.State, info.Ready, info.Reason, info.Address));

        var endpoint = Computes.Endpoint(ready, _cluster.GatewayPort);
        Assert.Equal("default/test-managed", endpoint.Metadata["compute-id"]);
        var health = await Computes.CheckHealthAsync(endpoint, Computes.HealthService, Timeout, Soon);
        Assert.Equal(HealthStatus.Serving, health.Status);

        // The operator's children carry owner references and its labels.
        var statefulSets = await Client.ResolveAsync("apps/v1", "StatefulSet", Soon);
        var sts = (await Client.GetAsync(statefulSets, "default", "test-managed", Soon))!;
        Assert.Equal(KubeObjects.Uid(ready), (string?)sts["metadata"]!["ownerReferences"]![0]!["uid"]);
        Assert.Equal("skytorch-operator", KubeObjects.Labels(sts)["app.kubernetes.io/managed-by"]);
        var pvcs = await Client.ResolveAsync("v1", "PersistentVolumeClaim", Soon);
        Assert.NotNull(await Client.GetAsync(pvcs, "default", "data", Soon));

        var removed = await Computes.RemoveAsync(Client, "default", "test-managed", Timeout, removeClaims: true, null, Soon);
        Assert.Equal(new[] { "data" }, removed);
        var left = _cluster.FakeServer!.All().Where(o => KubeObjects.Namespace(o) == "default" && KubeObjects.Kind(o) != "Event").Select(KubeObjects.Describe).ToArray();
        Assert.Empty(left);
        var gone = await Assert.ThrowsAsync<E2EException>(() => Computes.CheckHealthAsync(endpoint, Computes.HealthService, Timeout, Soon));
        Assert.Contains("UNIMPLEMENTED", gone.Message);
    }

    [Fact]
    public async Task A_wait_rides_out_an_API_server_restart_and_429s_with_Retry_After()
    {
        await Create("resilient");
        var wait = Computes.WaitReadyAsync(Client, "default", "resilient", Timeout, Soon);
        // The API server restarts (every watch dropped) and then sheds load for a moment, while the pod starts.
        _cluster.FakeServer!.Restart(TimeSpan.FromMilliseconds(50));
        _cluster.FakeServer.FailNext(3, 429, TimeSpan.FromMilliseconds(200));
        var ready = await wait;
        Assert.Equal("Ready", ComputeInfo.From(ready, _cluster.Name).State);
        await Computes.RemoveAsync(Client, "default", "resilient", Timeout, true, null, Soon);
    }

    [Fact]
    public async Task Suspend_and_resume_follow_the_operator_conditions()
    {
        await Create("pausable");
        await Computes.WaitReadyAsync(Client, "default", "pausable", Timeout, Soon);
        await Computes.SetSuspendedAsync(Client, "default", "pausable", true, Soon);
        var computes = await Computes.ResourceAsync(Client, Soon);
        var suspended = await ResourceWaiter.WaitAsync(Client, computes, "default", "pausable", WaitCondition.Parse("condition=Suspended"), Timeout, Soon);
        Assert.Equal("Suspended", ComputeInfo.From(suspended!, "x").State);
        Assert.Equal("Compute is suspended", (string?)KubeObjects.Condition(suspended!, "Suspended")!["message"]);
        await Computes.SetSuspendedAsync(Client, "default", "pausable", false, Soon);
        var resumed = await Computes.WaitReadyAsync(Client, "default", "pausable", Timeout, Soon);
        Assert.Equal("Resumed", (string?)KubeObjects.Condition(resumed, "Suspended")!["reason"]);
    }

    [Fact]
    public async Task A_compute_that_never_becomes_ready_times_out_with_conditions_and_events()
    {
        await Create("stuck", behaviour: "NeverReady");
        var ex = await Assert.ThrowsAsync<E2EException>(() => Computes.WaitReadyAsync(Client, "default", "stuck", TimeSpan.FromSeconds(2), Soon));
        Assert.Same(ErrorCatalog.ComputeNotReady, ex.Error);
        Assert.Contains("StatefulSetNotReady", ex.Message);
        Assert.Contains("Readiness probe failed", ex.Message);
    }

    [Fact]
    public async Task A_crash_looping_compute_is_diagnosed_with_previous_logs()
    {
        await Create("crashy", behaviour: "CrashLoop");
        var computes = await Computes.ResourceAsync(Client, Soon);
        await ResourceWaiter.WaitAsync(Client, computes, "default", "crashy", WaitCondition.Parse("jsonpath={.status.conditions[?(@.type==\"Ready\")].reason}=StatefulSetNotReady"), Timeout, Soon);
        var pods = await Client.ResolveAsync("v1", "Pod", Soon);
        await ResourceWaiter.WaitAsync(Client, pods, "default", "crashy-0", WaitCondition.Parse("jsonpath={.status.containerStatuses[0].restartCount}=3"), Timeout, Soon);
        var report = await Diagnostics.CollectAsync(Client, computes, "default", "crashy", Soon);
        Assert.Contains(report.Causes, c => c.Contains("CrashLoopBackOff", StringComparison.Ordinal));
        Assert.Contains("ImportError: libcuda.so.1", report.Files["logs/crashy-0-server.previous.log"]);
        var written = report.WriteTo(Path.Combine(_root, "diag"));
        Assert.Contains(written, p => p.EndsWith("summary.txt", StringComparison.Ordinal));
        Assert.Contains("Owner chain: none", File.ReadAllText(written.Single(p => p.EndsWith("summary.txt", StringComparison.Ordinal))));
    }

    [Fact]
    public async Task A_deletion_held_by_a_finalizer_is_DeletionBlocked_naming_the_finalizer()
    {
        await Create("held", behaviour: "HoldFinalizer");
        var computes = await Computes.ResourceAsync(Client, Soon);
        await ResourceWaiter.WaitAsync(Client, computes, "default", "held", WaitCondition.Parse("jsonpath={.metadata.finalizers[0]}"), Timeout, Soon);
        var ex = await Assert.ThrowsAsync<E2EException>(() => Computes.RemoveAsync(Client, "default", "held", TimeSpan.FromSeconds(1), true, null, Soon));
        Assert.Same(ErrorCatalog.DeletionBlocked, ex.Error);
        Assert.Contains(SkyTorchSimulator.HoldFinalizer, ex.Message);
        Assert.Contains("Owner chain: none", ex.Message);
        var report = await Diagnostics.CollectAsync(Client, computes, "default", "held", Soon);
        Assert.Contains(report.Causes, c => c.Contains("held by finalizer(s) " + SkyTorchSimulator.HoldFinalizer, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Waits_return_within_milliseconds_of_the_condition_becoming_true()
    {
        var configMaps = await Client.ResolveAsync("v1", "ConfigMap", Soon);
        await Client.CreateAsync(KubeObjects.Parse("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"flag"},"data":{"state":"off"}}"""), Soon);
        var wait = ResourceWaiter.WaitAsync(Client, configMaps, "default", "flag", WaitCondition.Parse("jsonpath={.data.state}=on"), Timeout, Soon);
        await Task.Delay(200);
        Assert.False(wait.IsCompleted);
        var flipped = Stopwatch.StartNew();
        await Client.PatchAsync(configMaps, "default", "flag", KubeObjects.Parse("""{"data":{"state":"on"}}"""), cancellation: Soon);
        await wait;
        // Not a timing assertion on the latency itself (that is the benchmark's job): only that a watch, not a 1 s poll, ended it.
        Assert.True(flipped.Elapsed < TimeSpan.FromSeconds(1), $"took {flipped.Elapsed}");
    }

    [Fact]
    public void Cluster_guard_accepts_test_contexts_and_refuses_others()
    {
        static KubeContext Context(string name, string server) => Kubeconfig.Direct(server) with { Name = name, ClusterName = name };
        Assert.True(E2ECluster.LooksLikeTestCluster(Context("kind-skytorch", "https://10.0.0.1:6443")));
        Assert.True(E2ECluster.LooksLikeTestCluster(Context("prod", "https://127.0.0.1:41234")));
        Assert.True(E2ECluster.LooksLikeTestCluster(Context("gke_team_e2e-cluster", "https://34.1.2.3")));
        Assert.False(E2ECluster.LooksLikeTestCluster(Context("gke_acme_us-central1_production", "https://34.1.2.3")));
        Assert.False(E2ECluster.LooksLikeTestCluster(Context("arn:aws:eks:us-east-1:1:cluster/payments", "https://ABC.gr7.us-east-1.eks.amazonaws.com")));
    }
}
