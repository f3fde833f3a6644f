using System.Globalization;
using E2E.Core.Errors;
using E2E.Core.Tracking.WandbProto;
using Google.Protobuf;
using Google.Protobuf.Collections;

namespace E2E.Core.Tracking;

/// <summary>
/// Reads W&amp;B runs from <c>.wandb</c> transaction logs (offline or synced runs): the run record,
/// history rows as metric series, the summary and the config. A damaged file is read up to the
/// damage; what was skipped is in the run's warnings.
/// </summary>
public static class WandbRunReader
{
    /// <summary>Runs in a .wandb file, a run folder, or a wandb folder holding run folders.</summary>
    public static IReadOnlyList<TrackedRun> ReadRuns(string path)
    {
        var local = TrackingPaths.LocalPath(path);
        if (File.Exists(local))
        {
            return new[] { ReadFile(local) };
        }
        if (!Directory.Exists(local))
        {
            throw new E2EException(ErrorCatalog.TrackingStoreNotFound, $"The W&B store '{local}' does not exist.", local);
        }
        // latest-run is a symlink to one of the run folders: follow nothing, so each run is read once.
        var files = new List<string>();
        var pending = new Stack<string>();
        pending.Push(local);
        while (pending.Count > 0)
        {
            var folder = pending.Pop();
            files.AddRange(Directory.EnumerateFiles(folder, "*.wandb").Where(f => new FileInfo(f).LinkTarget is null));
            foreach (var child in Directory.EnumerateDirectories(folder).Where(d => new DirectoryInfo(d).LinkTarget is null))
            {
                pending.Push(child);
            }
        }
        return files.Order(StringComparer.Ordinal).Select(ReadFile).ToArray();
    }

