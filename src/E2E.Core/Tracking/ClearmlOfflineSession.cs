using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using E2E.Core.Errors;

namespace E2E.Core.Tracking;

/// <summary>How a ClearML scalar's (title, series) pair becomes one metric name.</summary>
public enum ClearmlMetricNaming
{
    /// <summary>"title/series", the hierarchy ClearML's UI shows (a series named like its title is just the title).</summary>
    TitleSeries,

    /// <summary>"series/title": how tracelet reports a name "a/b" (series a, title b), so names match the other backends.</summary>
    SeriesTitle,
}

/// <summary>
/// Reads ClearML offline sessions (Task.set_offline): a folder or its zip holding task.json (the task
/// object) and metrics.jsonl (one JSON array of events per line; training_stats_scalar events are the
/// metric series). A cut last line (a crashed run) is read up to the damage with a warning.
/// </summary>
public static class ClearmlOfflineSession
{
    public const string TaskFile = "task.json";
    public const string MetricsFile = "metrics.jsonl";

    /// <summary>Sessions in a session folder, its zip, or a folder holding several (such as &lt;cache&gt;/offline).</summary>
    public static IReadOnlyList<TrackedRun> ReadRuns(string path, ClearmlMetricNaming naming = ClearmlMetricNaming.TitleSeries)
    {
        var local = TrackingPaths.LocalPath(path);
        if (File.Exists(local))
        {
            return new[] { ReadZip(local, naming) };
        }
        if (!Directory.Exists(local))
        {
            throw new E2EException(ErrorCatalog.TrackingStoreNotFound, $"The ClearML offline session '{local}' does not exist.", local);
        }
        if (File.Exists(Path.Combine(local, TaskFile)))
        {
            return new[] { ReadFolder(local, naming) };
        }
        var runs = new List<TrackedRun>();
        foreach (var folder in Directory.EnumerateDirectories(local, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (File.Exists(Path.Combine(folder, TaskFile)))
            {
                runs.Add(ReadFolder(folder, naming));
            }
        }
        // A zip stands for its session only where the unpacked folder is not there too.
        foreach (var zip in Directory.EnumerateFiles(local, "*.zip", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (!Directory.Exists(zip[..^4]))
            {
                runs.Add(ReadZip(zip, naming));
            }
        }
        return runs;
    }

    private static TrackedRun ReadFolder(string folder, ClearmlMetricNaming naming)
    {
        var metrics = Path.Combine(folder, MetricsFile);
        return Build(File.ReadAllBytes(Path.Combine(folder, TaskFile)), File.Exists(metrics) ? File.ReadAllBytes(metrics) : null, folder, naming);
    }

    private static TrackedRun ReadZip(string zipPath, ClearmlMetricNaming naming)
    {
        try
        {
            using var zip = ZipFile.OpenRead(zipPath);
            var task = zip.GetEntry(TaskFile)
                ?? throw new E2EException(ErrorCatalog.TrackingStoreMalformed, $"'{zipPath}' is not a ClearML offline session: it has no {TaskFile} at its root.", zipPath);
            var metrics = zip.GetEntry(MetricsFile);
            return Build(ReadEntry(task), metrics is null ? null : ReadEntry(metrics), zipPath, naming);
        }
        catch (InvalidDataException ex)
        {
            throw new E2EException(ErrorCatalog.TrackingStoreMalformed, $"'{zipPath}' is not a readable zip: {ex.Message}", zipPath, ex);
        }
    }

    private static byte[] ReadEntry(ZipArchiveEntry entry)
    {
        using var stream = entry.Open();
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static TrackedRun Build(byte[] taskJson, byte[]? metricsJsonl, string source, ClearmlMetricNaming naming)
    {
        JsonElement task;
        try
        {
            using var document = JsonDocument.Parse(taskJson);
            task = document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new E2EException(ErrorCatalog.TrackingStoreMalformed, $"'{source}': {TaskFile} is not JSON (line {ex.LineNumber + 1}): {ex.Message}", source, ex);
        }
        var warnings = new List<string>();
        var series = new Dictionary<string, List<MetricPoint>>(StringComparer.Ordinal);
        if (metricsJsonl is not null)
        {
            ReadEvents(metricsJsonl, source, naming, series, warnings);
        }
        var parameters = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (task.TryGetProperty("hyperparams", out var hyperparams) && hyperparams.ValueKind == JsonValueKind.Object)
        {
            foreach (var section in hyperparams.EnumerateObject().Where(s => s.Value.ValueKind == JsonValueKind.Object))
            {
                foreach (var parameter in section.Value.EnumerateObject())
                {
                    var value = parameter.Value.ValueKind == JsonValueKind.Object && parameter.Value.TryGetProperty("value", out var v) ? v : parameter.Value;
                    // Task.connect(dict) puts plain dicts in the "General" section: those keep their bare names.
                    var key = section.Name == "General" ? parameter.Name : $"{section.Name}/{parameter.Name}";
                    parameters[key] = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
                }
            }
        }
        return new TrackedRun
        {
            Backend = TrackingBackendKind.ClearML,
            RunId = Text(task, "id") ?? Path.GetFileNameWithoutExtension(source),
            Name = Text(task, "name"),
            Project = Text(task, "project_name") ?? Text(task, "project"),
            Status = Text(task, "status"),
            StartTime = Time(task, "started") ?? Time(task, "created"),
            EndTime = Time(task, "completed"),
            Parameters = parameters,
            Tags = task.TryGetProperty("tags", out var tags) && tags.ValueKind == JsonValueKind.Array
                ? tags.EnumerateArray().Select(t => t.ToString()).Distinct().ToDictionary(t => t, _ => string.Empty, StringComparer.Ordinal)
                : new Dictionary<string, string>(),
            Config = task.TryGetProperty("configuration", out var configuration) && TrackingJson.Convert(configuration) is Dictionary<string, object?> c ? c : new Dictionary<string, object?>(),
            Metrics = new SortedDictionary<string, MetricSeries>(series.ToDictionary(s => s.Key, s => new MetricSeries(s.Key, s.Value)), StringComparer.Ordinal),
            Source = source,
            Warnings = warnings,
        };
    }

    private static void ReadEvents(byte[] jsonl, string source, ClearmlMetricNaming naming, Dictionary<string, List<MetricPoint>> series, List<string> warnings)
    {
        var lineNumber = 0;
        foreach (var line in Encoding.UTF8.GetString(jsonl).Split('\n'))
        {
            lineNumber++;
            if (line.Trim().Length == 0)
            {
                continue;
            }
            JsonDocument batch;
            try
            {
                batch = JsonDocument.Parse(TrackingJson.QuoteNonFiniteLiterals(line));
            }
            catch (JsonException ex)
            {
                warnings.Add($"{source}: {MetricsFile} line {lineNumber} is not JSON ({ex.Message}); the events after it were not read.");
                return;
            }
            using (batch)
            {
                var events = batch.RootElement.ValueKind == JsonValueKind.Array ? batch.RootElement.EnumerateArray().ToArray() : new[] { batch.RootElement };
                foreach (var e in events)
                {
                    if (Text(e, "type") != "training_stats_scalar" || (e.TryGetProperty("model_event", out var model) && model.ValueKind == JsonValueKind.True))
                    {
                        continue;
                    }
                    var title = Text(e, "metric") ?? string.Empty;
                    var variant = Text(e, "variant") ?? string.Empty;
                    var name = variant.Length == 0 || variant == title ? title
                        : naming == ClearmlMetricNaming.TitleSeries ? $"{title}/{variant}" : $"{variant}/{title}";
                    if (!e.TryGetProperty("value", out var valueElement) || !TryValue(valueElement, out var value))
                    {
                        warnings.Add($"{source}: {MetricsFile} line {lineNumber}: the scalar '{name}' has no numeric value; skipped.");
                        continue;
                    }
                    var step = e.TryGetProperty("iter", out var iter) && iter.TryGetInt64(out var i) ? i : 0;
                    var timestamp = e.TryGetProperty("timestamp", out var ts) && ts.TryGetDouble(out var t) ? (long)t : 0;
                    if (!series.TryGetValue(name, out var points))
                    {
                        series[name] = points = new List<MetricPoint>();
                    }
                    points.Add(new MetricPoint(step, value, timestamp));
                }
            }
        }
    }

    private static bool TryValue(JsonElement element, out double value)
    {
        if (element.ValueKind == JsonValueKind.Number)
        {
            value = element.GetDouble();
            return true;
        }
        // json.dumps writes NaN/Infinity bare, which no JSON parser takes; ClearML's API sends them as strings.
        value = 0;
        return element.ValueKind == JsonValueKind.String && MlflowFileStore.TryParsePythonFloat(Encoding.UTF8.GetBytes(element.GetString()!), out value);
    }

    private static string? Text(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined)
            ? value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText()
            : null;

    private static DateTimeOffset? Time(JsonElement element, string property) =>
        Text(element, property) is { } text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) ? time : null;
}
