using E2E.Core.Errors;

namespace E2E.Core.Tests.Errors;

public class ErrorCatalogTests
{
    [Fact]
    public void Ids_are_unique_and_explained()
    {
        Assert.True(ErrorCatalog.All.Count >= 10);
        Assert.Equal(ErrorCatalog.All.Count, ErrorCatalog.All.Select(e => e.Id).Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.All(ErrorCatalog.All, e =>
        {
            Assert.Matches("^[A-Z][A-Za-z0-9]+$", e.Id);
            Assert.False(string.IsNullOrWhiteSpace(e.Meaning));
        });
    }

    [Fact]
    public void Exception_carries_id_and_target()
    {
        var ex = new E2EException(ErrorCatalog.ScopeNotFound, "no such scope", "e2e-0000000000");
        Assert.Same(ErrorCatalog.ScopeNotFound, ex.Error);
        Assert.Equal("e2e-0000000000", ex.Target);
        Assert.Equal("ScopeNotFound", ex.Error.ToString());
    }
}
