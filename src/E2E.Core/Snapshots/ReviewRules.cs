using System.Globalization;

namespace E2E.Core.Snapshots;

/// <summary>
/// The suspicious changes venvstacks' maintainers ask reviewers to look for, as warnings:
/// ArchiveSizeChanged (beyond a threshold), PackageLayerChanged (inherited from a lower layer vs installed
/// directly), LockVersionDecreased, LayerAdded / LayerRemoved, and HashChangedWithoutInputChange.
/// </summary>
public static class ReviewRules
{
    private const string InheritedMarker = "sys_platform == 'from_lower_layer'";

    public static List<ReviewWarning> Check(string relativePath, object? expected, object? actual, ComparisonOptions options)
    {
        var warnings = new List<ReviewWarning>();
        CheckPairs(expected, actual, string.Empty, options, warnings);
        if (IsPylock(relativePath))
        {
            CheckInheritance(relativePath, expected, actual, warnings);
        }
        CheckLayers(relativePath, expected, actual, options, warnings);
        return warnings;
    }

    /// <summary>A whole layer's files appearing or vanishing (env_metadata/&lt;layer&gt;.json, requirements/&lt;layer&gt;/...).</summary>
    public static ReviewWarning? ForMissingOrExtra(string relativePath, OutputStatus status)
    {
        var parts = relativePath.Split('/');
        string? layer = null;
        if (parts.Length >= 2 && parts[^2] == "env_metadata" && relativePath.EndsWith(".json", StringComparison.Ordinal))
        {
            layer = System.IO.Path.GetFileNameWithoutExtension(parts[^1]);
        }
        else if (IsPylock(relativePath) && parts.Length >= 2)
        {
            layer = parts[^2];
        }
        return layer is null ? null
            : status == OutputStatus.Missing ? new ReviewWarning("LayerRemoved", relativePath, $"layer '{layer}' is no longer produced")
            : new ReviewWarning("LayerAdded", relativePath, $"layer '{layer}' is new");
    }

    private static bool IsPylock(string relativePath)
    {
        var name = System.IO.Path.GetFileName(relativePath);
        return name.StartsWith("pylock.", StringComparison.Ordinal) && name.EndsWith(".toml", StringComparison.Ordinal);
    }

    /// <summary>The members <see cref="CheckObject"/> reads: an object's review needs only these (and they are small).</summary>
    internal static readonly HashSet<string> ObjectKeys = new(StringComparer.Ordinal)
    {
        "archive_size", "lock_version", "lock_input_hash", "other_inputs_hash", "version_inputs_hash", "requirements_hash", "app_launch_module_hash", "archive_hashes",
    };

    internal static void CheckObject(string path, DataMap expected, DataMap actual, ComparisonOptions options, List<ReviewWarning> warnings)
    {
        if (Number(expected.Get("archive_size")) is { } oldSize && Number(actual.Get("archive_size")) is { } newSize && !options.Ignored(DataPath.Member(path, "archive_size")))
        {
            var change = oldSize == 0 ? (newSize == 0 ? 0 : double.PositiveInfinity) : Math.Abs(newSize - oldSize) / oldSize;
            if (change > options.ArchiveSizeThreshold)
            {
                warnings.Add(new ReviewWarning("ArchiveSizeChanged", DataPath.Member(path, "archive_size"),
                    $"archive size changed by {Percent(change)} ({oldSize} -> {newSize} bytes), more than the {Percent(options.ArchiveSizeThreshold)} threshold"));
            }
        }
        if (Number(expected.Get("lock_version")) is { } oldVersion && Number(actual.Get("lock_version")) is { } newVersion && newVersion < oldVersion && !options.Ignored(DataPath.Member(path, "lock_version")))
        {
            warnings.Add(new ReviewWarning("LockVersionDecreased", DataPath.Member(path, "lock_version"), $"lock version went down from {oldVersion} to {newVersion}"));
        }
        // Lock metadata: the lock's inputs are unchanged, yet the locked requirements hash moved.
        CheckHashes(path, expected, actual, options, warnings, inputs: new[] { "lock_input_hash", "other_inputs_hash", "version_inputs_hash" }, output: "requirements_hash", when: "lock_input_hash");
        // Archive metadata: same requirements and lock version, yet a different archive.
        CheckHashes(path, expected, actual, options, warnings, inputs: new[] { "requirements_hash", "lock_version", "app_launch_module_hash" }, output: "archive_hashes", when: "archive_hashes");
    }

    private static void CheckHashes(string path, DataMap expected, DataMap actual, ComparisonOptions options, List<ReviewWarning> warnings, string[] inputs, string output, string when)
    {
        if (!expected.Has(when) || !actual.Has(when) || !expected.Has(output) || !actual.Has(output) || options.Ignored(DataPath.Member(path, output)))
        {
            return;
        }
        var inputsSame = inputs.Where(expected.Has).All(k => StructuralDiff.DeepEquals(expected.Get(k), actual.Get(k), DataPath.Member(path, k), options));
        if (inputsSame && !StructuralDiff.DeepEquals(expected.Get(output), actual.Get(output), DataPath.Member(path, output), options))
        {
            warnings.Add(new ReviewWarning("HashChangedWithoutInputChange", DataPath.Member(path, output),
                $"{output} changed although {string.Join(", ", inputs.Where(expected.Has))} did not"));
        }
    }

