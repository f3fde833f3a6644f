using E2E.Core.Errors;
using Xunit;

namespace E2E.Core.Tests.Errors;

public sealed class SecretTextTests
{
    [Theory]
    [InlineData("error: access_token=ya29.a0AfH6SMBx3secretvalue rejected", "ya29.a0AfH6SMBx3secretvalue")]
    [InlineData("{\"client_secret\": \"s3cr3t-Value-42\"}", "s3cr3t-Value-42")]
    [InlineData("api_key: AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE")]
    [InlineData("Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop")]
    [InlineData("signing with 4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318 failed", "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")]
    [InlineData("key 0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318", "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")]
    [InlineData("POST https://agent:hunter2hunter2@oracle.example/api failed", "hunter2hunter2")]
    [InlineData("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc", "eyJhbGciOiJIUzI1NiJ9")]
    public void Secrets_in_foreign_text_are_replaced(string text, string secret)
    {
        var redacted = SecretText.Redact(text);
        Assert.DoesNotContain(secret, redacted);
        Assert.Contains("[redacted]", redacted);
    }

    [Fact]
    public void Ordinary_text_is_left_alone()
    {
        const string text = "Readiness probe failed: service unhealthy (port 50051, 3 of 4 replicas)";
        Assert.Equal(text, SecretText.Redact(text));
        Assert.Equal("http://127.0.0.1:8080/health", SecretText.Url("http://127.0.0.1:8080/health"));
    }
}
