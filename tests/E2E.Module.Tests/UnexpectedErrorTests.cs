using System.Management.Automation;

namespace E2E.Module.Tests;

/// <summary>A library's raw exception still reaches the user with a catalogue id and a specific category, never NotSpecified.</summary>
public sealed class UnexpectedErrorTests : IDisposable
{
    private readonly Pwsh _pwsh = new();

    public void Dispose() => _pwsh.Dispose();

    [Fact]
    public void A_raw_overflow_is_UnexpectedInput_with_the_argument_category_and_an_absurd_timeout_has_its_own_id()
    {
        var record = E2E.Cmdlets.Infrastructure.ErrorRecords.FromUnexpected(new OverflowException("TimeSpan overflowed because the duration is too long."), "x");
        Assert.Equal("UnexpectedInput", record.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, record.CategoryInfo.Category);
        var result = _pwsh.Run("Wait-E2ECondition { $true } -TimeoutSec 1e308");
        Assert.Equal("InvalidTimeout,E2E.Cmdlets.Waiting.WaitE2EConditionCommand", result.ErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, result.Error!.CategoryInfo.Category);
    }

    [Fact]
    public void A_raw_format_error_is_UnexpectedData_and_secrets_in_it_are_redacted()
    {
        var record = E2E.Cmdlets.Infrastructure.ErrorRecords.FromUnexpected(new FormatException("bad value near token=abcdef123456"), "x");
        Assert.Equal("UnexpectedData", record.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidData, record.CategoryInfo.Category);
        Assert.DoesNotContain("abcdef123456", record.Exception.Message);
    }

    [Fact]
    public void A_failing_reproducibility_build_is_BuildFailed_with_its_text_in_the_message()
    {
        var result = _pwsh.Run("Test-E2EReproducible { param($out) throw 'compiler exploded' }");
        Assert.Equal("BuildFailed,E2E.Cmdlets.Snapshots.TestE2EReproducibleCommand", result.ErrorId);
        Assert.Contains("compiler exploded", result.Error!.Exception.Message);
    }

    [Fact]
    public void A_udf_input_bound_to_a_column_of_another_type_is_UdfTypeMismatch_and_the_table_is_unchanged()
    {
        var root = Directory.CreateTempSubdirectory("e2e-udf-types-").FullName;
        try
        {
            var udf = Path.Combine(Repo.Root, "examples", "udfs", "simple");
            var db = Path.Combine(root, "pets.db");
            var store = new Uri(Path.Combine(root, "bucket")).AbsoluteUri;
            _pwsh.Run($$"""
                $null = New-E2EScope
                New-E2EPetImage -Path (Join-Path '{{root}}' images) -Count 3
                $null = New-UdfManifest -Path '{{udf}}' -SkipSitePackages -OutputPath (Join-Path '{{root}}' dist) | Publish-UdfManifest -Destination '{{store}}'
                $null = New-E2ETable -Database '{{db}}' -Name pets -ImageDirectory (Join-Path '{{root}}' images)
                """).ShouldSucceed();
            // file_size(image: bytes) bound to the int64 label column.
            var result = _pwsh.Run($"Add-E2EColumn -Database '{db}' -Table pets -Name size -Udf file_size -Manifest oxford-pets-simple -Store '{store}' -Input label");
            Assert.Equal("UdfTypeMismatch,E2E.Cmdlets.Tables.AddE2EColumnCommand", result.ErrorId);
            Assert.Contains("image: bytes", result.Error!.Exception.Message);
            Assert.DoesNotContain("size", _pwsh.Run($"(Get-E2ETable -Database '{db}' -Name pets).Columns.Name").ShouldSucceed().Strings);
            _pwsh.Run($"Add-E2EColumn -Database '{db}' -Table pets -Name size -Udf file_size -Manifest oxford-pets-simple -Store '{store}'").ShouldSucceed();
        }
        finally
        {
            _pwsh.Run("Get-E2EScope | Remove-E2EScope");
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public void Reading_a_table_store_that_does_not_exist_is_TableStoreNotFound_and_creates_no_file()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"e2e-missing-{Guid.NewGuid():N}.db");
        var result = _pwsh.Run($"Get-E2ETableRow -Database '{missing}' -Name pets");
        Assert.Equal("TableStoreNotFound,E2E.Cmdlets.Tables.GetE2ETableRowCommand", result.ErrorId);
        Assert.Equal("TableStoreNotFound,E2E.Cmdlets.Tables.InvokeBackfillCommand", _pwsh.Run($"Invoke-Backfill -Database '{missing}' -Table pets -Column size").ErrorId);
        Assert.False(File.Exists(missing));
    }

    [Fact]
    public void Geneva_arguments_that_cannot_both_hold_are_InvalidArgument_before_any_python_starts()
    {
        Assert.StartsWith("InvalidArgument,", _pwsh.Run("Invoke-Backfill -Engine Geneva -Database file:///tmp/none -Table pets -Column size -GenevaCluster a -RayAddress ray://127.0.0.1:10001").ErrorId);

        // Geneva provisions KubeRay through the kubeconfig's current context: a cluster chosen by another context is refused.
        var kubeconfig = Path.Combine(Path.GetTempPath(), $"e2e-two-contexts-{Guid.NewGuid():N}.kubeconfig");
        File.WriteAllText(kubeconfig, """
            apiVersion: v1
            kind: Config
            current-context: kind-a
            clusters:
            - name: kind-a
              cluster: {server: "https://127.0.0.1:6443"}
            - name: kind-b
              cluster: {server: "https://127.0.0.1:6444"}
            contexts:
            - name: kind-a
              context: {cluster: kind-a, user: admin}
            - name: kind-b
              context: {cluster: kind-b, user: admin}
            users:
            - name: admin
              user: {token: not-a-real-token}
            """);
        try
        {
            var other = _pwsh.Run($"$c = New-E2ECluster -Provider Existing -Kubeconfig '{kubeconfig}' -Context kind-b; Invoke-Backfill -Engine Geneva -Database file:///tmp/none -Table pets -Column size -KubeRayCluster $c");
            Assert.StartsWith("InvalidArgument,", other.ErrorId);
            Assert.Contains("current context is 'kind-a'", other.Error!.Exception.Message);
        }
        finally
        {
            _pwsh.Run("Get-E2EScope | Remove-E2EScope");
            File.Delete(kubeconfig);
        }
    }
}
