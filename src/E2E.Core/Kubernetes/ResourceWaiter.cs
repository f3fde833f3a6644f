using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using E2E.Core.Errors;

namespace E2E.Core.Kubernetes;

/// <summary>
/// What to wait for, in kubectl wait's --for syntax: "condition=Ready", "condition=Ready=False", "delete",
/// "create", or "jsonpath={.status.phase}=Running" (a JSONPath alone waits for it to have any value).
/// </summary>
public sealed partial class WaitCondition
{
    private readonly Func<JsonObject?, bool> _test;

    private WaitCondition(string text, Func<JsonObject?, bool> test, bool forDeletion)
    {
        Text = text;
        _test = test;
        ForDeletion = forDeletion;
    }

    public string Text { get; }

    public bool ForDeletion { get; }

    public bool IsMet(JsonObject? o) => _test(o);

    /// <summary>A condition given as code (the object is null while it does not exist).</summary>
    public static WaitCondition Custom(string text, Func<JsonObject?, bool> test, bool forDeletion = false) => new(text, test, forDeletion);

    public override string ToString() => Text;

    [GeneratedRegex(@"^condition=(?<type>[A-Za-z0-9_./-]+)(=(?<status>[A-Za-z]+))?$", RegexOptions.IgnoreCase)]
    private static partial Regex ConditionForm();

    [GeneratedRegex(@"^jsonpath=(?<path>'?\{[^}]*\}'?|\.[^=]+)(=(?<value>.*))?$", RegexOptions.IgnoreCase)]
    private static partial Regex JsonPathForm();

    public static WaitCondition Parse(string text)
    {
        var trimmed = text.Trim();
        if (trimmed.Equals("delete", StringComparison.OrdinalIgnoreCase))
        {
            return new WaitCondition("delete", o => o is null, forDeletion: true);
        }
        if (trimmed.Equals("create", StringComparison.OrdinalIgnoreCase))
        {
            return new WaitCondition("create", o => o is not null, forDeletion: false);
        }
        if (ConditionForm().Match(trimmed) is { Success: true } condition)
        {
            var type = condition.Groups["type"].Value;
            var status = condition.Groups["status"].Success ? condition.Groups["status"].Value : "True";
            return new WaitCondition($"condition={type}={status}",
                o => o is not null && string.Equals((string?)KubeObjects.Condition(o, type)?["status"], status, StringComparison.OrdinalIgnoreCase), forDeletion: false);
        }
        if (JsonPathForm().Match(trimmed) is { Success: true } jsonPath)
        {
            var path = JsonPath.Parse(jsonPath.Groups["path"].Value.Trim('\''));
            var expected = jsonPath.Groups["value"].Success ? jsonPath.Groups["value"].Value.Trim('\'', '"') : null;
            return new WaitCondition($"jsonpath={path}{(expected is null ? string.Empty : "=" + expected)}",
                o => o is not null && path.Evaluate(o) is { Count: > 0 } values && (expected is null || values.Any(v => v == expected)), forDeletion: false);
        }
        throw new E2EException(ErrorCatalog.InvalidArgument,
            $"'{text}' is not a wait condition; use condition=<type>[=<status>], jsonpath={{<path>}}[=<value>], create or delete (as kubectl wait --for).", text);
    }
}

/// <summary>
/// A JSONPath subset as kubectl templates use it: "{.status.phase}", ".status.conditions[0].type",
/// "{.status.conditions[?(@.type==\"Ready\")].status}", "[*]" for every element.
/// </summary>
public sealed partial class JsonPath
{
    private readonly IReadOnlyList<Func<JsonNode?, IEnumerable<JsonNode?>>> _steps;
    private readonly string _text;

    private JsonPath(string text, IReadOnlyList<Func<JsonNode?, IEnumerable<JsonNode?>>> steps)
    {
        _text = text;
        _steps = steps;
    }

    [GeneratedRegex(@"\G(?:\.(?<field>[A-Za-z0-9_-]+|\*)|\[(?<index>-?\d+|\*)\]|\[\?\(@\.(?<filterPath>[A-Za-z0-9_.-]+)\s*(?<op>==|!=)\s*(?<quote>[""']?)(?<filterValue>[^""'\]]*)\k<quote>\)\]|\['(?<quoted>[^']+)'\])")]
    private static partial Regex Step();

