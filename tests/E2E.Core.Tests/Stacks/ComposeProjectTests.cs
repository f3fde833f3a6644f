using E2E.Core.Errors;
using E2E.Core.Stacks;

namespace E2E.Core.Tests.Stacks;

public sealed class ComposeProjectTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("e2e-compose-").FullName;

    public static string Plumise(string file) => Path.GetFullPath(Path.Combine(Fixtures.Root, "..", "..", "Pester", "TestData", "plumise", file));

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string yaml)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, yaml);
        return path;
    }

    private static ComposeProject Load(params string[] paths) => ComposeProject.Load(paths, null, _ => null);

    [Fact]
    public void The_upstream_file_and_its_override_merge_as_docker_compose_merges_them()
    {
        var variables = new Dictionary<string, string> { ["ORACLE_PORT"] = "4100", ["NODE_B_PORT"] = "4102" };
        var project = ComposeProject.Load(new[] { Plumise("docker-compose.test.yml"), Plumise("docker-compose.e2e.yml") }, "plumise", n => variables.GetValueOrDefault(n));
        Assert.Equal("plumise", project.Name);
        Assert.Equal("mock-oracle", project.Services[0].Name);
        var oracle = project.Service("mock-oracle");
        Assert.Equal("plumise-mock-oracle", oracle.ContainerName);
        Assert.Equal(new[] { "sh", "-c", "pip install --quiet fastapi uvicorn pydantic && python /app/mock_oracle.py" }, oracle.Command);
        Assert.Equal(new PortMapping(null, 3100, 3100, "tcp"), Assert.Single(oracle.Ports));
        Assert.Equal(TimeSpan.FromSeconds(5), oracle.Healthcheck!.Interval);
        Assert.Equal(5, oracle.Healthcheck.Retries);
        Assert.Equal(TimeSpan.FromMilliseconds(200), oracle.LocalHealthcheck!.Interval);
        Assert.Contains("http://localhost:4100/health", oracle.LocalHealthcheck.Test[^1]);
        Assert.Equal(new[] { "e2e-mock-oracle" }, oracle.LocalCommand);

        var nodeB = project.Service("petals-node-b");
        Assert.Equal("../..", nodeB.BuildContext);
        Assert.Equal(new ServiceDependency("mock-oracle", ServiceDependency.Healthy), Assert.Single(nodeB.DependsOn));
        Assert.Equal("0x" + new string('b', 64), nodeB.Environment["PLUMISE_PRIVATE_KEY"]);
        Assert.Equal("http://mock-oracle:3100", nodeB.Environment["ORACLE_API_URL"]);
        Assert.Equal("http://127.0.0.1:4100", nodeB.LocalEnvironment["ORACLE_API_URL"]);
        Assert.Equal("4102", nodeB.LocalEnvironment["PETALS_PORT"]);
        Assert.Equal("http://localhost:26902", nodeB.LocalEnvironment["PLUMISE_RPC_URL"]); // ${CHAIN_RPC:-...} unset
    }

    [Fact]
    public void Overrides_replace_commands_merge_environments_and_add_ports()
    {
        var baseFile = Write("base.yml", """
            services:
              web:
                image: nginx
                command: ["nginx", "-g", "daemon off;"]
                environment: { A: "1", B: "2" }
                ports: ["8080:80"]
            """);
        var overlay = Write("over.yml", """
            services:
              web:
                command: nginx -T
                environment: ["B=3", "C"]
                ports: ["8443:443", "8080:80"]
            """);
        var web = Load(baseFile, overlay).Service("web");
        Assert.Equal(new[] { "nginx", "-T" }, web.Command);
        Assert.Equal("1", web.Environment["A"]);
        Assert.Equal("3", web.Environment["B"]);
        Assert.True(web.Environment.ContainsKey("C"));
        Assert.Null(web.Environment["C"]); // taken from the host's environment when run
        Assert.Equal(new[] { "8080:80/tcp", "8443:443/tcp" }, web.Ports.Select(p => p.ToString()));
    }

    [Fact]
    public void Interpolation_follows_compose_defaults_errors_and_escapes()
    {
        var vars = new Dictionary<string, string> { ["SET"] = "yes", ["EMPTY"] = "" };
        string I(string text) => ComposeProject.InterpolateText(text, n => vars.GetValueOrDefault(n), "f.yml");
        Assert.Equal("yes", I("${SET}"));
        Assert.Equal("yes", I("$SET"));
        Assert.Equal("d", I("${EMPTY:-d}"));
        Assert.Equal("", I("${EMPTY-d}"));
        Assert.Equal("d", I("${UNSET-d}"));
        Assert.Equal("nested-yes", I("${UNSET:-nested-${SET}}"));
        Assert.Equal("$SET", I("$$SET"));
        var error = Assert.Throws<E2EException>(() => I("${UNSET:?give it}"));
        Assert.Equal(ErrorCatalog.StackInvalid, error.Error);
        Assert.Contains("give it", error.Message);
    }

    [Theory]
    [InlineData("services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n", "cycle: a -> b -> a")]
    [InlineData("services:\n  a:\n    image: x\n    depends_on: [ghost]\n", "depends on 'ghost'")]
    [InlineData("services:\n  a:\n    image: x\n  b:\n    image: x\n    depends_on: { a: { condition: service_healthy } }\n", "has no healthcheck")]
    [InlineData("services:\n  a:\n    environment: { A: 1 }\n", "nothing to run")]
    [InlineData("services:\n  a:\n    image: x\n    ports: ['1-5:1-5']\n", "not a number")]
    [InlineData("services:\n  a:\n    image: x\n    healthcheck: { test: ['CMD', 'true'], interval: 5 parsecs }\n", "duration")]
    [InlineData("services:\n  a:\n    image: x\n    command: 'echo \"unclosed'\n", "unclosed")]
    [InlineData("services: [1, 2]\n", "no services")]
    [InlineData("services:\n  a: [unclosed\n", "invalid YAML")]
    public void Files_compose_would_refuse_are_StackInvalid_with_the_reason(string yaml, string reason)
    {
        var error = Assert.Throws<E2EException>(() => Load(Write("bad.yml", yaml)));
        Assert.Equal(ErrorCatalog.StackInvalid, error.Error);
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void Services_start_after_what_they_depend_on()
    {
        var file = Write("order.yml", """
            services:
              app: { image: x, depends_on: [cache, db] }
              cache: { image: x, depends_on: [db] }
              db: { image: x }
            """);
        Assert.Equal(new[] { "db", "cache", "app" }, Load(file).Services.Select(s => s.Name));
    }
}
