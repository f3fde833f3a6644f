using E2E.Core.Errors;
using E2E.Core.Petals;

namespace E2E.Core.Tests.Petals;

public sealed class PetalsRouteTests
{
    private static PetalsNodeInfo Node(int port, int start, int end, string model = PetalsModel.DefaultName, int hidden = PetalsModel.DefaultHiddenSize) =>
        new($"http://127.0.0.1:{port}", model, start, end, hidden, null);

    [Fact]
    public void The_seed_layout_routes_through_both_nodes_in_order()
    {
        var route = PetalsRoute.Plan(new[] { Node(2, 12, 24), Node(1, 0, 12) }, PetalsModel.Default);
        Assert.Equal(new[] { "0-11", "12-23" }, route.Hops.Select(h => h.Blocks));
        Assert.Equal(new[] { "http://127.0.0.1:1", "http://127.0.0.1:2" }, route.Hops.Select(h => h.Node.Url));
    }

    [Fact]
    public void Overlapping_spans_are_used_as_sub_spans_and_the_furthest_reaching_node_wins()
    {
        var route = PetalsRoute.Plan(new[] { Node(1, 0, 16), Node(2, 10, 20), Node(3, 8, 24) }, PetalsModel.Default);
        Assert.Equal(new[] { "0-15", "16-23" }, route.Hops.Select(h => h.Blocks));
        Assert.Equal("http://127.0.0.1:3", route.Hops[1].Node.Url);
    }

    [Fact]
    public void A_gap_names_the_missing_blocks()
    {
        var error = Assert.Throws<E2EException>(() => PetalsRoute.Plan(new[] { Node(1, 0, 10), Node(2, 14, 20) }, PetalsModel.Default));
        Assert.Equal(ErrorCatalog.PetalsBlocksUnavailable, error.Error);
        Assert.Contains("blocks 10-13, 20-23", error.Message);
    }

    [Fact]
    public void Excluding_a_failed_node_replans_onto_its_replica_or_names_what_is_lost()
    {
        var nodes = new[] { Node(1, 0, 12), Node(2, 12, 24), Node(3, 12, 24) };
        var rest = PetalsRoute.Plan(nodes, PetalsModel.Default, from: 12, excluded: new HashSet<string> { "http://127.0.0.1:2" });
        Assert.Equal("http://127.0.0.1:3", Assert.Single(rest.Hops).Node.Url);
        var lost = Assert.Throws<E2EException>(() => PetalsRoute.Plan(nodes, PetalsModel.Default, 12, new HashSet<string> { "http://127.0.0.1:2", "http://127.0.0.1:3" }));
        Assert.Equal(ErrorCatalog.PetalsBlocksUnavailable, lost.Error);
        Assert.Contains("blocks 12-23", lost.Message);
        Assert.Contains("2 nodes failed", lost.Message);
    }

    [Fact]
    public void Nodes_of_another_model_or_past_the_last_block_cannot_be_combined()
    {
        var foreign = Assert.Throws<E2EException>(() => PetalsRoute.Plan(new[] { Node(1, 0, 12), Node(2, 12, 24, model: "bigscience/bloom-560m") }, PetalsModel.Default));
        Assert.Equal(ErrorCatalog.PetalsRouteConflict, foreign.Error);
        Assert.Contains("bigscience/bloom-560m", foreign.Message);
        var wider = Assert.Throws<E2EException>(() => PetalsRoute.Plan(new[] { Node(1, 0, 30) }, PetalsModel.Default));
        Assert.Equal(ErrorCatalog.PetalsRouteConflict, wider.Error);
        Assert.Equal(ErrorCatalog.PetalsRouteConflict, Assert.Throws<E2EException>(() => PetalsRoute.Plan(new[] { Node(1, 0, 24, hidden: 64) }, PetalsModel.Default)).Error);
    }
}