    public static JsonPath Parse(string text)
    {
        var body = text.Trim();
        if (body.StartsWith('{') && body.EndsWith('}'))
        {
            body = body[1..^1];
        }
        if (!body.StartsWith('.') && !body.StartsWith('['))
        {
            body = "." + body;
        }
        var steps = new List<Func<JsonNode?, IEnumerable<JsonNode?>>>();
        var position = 0;
        while (position < body.Length)
        {
            var match = Step().Match(body, position);
            if (!match.Success || match.Length == 0)
            {
                throw new E2EException(ErrorCatalog.InvalidArgument, $"'{text}' is not a supported JSONPath (at '{body[position..]}'): use .field, [n], [*], ['key'] and [?(@.field==\"value\")].", text);
            }
            position += match.Length;
            if (match.Groups["field"].Success || match.Groups["quoted"].Success)
            {
                var name = match.Groups["field"].Success ? match.Groups["field"].Value : match.Groups["quoted"].Value;
                steps.Add(name == "*" ? n => n is JsonObject o ? o.Select(p => p.Value) : Enumerable.Empty<JsonNode?>() : n => n is JsonObject o && o.ContainsKey(name) ? new[] { o[name] } : Enumerable.Empty<JsonNode?>());
            }
            else if (match.Groups["index"].Success)
            {
                var index = match.Groups["index"].Value;
                steps.Add(index == "*"
                    ? n => n is JsonArray a ? a : Enumerable.Empty<JsonNode?>()
                    : n => n is JsonArray a && Normalize(int.Parse(index, System.Globalization.CultureInfo.InvariantCulture), a.Count) is var i && i >= 0 && i < a.Count ? new[] { a[i] } : Enumerable.Empty<JsonNode?>());
            }
            else
            {
                var filterPath = match.Groups["filterPath"].Value;
                var value = match.Groups["filterValue"].Value;
                var negate = match.Groups["op"].Value == "!=";
                steps.Add(n => n is JsonArray a
                    ? a.Where(e => e is JsonObject o && (KubeObjects.Field(o, filterPath) == value) != negate)
                    : Enumerable.Empty<JsonNode?>());
            }
        }
        return new JsonPath("{" + body + "}", steps);
    }

    private static int Normalize(int index, int count) => index < 0 ? count + index : index;

    /// <summary>Every value the path selects, as text (strings unquoted, other values as JSON).</summary>
    public IReadOnlyList<string> Evaluate(JsonObject o)
    {
        IEnumerable<JsonNode?> current = new JsonNode?[] { o };
        foreach (var step in _steps)
        {
            current = current.SelectMany(step).ToArray();
        }
        return current.Where(n => n is not null).Select(n => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : n!.ToJsonString()).ToArray();
    }

    public override string ToString() => _text;
}

/// <summary>Waits for a condition on one object, driven by a watch: it returns as soon as the event that makes the condition true arrives.</summary>
public static class ResourceWaiter
{
    /// <summary>
    /// Returns the object (null when waiting for deletion) once <paramref name="condition"/> holds. On timeout
    /// throws <paramref name="timeoutError"/> with the last observed conditions and the object's recent events.
    /// </summary>
    public static async Task<JsonObject?> WaitAsync(KubeClient client, ApiResource resource, string? @namespace, string name, WaitCondition condition, TimeSpan timeout,
        CancellationToken cancellation, ErrorId? timeoutError = null, Func<JsonObject?, string>? describe = null, Action<string>? observed = null)
    {
        var clock = Stopwatch.StartNew();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        deadline.CancelAfter(timeout);
        JsonObject? current = null;
        string? lastError = null;
        var synced = false;
        try
        {
            await foreach (var e in client.ObserveAsync(resource, @namespace, fieldSelector: $"metadata.name={name}", cancellation: deadline.Token).ConfigureAwait(false))
            {
                switch (e.Type)
                {
                    case KubeClient.Error:
                        lastError = (string?)e.Object["message"];
                        continue;
                    case KubeClient.Synced:
                        synced = true;
                        break;
                    case "DELETED":
                        current = null;
                        break;
                    default:
                        current = e.Object;
                        break;
                }
                observed?.Invoke(describe?.Invoke(current) ?? (current is null ? "the object does not exist" : KubeObjects.ConditionSummary(current)));
                if (synced && condition.IsMet(current))
                {
                    return current;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            // The deadline passed; report below.
        }
        cancellation.ThrowIfCancellationRequested();
        var state = describe?.Invoke(current) ?? (current is null ? "the object does not exist" : KubeObjects.ConditionSummary(current));
        if (lastError is not null)
        {
            state += $" (last API error: {lastError})";
        }
        var events = await Diagnostics.RecentEventsAsync(client, @namespace, new[] { name }, 5, CancellationToken.None).ConfigureAwait(false);
        var target = $"{resource.Kind} {(@namespace is null ? string.Empty : @namespace + "/")}{name}";
        throw new E2EException(timeoutError ?? ErrorCatalog.WaitTimedOut,
            $"{target} did not meet {condition} within {timeout.TotalSeconds:0.###} s (waited {clock.Elapsed.TotalSeconds:0.0} s). Last observed: {state}" +
            (events.Count > 0 ? ". Recent events: " + string.Join(" | ", events) : ". No events."), target);
    }
}
