using System.Text.Json;
using E2E.Core.Errors;

namespace E2E.Core.Snapshots;

/// <summary>
/// Compares two JSON files token by token, both readers in step, without building either tree: memory is the
/// two files' bytes, time one pass (a 260 MB venvstacks-shaped file: see README, Benchmarks). It gives what
/// <see cref="StructuralDiff"/> and <see cref="ReviewRules"/> give over the whole trees, because wherever
/// the two documents stop lining up (an object's members in another order, list items that pair by
/// layer_name or name and do not line up by index, an unordered array) that object or array is built as a
/// tree from both sides and handed to them; only what matches token for token is compared in the stream.
/// </summary>
internal sealed class JsonStreamComparer
{
    private readonly ComparisonOptions _options;
    private readonly CancellationToken _cancellation;
    private readonly string _expectedFile;
    private readonly string _actualFile;
    private readonly List<OutputDifference> _differences = new();
    private readonly List<ReviewWarning> _warnings = new();
    private readonly Layers _expectedLayers = new();
    private readonly Layers _actualLayers = new();
    private int _steps;

    private JsonStreamComparer(string expectedFile, string actualFile, ComparisonOptions options, CancellationToken cancellation)
    {
        _expectedFile = expectedFile;
        _actualFile = actualFile;
        _options = options;
        _cancellation = cancellation;
    }

    public static (List<OutputDifference> Differences, List<ReviewWarning> Warnings) Compare(string expectedFile, string actualFile, ComparisonOptions options, CancellationToken cancellation)
    {
        var comparer = new JsonStreamComparer(expectedFile, actualFile, options, cancellation);
        var expectedBytes = DataTree.JsonBytes(expectedFile);
        var actualBytes = DataTree.JsonBytes(actualFile);
        var expected = DataTree.JsonReader(expectedBytes);
        var actual = DataTree.JsonReader(actualBytes);
        comparer.NextE(ref expected);
        comparer.NextA(ref actual);
        comparer.Value(ref expected, ref actual, string.Empty);
        DataTree.End(ref expected, expectedFile);
        DataTree.End(ref actual, actualFile);
        // As over whole trees: layer names are compared only when both roots hold a "layers" object.
        if (comparer._expectedLayers.Present && comparer._actualLayers.Present)
        {
            ReviewRules.CheckLayerNames(comparer._expectedLayers.Names, comparer._actualLayers.Names, comparer._warnings);
        }
        return (comparer._differences, comparer._warnings);
    }

    private bool NextE(ref Utf8JsonReader reader) => Step(ref reader, _expectedFile);

    private bool NextA(ref Utf8JsonReader reader) => Step(ref reader, _actualFile);

    private bool Step(ref Utf8JsonReader reader, string file)
    {
        // Ctrl-C is honoured inside one large file, not only between files.
        if ((++_steps & 0xFFFF) == 0)
        {
            _cancellation.ThrowIfCancellationRequested();
        }
        return DataTree.Next(ref reader, file);
    }

    private void Value(ref Utf8JsonReader e, ref Utf8JsonReader a, string path)
    {
        if (path.Length > 0 && _options.Ignored(path))
        {
            // Ignored for differences and object reviews; layer names are still read (as over whole trees).
            if (path == "layers" || path.StartsWith("layers.", StringComparison.Ordinal))
            {
                RecordLayers(path, DataTree.Read(ref e, _expectedFile), _expectedLayers);
                RecordLayers(path, DataTree.Read(ref a, _actualFile), _actualLayers);
                return;
            }
            e.Skip();
            a.Skip();
            return;
        }
        switch (e.TokenType, a.TokenType)
        {
            case (JsonTokenType.StartObject, JsonTokenType.StartObject):
                Object(ref e, ref a, path);
                return;
            case (JsonTokenType.StartArray, JsonTokenType.StartArray) when _options.Unordered(path):
                Trees(DataTree.Read(ref e, _expectedFile), DataTree.Read(ref a, _actualFile), path);
                return;
            case (JsonTokenType.StartArray, JsonTokenType.StartArray):
                Array(ref e, ref a, path);
                return;
        }
        // Different kinds of value, or two scalars: as StructuralDiff compares them (containers shown by their size).
        var expected = ReadSmall(ref e, _expectedFile);
        var actual = ReadSmall(ref a, _actualFile);
        StructuralDiff.Compare(expected, actual, _options, path, _differences);
        RecordLayers(path, expected, _expectedLayers);
        RecordLayers(path, actual, _actualLayers);
    }

