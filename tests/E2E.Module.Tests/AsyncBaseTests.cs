using System.Diagnostics;
using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Errors;

namespace E2E.Module.Tests;

/// <summary>A cmdlet that produces items from the thread pool, to exercise <see cref="AsyncE2ECmdlet"/>.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "TestAsyncWork", SupportsShouldProcess = true)]
[OutputType(typeof(int))]
public sealed class InvokeTestAsyncWorkCommand : AsyncE2ECmdlet
{
    public static readonly List<string> Log = new();

    [Parameter]
    public int Count { get; set; } = 3;

    [Parameter]
    public int DelayMs { get; set; }

    [Parameter]
    public int FirstDelayMs { get; set; }

    [Parameter]
    public SwitchParameter Fail { get; set; }

    protected override async Task ProcessAsync()
    {
        try
        {
            for (var i = 0; i < Count; i++)
            {
                if (!await ShouldProcessAsync($"item {i}", "Produce"))
                {
                    continue;
                }
                Verbose($"producing {i} on thread {Environment.CurrentManagedThreadId}");
                await Task.Delay(i == 0 ? FirstDelayMs : DelayMs, CancelToken);
                if (Fail)
                {
                    throw new E2EException(ErrorCatalog.InvalidName, "failing on purpose from a worker thread", i);
                }
                Output(i);
            }
        }
        catch (OperationCanceledException)
        {
            lock (Log)
            {
                Log.Add("cancelled");
            }
            throw;
        }
    }
}

/// <summary>Stops the pipeline after passing on its first input, as Select-Object -First 1 does.</summary>
[Cmdlet(VerbsLifecycle.Stop, "TestPipelineAfterFirst")]
[OutputType(typeof(object))]
public sealed class StopTestPipelineAfterFirstCommand : PSCmdlet
{
    [Parameter(ValueFromPipeline = true)]
    public object? InputObject { get; set; }

    protected override void ProcessRecord()
    {
        WriteObject(InputObject);
        throw new PipelineStoppedException();
    }
}

[Collection(nameof(AsyncBaseTests))]
[CollectionDefinition(nameof(AsyncBaseTests), DisableParallelization = true)]
public sealed class AsyncBaseTests : IDisposable
{
    private readonly Pwsh _pwsh = new(importModule: false);

    public AsyncBaseTests()
    {
        _pwsh.Run("Import-Module -Assembly $asm", new Dictionary<string, object?> { ["asm"] = typeof(AsyncBaseTests).Assembly }).ShouldSucceed();
        lock (InvokeTestAsyncWorkCommand.Log)
        {
            InvokeTestAsyncWorkCommand.Log.Clear();
        }
    }

    public void Dispose() => _pwsh.Dispose();

    [Fact]
    public void Output_and_verbose_written_from_worker_threads_reach_the_pipeline_in_order()
    {
        var result = _pwsh.Run("Invoke-TestAsyncWork -Count 5 -Verbose").ShouldSucceed();
        Assert.Equal(new[] { "0", "1", "2", "3", "4" }, result.Strings);
        Assert.Equal(5, result.Verbose.Count(v => v.StartsWith("producing", StringComparison.Ordinal)));
    }

    [Fact]
    public void ShouldProcess_is_asked_on_the_pipeline_thread_and_WhatIf_skips_the_work()
    {
        var result = _pwsh.Run("Invoke-TestAsyncWork -Count 3 -WhatIf").ShouldSucceed();
        Assert.Empty(result.Output);
    }

    [Fact]
    public void Error_from_async_work_keeps_its_id()
    {
        var result = _pwsh.Run("Invoke-TestAsyncWork -Count 2 -Fail");
        Assert.Equal("InvalidName,E2E.Module.Tests.InvokeTestAsyncWorkCommand", result.ErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, result.Error!.CategoryInfo.Category);
        Assert.Equal(0, result.Error.TargetObject);
    }

    [Fact]
    public void A_downstream_stop_cancels_the_work_and_returns_promptly()
    {
        var clock = Stopwatch.StartNew();
        var result = _pwsh.Run("Invoke-TestAsyncWork -Count 10 -DelayMs 60000 | Stop-TestPipelineAfterFirst");
        clock.Stop();
        Assert.Equal(new[] { "0" }, result.Strings);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        Assert.Contains("cancelled", Snapshot());
    }

    [Fact]
    public void Ctrl_C_cancels_the_work_without_deadlock()
    {
        using var ps = PowerShell.Create();
        ps.Runspace = _pwsh.Runspace;
        ps.AddScript("Invoke-TestAsyncWork -Count 3 -FirstDelayMs 0 -DelayMs 60000");
        var output = new PSDataCollection<PSObject>();
        var firstItem = new ManualResetEventSlim();
        output.DataAdded += (_, _) => firstItem.Set();
        var clock = Stopwatch.StartNew();
        var handle = ps.BeginInvoke<PSObject, PSObject>(null, output);
        Assert.True(firstItem.Wait(TimeSpan.FromSeconds(20)), "no first item");
        ps.Stop();
        Assert.Throws<PipelineStoppedException>(() => ps.EndInvoke(handle));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"stop took {clock.Elapsed}");
        Assert.Equal(0, output[0].BaseObject);
        Assert.Contains("cancelled", Snapshot());
    }

    private static string[] Snapshot()
    {
        lock (InvokeTestAsyncWorkCommand.Log)
        {
            return InvokeTestAsyncWorkCommand.Log.ToArray();
        }
    }
}
