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
            // ClearML zips the folder's contents (task.json at the root); a zip of the folder itself has them one level down.
            var task = zip.GetEntry(TaskFile)
                ?? zip.Entries.Where(e => e.Name == TaskFile).OrderBy(e => e.FullName.Count(c => c == '/')).FirstOrDefault()
                ?? throw new E2EException(ErrorCatalog.TrackingStoreMalformed, $"'{zipPath}' is not a ClearML offline session: it has no {TaskFile}.", zipPath);
            var prefix = task.FullName[..^TaskFile.Length];
            var metrics = zip.GetEntry(prefix + MetricsFile);
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
        var names = new Dictionary<(string Title, string Variant), string>();
        var lineEvents = new List<(string Name, MetricPoint Point)>();
        var text = jsonl.AsSpan();
        var lineNumber = 0;
        while (!text.IsEmpty)
        {
            lineNumber++;
            var end = text.IndexOf((byte)'\n');
            var line = end < 0 ? text : text[..end];
            text = end < 0 ? Span<byte>.Empty : text[(end + 1)..];
            if (line.Trim(" \t\r"u8).IsEmpty)
            {
                continue;
            }
            // json.dumps writes NaN/Infinity bare; such lines are made JSON first (rare, so the fast path stays on bytes).
            var json = line.IndexOf("NaN"u8) >= 0 || line.IndexOf("Infinity"u8) >= 0
                ? Encoding.UTF8.GetBytes(TrackingJson.QuoteNonFiniteLiterals(Encoding.UTF8.GetString(line)))
                : line.ToArray();
            lineEvents.Clear();
            try
            {
                ReadBatch(json, lineNumber, source, naming, names, lineEvents, warnings);
            }
            catch (JsonException ex)
            {
                warnings.Add($"{source}: {MetricsFile} line {lineNumber} is not JSON ({ex.Message}); the events after it were not read.");
                return;
            }
            // A line's events are kept only when the whole line parsed.
            foreach (var (name, point) in lineEvents)
            {
                if (!series.TryGetValue(name, out var points))
                {
                    series[name] = points = new List<MetricPoint>();
                }
                points.Add(point);
            }
        }
    }

    /// <summary>One metrics.jsonl line: a JSON array of event objects (or one object), read as a stream of tokens.</summary>
    private static void ReadBatch(byte[] line, int lineNumber, string source, ClearmlMetricNaming naming, Dictionary<(string, string), string> names, List<(string, MetricPoint)> events, List<string> warnings)
    {
        var reader = new Utf8JsonReader(line);
        reader.Read();
        if (reader.TokenType == JsonTokenType.StartArray)
        {
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                ReadEvent(ref reader, lineNumber, source, naming, names, events, warnings);
            }
        }
        else
        {
            ReadEvent(ref reader, lineNumber, source, naming, names, events, warnings);
        }
        if (reader.Read())
        {
            throw new JsonException("text after the batch");
        }
    }

    private static void ReadEvent(ref Utf8JsonReader reader, int lineNumber, string source, ClearmlMetricNaming naming, Dictionary<(string, string), string> names, List<(string, MetricPoint)> events, List<string> warnings)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new JsonException("an event is not an object");
        }
        bool scalar = false, modelEvent = false, hasValue = false;
        string title = string.Empty, variant = string.Empty;
        long step = 0, timestamp = 0;
        double value = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var property = reader.ValueSpan;
            var isType = property.SequenceEqual("type"u8);
            var isMetric = property.SequenceEqual("metric"u8);
            var isVariant = property.SequenceEqual("variant"u8);
            var isIter = property.SequenceEqual("iter"u8);
            var isTimestamp = property.SequenceEqual("timestamp"u8);
            var isValue = property.SequenceEqual("value"u8);
            var isModel = property.SequenceEqual("model_event"u8);
            reader.Read();
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject or JsonTokenType.StartArray:
                    reader.Skip();
                    break;
                case JsonTokenType.String when isType:
                    scalar = reader.ValueTextEquals("training_stats_scalar"u8);
                    break;
                case JsonTokenType.String when isMetric:
                    title = reader.GetString()!;
                    break;
                case JsonTokenType.String when isVariant:
                    variant = reader.GetString()!;
                    break;
                case JsonTokenType.Number when isIter:
                    step = reader.TryGetInt64(out var i) ? i : (long)reader.GetDouble();
                    break;
                case JsonTokenType.Number when isTimestamp:
                    timestamp = (long)reader.GetDouble();
                    break;
                case JsonTokenType.Number when isValue:
                    value = reader.GetDouble();
                    hasValue = true;
                    break;
                case JsonTokenType.String when isValue:
                    hasValue = MlflowFileStore.TryParsePythonFloat(reader.ValueSpan, out value);
                    break;
                case JsonTokenType.True when isModel:
                    modelEvent = true;
                    break;
            }
        }
        if (!scalar || modelEvent)
        {
            return;
        }
        if (!names.TryGetValue((title, variant), out var name))
        {
            name = variant.Length == 0 || variant == title ? title
                : naming == ClearmlMetricNaming.TitleSeries ? $"{title}/{variant}" : $"{variant}/{title}";
            names[(title, variant)] = name;
        }
        if (!hasValue)
        {
            warnings.Add($"{source}: {MetricsFile} line {lineNumber}: the scalar '{name}' has no numeric value; skipped.");
            return;
        }
        events.Add((name, new MetricPoint(step, value, timestamp)));
    }

    private static string? Text(JsonElement element, string property) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(property, out var value) && value.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined)
            ? value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText()
            : null;

    private static DateTimeOffset? Time(JsonElement element, string property) =>
        Text(element, property) is { } text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) ? time : null;
}
