namespace E2E.Module.Tests;

/// <summary>The scope cmdlets in a real PowerShell engine, driven the way a Pester suite drives them.</summary>
public sealed class ScopeCmdletTests : IDisposable
{
    private readonly Pwsh _pwsh = new();

    public void Dispose() => _pwsh.Dispose();

    [Fact]
    public void Undo_actions_run_in_reverse_and_a_failing_one_is_reported_with_its_id()
    {
        var result = _pwsh.Run("""
            $order = [System.Collections.Generic.List[string]]::new()
            $scope = New-E2EScope -Name 'pester-like' -Label @{ suite = 'foundation' }
            Register-E2ECleanup -Name 'first' -ScriptBlock { $order.Add('first') }
            Register-E2ECleanup -Name 'second' -ScriptBlock { throw 'second failed on purpose' }
            Register-E2ECleanup -Name 'third' -ScriptBlock { $order.Add('third') }
            Remove-E2EScope -Scope $scope -ErrorVariable cleanupErrors -ErrorAction SilentlyContinue
            $order -join ','
            $cleanupErrors.Count
            $cleanupErrors[0].FullyQualifiedErrorId
            $cleanupErrors[0].CategoryInfo.Category
            $cleanupErrors[0].TargetObject.Description
            $scope.State
            """);
        Assert.Null(result.Terminating);
        Assert.Equal(new[] { "third,first", "1", "ScopeCleanupFailed,E2E.Cmdlets.Scopes.RemoveE2EScopeCommand", "InvalidOperation", "second", "Removed" }, result.Strings);
    }

    [Fact]
    public void Failure_becomes_terminating_under_ErrorAction_Stop_so_Should_Throw_sees_the_id()
    {
        var result = _pwsh.Run("""
            $scope = New-E2EScope
            Register-E2ECleanup -Name 'bad' -ScriptBlock { throw 'nope' }
            Remove-E2EScope $scope -ErrorAction Stop
            """);
        Assert.StartsWith("ScopeCleanupFailed,", result.ErrorId);
    }

    [Fact]
    public void Removing_twice_is_harmless()
    {
        var result = _pwsh.Run("""
            $scope = New-E2EScope
            Register-E2ECleanup -Name 'x' -ScriptBlock { $script:runs++ }
            $script:runs = 0
            Remove-E2EScope $scope
            Remove-E2EScope $scope
            $r = Remove-E2EScope $scope -PassThru
            $script:runs; $r.AlreadyRemoved
            """).ShouldSucceed();
        Assert.Equal(new[] { "1", "True" }, result.Strings);
    }

    [Fact]
    public void Unknown_scope_id_is_ScopeNotFound_with_category_and_target()
    {
        var result = _pwsh.Run("Remove-E2EScope -Id 'e2e-0000000000'");
        Assert.Equal("ScopeNotFound,E2E.Cmdlets.Scopes.RemoveE2EScopeCommand", result.ErrorId);
        Assert.Equal("ObjectNotFound", result.Error!.CategoryInfo.Category.ToString());
        Assert.Equal("e2e-0000000000", result.Error!.TargetObject);

        var get = _pwsh.Run("Get-E2EScope -Id 'e2e-0000000000', 'e2e-1111111111'");
        Assert.Null(get.Terminating);
        Assert.Equal(2, get.Errors.Length);
        Assert.All(get.Errors, e => Assert.StartsWith("ScopeNotFound,", e.FullyQualifiedErrorId));
    }

    [Fact]
    public void Scopes_compose_through_the_pipeline_by_value_and_by_property_name()
    {
        var result = _pwsh.Run("""
            $a = New-E2EScope -Name a
            $b = New-E2EScope -Name b
            $a | Remove-E2EScope
            [pscustomobject]@{ Id = $b.Id } | Remove-E2EScope
            (Get-E2EScope).Count
            (Get-E2EScope -All | Where-Object { $_.Id -in @($a.Id, $b.Id) }).Count
            """).ShouldSucceed();
        Assert.Equal(new[] { "0", "2" }, result.Strings);
    }

    [Fact]
    public void Current_scope_is_the_newest_and_cleanup_needs_one()
    {
        var none = _pwsh.Run("Register-E2ECleanup -Name x -ScriptBlock { }");
        Assert.StartsWith("NoCurrentScope,", none.ErrorId);

        var result = _pwsh.Run("""
            $outer = New-E2EScope -Name outer
            $inner = New-E2EScope -Name inner
            (Get-E2EScope -Current).Name
            Remove-E2EScope $inner
            (Get-E2EScope -Current).Name
            Remove-E2EScope $outer
            """).ShouldSucceed();
        Assert.Equal(new[] { "inner", "outer" }, result.Strings);
    }

    [Fact]
    public void WhatIf_creates_and_removes_nothing()
    {
        var result = _pwsh.Run("""
            $none = New-E2EScope -WhatIf
            $null -eq $none
            $scope = New-E2EScope
            Register-E2ECleanup -Name x -ScriptBlock { $script:ran = $true }
            $script:ran = $false
            Remove-E2EScope $scope -WhatIf
            $script:ran; $scope.State
            Remove-E2EScope $scope
            $script:ran
            """).ShouldSucceed();
        Assert.Equal(new[] { "True", "False", "Active", "True" }, result.Strings);
    }

    [Fact]
    public void Bad_labels_and_time_to_live_have_stable_ids()
    {
        Assert.StartsWith("InvalidLabel,", _pwsh.Run("New-E2EScope -Label @{ 'bad key' = 'x' }").ErrorId);
        Assert.StartsWith("InvalidTimeout,", _pwsh.Run("New-E2EScope -TimeToLive '-00:05:00'").ErrorId);
    }

    [Fact]
    public void Temp_directories_are_removed_with_their_scope()
    {
        var result = _pwsh.Run("""
            $scope = New-E2EScope
            $dir = New-E2ETempDirectory -Prefix work
            [System.IO.File]::WriteAllText([System.IO.Path]::Combine($dir.FullName, 'f.txt'), 'x')
            $dir.Exists
            $dir.Name -like 'work-*'
            Remove-E2EScope $scope
            [System.IO.Directory]::Exists($dir.FullName)
            [System.IO.Directory]::Exists($dir.Parent.FullName)
            """).ShouldSucceed();
        Assert.Equal(new[] { "True", "True", "False", "False" }, result.Strings);
    }

    [Fact]
    public void Closing_the_session_removes_its_active_scopes()
    {
        string dir;
        using (var session = new Pwsh())
        {
            dir = session.Run("$s = New-E2EScope; (New-E2ETempDirectory).FullName").ShouldSucceed().Strings.Single();
            Assert.True(Directory.Exists(dir));
        }
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public void Each_runspace_has_its_own_current_scope()
    {
        using var other = new Pwsh();
        _pwsh.Run("$s = New-E2EScope -Name mine").ShouldSucceed();
        Assert.Empty(other.Run("Get-E2EScope -Current").ShouldSucceed().Output);
        Assert.Equal("mine", _pwsh.Run("(Get-E2EScope -Current).Name; Remove-E2EScope $s").ShouldSucceed().Strings.Single());
    }
}
