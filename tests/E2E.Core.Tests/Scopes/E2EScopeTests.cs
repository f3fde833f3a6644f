using System.Diagnostics;
using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Scopes;

namespace E2E.Core.Tests.Scopes;

public sealed class E2EScopeTests : IDisposable
{
    private readonly string _tempBase = Path.Combine(Path.GetTempPath(), "e2e-core-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_tempBase))
        {
            Directory.Delete(_tempBase, recursive: true);
        }
    }

    [Fact]
    public void Removal_runs_undo_actions_last_first_and_keeps_going_past_failures()
    {
        var scope = new E2EScope("order", tempBase: _tempBase);
        var order = new List<string>();
        scope.Register("Test", "first", _ => order.Add("first"));
        scope.Register("Test", "second (throws)", _ => throw new InvalidOperationException("boom"));
        scope.Register("Test", "third", _ => order.Add("third"));

        var result = scope.Remove();

        Assert.Equal(new[] { "third", "first" }, order);
        Assert.Equal(new[] { 3, 2, 1 }, result.Ran.Select(e => e.Sequence));
        var failed = Assert.Single(result.Failed);
        Assert.Equal("second (throws)", failed.Description);
        Assert.Equal("boom", failed.Error!.Message);
        Assert.Equal(2, result.Undone);
        Assert.False(result.Succeeded);
        Assert.Equal(ScopeState.Removed, scope.State);
    }

    [Fact]
    public void Removing_twice_is_harmless_and_runs_nothing_again()
    {
        var scope = new E2EScope(tempBase: _tempBase);
        var runs = 0;
        scope.Register("Test", "count", _ => runs++);
        Assert.False(scope.Remove().AlreadyRemoved);
        var second = scope.Remove();
        Assert.True(second.AlreadyRemoved);
        Assert.Empty(second.Ran);
        Assert.Equal(1, runs);
    }

    [Fact]
    public void A_removed_scope_refuses_new_registrations()
    {
        var scope = new E2EScope(tempBase: _tempBase);
        scope.Remove();
        var ex = Assert.Throws<E2EException>(() => scope.Register("Test", "late", _ => { }));
        Assert.Same(ErrorCatalog.ScopeRemoved, ex.Error);
    }

    [Fact]
    public void Cancelled_removal_leaves_the_rest_pending_for_a_later_removal()
    {
        var scope = new E2EScope(tempBase: _tempBase);
        using var cancel = new CancellationTokenSource();
        var order = new List<int>();
        scope.Register("Test", "1", _ => order.Add(1));
        scope.Register("Test", "2", _ => order.Add(2));
        scope.Register("Test", "3 (presses Ctrl-C)", _ => { order.Add(3); cancel.Cancel(); });

        var first = scope.Remove(cancel.Token);
        Assert.True(first.Cancelled);
        Assert.Equal(2, first.StillPending);
        Assert.Equal(ScopeState.Active, scope.State);

        var second = scope.Remove();
        Assert.True(second.Succeeded);
        Assert.Equal(new[] { 3, 2, 1 }, order);
        Assert.Equal(ScopeState.Removed, scope.State);
    }

    [Fact]
    public void Run_id_and_expiry_are_stamped_as_valid_labels()
    {
        var scope = new E2EScope("labels", new Dictionary<string, string> { ["suite"] = "skytorch", ["e2e.dev/owner"] = "ci" }, TimeSpan.FromMinutes(30), _tempBase);
        Assert.Matches("^e2e-[0-9a-f]{10}$", scope.Id);
        Assert.Equal(TimeSpan.FromMinutes(30), scope.ExpiresAt - scope.CreatedAt);
        var labels = scope.ResourceLabels;
        Assert.Equal(scope.Id, labels[E2EScope.RunIdLabel]);
        Assert.Equal(scope.ExpiresAt.ToUnixTimeSeconds().ToString(), labels[E2EScope.ExpiresLabel]);
        Assert.Equal("skytorch", labels["suite"]);
        Assert.False(scope.IsExpired(scope.CreatedAt));
        Assert.True(scope.IsExpired(scope.ExpiresAt));
    }

