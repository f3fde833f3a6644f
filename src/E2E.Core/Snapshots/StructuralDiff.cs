namespace E2E.Core.Snapshots;

/// <summary>One difference in a JSON or TOML document, at a structural path.</summary>
public sealed record OutputDifference(string Path, string Change, string? Expected, string? Actual)
{
    public override string ToString() => Change switch
    {
        "Added" => $"{Path}: added {Actual}",
        "Removed" => $"{Path}: removed {Expected}",
        _ => $"{Path}: {Expected} -> {Actual}",
    };
}

/// <summary>Deep comparison of two data trees: member order ignored, numbers as values, ignores, unordered arrays, scrubbed strings.</summary>
public static class StructuralDiff
{
    public static List<OutputDifference> Compare(object? expected, object? actual, ComparisonOptions options)
    {
        var differences = new List<OutputDifference>();
        Walk(expected, actual, string.Empty, options, differences);
        return differences;
    }

    /// <summary>The differences between two subtrees at <paramref name="path"/>, added to <paramref name="into"/>.</summary>
    internal static void Compare(object? expected, object? actual, ComparisonOptions options, string path, List<OutputDifference> into) =>
        Walk(expected, actual, path, options, into);

    public static bool DeepEquals(object? expected, object? actual, string path, ComparisonOptions options)
    {
        var differences = new List<OutputDifference>();
        Walk(expected, actual, path, options, differences);
        return differences.Count == 0;
    }

    private static void Walk(object? expected, object? actual, string path, ComparisonOptions options, List<OutputDifference> differences)
    {
        if (path.Length > 0 && options.Ignored(path))
        {
            return;
        }
        switch (expected, actual)
        {
            case (DataMap e, DataMap a):
                foreach (var (key, value) in e)
                {
                    var child = DataPath.Member(path, key);
                    if (a.Has(key))
                    {
                        Walk(value, a.Get(key), child, options, differences);
                    }
                    else if (!options.Ignored(child))
                    {
                        differences.Add(new OutputDifference(child, "Removed", DataTree.Show(value), null));
                    }
                }
                foreach (var (key, value) in a.Where(p => !e.Has(p.Key)))
                {
                    var child = DataPath.Member(path, key);
                    if (!options.Ignored(child))
                    {
                        differences.Add(new OutputDifference(child, "Added", null, DataTree.Show(value)));
                    }
                }
                return;
            case (List<object?> e, List<object?> a) when options.Unordered(path):
                CompareUnordered(e, a, path, options, differences);
                return;
            case (List<object?> e, List<object?> a):
                for (var i = 0; i < Math.Max(e.Count, a.Count); i++)
                {
                    var child = DataPath.Index(path, i);
                    if (i >= a.Count)
                    {
                        differences.Add(new OutputDifference(child, "Removed", DataTree.Show(e[i]), null));
                    }
                    else if (i >= e.Count)
                    {
                        differences.Add(new OutputDifference(child, "Added", null, DataTree.Show(a[i])));
                    }
                    else
                    {
                        Walk(e[i], a[i], child, options, differences);
                    }
                }
                return;
            case (string e, string a):
                if (options.Scrub(e) != options.Scrub(a))
                {
                    differences.Add(new OutputDifference(path, "Changed", DataTree.Show(e), DataTree.Show(a)));
                }
                return;
            default:
                if (!DataTree.ScalarEquals(expected, actual))
                {
                    differences.Add(new OutputDifference(path, "Changed", DataTree.Show(expected), DataTree.Show(actual)));
                }
                return;
        }
    }

    /// <summary>Multiset comparison: each expected item is matched to an equal actual item; what is left is reported.</summary>
    private static void CompareUnordered(List<object?> expected, List<object?> actual, string path, ComparisonOptions options, List<OutputDifference> differences)
    {
        var unmatched = actual.Select((value, index) => (value, index)).ToList();
        foreach (var (value, index) in expected.Select((v, i) => (v, i)))
        {
            var match = unmatched.FindIndex(c => DeepEquals(value, c.value, DataPath.Index(path, index), options));
            if (match >= 0)
            {
                unmatched.RemoveAt(match);
            }
            else
            {
                differences.Add(new OutputDifference(DataPath.Index(path, index), "Removed", DataTree.Show(value), null));
            }
        }
        foreach (var (value, index) in unmatched)
        {
            differences.Add(new OutputDifference(DataPath.Index(path, index), "Added", null, DataTree.Show(value)));
        }
    }
}