    // Two subtrees that do not line up: compared and reviewed whole, as over the whole trees.
    private void Trees(object? expected, object? actual, string path)
    {
        StructuralDiff.Compare(expected, actual, _options, path, _differences);
        ReviewRules.CheckPairs(expected, actual, path, _options, _warnings);
        RecordLayers(path, expected, _expectedLayers);
        RecordLayers(path, actual, _actualLayers);
    }

    // A scalar, or a container that is only shown (its size), not compared member by member.
    private object? ReadSmall(ref Utf8JsonReader reader, string file) =>
        reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray ? DataTree.Read(ref reader, file) : DataTree.Scalar(ref reader, file);

    private void Object(ref Utf8JsonReader e, ref Utf8JsonReader a, string path)
    {
        if (path == "layers")
        {
            _expectedLayers.Present = _actualLayers.Present = true;
        }
        // The members the object's own review reads (small), kept while in step; the review's warnings go
        // before those of the members, where a walk of the whole trees puts them.
        var reviewMark = _warnings.Count;
        var reviewE = new List<KeyValuePair<string, object?>>();
        var reviewA = new List<KeyValuePair<string, object?>>();
        while (true)
        {
            NextE(ref e);
            NextA(ref a);
            if (e.TokenType == JsonTokenType.EndObject && a.TokenType == JsonTokenType.EndObject)
            {
                break;
            }
            if (e.TokenType != JsonTokenType.PropertyName || a.TokenType != JsonTokenType.PropertyName || !e.ValueTextEquals(a.ValueSpan) || e.ValueIsEscaped || a.ValueIsEscaped)
            {
                // Out of step (another member order, a member more or less): the rest of both objects as trees.
                var restE = Rest(ref e, _expectedFile, reviewE);
                var restA = Rest(ref a, _actualFile, reviewA);
                StructuralDiff.Compare(new DataMap(restE.Skip(reviewE.Count)), new DataMap(restA.Skip(reviewA.Count)), _options, path, _differences);
                var (wholeE, wholeA) = (new DataMap(restE), new DataMap(restA));
                var warnings = new List<ReviewWarning>();
                ReviewRules.CheckPairs(wholeE, wholeA, path, _options, warnings);
                _warnings.InsertRange(reviewMark, warnings);
                RecordLayers(path, wholeE, _expectedLayers);
                RecordLayers(path, wholeA, _actualLayers);
                return;
            }
            var key = DataTree.Text(ref e, _expectedFile);
            NextE(ref e);
            NextA(ref a);
            var child = DataPath.Member(path, key);
            if (ReviewRules.ObjectKeys.Contains(key) || key == "layer_name")
            {
                var expected = DataTree.Read(ref e, _expectedFile);
                var actual = DataTree.Read(ref a, _actualFile);
                reviewE.Add(new KeyValuePair<string, object?>(key, expected));
                reviewA.Add(new KeyValuePair<string, object?>(key, actual));
                if (!_options.Ignored(child))
                {
                    StructuralDiff.Compare(expected, actual, _options, child, _differences);
                    // Nested objects of these members are reviewed as the whole-tree walk would.
                    if (expected is DataMap or List<object?>)
                    {
                        ReviewRules.CheckPairs(expected, actual, child, _options, _warnings);
                    }
                }
                continue;
            }
            Value(ref e, ref a, child);
        }
        // Most objects (a package) carry none of the members the review reads: nothing to review, nothing to build.
        if (reviewE.Count == 0)
        {
            return;
        }
        var (reviewedE, reviewedA) = (new DataMap(reviewE), new DataMap(reviewA));
        var own = new List<ReviewWarning>();
        ReviewRules.CheckObject(path, reviewedE, reviewedA, _options, own);
        _warnings.InsertRange(reviewMark, own);
        RecordLayers(path, reviewedE, _expectedLayers);
        RecordLayers(path, reviewedA, _actualLayers);
    }

    // The members already read in step (the review's), then the rest of the object from the current token.
    private static List<KeyValuePair<string, object?>> Rest(ref Utf8JsonReader reader, string file, List<KeyValuePair<string, object?>> reviewed)
    {
        var members = new List<KeyValuePair<string, object?>>(reviewed);
        DataTree.ReadMembers(ref reader, file, members);
        return members;
    }

