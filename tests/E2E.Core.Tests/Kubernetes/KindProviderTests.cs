using E2E.Core.Errors;
using E2E.Core.Kubernetes;
using E2E.Core.Scopes;
using E2E.Core.StandIns.Kubernetes;

namespace E2E.Core.Tests.Kubernetes;

/// <summary>
/// The kind provider against a stand-in kind CLI (a script on PATH that logs its arguments and writes a kubeconfig
/// pointing at a fake API server): the calls New-E2ECluster makes, the orphan marker, and deletion on every path.
/// </summary>
[Collection("process environment")]
public sealed class KindProviderTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-kind-").FullName;
    private readonly FakeApiServer _server = new();
    private readonly string? _path = Environment.GetEnvironmentVariable("PATH");
    private readonly string _log;

    public KindProviderTests()
    {
        _log = Path.Combine(_root, "kind.log");
        var bin = Directory.CreateDirectory(Path.Combine(_root, "bin")).FullName;
        var kubeconfig = _server.Kubeconfig("kind-fake").Replace("\n", "\\n", StringComparison.Ordinal);
        KubeTestTools.WriteExecutable(Path.Combine(bin, "kind"), $$"""
            #!/bin/sh
            echo "$*" >> '{{_log}}'
            if [ "$1 $2" = "create cluster" ]; then
              if [ -n "$KIND_FAIL" ]; then echo "ERROR: failed to create cluster: node(s) already exist for a cluster with the name" >&2; exit 1; fi
              while [ $# -gt 0 ]; do if [ "$1" = "--kubeconfig" ]; then printf '{{kubeconfig}}' > "$2"; fi; shift; done
            fi
            exit 0
            """);
        Environment.SetEnvironmentVariable("PATH", bin + Path.PathSeparator + _path);
        Environment.SetEnvironmentVariable("E2E_STATE_DIR", Path.Combine(_root, "state"));
    }

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("PATH", _path);
        Environment.SetEnvironmentVariable("E2E_STATE_DIR", null);
        Environment.SetEnvironmentVariable("KIND_FAIL", null);
        _server.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private static readonly Dictionary<string, string> Labels = new() { [E2EScope.RunIdLabel] = "e2e-0123456789", [E2EScope.ExpiresLabel] = "1" };

    // Only kind markers (kept under this test's E2E_STATE_DIR): the sweep also lists temp roots and processes that
    // other runs on the machine left behind, and those are not this test's.
    private static async Task<Orphan[]> KindMarkersAsync() =>
        (await OrphanSweeper.FindAsync(null, null, CancellationToken.None)).Where(o => o.Kind == OrphanSweeper.KindClusterKind).ToArray();

    [Fact]
    public async Task Kind_clusters_are_created_with_the_config_marked_for_sweeps_and_deleted()
    {
        var config = Fixtures.Path("skytorch", "tests", "e2e", "kind.yaml");
        var cluster = await E2ECluster.CreateKindAsync("skytorch", config, _root, null, TimeSpan.FromSeconds(10), Labels, CancellationToken.None);
        Assert.Equal((ClusterProvider.Kind, 50051, "kind-fake"), (cluster.Provider, cluster.GatewayPort, cluster.ContextName));
        Assert.Contains($"create cluster --name skytorch --kubeconfig {Path.Combine(_root, "kubeconfig-skytorch")} --wait 0s --config {config}", File.ReadAllText(_log));
        Assert.NotNull(await cluster.Client.GetJsonAsync("/version", CancellationToken.None));

        // A killed run leaves the marker behind; the sweep finds it as an expired orphan.
        var orphan = Assert.Single(await KindMarkersAsync());
        Assert.Equal(("KindCluster", "skytorch", "e2e-0123456789", true), (orphan.Kind, orphan.Name, orphan.RunId, orphan.IsExpired(DateTimeOffset.UtcNow)));

        await cluster.ImportImageAsync("skytorch-server:test", CancellationToken.None);
        Assert.Contains("load docker-image skytorch-server:test --name skytorch", File.ReadAllText(_log));
        cluster.Dispose();
        Assert.Contains("delete cluster --name skytorch", File.ReadAllText(_log));
        Assert.Empty(await KindMarkersAsync());
    }

    [Fact]
    public async Task A_kind_cluster_of_a_dead_session_is_an_orphan_at_once_and_a_live_sessions_waits_for_its_expiry()
    {
        var later = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var labels = new Dictionary<string, string> { [E2EScope.RunIdLabel] = "e2e-live000001", [E2EScope.ExpiresLabel] = later };
        OrphanSweeper.WriteKindMarker("live", labels);
        using var gone = System.Diagnostics.Process.Start("true")!;
        gone.WaitForExit();
        // What a session that has since been killed wrote: the same marker with its own (now dead) session.
        File.WriteAllText(Path.Combine(OrphanSweeper.MarkerDirectory, "dead.json"), System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["cluster"] = "dead", ["runId"] = "e2e-dead000001", ["expires"] = later, ["host"] = Environment.MachineName, ["session"] = $"{gone.Id}:1",
        }));
        var found = (await KindMarkersAsync()).ToDictionary(o => o.Name);
        Assert.True(found["dead"].IsExpired(DateTimeOffset.UtcNow));
        Assert.Contains("its session is gone", found["dead"].Where);
        Assert.False(found["live"].IsExpired(DateTimeOffset.UtcNow));
    }

    [Fact]
    public async Task A_failed_create_is_ClusterCreateFailed_and_leaves_nothing()
    {
        Environment.SetEnvironmentVariable("KIND_FAIL", "1");
        var ex = await Assert.ThrowsAsync<E2EException>(() => E2ECluster.CreateKindAsync("broken", null, _root, null, TimeSpan.FromSeconds(5), Labels, CancellationToken.None));
        Assert.Same(ErrorCatalog.ClusterCreateFailed, ex.Error);
        Assert.Contains("node(s) already exist", ex.Message);
        Assert.Contains("delete cluster --name broken", File.ReadAllText(_log));
        Assert.Empty(await KindMarkersAsync());
    }
}
