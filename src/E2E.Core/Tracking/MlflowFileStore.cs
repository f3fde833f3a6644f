using System.Globalization;
using System.Text;
using E2E.Core.Errors;
using YamlDotNet.Serialization;

namespace E2E.Core.Tracking;

/// <summary>
/// Reads MLflow's FileStore (an <c>mlruns</c> tree, 1.x and 2.x layouts) the way mlflow's own
/// <c>FileStore</c> does: experiments and runs from meta.yaml, params and tags as raw file contents,
/// metric histories as "timestamp value [step]" lines (the legacy two-field form has step 0).
/// Keys containing '/' are sub-folders.
/// </summary>
public static class MlflowFileStore
{
    private static readonly string[] ReservedExperimentFolders = { "tags", "datasets", "traces" };

    private static readonly IDeserializer Yaml = new DeserializerBuilder().Build();

    /// <summary>Runs under <paramref name="path"/>: an mlruns root, one experiment folder or one run folder (a <c>file://</c> URI is accepted).</summary>
    public static IReadOnlyList<TrackedRun> ReadRuns(string path)
    {
        var root = TrackingPaths.LocalPath(path);
        if (!Directory.Exists(root))
        {
            throw new E2EException(ErrorCatalog.TrackingStoreNotFound, $"The MLflow store '{root}' does not exist.", root);
        }
        var meta = ReadMeta(Path.Combine(root, "meta.yaml"));
        if (meta is not null && meta.ContainsKey("run_id"))
        {
            var experimentMeta = ReadMeta(Path.Combine(Path.GetDirectoryName(root)!, "meta.yaml"));
            return new[] { ReadRun(root, meta, experimentMeta) };
        }
        var experiments = meta is not null && meta.ContainsKey("experiment_id")
            ? new[] { (Folder: root, Meta: (Dictionary<string, object?>?)meta) }
            : ExperimentFolders(root).Select(f => (Folder: f, Meta: ReadMeta(Path.Combine(f, "meta.yaml")))).Where(e => e.Meta is not null).ToArray();
        var runs = new List<TrackedRun>();
        foreach (var (experimentFolder, experimentMeta) in experiments)
        {
            foreach (var runFolder in Directory.EnumerateDirectories(experimentFolder).Order(StringComparer.Ordinal))
            {
                if (ReservedExperimentFolders.Contains(Path.GetFileName(runFolder)))
                {
                    continue;
                }
                var runMeta = ReadMeta(Path.Combine(runFolder, "meta.yaml"));
                if (runMeta is not null)
                {
                    runs.Add(ReadRun(runFolder, runMeta, experimentMeta));
                }
            }
        }
        return runs;
    }

    /// <summary>The experiments of an mlruns root (with or without runs): id, name and folder.</summary>
    public static IReadOnlyList<MlflowExperiment> ReadExperiments(string path)
    {
        var root = TrackingPaths.LocalPath(path);
        if (!Directory.Exists(root))
        {
            throw new E2EException(ErrorCatalog.TrackingStoreNotFound, $"The MLflow store '{root}' does not exist.", root);
        }
        return ExperimentFolders(root)
            .Select(folder => (Folder: folder, Meta: ReadMeta(Path.Combine(folder, "meta.yaml"))))
            .Where(e => e.Meta is not null)
            .Select(e => new MlflowExperiment(Text(e.Meta!, "experiment_id") ?? Path.GetFileName(e.Folder), Text(e.Meta!, "name") ?? string.Empty, e.Folder))
            .ToArray();
    }

    // .trash holds deleted experiments; other dot folders are not MLflow's.
    private static IEnumerable<string> ExperimentFolders(string root) =>
        Directory.EnumerateDirectories(root).Where(d => !Path.GetFileName(d).StartsWith('.')).Order(StringComparer.Ordinal);

