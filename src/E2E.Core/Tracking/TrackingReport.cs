using System.Globalization;
using System.Security;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace E2E.Core.Tracking;

/// <summary>One workflow run in a report, with the run its store holds (null when none was found).</summary>
public sealed record TrackingReportEntry(WorkflowRunResult Result, TrackedRun? Run);

/// <summary>The files a report wrote.</summary>
public sealed record TrackingReportFiles(string JsonPath, string MarkdownPath, IReadOnlyList<string> PlotPaths);

/// <summary>
/// The Tracelet report: e2e_report_&lt;time&gt;.json and e2e_summary_&lt;time&gt;.md with the seed runner's
/// fields, where metrics_logged and final_accuracy come from what the stores hold, plus a
/// cross-backend comparison and one SVG plot per metric with every backend's curve.
/// </summary>
public static class TrackingReport
{
    private static readonly string[] AccuracyMetrics = { "final/best_accuracy", "final/val_accuracy", "val/accuracy_r2", "train/accuracy_r2" };
    private static readonly string[] Palette = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf" };

    public static TrackingReportFiles Write(
        IReadOnlyList<TrackingReportEntry> entries,
        IReadOnlyList<TrackedRunDifference> differences,
        IReadOnlyDictionary<string, object?> environmentInfo,
        string outputDirectory,
        DateTimeOffset now)
    {
        Directory.CreateDirectory(outputDirectory);
        var local = now.ToLocalTime();
        var stamp = local.ToString("yyyy-MM-ddTHH:mm:ss.ffffff", CultureInfo.InvariantCulture);
        var fileStamp = stamp.Replace(':', '-');
        var plotsFolder = Path.Combine(outputDirectory, $"plots_{fileStamp}");
        var plots = WritePlots(entries, plotsFolder);
        var report = BuildJson(entries, differences, environmentInfo, stamp);
        var jsonPath = Path.Combine(outputDirectory, $"e2e_report_{fileStamp}.json");
        var markdownPath = Path.Combine(outputDirectory, $"e2e_summary_{fileStamp}.md");
        WriteAtomically(jsonPath, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        WriteAtomically(markdownPath, BuildMarkdown(entries, differences, environmentInfo, stamp, plots.Select(p => (p.Metric, Path.GetRelativePath(outputDirectory, p.Path).Replace('\\', '/'))).ToList()));
        return new TrackingReportFiles(jsonPath, markdownPath, plots.Select(p => p.Path).ToList());
    }

    /// <summary>The environment JSON e2e_workflows.py prints (python_version, platform, available_packages).</summary>
    public static IReadOnlyDictionary<string, object?> ParseEnvironment(string json) =>
        TrackingJson.Parse(json) as IReadOnlyDictionary<string, object?> ?? new Dictionary<string, object?>();

    public static string Status(WorkflowRunResult result) => result.TimedOut ? "error" : result.Succeeded ? "passed" : "failed";

    /// <summary>The accuracy the store holds for a run: the last value of the first accuracy metric present.</summary>
    public static double? FinalAccuracy(TrackedRun? run) =>
        run is null ? null : AccuracyMetrics.Select(m => run.Metrics.GetValueOrDefault(m)).FirstOrDefault(s => s is { Count: > 0 }) is { } series ? series.Points[^1].Value : null;

    private static JsonObject BuildJson(IReadOnlyList<TrackingReportEntry> entries, IReadOnlyList<TrackedRunDifference> differences, IReadOnlyDictionary<string, object?> environmentInfo, string stamp)
    {
        var backends = entries.Select(e => e.Result.BackendName).Distinct().ToList();
        var workflows = entries.Select(e => e.Result.Workflow).Distinct().ToList();
        var times = entries.Where(e => e.Result.Succeeded).Select(e => e.Result.WallTime.TotalSeconds).ToList();
        var backendBreakdown = new JsonObject();
        foreach (var backend in backends)
        {
            var mine = entries.Where(e => e.Result.BackendName == backend).ToList();
            var perWorkflow = new JsonObject();
            foreach (var entry in mine)
            {
                perWorkflow[entry.Result.Workflow] = new JsonObject
                {
                    ["status"] = Status(entry.Result),
                    ["execution_time"] = Round(entry.Result.WallTime.TotalSeconds),
                    ["metrics_logged"] = entry.Run?.MetricPointCount ?? 0,
                };
            }
            backendBreakdown[backend] = new JsonObject
            {
                ["tests_run"] = mine.Count,
                ["passed"] = mine.Count(e => Status(e.Result) == "passed"),
                ["failed"] = mine.Count(e => Status(e.Result) == "failed"),
                ["skipped"] = 0,
                ["execution_time"] = Round(mine.Sum(e => e.Result.WallTime.TotalSeconds)),
                ["workflows"] = perWorkflow,
            };
        }
        var workflowBreakdown = new JsonObject();
        foreach (var workflow in workflows)
        {
            var mine = entries.Where(e => e.Result.Workflow == workflow).ToList();
            workflowBreakdown[workflow] = new JsonObject
            {
                ["total"] = mine.Count,
                ["passed"] = mine.Count(e => Status(e.Result) == "passed"),
                ["failed"] = mine.Count(e => Status(e.Result) == "failed"),
                ["skipped"] = 0,
            };
        }
        var detailed = new JsonArray();
        foreach (var entry in entries)
        {
            var result = entry.Result;
            var item = new JsonObject
            {
                ["backend"] = result.BackendName,
                ["workflow"] = result.Workflow,
                ["status"] = Status(result),
                ["execution_time"] = Round(result.WallTime.TotalSeconds),
                ["cpu_time"] = Round(result.CpuTime.TotalSeconds),
                ["peak_memory_mb"] = result.PeakMemoryMB,
                ["workflow_results"] = ToNode(result.Results),
                ["run_id"] = entry.Run?.RunId,
                ["metrics_logged"] = entry.Run?.MetricPointCount ?? 0,
                ["metrics"] = new JsonArray((entry.Run?.Metrics.Keys ?? Enumerable.Empty<string>()).Select(k => (JsonNode?)JsonValue.Create(k)).ToArray()),
                ["final_accuracy"] = FinalAccuracy(entry.Run) is { } accuracy && double.IsFinite(accuracy) ? JsonValue.Create(accuracy) : JsonValue.Create("N/A"),
            };
            if (Status(result) != "passed")
            {
                item["error"] = result.TimedOut ? "Workflow timed out" : Tail(result.ErrorOutput) is { Length: > 0 } tail ? tail : "Workflow validation failed";
            }
            detailed.Add(item);
        }
        var errors = new JsonArray(entries.Where(e => Status(e.Result) != "passed").Select(e => (JsonNode?)new JsonObject
        {
            ["backend"] = e.Result.BackendName,
            ["workflow"] = e.Result.Workflow,
            ["error"] = e.Result.TimedOut ? "Workflow timed out" : Tail(e.Result.ErrorOutput),
            ["timestamp"] = e.Result.StartedAt.ToString("o", CultureInfo.InvariantCulture),
        }).ToArray());
        JsonNode performance = entries.Count == 0 ? new JsonObject()
            : times.Count == 0 ? new JsonObject { ["note"] = "No successful tests to analyze" }
            : new JsonObject
            {
                ["execution_time_stats"] = new JsonObject { ["mean"] = Round(times.Average()), ["min"] = Round(times.Min()), ["max"] = Round(times.Max()), ["total"] = Round(times.Sum()) },
                ["backend_performance"] = Performance(entries, e => e.Result.BackendName),
                ["workflow_performance"] = Performance(entries, e => e.Result.Workflow),
            };
        return new JsonObject
        {
            ["test_info"] = new JsonObject
            {
                ["timestamp"] = stamp,
                ["backends_tested"] = new JsonArray(backends.Select(b => (JsonNode?)JsonValue.Create(b)).ToArray()),
                ["workflows_tested"] = new JsonArray(workflows.Select(w => (JsonNode?)JsonValue.Create(w)).ToArray()),
                ["total_combinations"] = backends.Count * workflows.Count,
            },
            ["environment_info"] = ToNode(environmentInfo),
            ["results"] = new JsonObject
            {
                ["summary"] = new JsonObject
                {
                    ["total_tests"] = entries.Count,
                    ["passed"] = entries.Count(e => Status(e.Result) == "passed"),
                    ["failed"] = entries.Count(e => Status(e.Result) == "failed"),
                    ["skipped"] = 0,
                    ["errors"] = entries.Count(e => Status(e.Result) == "error"),
                },
                ["backend_breakdown"] = backendBreakdown,
                ["workflow_breakdown"] = workflowBreakdown,
                ["detailed_results"] = detailed,
                ["performance_metrics"] = performance,
                ["error_analysis"] = errors,
                ["cross_backend"] = new JsonObject
                {
                    ["equal"] = differences.Count == 0,
                    ["differences"] = new JsonArray(differences.Select(d => (JsonNode?)new JsonObject
                    {
                        ["kind"] = d.Kind.ToString(),
                        ["reference_backend"] = d.ReferenceBackend,
                        ["backend"] = d.Backend,
                        ["metric"] = d.Metric,
                        ["step"] = d.Step,
                        ["reference_value"] = Number(d.ReferenceValue),
                        ["value"] = Number(d.Value),
                    }).ToArray()),
                },
            },
            ["execution_time"] = Round(entries.Sum(e => e.Result.WallTime.TotalSeconds)),
        };
    }

    private static JsonObject Performance(IReadOnlyList<TrackingReportEntry> entries, Func<TrackingReportEntry, string> key)
    {
        var node = new JsonObject();
        foreach (var group in entries.Where(e => e.Result.Succeeded).GroupBy(key))
        {
            node[group.Key] = new JsonObject
            {
                ["mean_time"] = Round(group.Average(e => e.Result.WallTime.TotalSeconds)),
                ["test_count"] = group.Count(),
                ["total_time"] = Round(group.Sum(e => e.Result.WallTime.TotalSeconds)),
                ["mean_cpu_time"] = Round(group.Average(e => e.Result.CpuTime.TotalSeconds)),
                ["max_peak_memory_mb"] = group.Max(e => e.Result.PeakMemoryMB),
            };
        }
        return node;
    }

    private static string BuildMarkdown(IReadOnlyList<TrackingReportEntry> entries, IReadOnlyList<TrackedRunDifference> differences, IReadOnlyDictionary<string, object?> environmentInfo, string stamp, IReadOnlyList<(string Metric, string RelativePath)> plots)
    {
        var md = new StringBuilder();
        var passed = entries.Count(e => Status(e.Result) == "passed");
        md.AppendLine("# Tracelet E2E Test Report").AppendLine();
        md.AppendLine($"**Generated:** {stamp}").AppendLine();
        md.AppendLine("## Test Summary").AppendLine();
        md.AppendLine("| Metric | Value |").AppendLine("|--------|-------|");
        md.AppendLine($"| Total Tests | {entries.Count} |");
        md.AppendLine($"| Passed | {passed} |");
        md.AppendLine($"| Failed | {entries.Count(e => Status(e.Result) == "failed")} |");
        md.AppendLine("| Skipped | 0 |");
        md.AppendLine($"| Errors | {entries.Count(e => Status(e.Result) == "error")} |");
        md.AppendLine(Invariant($"| Pass Rate | {(entries.Count == 0 ? 0 : 100.0 * passed / entries.Count):0.0}% |"));
        md.AppendLine(Invariant($"| Total Time | {entries.Sum(e => e.Result.WallTime.TotalSeconds):0.00}s |")).AppendLine();
        md.AppendLine("## Backend Results").AppendLine();
        md.AppendLine("| Backend | Passed | Total | Time (s) | CPU (s) | Peak memory (MB) | Metrics logged | Status |").AppendLine("|---------|--------|-------|----------|---------|------------------|----------------|--------|");
        foreach (var group in entries.GroupBy(e => e.Result.BackendName))
        {
            var ok = group.All(e => Status(e.Result) == "passed");
            md.AppendLine(Invariant($"| {group.Key} | {group.Count(e => Status(e.Result) == "passed")} | {group.Count()} | {group.Sum(e => e.Result.WallTime.TotalSeconds):0.00} | {group.Sum(e => e.Result.CpuTime.TotalSeconds):0.00} | {group.Max(e => e.Result.PeakMemoryMB):0.0} | {group.Sum(e => e.Run?.MetricPointCount ?? 0)} | {(ok ? "✅ OK" : "❌ Failed")} |"));
        }
        md.AppendLine().AppendLine("## Workflow Results").AppendLine();
        md.AppendLine("| Workflow | Passed | Total | Success Rate |").AppendLine("|----------|--------|-------|--------------|");
        foreach (var group in entries.GroupBy(e => e.Result.Workflow))
        {
            var ok = group.Count(e => Status(e.Result) == "passed");
            md.AppendLine(Invariant($"| {group.Key} | {ok} | {group.Count()} | {100.0 * ok / group.Count():0.0}% |"));
        }
        md.AppendLine().AppendLine("## Cross-backend comparison").AppendLine();
        if (differences.Count == 0)
        {
            md.AppendLine("Every backend holds the same metrics, steps and values.");
        }
        else
        {
            md.AppendLine("| Backend | Metric | Step | Value | Reference | Reference value |").AppendLine("|---------|--------|------|-------|-----------|-----------------|");
            foreach (var d in differences)
            {
                md.AppendLine($"| {d.Backend} | {d.Metric} | {d.Step?.ToString(CultureInfo.InvariantCulture) ?? "-"} | {Format(d.Value)} | {d.ReferenceBackend} | {Format(d.ReferenceValue)} |");
            }
        }
        if (plots.Count > 0)
        {
            md.AppendLine().AppendLine("## Metrics").AppendLine();
            foreach (var (metric, path) in plots)
            {
                md.AppendLine($"### {metric}").AppendLine().AppendLine($"![{metric}]({path})").AppendLine();
            }
        }
        md.AppendLine().AppendLine("## Environment Information").AppendLine();
        foreach (var (key, value) in environmentInfo)
        {
            if (value is IReadOnlyDictionary<string, object?> packages)
            {
                md.AppendLine($"- **{key}**:");
                foreach (var (package, version) in packages)
                {
                    md.AppendLine($"  - {package}: {version}");
                }
            }
            else
            {
                md.AppendLine($"- **{key}**: {value}");
            }
        }
        return md.ToString();
    }

    private static List<(string Metric, string Path)> WritePlots(IReadOnlyList<TrackingReportEntry> entries, string folder)
    {
        var written = new List<(string, string)>();
        var withRuns = entries.Where(e => e.Run is not null).ToList();
        var oneWorkflow = withRuns.Select(e => e.Result.Workflow).Distinct().Count() <= 1;
        foreach (var metric in withRuns.SelectMany(e => e.Run!.Metrics.Keys).Distinct().Order(StringComparer.Ordinal))
        {
            var curves = withRuns.Where(e => e.Run!.Metrics.ContainsKey(metric))
                .Select(e => (Label: oneWorkflow ? e.Result.BackendName : $"{e.Result.Workflow} · {e.Result.BackendName}", Series: e.Run!.Metrics[metric]))
                .ToList();
            Directory.CreateDirectory(folder);
            var file = Path.Combine(folder, SafeFileName(metric) + ".svg");
            WriteAtomically(file, Svg(metric, curves));
            written.Add((metric, file));
        }
        return written;
    }

    /// <summary>A line plot of each curve against its steps; points that are NaN or infinite break the line.</summary>
    public static string Svg(string title, IReadOnlyList<(string Label, MetricSeries Series)> curves)
    {
        const double width = 640, height = 360, left = 70, right = 150, top = 36, bottom = 44;
        var finite = curves.SelectMany(c => c.Series.Points).Where(p => double.IsFinite(p.Value)).ToList();
        double minX = finite.Count == 0 ? 0 : finite.Min(p => p.Step), maxX = finite.Count == 0 ? 1 : finite.Max(p => p.Step);
        double minY = finite.Count == 0 ? 0 : finite.Min(p => p.Value), maxY = finite.Count == 0 ? 1 : finite.Max(p => p.Value);
        if (maxX == minX) { maxX = minX + 1; }
        if (maxY == minY) { maxY = minY + 1; minY -= 1; }
        double X(double step) => left + (step - minX) / (maxX - minX) * (width - left - right);
        double Y(double value) => top + (maxY - value) / (maxY - minY) * (height - top - bottom);
        var svg = new StringBuilder();
        svg.AppendLine(Invariant($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">"));
        svg.AppendLine($"<title>{Escape(title)}</title>");
        svg.AppendLine(Invariant($"<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"white\"/>"));
        svg.AppendLine(Invariant($"<text x=\"{width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>"));
        svg.AppendLine(Invariant($"<rect x=\"{left}\" y=\"{top}\" width=\"{width - left - right}\" height=\"{height - top - bottom}\" fill=\"none\" stroke=\"#888\"/>"));
        svg.AppendLine(Invariant($"<text x=\"{left - 6}\" y=\"{top + 4}\" text-anchor=\"end\">{Format(maxY)}</text>"));
        svg.AppendLine(Invariant($"<text x=\"{left - 6}\" y=\"{height - bottom}\" text-anchor=\"end\">{Format(minY)}</text>"));
        svg.AppendLine(Invariant($"<text x=\"{left}\" y=\"{height - bottom + 16}\" text-anchor=\"middle\">{minX}</text>"));
        svg.AppendLine(Invariant($"<text x=\"{width - right}\" y=\"{height - bottom + 16}\" text-anchor=\"middle\">{maxX}</text>"));
        svg.AppendLine(Invariant($"<text x=\"{(left + width - right) / 2}\" y=\"{height - 8}\" text-anchor=\"middle\">step</text>"));
        for (var i = 0; i < curves.Count; i++)
        {
            var color = Palette[i % Palette.Length];
            // Later curves are dashed wider-to-narrower so that identical curves stay visible on top of each other.
            var dash = i == 0 ? string.Empty : Invariant($" stroke-dasharray=\"{8 - Math.Min(i, 3) * 2} {2 + i}\"");
            foreach (var segment in Segments(curves[i].Series.Points.OrderBy(p => p.Step)))
            {
                var points = string.Join(' ', segment.Select(p => Invariant($"{X(p.Step):0.##},{Y(p.Value):0.##}")));
                svg.AppendLine(segment.Count == 1
                    ? Invariant($"<circle cx=\"{X(segment[0].Step):0.##}\" cy=\"{Y(segment[0].Value):0.##}\" r=\"3\" fill=\"{color}\"/>")
                    : $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash} points=\"{points}\"/>");
            }
            var legendY = top + 14 + i * 18;
            svg.AppendLine(Invariant($"<line x1=\"{width - right + 12}\" y1=\"{legendY - 4}\" x2=\"{width - right + 36}\" y2=\"{legendY - 4}\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>"));
            svg.AppendLine(Invariant($"<text x=\"{width - right + 42}\" y=\"{legendY}\">{Escape(curves[i].Label)}</text>"));
        }
        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    private static IEnumerable<List<MetricPoint>> Segments(IEnumerable<MetricPoint> points)
    {
        var current = new List<MetricPoint>();
        foreach (var point in points)
        {
            if (double.IsFinite(point.Value))
            {
                current.Add(point);
            }
            else if (current.Count > 0)
            {
                yield return current;
                current = new List<MetricPoint>();
            }
        }
        if (current.Count > 0)
        {
            yield return current;
        }
    }

    private static string SafeFileName(string metric) =>
        string.Concat(metric.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' ? c : '_'));

    private static string Escape(string text) => SecurityElement.Escape(text) ?? string.Empty;

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    private static string Format(double? value) => value is { } v ? v.ToString("G6", CultureInfo.InvariantCulture) : "-";

    private static double Round(double seconds) => Math.Round(seconds, 3);

    private static JsonNode? Number(double? value) => value is { } v ? double.IsFinite(v) ? JsonValue.Create(v) : JsonValue.Create(v.ToString(CultureInfo.InvariantCulture)) : null;

    private static string Tail(string text) => string.Join("\n", text.TrimEnd().Split('\n').TakeLast(10));

    private static JsonNode? ToNode(object? value) => value switch
    {
        null => null,
        IReadOnlyDictionary<string, object?> map => new JsonObject(map.Select(p => KeyValuePair.Create(p.Key, ToNode(p.Value)))),
        string s => JsonValue.Create(s),
        bool b => JsonValue.Create(b),
        double d => double.IsFinite(d) ? JsonValue.Create(d) : JsonValue.Create(d.ToString(CultureInfo.InvariantCulture)),
        long l => JsonValue.Create(l),
        int i => JsonValue.Create(i),
        System.Collections.IEnumerable list => new JsonArray(list.Cast<object?>().Select(ToNode).ToArray()),
        _ => JsonValue.Create(Convert.ToString(value, CultureInfo.InvariantCulture)),
    };

    private static void WriteAtomically(string path, string text)
    {
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, text, new UTF8Encoding(false));
        File.Move(temporary, path, overwrite: true);
    }
}
