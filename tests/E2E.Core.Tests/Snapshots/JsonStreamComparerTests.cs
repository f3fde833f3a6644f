using System.Text;
using System.Text.Json;
using E2E.Core.Snapshots;

namespace E2E.Core.Tests.Snapshots;

/// <summary>
/// The streaming JSON comparison must give exactly what the whole-tree comparison gives (StructuralDiff and
/// ReviewRules over both trees): checked on every venvstacks JSON fixture against hundreds of seeded
/// mutations of it (values changed, members reordered, list items inserted, removed and swapped, layers added,
/// review-relevant numbers moved), in both directions, with ignores and unordered paths.
/// </summary>
public sealed class JsonStreamComparerTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-json-stream-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    public static IEnumerable<object[]> FixtureFiles() =>
        Directory.EnumerateFiles(Fixtures.Path("venvstacks"), "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Select(f => new object[] { Path.GetRelativePath(Fixtures.Path("venvstacks"), f) });

    [Theory]
    [MemberData(nameof(FixtureFiles))]
    public void Streaming_gives_what_the_whole_tree_comparison_gives(string fixture)
    {
        var original = DataTree.LoadJson(Fixtures.Path("venvstacks", fixture));
        // A seed from the name that is the same in every run (string.GetHashCode is not), so a failure reproduces.
        var random = new Random(fixture.Aggregate(17, (hash, c) => unchecked((hash * 31) + c)) & 0x7FFFFFFF);
        var options = new[]
        {
            new ComparisonOptions(),
            new ComparisonOptions { IgnorePaths = new[] { "archive_size", "**.hashes" }, UnorderedPaths = new[] { "layers.*" } },
        };
        for (var trial = 0; trial < 120; trial++)
        {
            var mutated = Mutate(original, random, 1 + random.Next(3));
            foreach (var option in options)
            {
                Same(original, mutated, option, $"{fixture} trial {trial}");
                Same(mutated, original, option, $"{fixture} trial {trial} reversed");
            }
        }
    }

    [Fact]
    public void Members_in_another_order_and_inserted_layers_are_handled_as_over_whole_trees()
    {
        var expected = """{"layers":{"runtimes":[{"layer_name":"a","archive_size":100,"packages":[{"name":"x","version":"1"}]},{"layer_name":"b","archive_size":100}]},"lock_version":2}""";
        var actual = """{"lock_version":1,"layers":{"runtimes":[{"layer_name":"new","archive_size":5},{"archive_size":300,"layer_name":"a","packages":[{"version":"2","name":"x"}]},{"layer_name":"b","archive_size":100}]}}""";
        var (differences, warnings) = Both(expected, actual, new ComparisonOptions());
        Assert.Contains(differences, d => d.StartsWith("lock_version", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.StartsWith("LayerAdded", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.StartsWith("ArchiveSizeChanged layers.runtimes[1].archive_size", StringComparison.Ordinal));
        Assert.Contains(warnings, w => w.StartsWith("LockVersionDecreased", StringComparison.Ordinal));
    }

    [Fact]
    public void A_malformed_file_is_InvalidJson_naming_it_and_Ctrl_C_stops_inside_one_file()
    {
        File.WriteAllText(Path.Combine(_root, "good.json"), """{"a":[1,2,3]}""");
        File.WriteAllText(Path.Combine(_root, "bad.json"), """{"a":[1,2,}""");
        var ex = Assert.Throws<E2E.Core.Errors.E2EException>(() => JsonStreamComparer.Compare(Path.Combine(_root, "good.json"), Path.Combine(_root, "bad.json"), new ComparisonOptions(), CancellationToken.None));
        Assert.Same(E2E.Core.Errors.ErrorCatalog.InvalidJson, ex.Error);
        Assert.Contains("bad.json", ex.Message);

        var big = new StringBuilder("[");
        for (var i = 0; i < 300_000; i++)
        {
            big.Append(i == 0 ? "" : ",").Append(i);
        }
        File.WriteAllText(Path.Combine(_root, "big.json"), big.Append(']').ToString());
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() => JsonStreamComparer.Compare(Path.Combine(_root, "big.json"), Path.Combine(_root, "big.json"), new ComparisonOptions(), cancelled.Token));
    }

    private void Same(object? expected, object? actual, ComparisonOptions options, string what)
    {
        var (streamed, streamedWarnings) = Both(Json(expected), Json(actual), options);
        var treeDifferences = StructuralDiff.Compare(expected, actual, options).Select(d => d.ToString()).ToList();
        var treeWarnings = ReviewRules.Check("venvstacks.json", expected, actual, options).Select(Show).Order(StringComparer.Ordinal).ToList();
        Assert.True(treeDifferences.SequenceEqual(streamed), $"{what}: differences\ntree:\n{string.Join("\n", treeDifferences)}\nstream:\n{string.Join("\n", streamed)}");
        Assert.True(treeWarnings.SequenceEqual(streamedWarnings.Order(StringComparer.Ordinal)), $"{what}: warnings\ntree:\n{string.Join("\n", treeWarnings)}\nstream:\n{string.Join("\n", streamedWarnings)}");
    }

    private (List<string> Differences, List<string> Warnings) Both(string expected, string actual, ComparisonOptions options)
    {
        var e = Path.Combine(_root, "venvstacks-expected.json");
        var a = Path.Combine(_root, "venvstacks-actual.json");
        File.WriteAllText(e, expected);
        File.WriteAllText(a, actual);
        var (differences, warnings) = JsonStreamComparer.Compare(e, a, options, CancellationToken.None);
        return (differences.Select(d => d.ToString()).ToList(), warnings.Select(Show).ToList());
    }

    private static string Show(ReviewWarning warning) => $"{warning.Code} {warning.Path} {warning.Message}";

    private static object? Mutate(object? tree, Random random, int changes)
    {
        var copy = Clone(tree);
        for (var i = 0; i < changes; i++)
        {
            var containers = new List<object>();
            Collect(copy, containers);
            if (containers.Count == 0)
            {
                return copy;
            }
            var target = containers[random.Next(containers.Count)];
            copy = Replace(copy, target, ChangeOne(target, random));
        }
        return copy;
    }

    private static object ChangeOne(object container, Random random)
    {
        switch (container)
        {
            case DataMap map:
                var members = map.ToList();
                switch (random.Next(5))
                {
                    case 0 when members.Count > 1:
                        return new DataMap(members.OrderBy(_ => random.Next()));
                    case 1 when members.Count > 0:
                        var k = random.Next(members.Count);
                        members[k] = new KeyValuePair<string, object?>(members[k].Key, Scalar(members[k].Value, random));
                        return new DataMap(members);
                    case 2 when members.Count > 0:
                        members.RemoveAt(random.Next(members.Count));
                        return new DataMap(members);
                    case 3:
                        members.Insert(random.Next(members.Count + 1), new KeyValuePair<string, object?>(random.Next(2) == 0 ? "archive_size" : "new_" + random.Next(100), (decimal)random.Next(1000)));
                        return new DataMap(members.DistinctBy(m => m.Key));
                    default:
                        var n = members.FindIndex(m => m.Key is "archive_size" or "lock_version" or "requirements_hash");
                        if (n >= 0)
                        {
                            members[n] = new KeyValuePair<string, object?>(members[n].Key, members[n].Value is decimal d ? d * 2 - 1 : "changed");
                        }
                        return new DataMap(members);
                }
            case List<object?> list:
                var items = list.ToList();
                switch (random.Next(4))
                {
                    case 0 when items.Count > 1:
                        var (x, y) = (random.Next(items.Count), random.Next(items.Count));
                        (items[x], items[y]) = (items[y], items[x]);
                        break;
                    case 1 when items.Count > 0:
                        items.RemoveAt(random.Next(items.Count));
                        break;
                    case 2 when items.Count > 0:
                        items.Insert(random.Next(items.Count + 1), Clone(items[random.Next(items.Count)]) is DataMap m
                            ? new DataMap(m.Select(p => p.Key is "layer_name" or "name" ? new KeyValuePair<string, object?>(p.Key, "inserted-" + random.Next(1000)) : p))
                            : (object?)"inserted");
                        break;
                    default:
                        items.Add((decimal)random.Next(10));
                        break;
                }
                return items;
        }
        return container;
    }

    private static object? Scalar(object? value, Random random) => value switch
    {
        string s => s + "!",
        decimal d => d + 1,
        bool b => !b,
        null => "was null",
        _ => random.Next(2) == 0 ? null : "was a container",
    };

    private static void Collect(object? tree, List<object> into)
    {
        if (tree is DataMap map)
        {
            into.Add(map);
            foreach (var (_, value) in map)
            {
                Collect(value, into);
            }
        }
        else if (tree is List<object?> list)
        {
            into.Add(list);
            foreach (var item in list)
            {
                Collect(item, into);
            }
        }
    }

    private static object? Replace(object? tree, object target, object replacement) => ReferenceEquals(tree, target) ? replacement : tree switch
    {
        DataMap map => new DataMap(map.Select(p => new KeyValuePair<string, object?>(p.Key, Replace(p.Value, target, replacement)))),
        List<object?> list => list.Select(i => Replace(i, target, replacement)).ToList(),
        _ => tree,
    };

    private static object? Clone(object? tree) => tree switch
    {
        DataMap map => new DataMap(map.Select(p => new KeyValuePair<string, object?>(p.Key, Clone(p.Value)))),
        List<object?> list => list.Select(Clone).ToList(),
        _ => tree,
    };

    private static string Json(object? tree)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            Write(writer, tree);
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void Write(Utf8JsonWriter writer, object? tree)
    {
        switch (tree)
        {
            case DataMap map:
                writer.WriteStartObject();
                foreach (var (key, value) in map)
                {
                    writer.WritePropertyName(key);
                    Write(writer, value);
                }
                writer.WriteEndObject();
                break;
            case List<object?> list:
                writer.WriteStartArray();
                foreach (var item in list)
                {
                    Write(writer, item);
                }
                writer.WriteEndArray();
                break;
            case string s:
                writer.WriteStringValue(s);
                break;
            case decimal d:
                writer.WriteNumberValue(d);
                break;
            case double d:
                writer.WriteNumberValue(d);
                break;
            case bool b:
                writer.WriteBooleanValue(b);
                break;
            default:
                writer.WriteNullValue();
                break;
        }
    }
}
