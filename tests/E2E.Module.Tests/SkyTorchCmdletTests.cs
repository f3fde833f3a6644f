using System.Net.Sockets;

namespace E2E.Module.Tests;

/// <summary>The SkyTorch cmdlets in a real engine, against the local cluster (fake API server, simulated operator and Gateway).</summary>
public sealed class SkyTorchCmdletTests : IDisposable
{
    private readonly Pwsh _pwsh = new();
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-skytorch-").FullName;

    public SkyTorchCmdletTests()
    {
        _pwsh.Run("$scope = New-E2EScope -Name skytorch; $cluster = New-E2ECluster -Name $('st' + [guid]::NewGuid().ToString('N').Substring(0, 8)) -Provider Local").ShouldSucceed();
    }

    public void Dispose()
    {
        _pwsh.Run("Remove-E2EScope $scope");
        _pwsh.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void A_compute_is_created_waited_checked_suspended_resumed_and_removed()
    {
        var result = _pwsh.Run("""
            $c = New-E2ECompute -Name test-managed -Image skytorch-server:test -Env @{ MODEL = 'tiny' } -Resources @{ cpu = '1'; memory = '2Gi' } -Volume @{ name = 'data'; storage = '1Gi'; path = '/data' } -Wait
            $c.State
            (Get-E2ECompute test-managed).Address
            $c | Test-E2ECompute -Quiet
            ($c | Test-E2ECompute).Status.ToString()
            (Get-E2EComputeEndpoint test-managed).Metadata['compute-id']
            Suspend-E2ECompute test-managed
            (Wait-E2EResource compute/test-managed -For condition=Suspended -TimeoutSec 20).Name
            Test-E2ECompute test-managed -Quiet
            Resume-E2ECompute test-managed -PassThru | Wait-E2ECompute -TimeoutSec 20 | ForEach-Object State
            Get-E2ECompute | Remove-E2ECompute -Confirm:$false
            @(Get-E2ECompute).Count
            @(Wait-E2EResource persistentvolumeclaim/data -For delete -TimeoutSec 10).Count
            """).ShouldSucceed();
        Assert.Equal(new[] { "Ready", "127.0.0.1", "True", "Serving", "default/test-managed", "test-managed", "False", "Ready", "0", "0" }, result.Strings);
    }

    [Fact]
    public void Kubectl_reaches_the_same_cluster_through_the_kubeconfig()
    {
        var kubeconfig = _pwsh.Run("$cluster.KubeconfigPath").ShouldSucceed().Strings.Single();
        _pwsh.Run("New-E2ECompute -Name seen-by-kubectl -Wait").ShouldSucceed();
        var start = new System.Diagnostics.ProcessStartInfo("kubectl", new[] { "get", "computes", "-o", "name" }) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["KUBECONFIG"] = kubeconfig;
        start.Environment["HOME"] = _root;
        using var kubectl = System.Diagnostics.Process.Start(start)!;
        var output = kubectl.StandardOutput.ReadToEnd();
        kubectl.WaitForExit();
        Assert.Contains("compute.compute.skytorch.dev/seen-by-kubectl", output);
    }

    [Fact]
    public void Bad_input_has_stable_error_ids_and_sends_nothing()
    {
        Assert.StartsWith("InvalidName,", _pwsh.Run("New-E2ECompute -Name 9-lives").ErrorId);
        Assert.StartsWith("InvalidName,", _pwsh.Run("New-E2ECompute -Name Upper").ErrorId);
        Assert.StartsWith("InvalidArgument,", _pwsh.Run("New-E2ECompute -Name vol -Volume @{ name = 'data' }").ErrorId);
        Assert.StartsWith("KubeResourceNotFound,", _pwsh.Run("Get-E2ECompute does-not-exist").ErrorId);
        Assert.StartsWith("InvalidArgument,", _pwsh.Run("Wait-E2EResource compute/x -For ready").ErrorId);
        Assert.StartsWith("KindNotServed,", _pwsh.Run("Wait-E2EResource widget/x -For create -TimeoutSec 1").ErrorId);
        Assert.Equal("0", _pwsh.Run("@(Get-E2ECompute).Count").ShouldSucceed().Strings.Single());
        var manifest = Path.Combine(_root, "broken.yaml");
        File.WriteAllText(manifest, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n---\nkind: ConfigMap\nmetadata: {name: no-api-version}\n");
        Assert.StartsWith("ManifestInvalid,", _pwsh.Run($"Install-E2EManifest '{manifest}'").ErrorId);
        Assert.Equal("0", _pwsh.Run("@(Wait-E2EResource configmap/ok -For delete -TimeoutSec 5).Count").ShouldSucceed().Strings.Single());
    }

    [Fact]
    public void A_compute_that_never_becomes_ready_fails_with_ComputeNotReady_and_diagnostics_name_the_cause()
    {
        var failed = _pwsh.Run("New-E2ECompute -Name stuck -Simulate NeverReady -Wait -TimeoutSec 2");
        Assert.StartsWith("ComputeNotReady,", failed.ErrorId);
        Assert.Contains("Readiness probe failed", failed.Error!.ToString());
        var report = _pwsh.Run($"Get-E2ECompute stuck | Get-E2EDiagnostic -OutputPath '{_root}' | ForEach-Object Causes").ShouldSucceed();
        Assert.Contains(report.Strings, s => s.Contains("Readiness probe failed", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(_root, "summary.txt")));
        Assert.True(File.Exists(Path.Combine(_root, "logs", "stuck-0-server.log")));
        var warnings = _pwsh.Run("Get-E2EEvent -Resource compute/stuck -Type Warning | ForEach-Object { $_.Reason + ' ' + $_.ObjectName }").ShouldSucceed();
        Assert.Equal(new[] { "Unhealthy stuck-0" }, warnings.Strings);
        Assert.Contains("Scheduled", _pwsh.Run("Get-E2ECompute stuck | Get-E2EEvent | ForEach-Object Reason").ShouldSucceed().Strings);
    }

    [Fact]
    public void A_deletion_held_by_a_finalizer_is_DeletionBlocked()
    {
        _pwsh.Run("New-E2ECompute -Name held -Simulate HoldFinalizer | Out-Null; Wait-E2EResource compute/held -For 'jsonpath={.metadata.finalizers[0]}' -TimeoutSec 20 | Out-Null").ShouldSucceed();
        var blocked = _pwsh.Run("Remove-E2ECompute held -TimeoutSec 1 -Confirm:$false");
        Assert.StartsWith("DeletionBlocked,", blocked.ErrorId);
        Assert.Contains("compute.skytorch.dev/simulated-hold", blocked.Error!.ToString());

        // A controller that is gone never clears its finalizer; -RemoveFinalizers does, and the deletion completes.
        _pwsh.Run("Remove-E2ECompute held -TimeoutSec 10 -RemoveFinalizers -Confirm:$false").ShouldSucceed();
        Assert.Equal("0", _pwsh.Run("@(Wait-E2EResource compute/held -For delete -TimeoutSec 10).Count").ShouldSucceed().Strings.Single());
    }

    [Fact]
    public void Manifests_are_installed_in_order_and_the_failure_hook_only_acts_on_failure()
    {
        var folder = Directory.CreateDirectory(Path.Combine(_root, "deploy")).FullName;
        File.WriteAllText(Path.Combine(folder, "a.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: team}\ndata: {mode: e2e}\n");
        File.WriteAllText(Path.Combine(folder, "b.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata: {name: team}\n");
        var applied = _pwsh.Run($"Install-E2EManifest '{folder}' | ForEach-Object {{ $_.Kind + ' ' + $_.Name }}").ShouldSucceed();
        Assert.Equal(new[] { "Namespace team", "ConfigMap settings" }, applied.Strings);
        var ready = _pwsh.Run("(Wait-E2EResource deployment/skytorch-operator -Namespace skytorch-system -For condition=Available).Name; (Wait-E2EResource gateway/skytorch-gateway -Namespace skytorch-system -For condition=Programmed).Kind").ShouldSucceed();
        Assert.Equal(new[] { "skytorch-operator", "Gateway" }, ready.Strings);

        // Outside a failed Pester test, -OnFailure collects nothing.
        var hook = _pwsh.Run($"@(Get-E2EDiagnostic -Namespace team -OutputPath '{Path.Combine(_root, "hook")}' -OnFailure).Count").ShouldSucceed();
        Assert.Equal("0", hook.Strings.Single());
        Assert.False(Directory.Exists(Path.Combine(_root, "hook")));
    }

    [Fact]
    public void Removing_the_scope_removes_computes_and_stops_the_cluster()
    {
        var port = int.Parse(_pwsh.Run("New-E2ECompute -Name temporary -Wait | Out-Null; $cluster.FakeServer.Port").ShouldSucceed().Strings.Single(), System.Globalization.CultureInfo.InvariantCulture);
        _pwsh.Run("Remove-E2EScope $scope").ShouldSucceed();
        using var probe = new TcpClient();
        Assert.ThrowsAny<SocketException>(() => probe.Connect("127.0.0.1", port));
        Assert.StartsWith("ClusterNotFound,", _pwsh.Run("Get-E2ECompute").ErrorId);
        _pwsh.Run("$scope = New-E2EScope -Name again").ShouldSucceed();
    }

    [Fact]
    public void Existing_clusters_that_do_not_look_like_test_clusters_are_refused_without_Force()
    {
        var kubeconfig = Path.Combine(_root, "prod.kubeconfig");
        File.WriteAllText(kubeconfig, """
            apiVersion: v1
            kind: Config
            current-context: payments-prod
            clusters:
            - name: payments-prod
              cluster: {server: "https://10.20.30.40:6443"}
            contexts:
            - name: payments-prod
              context: {cluster: payments-prod, user: admin}
            users:
            - name: admin
              user: {token: not-a-real-token}
            """);
        var refused = _pwsh.Run($"New-E2ECluster -Provider Existing -Kubeconfig '{kubeconfig}'");
        Assert.StartsWith("ClusterNotTestCluster,", refused.ErrorId);
        Assert.DoesNotContain("not-a-real-token", refused.Error!.ToString());
        var forced = _pwsh.Run($"$prod = New-E2ECluster -Provider Existing -Kubeconfig '{kubeconfig}' -Force; $prod.Provider.ToString(); $prod.GatewayHost; $prod | Remove-E2ECluster -Confirm:$false").ShouldSucceed();
        Assert.Equal(new[] { "Existing", "10.20.30.40" }, forced.Strings);
        Assert.StartsWith("ContextNotFound,", _pwsh.Run($"New-E2ECluster -Provider Existing -Kubeconfig '{kubeconfig}' -Context staging -Force").ErrorId);
    }

    [Fact]
    public void Each_runspace_has_its_own_clusters_and_default_cluster()
    {
        using var other = new Pwsh();
        other.Run("$otherScope = New-E2EScope -Name other; New-E2ECluster -Name other-session | Out-Null; New-E2ECompute -Name only-here | Out-Null").ShouldSucceed();
        try
        {
            Assert.DoesNotContain("other-session", _pwsh.Run("Get-E2ECluster | ForEach-Object Name").ShouldSucceed().Strings);
            Assert.Equal("0", _pwsh.Run("@(Get-E2ECompute).Count").ShouldSucceed().Strings.Single());
            Assert.Equal(new[] { "other-session" }, other.Run("Get-E2ECluster | ForEach-Object Name").ShouldSucceed().Strings);
        }
        finally
        {
            other.Run("Remove-E2EScope $otherScope").ShouldSucceed();
        }
    }

    [Fact]
    public void The_shipped_Compute_CRD_is_the_fixture_byte_for_byte()
    {
        var fixture = Path.Combine(Repo.Root, "tests", "fixtures", "skytorch", "config", "base", "crds", "compute.skytorch.dev_computes.yaml");
        Assert.Equal(File.ReadAllBytes(fixture), File.ReadAllBytes(Path.Combine(Repo.ModuleDir, "kubernetes", "compute.skytorch.dev_computes.yaml")));
    }

    [Fact]
    public void Orphans_past_their_expiry_are_swept_and_live_ones_kept()
    {
        var result = _pwsh.Run("""
            $old = New-E2EScope -Name old -TimeToLive ([TimeSpan]::FromMilliseconds(1))
            New-E2ECompute -Name left-behind -Cluster $cluster | Out-Null
            $old | Get-E2EScope | Out-Null
            $live = New-E2EScope -Name live
            New-E2ECompute -Name still-used -Cluster $cluster | Out-Null
            [System.Threading.Thread]::Sleep(1100)
            @(Remove-E2EOrphan -Cluster $cluster -WhatIf).Count
            # Only this test's Computes: a temp directory or process another run on the machine left is swept too.
            Remove-E2EOrphan -Cluster $cluster -Force -PassThru | Where-Object Kind -eq Compute | ForEach-Object Name
            (Get-E2ECompute -Cluster $cluster | ForEach-Object Name) -join ','
            """).ShouldSucceed();
        Assert.Equal(new[] { "0", "left-behind", "still-used" }, result.Strings);
    }
}
