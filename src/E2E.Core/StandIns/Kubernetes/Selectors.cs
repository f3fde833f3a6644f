using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using E2E.Core.Errors;
using E2E.Core.Kubernetes;

namespace E2E.Core.StandIns.Kubernetes;

/// <summary>
/// A label selector in the API's string form: "a=b", "a==b", "a!=b", "a in (x,y)", "a notin (x)", "a", "!a",
/// joined by commas. Used by the fake API server and to check list results.
/// </summary>
public sealed partial class LabelSelector
{
    private readonly IReadOnlyList<Func<IReadOnlyDictionary<string, string>, bool>> _requirements;

    private LabelSelector(string text, IReadOnlyList<Func<IReadOnlyDictionary<string, string>, bool>> requirements)
    {
        Text = text;
        _requirements = requirements;
    }

    public string Text { get; }

    public static LabelSelector Everything { get; } = new(string.Empty, Array.Empty<Func<IReadOnlyDictionary<string, string>, bool>>());

    [GeneratedRegex(@"^\s*(?<key>[A-Za-z0-9./_-]+)\s+(?<op>in|notin)\s+\((?<values>[^)]*)\)\s*$")]
    private static partial Regex SetRequirement();

    [GeneratedRegex(@"^\s*(?<key>[A-Za-z0-9./_-]+)\s*(?<op>==|=|!=)\s*(?<value>[A-Za-z0-9._-]*)\s*$")]
    private static partial Regex EqualityRequirement();

    [GeneratedRegex(@"^\s*(?<not>!?)\s*(?<key>[A-Za-z0-9./_-]+)\s*$")]
    private static partial Regex ExistsRequirement();

    public static LabelSelector Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return Everything;
        }
        var requirements = new List<Func<IReadOnlyDictionary<string, string>, bool>>();
        foreach (var part in SplitOutsideParentheses(text))
        {
            if (SetRequirement().Match(part) is { Success: true } set)
            {
                var key = set.Groups["key"].Value;
                var values = set.Groups["values"].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
                var negate = set.Groups["op"].Value == "notin";
                requirements.Add(labels => labels.TryGetValue(key, out var v) ? values.Contains(v) != negate : negate);
            }
            else if (EqualityRequirement().Match(part) is { Success: true } equality)
            {
                var key = equality.Groups["key"].Value;
                var value = equality.Groups["value"].Value;
                var negate = equality.Groups["op"].Value == "!=";
                requirements.Add(labels => labels.TryGetValue(key, out var v) ? (v == value) != negate : negate);
            }
            else if (ExistsRequirement().Match(part) is { Success: true } exists)
            {
                var key = exists.Groups["key"].Value;
                var negate = exists.Groups["not"].Value == "!";
                requirements.Add(labels => labels.ContainsKey(key) != negate);
            }
            else
            {
                throw new E2EException(ErrorCatalog.InvalidArgument, $"'{part.Trim()}' is not a label selector requirement (key=value, key!=value, key in (a,b), key notin (a), key, !key).", text);
            }
        }
        return new LabelSelector(text, requirements);
    }

    public bool Matches(IReadOnlyDictionary<string, string> labels) => _requirements.All(r => r(labels));

    public bool Matches(JsonObject o) => Matches(KubeObjects.Labels(o));

    public override string ToString() => Text;

    private static IEnumerable<string> SplitOutsideParentheses(string text)
    {
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            depth += text[i] switch { '(' => 1, ')' => -1, _ => 0 };
            if (text[i] == ',' && depth == 0)
            {
                yield return text[start..i];
                start = i + 1;
            }
        }
        yield return text[start..];
    }
}

/// <summary>A field selector: "metadata.name=x,involvedObject.kind!=Pod". Fields are dotted paths into the object.</summary>
public sealed class FieldSelector
{
    private readonly IReadOnlyList<(string Path, string Value, bool Negate)> _requirements;

    private FieldSelector(string text, IReadOnlyList<(string, string, bool)> requirements)
    {
        Text = text;
        _requirements = requirements;
    }

    public string Text { get; }

    public static FieldSelector Parse(string? text)
    {
        var requirements = new List<(string, string, bool)>();
        foreach (var part in (text ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var negate = part.Contains("!=", StringComparison.Ordinal);
            var pieces = part.Split(negate ? "!=" : part.Contains("==", StringComparison.Ordinal) ? "==" : "=", 2);
            if (pieces.Length != 2 || pieces[0].Length == 0)
            {
                throw new E2EException(ErrorCatalog.InvalidArgument, $"'{part}' is not a field selector requirement (field=value or field!=value).", text);
            }
            requirements.Add((pieces[0].Trim(), pieces[1].Trim(), negate));
        }
        return new FieldSelector(text ?? string.Empty, requirements);
    }

    public bool Matches(JsonObject o) => _requirements.All(r => (KubeObjects.Field(o, r.Path) ?? string.Empty) == r.Value != r.Negate);

    public override string ToString() => Text;
}