    /// <summary>One metric history file, parsed like FileStore._get_metric_from_line.</summary>
    public static MetricSeries ReadMetricFile(string file, string name)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(file);
        }
        catch (IOException ex)
        {
            throw new E2EException(ErrorCatalog.OutputUnreadable, $"The metric file '{file}' could not be read: {ex.Message}", file, ex);
        }
        return new MetricSeries(name, ParseMetricLines(bytes, file));
    }

    internal static List<MetricPoint> ParseMetricLines(ReadOnlySpan<byte> text, string file)
    {
        var points = new List<MetricPoint>(text.Length / 32);
        var lineNumber = 0;
        while (!text.IsEmpty)
        {
            lineNumber++;
            var end = text.IndexOf((byte)'\n');
            var line = (end < 0 ? text : text[..end]).Trim(" \t\r"u8);
            text = end < 0 ? ReadOnlySpan<byte>.Empty : text[(end + 1)..];
            if (line.IsEmpty)
            {
                continue;
            }
            points.Add(ParseMetricLine(line, file, lineNumber));
        }
        return points;
    }

    private static MetricPoint ParseMetricLine(ReadOnlySpan<byte> line, string file, int lineNumber)
    {
        var first = line.IndexOf((byte)' ');
        if (first < 0)
        {
            throw Malformed(line, file, lineNumber);
        }
        var rest = line[(first + 1)..];
        var second = rest.IndexOf((byte)' ');
        var valueText = second < 0 ? rest : rest[..second];
        var stepText = second < 0 ? ReadOnlySpan<byte>.Empty : rest[(second + 1)..];
        if (stepText.IndexOf((byte)' ') >= 0
            || !long.TryParse(line[..first], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var timestamp)
            || !TryParsePythonFloat(valueText, out var value))
        {
            throw Malformed(line, file, lineNumber);
        }
        long step = 0;
        if (second >= 0 && !long.TryParse(stepText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out step))
        {
            throw Malformed(line, file, lineNumber);
        }
        return new MetricPoint(step, value, timestamp);
    }

    /// <summary>Python's float(): repr forms, integers, and nan/inf in any case.</summary>
    internal static bool TryParsePythonFloat(ReadOnlySpan<byte> text, out double value)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value))
        {
            return true;
        }
        Span<char> lower = stackalloc char[Math.Min(text.Length, 16)];
        if (text.Length > 16)
        {
            return false;
        }
        for (var i = 0; i < text.Length; i++)
        {
            lower[i] = char.ToLowerInvariant((char)text[i]);
        }
        var word = lower[..text.Length];
        var negative = word.StartsWith("-");
        var unsigned = word.TrimStart("+-");
        if (unsigned.SequenceEqual("nan"))
        {
            value = double.NaN;
            return true;
        }
        if (unsigned.SequenceEqual("inf") || unsigned.SequenceEqual("infinity"))
        {
            value = negative ? double.NegativeInfinity : double.PositiveInfinity;
            return true;
        }
        return false;
    }

    private static E2EException Malformed(ReadOnlySpan<byte> line, string file, int lineNumber) =>
        new(ErrorCatalog.TrackingStoreMalformed,
            $"Metric file '{file}' line {lineNumber} is malformed: '{Encoding.UTF8.GetString(line)}' (expected 'timestamp value [step]').", file);

    private static TrackedRun ReadRun(string runFolder, Dictionary<string, object?> meta, Dictionary<string, object?>? experimentMeta)
    {
        var tags = ReadKeyFiles(Path.Combine(runFolder, "tags"));
        var runId = Text(meta, "run_id") ?? Text(meta, "run_uuid") ?? Path.GetFileName(runFolder);
        var runName = Text(meta, "run_name") is { Length: > 0 } n ? n : tags.GetValueOrDefault("mlflow.runName");
        var metricsFolder = Path.Combine(runFolder, "metrics");
        var metrics = new SortedDictionary<string, MetricSeries>(StringComparer.Ordinal);
        foreach (var (key, file) in KeyFiles(metricsFolder))
        {
            metrics[key] = ReadMetricFile(file, key);
        }
        return new TrackedRun
        {
            Backend = TrackingBackendKind.MLflow,
            RunId = runId,
            Name = runName,
            Project = experimentMeta is null ? null : Text(experimentMeta, "name"),
            Status = StatusName(Text(meta, "status")),
            StartTime = Millis(Text(meta, "start_time")),
            EndTime = Millis(Text(meta, "end_time")),
            Parameters = ReadKeyFiles(Path.Combine(runFolder, "params")),
            Tags = tags,
            Metrics = metrics,
            Source = runFolder,
        };
    }

    private static string? StatusName(string? status) => status switch
    {
        "1" => "RUNNING",
        "2" => "SCHEDULED",
        "3" => "FINISHED",
        "4" => "FAILED",
        "5" => "KILLED",
        _ => status,
    };

    private static DateTimeOffset? Millis(string? text) =>
        long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var ms) ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    private static string? Text(Dictionary<string, object?> meta, string key) =>
        meta.TryGetValue(key, out var value) && value is not null ? Convert.ToString(value, CultureInfo.InvariantCulture) : null;

    private static SortedDictionary<string, string> ReadKeyFiles(string folder)
    {
        var values = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, file) in KeyFiles(folder))
        {
            values[key] = File.ReadAllText(file, Encoding.UTF8);
        }
        return values;
    }

    /// <summary>Every file under <paramref name="folder"/> with its key: the relative path with '/' separators.</summary>
    private static IEnumerable<(string Key, string File)> KeyFiles(string folder)
    {
        if (!Directory.Exists(folder))
        {
            return Enumerable.Empty<(string, string)>();
        }
        return Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Select(f => (Path.GetRelativePath(folder, f).Replace(Path.DirectorySeparatorChar, '/'), f))
            .OrderBy(k => k.Item1, StringComparer.Ordinal);
    }

    private static Dictionary<string, object?>? ReadMeta(string file)
    {
        if (!File.Exists(file))
        {
            return null;
        }
        var text = File.ReadAllText(file);
        E2E.Core.Limits.InputLimits.CheckYaml(text, file);
        try
        {
            return Yaml.Deserialize<Dictionary<string, object?>>(text) ?? new Dictionary<string, object?>();
        }
        catch (YamlDotNet.Core.YamlException ex)
        {
            throw new E2EException(ErrorCatalog.TrackingStoreMalformed, $"'{file}' is not valid YAML (line {ex.Start.Line}): {ex.Message}", file, ex);
        }
    }
}

/// <summary>An MLflow experiment of a FileStore: its id, name and folder.</summary>
public sealed record MlflowExperiment(string Id, string Name, string Folder);
