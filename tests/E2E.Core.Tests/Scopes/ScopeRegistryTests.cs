using E2E.Core.Errors;
using E2E.Core.Scopes;

namespace E2E.Core.Tests.Scopes;

public class ScopeRegistryTests
{
    [Fact]
    public void Newest_active_scope_is_current_and_removal_pops_it()
    {
        var registry = new ScopeRegistry();
        Assert.Null(registry.Current);
        var outer = registry.Create("outer");
        var inner = registry.Create("inner");
        Assert.Same(inner, registry.Current);
        registry.Remove(inner);
        Assert.Same(outer, registry.Current);
        Assert.Equal(new[] { outer }, registry.Active);
        Assert.Equal(new[] { outer, inner }, registry.All);
        registry.Remove(outer);
        Assert.Null(registry.Current);
    }

    [Fact]
    public void Unknown_id_is_ScopeNotFound_and_missing_current_is_NoCurrentScope()
    {
        var registry = new ScopeRegistry();
        var notFound = Assert.Throws<E2EException>(() => registry.Get("e2e-ffffffffff"));
        Assert.Same(ErrorCatalog.ScopeNotFound, notFound.Error);
        Assert.Equal("e2e-ffffffffff", notFound.Target);
        var noCurrent = Assert.Throws<E2EException>(() => registry.RequireCurrent("a server"));
        Assert.Same(ErrorCatalog.NoCurrentScope, noCurrent.Error);
    }

    [Fact]
    public void Lookup_by_id_ignores_case()
    {
        var registry = new ScopeRegistry();
        var scope = registry.Create();
        Assert.Same(scope, registry.Get(scope.Id.ToUpperInvariant()));
        registry.Remove(scope);
    }

    [Fact]
    public void RemoveAll_removes_newest_first_and_marks_process_exit()
    {
        var registry = new ScopeRegistry();
        var order = new List<string>();
        var a = registry.Create("a");
        a.Register("Test", "a", c => order.Add($"a:{c.AtProcessExit}"));
        var b = registry.Create("b");
        b.Register("Test", "b", c => order.Add($"b:{c.AtProcessExit}"));

        registry.RemoveAll(atProcessExit: true);

        Assert.Equal(new[] { "b:True", "a:True" }, order);
        Assert.Empty(registry.Active);
    }
}
