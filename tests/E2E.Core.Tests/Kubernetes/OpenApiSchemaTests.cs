using System.Text.Json.Nodes;
using E2E.Core.Kubernetes;

namespace E2E.Core.Tests.Kubernetes;

public sealed class OpenApiSchemaTests
{
    private static readonly JsonObject ComputeSchema = (JsonObject)KubeObjects.ParseYaml(File.ReadAllText(FakeApiServerTests.ComputeCrd), "crd").Single()["spec"]!["versions"]![0]!["schema"]!["openAPIV3Schema"]!;

    private static IReadOnlyList<(string Field, string Message)> Check(string json, bool strict = true) => OpenApiSchema.Validate(ComputeSchema, JsonNode.Parse(json), strict);

    [Fact]
    public void A_minimal_compute_is_valid()
    {
        Assert.Empty(Check("""{"apiVersion":"compute.skytorch.dev/v1alpha1","kind":"Compute","metadata":{"name":"test-managed"},"spec":{"image":"ghcr.io/astefanutti/skytorch-server","suspend":false}}"""));
    }

    [Theory]
    [InlineData("""{"metadata":{"name":"9lives"},"spec":{"image":"x"}}""", "<root>", "RFC 1035")]
    [InlineData("""{"metadata":{"name":"a.b"},"spec":{"image":"x"}}""", "<root>", "RFC 1035")]
    [InlineData("""{"metadata":{"name":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},"spec":{"image":"x"}}""", "<root>", "63 characters")]
    [InlineData("""{"metadata":{"name":"ok"},"spec":{"suspend":"yes"}}""", "spec.suspend", "must be of type boolean")]
    [InlineData("""{"metadata":{"name":"ok"},"spec":{}}""", "spec", "at least 1 properties")]
    [InlineData("""{"metadata":{"name":"ok"},"spec":{"imag":"typo"}}""", "spec.imag", "Unknown field")]
    [InlineData("""{"metadata":{"name":"ok"},"spec":{"env":[{"value":"x"}]}}""", "spec.env[0].name", "Required value")]
    [InlineData("""{"metadata":{"name":"ok"},"spec":{"command":"python"}}""", "spec.command", "must be of type array")]
    public void Invalid_computes_name_the_field(string json, string field, string message)
    {
        var errors = Check(json);
        Assert.Contains(errors, e => e.Field == field && e.Message.Contains(message, StringComparison.Ordinal));
    }

    [Fact]
    public void Unknown_fields_pass_when_not_strict_and_int_or_string_takes_both()
    {
        Assert.Empty(Check("""{"metadata":{"name":"ok"},"spec":{"imag":"typo"}}""", strict: false));
        Assert.Empty(Check("""{"metadata":{"name":"ok"},"spec":{"resources":{"cpu":"500m","memory":1073741824}}}"""));
        Assert.NotEmpty(Check("""{"metadata":{"name":"ok"},"spec":{"resources":{"cpu":true}}}"""));
    }
}
