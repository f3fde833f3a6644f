using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using E2E.Core.Errors;
using E2E.Core.Stacks;

namespace E2E.Core.Tests.Stacks;

/// <summary>
/// docker-compose 1.29.2 (Debian's, the real peer) is the judge of what a compose file means: its 'config' output,
/// normalized by compose_config.py as compose turns it into containers, must equal the module's ComposeProject field
/// by field (image, container_name, command, entrypoint, environment, ports, depends_on, healthcheck, volumes) on the suites'
/// compose files, the compose project's own fixtures (tests/fixtures/compose/upstream) and our cases.
/// Documented difference: a healthcheck with 'disable: true' is test ["NONE"] in compose's output; ComposeProject
/// keeps the test it was given and marks it disabled, so a disabled check is compared as ["NONE"].
/// </summary>
public sealed class ComposeConformanceTests
{
    /// <summary>The variables every case runs with (names no machine sets), for both sides.</summary>
    private static readonly Dictionary<string, string> Variables = new()
    {
        ["E2E_CC_SET"] = "yes",
        ["E2E_CC_EMPTY"] = string.Empty,
        ["E2E_CC_TAG"] = "1.2",
        ["E2E_CC_FROM_HOST"] = "host-value",
        // The suites' process override file reads these; compose must see the same values.
        ["ORACLE_PORT"] = "4100",
        ["NODE_A_PORT"] = "4101",
        ["NODE_B_PORT"] = "4102",
    };

    private static readonly string Repository = Path.GetFullPath(Path.Combine(Fixtures.Root, "..", ".."));

    public static TheoryData<string> Cases() => new()
    {
        "upstream/cascade.yaml",
        "upstream/sentences.yaml",
        "upstream/ps-test.yaml",
        "upstream/ups-deps-stop.yaml",
        "upstream/start-stop.yaml upstream/start-stop-other.yaml",
        "cases/merge-base.yml cases/merge-override.yml",
        "cases/interpolation.yml",
        "cases/healthchecks.yml",
        "cases/ports-and-environment.yml",
        "cases/volumes.yml",
        "suite:Pester/TestData/plumise/docker-compose.test.yml",
        "suite:Pester/TestData/plumise/docker-compose.test.yml Pester/TestData/plumise/docker-compose.e2e.yml",
        "suite:Pester/TestData/plumise/docker-compose.test.yml Pester/TestData/plumise/docker-compose.docker.yml",
    };

    private static string[] Files(string @case) => @case.StartsWith("suite:", StringComparison.Ordinal)
        ? @case["suite:".Length..].Split(' ').Select(f => Path.Combine(Repository, f)).ToArray()
        : @case.Split(' ').Select(f => Fixtures.Path("compose", f)).ToArray();

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_module_reads_a_compose_file_as_docker_compose_does(string @case)
    {
        var files = Files(@case);
        var (status, output, error) = ComposeConfig(files, Variables);
        Assert.True(status == 0, $"docker-compose refused {@case}: {error}");
        var expected = JsonNode.Parse(output)!["services"]!.AsObject();
        var project = ComposeProject.Load(files, "conformance", name => Variables.TryGetValue(name, out var value) ? value : null);
        var actual = new JsonObject(project.Services.Select(s => KeyValuePair.Create(s.Name, (JsonNode?)Normalize(s))));

        var differences = new List<string>();
        foreach (var name in expected.Select(p => p.Key).Union(actual.Select(p => p.Key)).Order(StringComparer.Ordinal))
        {
            if (expected[name] is not JsonObject theirs || actual[name] is not JsonObject ours)
            {
                differences.Add($"service {name}: {(expected.ContainsKey(name) ? "missing in ComposeProject" : "not in docker-compose's config")}");
                continue;
            }
            foreach (var field in theirs.Select(p => p.Key))
            {
                if (!JsonNode.DeepEquals(theirs[field], ours[field]))
                {
                    differences.Add($"{name}.{field}: docker-compose {theirs[field]?.ToJsonString() ?? "null"}, ComposeProject {ours[field]?.ToJsonString() ?? "null"}");
                }
            }
        }
        Assert.True(differences.Count == 0, $"{@case}:\n" + string.Join('\n', differences));
    }

    [Fact]
    public void A_required_variable_that_is_not_set_is_refused_by_both_with_its_message()
    {
        var files = Files("cases/interpolation-error.yml");
        var (status, _, error) = ComposeConfig(files, Variables);
        Assert.NotEqual(0, status);
        Assert.Contains("a token is required", error);
        var ex = Assert.Throws<E2EException>(() => ComposeProject.Load(files, "conformance", name => Variables.TryGetValue(name, out var value) ? value : null));
        Assert.Same(ErrorCatalog.StackInvalid, ex.Error);
        Assert.Contains("a token is required", ex.Message);
    }

    // The same shape compose_config.py writes.
    private static JsonObject Normalize(ComposeService service)
    {
        static JsonArray? List(IReadOnlyList<string>? words) => words is null ? null : new JsonArray(words.Select(w => (JsonNode?)JsonValue.Create(w)).ToArray());
        var check = service.Healthcheck;
        return new JsonObject
        {
            ["image"] = service.Image,
            ["container_name"] = service.ContainerName,
            ["command"] = List(service.Command),
            ["entrypoint"] = List(service.Entrypoint),
            // A name without a value takes the host's value when the container is made, as compose's config shows it.
            ["environment"] = new JsonObject(service.Environment.OrderBy(p => p.Key, StringComparer.Ordinal)
                .Select(p => KeyValuePair.Create(p.Key, (JsonNode?)(p.Value ?? (Variables.TryGetValue(p.Key, out var host) ? host : null))))),
            ["ports"] = new JsonArray(service.Ports.OrderBy(p => p.ContainerPort).ThenBy(p => p.HostPort).ThenBy(p => p.Protocol, StringComparer.Ordinal).ThenBy(p => p.HostIp ?? string.Empty, StringComparer.Ordinal)
                .Select(p => (JsonNode?)new JsonArray(p.HostIp, p.HostPort, p.ContainerPort, p.Protocol)).ToArray()),
            ["depends_on"] = new JsonObject(service.DependsOn.Select(d => KeyValuePair.Create(d.Service, (JsonNode?)d.Condition))),
            ["volumes"] = new JsonArray(service.Volumes.Select(v => (JsonNode?)new JsonArray(v.Type, v.Source, v.Target, v.ReadOnly)).ToArray()),
            ["healthcheck"] = check is null ? null : new JsonObject
            {
                ["test"] = check.Disabled ? new JsonArray("NONE") : List(check.Test),
                ["interval_ms"] = (long)check.Interval.TotalMilliseconds,
                ["timeout_ms"] = (long)check.Timeout.TotalMilliseconds,
                ["retries"] = check.Retries,
                ["start_period_ms"] = (long)check.StartPeriod.TotalMilliseconds,
                ["disabled"] = check.Disabled,
            },
        };
    }

    /// <summary>docker-compose's reading, through compose_config.py on the interpreter docker-compose runs on.</summary>
    private static (int Status, string Output, string Error) ComposeConfig(IReadOnlyList<string> files, IReadOnlyDictionary<string, string> variables)
    {
        var script = Path.Combine(Repository, "tests", "E2E.Core.Tests", "Stacks", "compose_config.py");
        var start = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(script);
        foreach (var file in files)
        {
            start.ArgumentList.Add(file);
        }
        foreach (var (name, value) in variables)
        {
            start.Environment[name] = value;
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("python3 did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "docker-compose config did not finish in 60 s");
        process.WaitForExit();
        return (process.ExitCode, output.Result, error.Result);
    }
}