    private static void CheckInheritance(string relativePath, object? expected, object? actual, List<ReviewWarning> warnings)
    {
        var before = Packages(expected);
        var after = Packages(actual);
        foreach (var (name, inherited) in after)
        {
            if (before.TryGetValue(name, out var wasInherited) && wasInherited != inherited)
            {
                warnings.Add(new ReviewWarning("PackageLayerChanged", $"packages[name={name}]", inherited
                    ? $"package '{name}' is now inherited from a lower layer instead of installed in this one"
                    : $"package '{name}' moved out of a lower layer and is now installed directly in this one"));
            }
        }
    }

    private static Dictionary<string, bool> Packages(object? lockFile)
    {
        var result = new Dictionary<string, bool>(StringComparer.OrdinalIgnoreCase);
        if (lockFile is DataMap map && map.Get("packages") is List<object?> packages)
        {
            foreach (var package in packages.OfType<DataMap>())
            {
                if (package.Get("name") is string name)
                {
                    result[name] = package.Get("marker") as string == InheritedMarker;
                }
            }
        }
        return result;
    }

    /// <summary>venvstacks.json: layers.&lt;category&gt; lists, matched by layer_name.</summary>
    private static void CheckLayers(string relativePath, object? expected, object? actual, ComparisonOptions options, List<ReviewWarning> warnings)
    {
        if (expected is not DataMap { } e || actual is not DataMap { } a || e.Get("layers") is not DataMap before || a.Get("layers") is not DataMap after)
        {
            return;
        }
        CheckLayerNames(Names(before), Names(after), warnings);

        static Dictionary<string, HashSet<string>> Names(DataMap layers)
        {
            var names = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            foreach (var (category, list) in layers)
            {
                names.TryAdd(category, LayerNames(list));
            }
            return names;
        }
    }

    /// <summary>venvstacks.json: layer names per category (layers.&lt;category&gt;[i].layer_name) before and after.</summary>
    internal static void CheckLayerNames(IReadOnlyDictionary<string, HashSet<string>> before, IReadOnlyDictionary<string, HashSet<string>> after, List<ReviewWarning> warnings)
    {
        foreach (var category in before.Keys.Union(after.Keys))
        {
            var oldNames = before.GetValueOrDefault(category) ?? new HashSet<string>();
            var newNames = after.GetValueOrDefault(category) ?? new HashSet<string>();
            foreach (var added in newNames.Except(oldNames))
            {
                warnings.Add(new ReviewWarning("LayerAdded", $"layers.{category}", $"layer '{added}' is new"));
            }
            foreach (var removed in oldNames.Except(newNames))
            {
                warnings.Add(new ReviewWarning("LayerRemoved", $"layers.{category}", $"layer '{removed}' is no longer produced"));
            }
        }
    }

    private static HashSet<string> LayerNames(object? list) =>
        (list as List<object?> ?? new List<object?>()).OfType<DataMap>().Select(m => m.Get("layer_name") as string).OfType<string>().ToHashSet(StringComparer.Ordinal);

    /// <summary>Visits every pair of objects at the same place; list items pair by layer_name or name where they have one, else by index.</summary>
    /// <summary>Reviews two subtrees at <paramref name="path"/> (every pair of objects in them).</summary>
    internal static void CheckPairs(object? expected, object? actual, string path, ComparisonOptions options, List<ReviewWarning> warnings) =>
        VisitPairs(expected, actual, path, options, (p, e, a) => CheckObject(p, e, a, options, warnings));

    private static void VisitPairs(object? expected, object? actual, string path, ComparisonOptions options, Action<string, DataMap, DataMap> visit)
    {
        if (path.Length > 0 && options.Ignored(path))
        {
            return;
        }
        if (expected is DataMap e && actual is DataMap a)
        {
            visit(path, e, a);
            foreach (var (key, value) in e)
            {
                if (a.Has(key))
                {
                    VisitPairs(value, a.Get(key), DataPath.Member(path, key), options, visit);
                }
            }
        }
        else if (expected is List<object?> el && actual is List<object?> al)
        {
            // Where each identity first appears in the actual list: one pass, not a search per item.
            var positions = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var j = 0; j < al.Count; j++)
            {
                if (Identity(al[j]) is { } identity)
                {
                    positions.TryAdd(identity, j);
                }
            }
            for (var i = 0; i < el.Count; i++)
            {
                var key = Identity(el[i]);
                var j = key is null ? i : positions.GetValueOrDefault(key, -1);
                if (j >= 0 && j < al.Count)
                {
                    VisitPairs(el[i], al[j], DataPath.Index(path, j), options, visit);
                }
            }
        }
    }

    internal static string? Identity(object? item) => item is DataMap m ? (m.Get("layer_name") ?? m.Get("name")) as string : null;

    private static string Percent(double fraction) => (fraction * 100).ToString("0", CultureInfo.InvariantCulture) + "%";

    private static double? Number(object? value) => DataTree.IsNumber(value) ? Convert.ToDouble(value, CultureInfo.InvariantCulture) : null;
}
