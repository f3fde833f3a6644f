using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Net;

namespace E2E.Core.Petals;

/// <summary>What a node's /health says of it: enough for a client to route through it.</summary>
public sealed record PetalsNodeInfo(string Url, string Model, int BlockStart, int BlockEnd, int HiddenSize, string? Agent)
{
    public string Blocks => $"{BlockStart}-{BlockEnd - 1}";

    public bool Serves(int block) => block >= BlockStart && block < BlockEnd;

    /// <summary>Reads a node's /health answer.</summary>
    public static PetalsNodeInfo Parse(string url, string healthJson)
    {
        try
        {
            using var document = JsonDocument.Parse(healthJson);
            var root = document.RootElement;
            var blocks = root.GetProperty("blocks");
            return new PetalsNodeInfo(url.TrimEnd('/'), root.GetProperty("model").GetString() ?? string.Empty, blocks[0].GetInt32(), blocks[1].GetInt32(),
                root.GetProperty("hidden_size").GetInt32(), root.TryGetProperty("agent", out var agent) && agent.ValueKind == JsonValueKind.String ? agent.GetString() : null);
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException or FormatException)
        {
            throw new E2EException(ErrorCatalog.PetalsNodeUnreachable, $"{SecretText.Url(url)}/health did not answer as a Petals node does: {ex.Message}", url, ex);
        }
    }
}

/// <summary>What a node's GET /metrics says: upstream's to_dict, and the reporter's and chain's state.</summary>
public sealed record PetalsNodeMetrics(
    string Url,
    long TotalTokensProcessed,
    long TotalRequests,
    double TotalLatencyMs,
    double AvgLatencyMs,
    long UptimeSeconds,
    double TokensPerSecond,
    long ReportsDelivered,
    long ReportsRejected,
    bool ReporterHealthy,
    string? RegistrationTx,
    long Heartbeats,
    string? LastChainError)
{
    public static PetalsNodeMetrics Parse(string url, string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            string? Text(string name) => root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
            return new PetalsNodeMetrics(url, root.GetProperty("total_tokens_processed").GetInt64(), root.GetProperty("total_requests").GetInt64(),
                root.GetProperty("total_latency_ms").GetDouble(), root.GetProperty("avg_latency_ms").GetDouble(), root.GetProperty("uptime_seconds").GetInt64(),
                root.GetProperty("tokens_per_second").GetDouble(), root.GetProperty("reports_delivered").GetInt64(), root.GetProperty("reports_rejected").GetInt64(),
                root.GetProperty("reporter_healthy").GetBoolean(), Text("registration_tx"), root.GetProperty("heartbeats").GetInt64(), Text("last_chain_error"));
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new E2EException(ErrorCatalog.PetalsNodeUnreachable, $"{SecretText.Url(url)}/metrics did not answer as a Petals node does: {ex.Message}", url, ex);
        }
    }
}
