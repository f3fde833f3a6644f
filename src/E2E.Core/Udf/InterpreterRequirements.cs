using System.Collections.Concurrent;
using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Processes;

namespace E2E.Core.Udf;

/// <summary>Which of a package's requirements an interpreter already has installed, and at what version.</summary>
public sealed record RequirementCheck(IReadOnlyDictionary<string, string> Satisfied, IReadOnlyList<string> Unsatisfied)
{
    public bool AllSatisfied => Unsatisfied.Count == 0;
}

/// <summary>
/// Checks pip requirements against what an interpreter has installed (importlib.metadata), without a package index.
/// Names, extras and version specifiers (==, !=, &gt;=, &lt;=, &gt;, &lt;, ~=, with '*' for ==) are understood;
/// versions are compared by their release numbers, so Debian's "1.13.0a0+gitunknown" counts as 1.13.0; environment
/// markers are ignored (every requirement is taken as needed).
/// </summary>
public static class InterpreterRequirements
{
    private const string Script = """
        import importlib.metadata as metadata, json, re, sys

        def release(text):
            numbers = re.match(r"\s*v?(\d+(?:\.\d+)*)", text)
            return tuple(int(n) for n in numbers.group(1).split(".")) if numbers else ()

        def pad(a, b):
            width = max(len(a), len(b))
            return a + (0,) * (width - len(a)), b + (0,) * (width - len(b))

        def allows(op, wanted, found):
            if op == "==" and wanted.endswith(".*"):
                prefix = release(wanted[:-2])
                return found[:len(prefix)] == prefix
            a, b = pad(found, release(wanted))
            if op == "~=":
                prefix = release(wanted)[:-1]
                return a >= b and found[:len(prefix)] == prefix
            return {"==": a == b, "===": a == b, "!=": a != b, ">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b}[op]

        def holds(clause, found):
            parts = re.match(r"(===|==|!=|>=|<=|~=|>|<)\s*(.+)", clause)
            return bool(parts) and allows(parts.group(1), parts.group(2).strip(), found)

        satisfied, unsatisfied = {}, []
        for requirement in json.loads(sys.argv[1]):
            spec = requirement.split(";", 1)[0].strip()
            match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*\(?([^)]*)\)?$", spec)
            if not match:
                unsatisfied.append(requirement + " (not understood)")
                continue
            name, clauses = match.group(1), [c.strip() for c in match.group(3).split(",") if c.strip()]
            try:
                version = metadata.version(name)
            except metadata.PackageNotFoundError:
                unsatisfied.append(requirement + " (not installed)")
                continue
            found = release(version)
            failed = [c for c in clauses if not holds(c, found)]
            if failed:
                unsatisfied.append(f"{requirement} ({name} {version} is installed)")
            else:
                satisfied[name] = version
        print(json.dumps({"satisfied": satisfied, "unsatisfied": unsatisfied}))
        """;

    private static readonly ConcurrentDictionary<string, Task<RequirementCheck>> Checked = new(StringComparer.Ordinal);

    /// <summary>What <paramref name="python"/> has of <paramref name="requirements"/>; asked once per interpreter and set of requirements in a session.</summary>
    public static async Task<RequirementCheck> CheckAsync(string python, IReadOnlyList<string> requirements, CancellationToken cancellation)
    {
        var key = python + "\0" + string.Join("\0", requirements);
        var check = Checked.GetOrAdd(key, _ => RunAsync(python, requirements));
        try
        {
            return await check.WaitAsync(cancellation).ConfigureAwait(false);
        }
        catch (Exception) when (check.IsFaulted)
        {
            // A failure to run the interpreter is not remembered: the next caller asks again.
            Checked.TryRemove(new KeyValuePair<string, Task<RequirementCheck>>(key, check));
            throw;
        }
    }

    private static async Task<RequirementCheck> RunAsync(string python, IReadOnlyList<string> requirements)
    {
        var output = await ExternalTool.RunAsync(python, new[] { "-c", Script, JsonSerializer.Serialize(requirements) }, null, ErrorCatalog.EnvironmentBuildFailed, CancellationToken.None).ConfigureAwait(false);
        using var answer = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        var satisfied = answer.RootElement.GetProperty("satisfied").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!, StringComparer.Ordinal);
        var unsatisfied = answer.RootElement.GetProperty("unsatisfied").EnumerateArray().Select(e => e.GetString()!).ToArray();
        return new RequirementCheck(satisfied, unsatisfied);
    }
}
