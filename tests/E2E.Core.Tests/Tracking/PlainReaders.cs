using System.Diagnostics;
using System.Text;
using System.Text.Json;
using E2E.Core.Tracking;
using Xunit;

namespace E2E.Core.Tests.Tracking;

/// <summary>The independent Python readers in tests/reference, used as an oracle for the C# readers.</summary>
public static class PlainReaders
{
    public static string Script { get; } = Path.Combine(Fixtures.Root, "..", "reference", "plain_tracking_readers.py");

    public static JsonElement Run(string kind, string path)
    {
        var python = Process.Start(new ProcessStartInfo("python3", new[] { Script, kind, path }) { RedirectStandardOutput = true, RedirectStandardError = true, StandardOutputEncoding = Encoding.UTF8 })!;
        var output = python.StandardOutput.ReadToEnd();
        var errors = python.StandardError.ReadToEnd();
        python.WaitForExit();
        Assert.True(python.ExitCode == 0, $"the plain reader failed on {path}: {errors}");
        using var document = JsonDocument.Parse(output);
        return document.RootElement.Clone();
    }

    /// <summary>Asserts that a series equals the oracle's [[step, "repr", timestamp], ...] exactly, bit for bit.</summary>
    public static void AssertSame(JsonElement expected, MetricSeries actual, string where)
    {
        var points = expected.EnumerateArray().ToList();
        Assert.True(points.Count == actual.Count, $"{where}: {actual.Count} points, the plain reader has {points.Count}");
        for (var i = 0; i < points.Count; i++)
        {
            var p = points[i].EnumerateArray().ToList();
            Assert.True(MlflowFileStore.TryParsePythonFloat(Encoding.UTF8.GetBytes(p[1].GetString()!), out var value));
            var point = actual.Points[i];
            Assert.True(p[0].GetInt64() == point.Step, $"{where}[{i}]: step {point.Step}, expected {p[0]}");
            Assert.True(BitConverter.DoubleToInt64Bits(value) == BitConverter.DoubleToInt64Bits(point.Value) || (double.IsNaN(value) && double.IsNaN(point.Value)),
                $"{where}[{i}]: value {point.Value:R}, expected {p[1]}");
            Assert.True(p[2].GetInt64() == point.TimestampMs, $"{where}[{i}]: timestamp {point.TimestampMs}, expected {p[2]}");
        }
    }

    public static void AssertSameMetrics(JsonElement expectedMetrics, TrackedRun run, string where)
    {
        var names = expectedMetrics.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(names, run.Metrics.Keys.Order(StringComparer.Ordinal).ToList());
        foreach (var property in expectedMetrics.EnumerateObject())
        {
            AssertSame(property.Value, run.Metrics[property.Name], $"{where} {property.Name}");
        }
    }
}
