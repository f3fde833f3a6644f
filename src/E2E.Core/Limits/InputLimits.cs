using E2E.Core.Errors;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace E2E.Core.Limits;

/// <summary>
/// Limits on input the user may not control, checked before any recursive parser sees it: a recursive
/// descent over 10,000 levels ends the whole process with a stack overflow that no catch can stop, and
/// YAML aliases can expand a 450-byte document into gigabytes (the "billion laughs").
/// </summary>
public static class InputLimits
{
    /// <summary>The deepest nesting of arrays, tables, mappings or sequences accepted (real manifests use well under 30).</summary>
    public const int MaxNestingDepth = 256;

    /// <summary>The most nodes a YAML stream may have once every alias is expanded.</summary>
    public const long MaxYamlExpandedNodes = 1_000_000;

    /// <summary>
    /// Walks the YAML event stream (no recursion, no tree) and fails with InputLimitExceeded when nesting is deeper
    /// than <see cref="MaxNestingDepth"/> or aliases expand past <see cref="MaxYamlExpandedNodes"/> nodes. Syntax
    /// errors are left to the real parser, which reports them with their position.
    /// </summary>
    public static void CheckYaml(string text, string source)
    {
        var parser = new Parser(new StringReader(text));
        var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
        var open = new Stack<(string? Anchor, long Nodes)>();
        long total = 0;
        try
        {
            while (parser.MoveNext())
            {
                switch (parser.Current)
                {
                    case MappingStart or SequenceStart:
                        var anchor = ((NodeEvent)parser.Current!).Anchor;
                        open.Push((anchor.IsEmpty ? null : anchor.Value, 1));
                        if (open.Count > MaxNestingDepth)
                        {
                            throw new E2EException(ErrorCatalog.InputLimitExceeded, $"{source}: YAML nested deeper than {MaxNestingDepth} levels (line {parser.Current!.Start.Line}); nothing was loaded.", source);
                        }
                        break;
                    case MappingEnd or SequenceEnd:
                        var (name, nodes) = open.Pop();
                        if (name is not null)
                        {
                            sizes[name] = nodes;
                        }
                        Add(nodes);
                        break;
                    case Scalar scalar:
                        if (!scalar.Anchor.IsEmpty)
                        {
                            sizes[scalar.Anchor.Value] = 1;
                        }
                        Add(1);
                        break;
                    case AnchorAlias alias:
                        // An alias to a node that is still open is a cycle: any tree walk of it never ends.
                        if (open.Any(o => o.Anchor == alias.Value.Value))
                        {
                            throw new E2EException(ErrorCatalog.InputLimitExceeded, $"{source}: the YAML alias *{alias.Value.Value} at line {alias.Start.Line} refers to a node that contains it (a cycle); nothing was loaded.", source);
                        }
                        Add(sizes.TryGetValue(alias.Value.Value, out var size) ? size : 1);
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is YamlException or InvalidOperationException or ArgumentException)
        {
            // Not well-formed: the loader that follows says where. (YamlDotNet's scanner throws the other two on
            // some malformed input, found by the fuzz test.)
        }

        void Add(long nodes)
        {
            if (open.Count > 0)
            {
                var (name, count) = open.Pop();
                open.Push((name, count + nodes));
            }
            total += nodes;
            if (total > MaxYamlExpandedNodes || (open.Count > 0 && open.Peek().Nodes > MaxYamlExpandedNodes))
            {
                throw new E2EException(ErrorCatalog.InputLimitExceeded, $"{source}: YAML aliases expand to more than {MaxYamlExpandedNodes:N0} nodes (an alias bomb?); nothing was loaded.", source);
            }
        }
    }
}