    [Theory]
    [InlineData("bad key", "v")]
    [InlineData("-starts-with-dash", "v")]
    [InlineData("UPPER.Prefix/name", "v")]
    [InlineData("ok", "value with spaces")]
    [InlineData("ok", "this-value-is-far-too-long-for-a-kubernetes-label-value-0123456789")]
    public void Invalid_labels_are_rejected_with_InvalidLabel(string key, string value)
    {
        var ex = Assert.Throws<E2EException>(() => new E2EScope(labels: new Dictionary<string, string> { [key] = value }, tempBase: _tempBase));
        Assert.Same(ErrorCatalog.InvalidLabel, ex.Error);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void Non_positive_time_to_live_is_InvalidTimeout(int seconds)
    {
        var ex = Assert.Throws<E2EException>(() => new E2EScope(timeToLive: TimeSpan.FromSeconds(seconds), tempBase: _tempBase));
        Assert.Same(ErrorCatalog.InvalidTimeout, ex.Error);
    }

    [Fact]
    public void Temp_directories_live_under_a_marked_root_and_vanish_on_removal()
    {
        var scope = new E2EScope("temp", tempBase: _tempBase);
        var a = scope.CreateTempDirectory("build");
        var b = scope.CreateTempDirectory();
        File.WriteAllText(Path.Combine(a, "x.txt"), "x");
        var root = Path.Combine(_tempBase, scope.Id);
        Assert.Equal(root, Path.GetDirectoryName(a));
        Assert.StartsWith("build-", Path.GetFileName(a));
        var marker = JsonDocument.Parse(File.ReadAllText(Path.Combine(root, E2EScope.MarkerFileName))).RootElement;
        Assert.Equal(scope.Id, marker.GetProperty("runId").GetString());
        Assert.Equal(scope.ExpiresAt, marker.GetProperty("expiresAt").GetDateTimeOffset());

        var result = scope.Remove();
        Assert.True(result.Succeeded);
        Assert.False(Directory.Exists(a));
        Assert.False(Directory.Exists(b));
        Assert.False(Directory.Exists(root));
        Assert.Equal(new[] { b, a }, result.Ran.Select(e => e.Description));
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("a/b")]
    [InlineData("..")]
    public void Temp_directory_prefix_must_be_a_plain_name(string prefix)
    {
        var scope = new E2EScope(tempBase: _tempBase);
        var ex = Assert.Throws<E2EException>(() => scope.CreateTempDirectory(prefix));
        Assert.Same(ErrorCatalog.InvalidName, ex.Error);
        scope.Remove();
    }

    [Fact]
    public void Tracked_process_tree_is_killed_on_removal()
    {
        var scope = new E2EScope(tempBase: _tempBase);
        // A shell whose child outlives it unless the whole tree is killed.
        using var shell = Process.Start(new ProcessStartInfo("/bin/sh", new[] { "-c", "sleep 300 & echo $!; wait" }) { RedirectStandardOutput = true })!;
        var childPid = int.Parse(shell.StandardOutput.ReadLine()!);
        scope.TrackProcess(shell, "sleeper");

        var result = scope.Remove();

        Assert.True(result.Succeeded, string.Join("; ", result.Failed.Select(f => f.Error?.Message)));
        Assert.True(shell.HasExited);
        Assert.True(ProcessIsGone(childPid), $"child {childPid} survived");
    }

    private static bool ProcessIsGone(int pid)
    {
        for (var i = 0; i < 50; i++)
        {
            if (!File.Exists($"/proc/{pid}/stat") || File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2] == "Z")
            {
                return true;
            }
            Thread.Sleep(20);
        }
        return false;
    }

    [Fact]
    public void Registration_is_safe_from_many_threads()
    {
        var scope = new E2EScope(tempBase: _tempBase);
        var count = 0;
        Parallel.For(0, 500, i => scope.Register("Test", $"n{i}", _ => Interlocked.Increment(ref count)));
        Assert.Equal(Enumerable.Range(1, 500), scope.Entries.Select(e => e.Sequence));
        scope.Remove();
        Assert.Equal(500, count);
    }
}
