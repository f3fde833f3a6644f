using System.Globalization;
using System.Text.Json;
using E2E.Core.Ethereum;

namespace E2E.Core.Oracle;

/// <summary>
/// A folder of signed reports waiting for delivery, oldest first. A report is written (temp file + rename)
/// before the first attempt and deleted only once delivered, so reports made while the Oracle is down survive
/// a crash and are sent later; reports the Oracle refuses for good move to rejected/ for inspection.
/// </summary>
public sealed class ReportSpool
{
    private long _sequence;

    public ReportSpool(string directory)
    {
        Directory = System.IO.Directory.CreateDirectory(directory).FullName;
        System.IO.Directory.CreateDirectory(RejectedDirectory);
    }

    public string Directory { get; }

    public string RejectedDirectory => Path.Combine(Directory, "rejected");

    public string Enqueue(OracleReport report)
    {
        var name = $"{report.Timestamp:D20}-{Interlocked.Increment(ref _sequence):D10}-{Guid.NewGuid():N}.json";
        var path = Path.Combine(Directory, name);
        var stored = new StoredReport(report.Format, report.Route, report.Body, report.SignedMessage, report.Signature, report.Agent.ToString(), report.Timestamp, report.ProcessedTokens);
        File.WriteAllText(path + ".partial", JsonSerializer.Serialize(stored));
        File.Move(path + ".partial", path);
        return path;
    }

    /// <summary>Pending reports, oldest first.</summary>
    public IReadOnlyList<(string Path, OracleReport Report)> Pending() =>
        System.IO.Directory.EnumerateFiles(Directory, "*.json").Order(StringComparer.Ordinal).Select(p => (p, Load(p))).ToArray();

    public void Complete(string path) => File.Delete(path);

    public void Reject(string path) => File.Move(path, Path.Combine(RejectedDirectory, Path.GetFileName(path)), overwrite: true);

    private static OracleReport Load(string path)
    {
        var stored = JsonSerializer.Deserialize<StoredReport>(File.ReadAllText(path))!;
        return new OracleReport(stored.Format, stored.Route, stored.Body, stored.SignedMessage, stored.Signature, EthAddress.Parse(stored.Agent), stored.Timestamp, stored.ProcessedTokens);
    }

    private sealed record StoredReport(OracleReportFormat Format, string Route, string Body, string SignedMessage, string Signature, string Agent, long Timestamp, long ProcessedTokens);
}