    public static TrackedRun ReadFile(string file)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(file);
        }
        catch (IOException ex)
        {
            throw new E2EException(ErrorCatalog.OutputUnreadable, $"The W&B file '{file}' could not be read: {ex.Message}", file, ex);
        }
        var warnings = new List<string>();
        var builder = new RunBuilder();
        var index = 0;
        foreach (var payload in WandbTransactionLog.ReadRecords(bytes, file, warnings))
        {
            index++;
            Record record;
            try
            {
                record = Record.Parser.ParseFrom(payload);
            }
            catch (InvalidProtocolBufferException ex)
            {
                warnings.Add($"{file}: record {index} is not a wandb Record ({ex.Message}); skipped.");
                continue;
            }
            builder.Add(record);
        }
        return builder.Build(file, warnings);
    }

    private sealed class RunBuilder
    {
        private readonly Dictionary<string, List<MetricPoint>> _series = new(StringComparer.Ordinal);
        private readonly Dictionary<string, object?> _summary = new(StringComparer.Ordinal);
        private readonly Dictionary<string, object?> _config = new(StringComparer.Ordinal);
        private RunRecord? _run;
        private RunExitRecord? _exit;
        private long _nextStep;
        private long _statsSamples;

        public void Add(Record record)
        {
            switch (record.RecordTypeCase)
            {
                case Record.RecordTypeOneofCase.Run:
                    _run = record.Run;
                    Apply(_config, record.Run.Config?.Update, record.Run.Config?.Remove, unwrapConfig: true);
                    Apply(_summary, record.Run.Summary?.Update, record.Run.Summary?.Remove, unwrapConfig: false);
                    break;
                case Record.RecordTypeOneofCase.History:
                    AddHistory(record.History);
                    break;
                case Record.RecordTypeOneofCase.Summary:
                    Apply(_summary, record.Summary.Update, record.Summary.Remove, unwrapConfig: false);
                    break;
                case Record.RecordTypeOneofCase.Config:
                    Apply(_config, record.Config.Update, record.Config.Remove, unwrapConfig: true);
                    break;
                case Record.RecordTypeOneofCase.Stats:
                    AddStats(record.Stats);
                    break;
                case Record.RecordTypeOneofCase.Exit:
                    _exit = record.Exit;
                    break;
            }
        }

        private void AddHistory(HistoryRecord history)
        {
            long? step = history.Step is null ? null : history.Step.Num;
            double? timestamp = null;
            var values = new List<(string Key, double Value)>();
            foreach (var item in history.Item)
            {
                var key = Key(item.Key, item.NestedKey);
                if (!TryNumber(item.ValueJson, out var number))
                {
                    continue;
                }
                switch (key)
                {
                    case "_step" when number == Math.Floor(number) && !double.IsInfinity(number):
                        step = (long)number;
                        break;
                    case "_timestamp":
                        timestamp = number;
                        break;
                    case "_runtime" or "_step":
                        break;
                    default:
                        values.Add((key, number));
                        break;
                }
            }
            var rowStep = step ?? _nextStep;
            _nextStep = rowStep + 1;
            var millis = timestamp is { } seconds ? (long)Math.Round(seconds * 1000) : 0;
            foreach (var (key, value) in values)
            {
                Append(key, rowStep, value, millis);
            }
        }

        /// <summary>System metrics sampled by wandb's monitor: series "system/&lt;key&gt;" (the name wandb's UI gives them), numbered by sample.</summary>
        private void AddStats(StatsRecord stats)
        {
            var millis = stats.Timestamp is null ? 0 : (long)(stats.Timestamp.ToDateTimeOffset() - DateTimeOffset.UnixEpoch).TotalMilliseconds;
            foreach (var item in stats.Item)
            {
                if (TryNumber(item.ValueJson, out var value))
                {
                    Append($"system/{item.Key}", _statsSamples, value, millis);
                }
            }
            _statsSamples++;
        }

        private void Append(string key, long step, double value, long millis)
        {
            if (!_series.TryGetValue(key, out var points))
            {
                _series[key] = points = new List<MetricPoint>();
            }
            points.Add(new MetricPoint(step, value, millis));
        }

        public TrackedRun Build(string file, List<string> warnings)
        {
            var fileName = Path.GetFileNameWithoutExtension(file);
            var runId = _run is { RunId.Length: > 0 } ? _run.RunId : fileName.StartsWith("run-", StringComparison.Ordinal) ? fileName[4..] : fileName;
            var start = _run?.StartTime?.ToDateTimeOffset();
            var runtime = _exit?.Runtime is > 0 ? _exit.Runtime : _run?.Runtime ?? 0;
            return new TrackedRun
            {
                Backend = TrackingBackendKind.WandB,
                RunId = runId,
                Name = _run is { DisplayName.Length: > 0 } ? _run.DisplayName : null,
                Project = _run is { Project.Length: > 0 } ? _run.Project : null,
                Status = _exit is null ? "running" : _exit.ExitCode == 0 ? "finished" : "failed",
                ExitCode = _exit?.ExitCode,
                StartTime = start,
                EndTime = _exit is not null && start is not null && runtime > 0 ? start.Value.AddSeconds(runtime) : null,
                Parameters = _config.ToDictionary(c => c.Key, c => TrackingJson.ParameterText(c.Value), StringComparer.Ordinal),
                Tags = (_run?.Tags ?? new RepeatedField<string>()).Distinct().ToDictionary(t => t, _ => string.Empty, StringComparer.Ordinal),
                Config = _config,
                Summary = _summary,
                Metrics = new SortedDictionary<string, MetricSeries>(_series.ToDictionary(s => s.Key, s => new MetricSeries(s.Key, s.Value)), StringComparer.Ordinal),
                Source = file,
                Warnings = warnings,
            };
        }

        private static void Apply<TItem>(Dictionary<string, object?> target, RepeatedField<TItem>? updates, RepeatedField<TItem>? removes, bool unwrapConfig)
            where TItem : IMessage
        {
            foreach (var item in updates ?? new RepeatedField<TItem>())
            {
                var (key, json) = KeyAndJson(item);
                var value = TrackingJson.Parse(json);
                if (unwrapConfig && value is IReadOnlyDictionary<string, object?> wrapped && wrapped.ContainsKey("value") && wrapped.Keys.All(k => k is "value" or "desc"))
                {
                    value = wrapped["value"];
                }
                target[key] = value;
            }
            foreach (var item in removes ?? new RepeatedField<TItem>())
            {
                target.Remove(KeyAndJson(item).Key);
            }
        }

        private static (string Key, string Json) KeyAndJson(IMessage item) => item switch
        {
            ConfigItem c => (Key(c.Key, c.NestedKey), c.ValueJson),
            SummaryItem s => (Key(s.Key, s.NestedKey), s.ValueJson),
            _ => throw new ArgumentException("not a config or summary item", nameof(item)),
        };
    }

    /// <summary>wandb's key: <c>key</c>, or the nested path joined with '.' (how wandb flattens nested dicts).</summary>
    private static string Key(string key, RepeatedField<string> nested) => key.Length > 0 || nested.Count == 0 ? key : string.Join('.', nested);

    private static bool TryNumber(string json, out double value)
    {
        var text = json.Trim();
        switch (text)
        {
            case "NaN":
                value = double.NaN;
                return true;
            case "Infinity":
                value = double.PositiveInfinity;
                return true;
            case "-Infinity":
                value = double.NegativeInfinity;
                return true;
        }
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) && !text.StartsWith('"');
    }
}
