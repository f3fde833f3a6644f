using E2E.Core.Chain;
using E2E.Core.Errors;
using E2E.Core.Ethereum;
using E2E.Core.Oracle;
using E2E.Core.Petals;
using E2E.Core.StandIns.Oracle;
using E2E.Core.StandIns.Petals;
using E2E.Core.Tests.Processes;

namespace E2E.Core.Tests.Petals;

/// <summary>Nodes hosted in this process (the same server the node program runs), a client routing through them.</summary>
public sealed class DistributedInferenceTests : IAsyncDisposable
{
    private readonly List<PetalsNodeHost> _hosts = new();
    private readonly DistributedInference _client = new(TimeSpan.FromSeconds(10));

    private static CancellationToken Soon => new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token;

    private PetalsNodeHost Host(int start, int end, EthKey? key = null, string? oracle = null, TimeSpan? interval = null)
    {
        var host = PetalsNodeHost.Start(new PetalsNodeOptions { BlockStart = start, BlockEnd = end, Key = key, OracleUrl = oracle, ReportInterval = interval ?? TimeSpan.FromSeconds(60) });
        _hosts.Add(host);
        return host;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            await host.DisposeAsync();
        }
        _client.Dispose();
    }

    [Fact]
    public async Task Two_nodes_give_exactly_the_single_process_tokens_and_per_hop_figures()
    {
        Host(0, 12);
        Host(12, 24);
        var nodes = await _client.DiscoverAsync(_hosts.Select(h => h.Url), Soon);
        var swarm = await _client.GenerateAsync("Hello world", 20, nodes, Soon);
        var reference = _client.Reference("Hello world", 20, PetalsModel.Default);
        Assert.Equal(reference.Tokens, swarm.Tokens);
        Assert.Equal(reference.Text, swarm.Text);
        Assert.Equal(2, swarm.Hops.Count);
        Assert.All(swarm.Hops, h => Assert.Equal(20, h.Calls));
        Assert.Equal(new[] { "0-11", "12-23" }, swarm.Hops.Select(h => h.Blocks));
        Assert.True(swarm.TokensPerSecond > 0);
        Assert.Empty(swarm.Failovers);
        // Each node counted one token per forward it served.
        Assert.All(_hosts, h => Assert.Equal(20, h.Metrics.TotalTokensProcessed));
    }

    [Fact]
    public async Task Concurrent_generations_do_not_mix_their_states()
    {
        Host(0, 8);
        Host(8, 24);
        var nodes = await _client.DiscoverAsync(_hosts.Select(h => h.Url), Soon);
        var prompts = new[] { "alpha", "beta", "gamma", "delta", "epsilon", "zeta" };
        var results = await Task.WhenAll(prompts.Select(p => _client.GenerateAsync(p, 16, nodes, Soon)));
        for (var i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(PetalsModel.Default.Generate(prompts[i], 16), results[i].Tokens);
        }
    }

    [Fact]
    public async Task A_node_that_dies_mid_generation_is_replaced_by_its_replica_and_the_output_is_unchanged()
    {
        Host(0, 12);
        var doomed = Host(12, 24);
        Host(12, 24);
        var nodes = await _client.DiscoverAsync(_hosts.Select(h => h.Url), Soon);
        var generation = _client.GenerateAsync("Failover", 300, nodes, Soon);
        while (doomed.Metrics.TotalTokensProcessed < 20)
        {
            await Task.Delay(5);
        }
        await doomed.StopAsync(TimeSpan.FromSeconds(1));
        var result = await generation;
        Assert.Equal(PetalsModel.Default.Generate("Failover", 300), result.Tokens);
        var failover = Assert.Single(result.Failovers);
        Assert.Equal(doomed.Url, failover.FailedNode);
        Assert.Equal(_hosts[2].Url, failover.Replacement);
        Assert.InRange(failover.Token, 20, 299);
    }

    [Fact]
    public async Task Without_a_replica_the_call_fails_naming_the_lost_blocks()
    {
        Host(0, 12);
        var lost = Host(12, 24);
        var nodes = await _client.DiscoverAsync(_hosts.Select(h => h.Url), Soon);
        await lost.StopAsync(TimeSpan.FromSeconds(1));
        var error = await Assert.ThrowsAsync<E2EException>(() => _client.GenerateAsync("x", 4, nodes, Soon));
        Assert.Equal(ErrorCatalog.PetalsBlocksUnavailable, error.Error);
        Assert.Contains("blocks 12-23", error.Message);
        Assert.Contains(lost.Url, error.Message);
    }

    [Fact]
    public async Task A_node_reports_signed_metrics_whose_tokens_match_what_it_served()
    {
        using var oracle = new MockOracleServer();
        using var key = EthKey.FromHex("0x" + string.Concat(Enumerable.Repeat("aa", 32)));
        var node = Host(0, 24, key, oracle.Url, TimeSpan.FromMilliseconds(300));
        var nodes = await _client.DiscoverAsync(new[] { node.Url }, Soon);
        await _client.GenerateAsync("report me", 30, nodes, Soon);
        await node.StopAsync(TimeSpan.FromSeconds(5)); // the last report comes at stop
        var accepted = oracle.Reports(key.Address.ToString(), accepted: true);
        Assert.NotEmpty(accepted);
        Assert.Equal(30, accepted[^1].ProcessedTokens);
        Assert.Empty(oracle.Reports(key.Address.ToString(), accepted: false));
        // Proofs ride along, at most 100 per report.
        Assert.Contains("\"proofs\"", accepted[^1].Body + string.Concat(accepted.Select(a => a.Body)));
    }

    [Fact]
    public async Task The_node_program_runs_as_its_own_process_from_the_upstream_environment()
    {
        var work = Directory.CreateTempSubdirectory("e2e-petals-node-").FullName;
        using var oracle = new MockOracleServer();
        SupervisedProcessHolder holder = new();
        var node = await PetalsNode.StartProcessAsync(new PetalsNodeLaunch
        {
            Name = "test-node-" + Guid.NewGuid().ToString("N")[..6],
            BlockStart = 0,
            BlockEnd = 24,
            Key = new EthKeyMaterial("0x" + string.Concat(Enumerable.Repeat("bb", 32))),
            OracleUrl = oracle.Url,
            ReportInterval = TimeSpan.FromSeconds(1),
            WorkDirectory = work,
        }, p => holder.Process = p, Soon);
        try
        {
            Assert.Equal("0x88f9B82462f6C4bf4a0Fb15e5c3971559a316e7f", node.Agent);
            var result = await _client.GenerateAsync("process", 8, new[] { node.Info }, Soon);
            Assert.Equal(PetalsModel.Default.Generate("process", 8), result.Tokens);
            var metrics = await _client.MetricsAsync(node.Url, Soon);
            Assert.Equal(8, metrics.TotalTokensProcessed);
            Assert.True(node.Stop(TimeSpan.FromSeconds(10)), "the node ends on SIGTERM");
            Assert.Equal(8, oracle.Reports(node.Agent, accepted: true)[^1].ProcessedTokens);
            // The key went by environment: neither the command line nor the log shows it.
            Assert.DoesNotContain("bbbbbbbb", File.ReadAllText(node.LogPath));
            Assert.Contains("serving e2e/tiny-bloom-24 blocks 0-23", File.ReadAllText(node.LogPath));
            // A node started again in the same folder appends to the log, whose earlier "serving" line is not its own:
            // it is probed once it has logged its own (two such lines then), and it serves.
            var again = await PetalsNode.StartProcessAsync(new PetalsNodeLaunch { Name = node.Name + "-again", BlockStart = 0, BlockEnd = 24, WorkDirectory = work }, p => holder.Process = p, Soon);
            try
            {
                Assert.Equal(2, File.ReadAllLines(again.LogPath).Count(l => l.Contains(PetalsNodeHost.ServingLogLine, StringComparison.Ordinal)));
                Assert.Equal(PetalsModel.Default.Generate("again", 4), (await _client.GenerateAsync("again", 4, new[] { again.Info }, Soon)).Tokens);
            }
            finally
            {
                again.Stop(TimeSpan.Zero);
            }
        }
        finally
        {
            node.Stop(TimeSpan.Zero);
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public async Task A_node_whose_children_fork_while_it_is_stopped_leaves_no_process()
    {
        // A node command of the user's (as a real petals server with its helper processes would be): a shell that
        // starts a forking loop and a child in a session of its own, then becomes the node program.
        var work = Directory.CreateTempSubdirectory("e2e-petals-forker-").FullName;
        try
        {
            var ready = Path.Combine(work, "forker.ready");
            var loop = Path.Combine(work, "forker.sh");
            File.WriteAllText(loop, Procs.ForkingLoop(ready));
            SupervisedProcessHolder holder = new();
            var node = await PetalsNode.StartProcessAsync(new PetalsNodeLaunch
            {
                Name = "forker-" + Guid.NewGuid().ToString("N")[..6],
                BlockStart = 0,
                BlockEnd = 24,
                WorkDirectory = work,
                Command = new[] { "/bin/sh", "-c", $"sh '{loop}' & setsid sleep 300 & exec '{DotnetHost.Find()}' '{PetalsNode.NodeProgram}'" },
            }, p => holder.Process = p, Soon);
            try
            {
                Procs.WaitForFile(ready, () => node.State != "Running");
                var tag = Procs.TagOf(node.ProcessId!.Value);
                Assert.True(E2E.Core.Processes.ProcessGroup.MembersOf(tag).Count >= 20);
                Assert.Equal(PetalsModel.Default.Generate("forks", 4), (await _client.GenerateAsync("forks", 4, new[] { node.Info }, Soon)).Tokens);
                Assert.False(node.Stop(TimeSpan.FromMilliseconds(500)), "the loop ignores SIGTERM: the stop ends in SIGKILL");
                Assert.Empty(E2E.Core.Processes.ProcessGroup.MembersOf(tag));
            }
            finally
            {
                node.Stop(TimeSpan.Zero);
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private sealed class SupervisedProcessHolder
    {
        public E2E.Core.Processes.SupervisedProcess? Process { get; set; }
    }
}
