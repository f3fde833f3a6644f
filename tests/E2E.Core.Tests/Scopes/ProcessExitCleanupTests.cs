using E2E.Core.Scopes;

namespace E2E.Core.Tests.Scopes;

[CollectionDefinition(nameof(ProcessWide), DisableParallelization = true)]
public sealed class ProcessWide
{
}

/// <summary>Runs alone: removing every scope of the process would disturb tests running beside it.</summary>
[Collection(nameof(ProcessWide))]
public class ProcessExitCleanupTests
{
    [Fact]
    public void Exit_cleanup_removes_active_scopes_of_every_registry()
    {
        var first = new ScopeRegistry();
        var second = new ScopeRegistry();
        var seen = new List<string>();
        first.Create().Register("Test", "one", c => seen.Add($"one:{c.AtProcessExit}"));
        second.Create().Register("Test", "two", c => seen.Add($"two:{c.AtProcessExit}"));
        var alreadyRemoved = first.Create();
        alreadyRemoved.Register("Test", "gone", _ => seen.Add("gone"));
        first.Remove(alreadyRemoved);
        seen.Clear();

        ProcessExitCleanup.RemoveEverything();

        Assert.Equal(new[] { "one:True", "two:True" }, seen.OrderBy(s => s));
        Assert.Empty(first.Active);
        Assert.Empty(second.Active);
    }
}
