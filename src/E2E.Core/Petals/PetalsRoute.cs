using E2E.Core.Errors;

namespace E2E.Core.Petals;

/// <summary>One hop of a route: blocks [Start, End) computed by one node (any sub-span of what it serves).</summary>
public sealed record PetalsHop(PetalsNodeInfo Node, int Start, int End)
{
    public string Blocks => $"{Start}-{End - 1}";

    public override string ToString() => $"{Blocks}@{Node.Url}";
}

/// <summary>
/// A chain of nodes that together compute every block of a model once, in order. Planned greedily: from the
/// first uncovered block, the node that serves it and reaches furthest (the first listed on a tie), so
/// replicas and overlapping spans are used where they shorten the chain; nodes of another model or hidden
/// size are never mixed in.
/// </summary>
public sealed class PetalsRoute
{
    private PetalsRoute(string model, int blockCount, IReadOnlyList<PetalsHop> hops)
    {
        Model = model;
        BlockCount = blockCount;
        Hops = hops;
    }

    public string Model { get; }

    public int BlockCount { get; }

    public IReadOnlyList<PetalsHop> Hops { get; }

    public override string ToString() => string.Join(" -> ", Hops.Select(h => h.ToString()));

    /// <summary>This route's hops before <paramref name="hop"/>, then <paramref name="rest"/> (a re-plan after a failure).</summary>
    public PetalsRoute ReplaceFrom(int hop, PetalsRoute rest) => new(Model, BlockCount, Hops.Take(hop).Concat(rest.Hops).ToArray());

    /// <summary>
    /// The route over blocks [<paramref name="from"/>, BlockCount) through <paramref name="nodes"/>, leaving out
    /// <paramref name="excluded"/> node URLs. Blocks no usable node serves are PetalsBlocksUnavailable, naming them;
    /// nodes of other models, or spans past the model's end, are PetalsRouteConflict.
    /// </summary>
    public static PetalsRoute Plan(IReadOnlyList<PetalsNodeInfo> nodes, PetalsModel model, int from = 0, IReadOnlySet<string>? excluded = null)
    {
        var foreign = nodes.Where(n => n.Model != model.Name || n.HiddenSize != model.HiddenSize).ToArray();
        if (foreign.Length > 0)
        {
            throw new E2EException(ErrorCatalog.PetalsRouteConflict,
                $"{Describe(foreign)} serve{(foreign.Length == 1 ? "s" : string.Empty)} another model than {model.Name} (hidden size {model.HiddenSize}): {string.Join(", ", foreign.Select(n => $"{n.Model}/{n.HiddenSize}").Distinct())}. A route cannot mix models; pass only the nodes of one.",
                foreign.Select(n => n.Url).ToArray());
        }
        var beyond = nodes.Where(n => n.BlockStart < 0 || n.BlockEnd > model.BlockCount || n.BlockStart >= n.BlockEnd).ToArray();
        if (beyond.Length > 0)
        {
            throw new E2EException(ErrorCatalog.PetalsRouteConflict,
                $"{Describe(beyond)} claim{(beyond.Length == 1 ? "s" : string.Empty)} blocks {string.Join(", ", beyond.Select(n => n.Blocks))}, outside {model.Name}'s 0-{model.BlockCount - 1}.", beyond.Select(n => n.Url).ToArray());
        }
        var usable = nodes.Where(n => excluded is null || !excluded.Contains(n.Url)).ToArray();
        var hops = new List<PetalsHop>();
        for (var block = from; block < model.BlockCount;)
        {
            var next = usable.Where(n => n.Serves(block)).OrderByDescending(n => n.BlockEnd).FirstOrDefault();
            if (next is null)
            {
                throw Unavailable(usable, model, block, excluded);
            }
            hops.Add(new PetalsHop(next, block, next.BlockEnd));
            block = next.BlockEnd;
        }
        return new PetalsRoute(model.Name, model.BlockCount, hops);
    }

    /// <summary>Every span of blocks in [from, BlockCount) that no usable node serves, as "12-23, 30".</summary>
    public static string MissingBlocks(IReadOnlyList<PetalsNodeInfo> usable, int from, int blockCount)
    {
        var spans = new List<string>();
        for (var block = from; block < blockCount; block++)
        {
            if (usable.Any(n => n.Serves(block)))
            {
                continue;
            }
            var end = block;
            while (end + 1 < blockCount && !usable.Any(n => n.Serves(end + 1)))
            {
                end++;
            }
            spans.Add(end == block ? $"{block}" : $"{block}-{end}");
            block = end;
        }
        return string.Join(", ", spans);
    }

    private static E2EException Unavailable(IReadOnlyList<PetalsNodeInfo> usable, PetalsModel model, int block, IReadOnlySet<string>? excluded)
    {
        var missing = MissingBlocks(usable, block, model.BlockCount);
        var lost = excluded is { Count: > 0 } ? $" ({excluded.Count} node{(excluded.Count == 1 ? string.Empty : "s")} failed during this call: {string.Join(", ", excluded)})" : string.Empty;
        return new E2EException(ErrorCatalog.PetalsBlocksUnavailable,
            $"No running node serves blocks {missing} of {model.Name}{lost}; start a node for them (Start-PetalsNode -Blocks) or a replica of the failed one.", missing);
    }

    private static string Describe(IReadOnlyList<PetalsNodeInfo> nodes) =>
        nodes.Count == 1 ? $"The node at {nodes[0].Url}" : $"The nodes at {string.Join(", ", nodes.Select(n => n.Url))}";
}
