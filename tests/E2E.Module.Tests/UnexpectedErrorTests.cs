using System.Management.Automation;

namespace E2E.Module.Tests;

/// <summary>A library's raw exception still reaches the user with a catalogue id and a specific category, never NotSpecified.</summary>
public sealed class UnexpectedErrorTests : IDisposable
{
    private readonly Pwsh _pwsh = new();

    public void Dispose() => _pwsh.Dispose();

    [Fact]
    public void A_raw_overflow_is_UnexpectedInput_with_the_argument_category()
    {
        var result = _pwsh.Run("Wait-E2ECondition { $true } -TimeoutSec 1e308");
        Assert.Equal("UnexpectedInput,E2E.Cmdlets.Waiting.WaitE2EConditionCommand", result.ErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, result.Error!.CategoryInfo.Category);
        Assert.Contains("TimeSpan", result.Error.Exception.Message);
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
}