    private void Array(ref Utf8JsonReader e, ref Utf8JsonReader a, string path)
    {
        for (var i = 0; ; i++)
        {
            NextE(ref e);
            NextA(ref a);
            var expectedEnd = e.TokenType == JsonTokenType.EndArray;
            var actualEnd = a.TokenType == JsonTokenType.EndArray;
            if (expectedEnd && actualEnd)
            {
                return;
            }
            if (expectedEnd || actualEnd || (e.TokenType == JsonTokenType.StartObject && a.TokenType == JsonTokenType.StartObject && !SameIdentity(e, a)))
            {
                // One list is longer, or named items no longer line up by index: the rest as trees, where
                // StructuralDiff pairs by index and the review by layer_name or name, as over whole trees.
                var restE = new List<object?>();
                var restA = new List<object?>();
                for (; !expectedEnd; expectedEnd = !NextE(ref e) || e.TokenType == JsonTokenType.EndArray)
                {
                    restE.Add(DataTree.Read(ref e, _expectedFile));
                }
                for (; !actualEnd; actualEnd = !NextA(ref a) || a.TokenType == JsonTokenType.EndArray)
                {
                    restA.Add(DataTree.Read(ref a, _actualFile));
                }
                CompareRest(restE, restA, path, i);
                return;
            }
            Value(ref e, ref a, DataPath.Index(path, i));
        }
    }

    // Items from index 'offset' on, compared and reviewed with their real indexes (the items before, already
    // compared in step, stand in as nulls, which compare equal and name no layer).
    private void CompareRest(List<object?> expected, List<object?> actual, string path, int offset)
    {
        var padding = Enumerable.Repeat<object?>(null, offset);
        Trees(padding.Concat(expected).ToList(), padding.Concat(actual).ToList(), path);
    }

    // Whether two objects about to be read carry the same layer_name or name: looked up on copies of the
    // readers (ref structs copy their position), only among the object's own top-level members.
    private bool SameIdentity(Utf8JsonReader e, Utf8JsonReader a) => Identity(ref e, _expectedFile) == Identity(ref a, _actualFile);

    // ReviewRules.Identity over a reader: the first layer_name unless it is null, else the first name; a value
    // that is not a string names nothing, as "as string" makes it over a tree.
    private static string? Identity(ref Utf8JsonReader reader, string file)
    {
        var depth = reader.CurrentDepth;
        var (layerSeen, nameSeen) = (false, false);
        string? name = null;
        while (DataTree.Next(ref reader, file) && reader.CurrentDepth > depth)
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != depth + 1)
            {
                continue;
            }
            var key = DataTree.Text(ref reader, file);
            DataTree.Next(ref reader, file);
            var text = reader.TokenType == JsonTokenType.String ? DataTree.Text(ref reader, file) : null;
            if (key == "layer_name" && !layerSeen)
            {
                if (reader.TokenType != JsonTokenType.Null)
                {
                    return text;
                }
                layerSeen = true;
            }
            if (key == "name" && !nameSeen)
            {
                (nameSeen, name) = (true, text);
            }
            reader.Skip();
        }
        return name;
    }

    // Layer names (layers.<category>[i].layer_name at the root), for LayerAdded / LayerRemoved, from whatever
    // part of that shape a tree at 'path' holds: the root, "layers", one category's items, or one item.
    private static void RecordLayers(string path, object? tree, Layers layers)
    {
        switch (path)
        {
            case "" when tree is DataMap root:
                RecordLayers("layers", root.Get("layers"), layers);
                return;
            case "layers" when tree is DataMap categories:
                layers.Present = true;
                foreach (var (key, list) in categories)
                {
                    RecordLayers(DataPath.Member("layers", key), list, layers);
                }
                return;
        }
        if (!path.StartsWith("layers.", StringComparison.Ordinal))
        {
            return;
        }
        var rest = path[7..];
        var bracket = rest.IndexOf('[', StringComparison.Ordinal);
        var category = bracket < 0 ? rest : rest[..bracket];
        if (category.Contains('.', StringComparison.Ordinal) || (bracket >= 0 && (!rest.EndsWith(']') || rest.IndexOf('[', bracket + 1) >= 0)))
        {
            return;
        }
        var names = bracket < 0 && tree is List<object?> items ? items.OfType<DataMap>().Select(m => m.Get("layer_name")).OfType<string>()
            : bracket >= 0 && tree is DataMap item && item.Get("layer_name") is string one ? new[] { one }
            : Enumerable.Empty<string>();
        foreach (var name in names)
        {
            if (!layers.Names.TryGetValue(category, out var set))
            {
                layers.Names[category] = set = new HashSet<string>(StringComparer.Ordinal);
            }
            set.Add(name);
        }
    }

    /// <summary>One side's layer names per category, and whether its root holds a "layers" object at all.</summary>
    private sealed class Layers
    {
        public Dictionary<string, HashSet<string>> Names { get; } = new(StringComparer.Ordinal);

        public bool Present { get; set; }
    }
}
