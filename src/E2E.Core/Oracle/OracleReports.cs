using System.Numerics;
using E2E.Core.Errors;
using E2E.Core.Ethereum;

namespace E2E.Core.Oracle;

/// <summary>
/// The two report formats the upstream code and suite disagree on. <see cref="Current"/> (the default, the
/// reporter at HEAD and the real Oracle): a flat body posted to /api/v1/metrics/report, signing only
/// {"agent","processed_tokens","timestamp"}. <see cref="Legacy"/> (what the upstream e2e suite and its docker
/// mock expect): {payload, signature} posted to /api/v1/report, signing the whole payload.
/// </summary>
public enum OracleReportFormat
{
    Current,
    Legacy,
}

/// <summary>A signed report ready to post. Holds no secret: the key signed it and is gone.</summary>
public sealed record OracleReport(OracleReportFormat Format, string Route, string Body, string SignedMessage, string Signature, EthAddress Agent, long Timestamp, long ProcessedTokens);

/// <summary>What a received report claims, and the message its signature must cover.</summary>
public sealed record ReceivedReport(OracleReportFormat Format, string AgentText, long Timestamp, long ProcessedTokens, string SignedMessage, string Signature)
{
    /// <summary>True when the signature recovers to the claimed agent.</summary>
    public bool SignatureValid()
    {
        try
        {
            return PersonalSign.Verify(SignedMessage, Signature, EthAddress.Parse(AgentText));
        }
        catch (E2EException)
        {
            return false;
        }
    }
}

public static class OracleReports
{
    public const string CurrentRoute = "/api/v1/metrics/report";
    public const string LegacyRoute = "/api/v1/report";

    public static string RouteOf(OracleReportFormat format) => format == OracleReportFormat.Current ? CurrentRoute : LegacyRoute;

    public static OracleReport Build(EthKey key, InferenceMetrics metrics, IReadOnlyList<ProofData> proofs, long timestamp, OracleReportFormat format, DateTimeOffset now)
    {
        var agent = key.Address.ToString();
        var proofJson = proofs.Select(p => p.ToJson()).ToArray();
        if (format == OracleReportFormat.Current)
        {
            var message = CanonicalJson.Serialize(new KeyValuePair<string, object?>[] { new("agent", agent), new("processed_tokens", metrics.TotalTokensProcessed), new("timestamp", timestamp) });
            var signature = PersonalSign.Sign(key, message);
            var body = new List<KeyValuePair<string, object?>>
            {
                new("wallet", agent), new("tokensProcessed", metrics.TotalTokensProcessed), new("avgLatencyMs", new PyFloat(metrics.AvgLatencyMs)),
                new("uptimeSeconds", metrics.UptimeSeconds(now)), new("requestCount", metrics.TotalRequests), new("timestamp", timestamp), new("signature", signature),
            };
            if (proofJson.Length > 0)
            {
                body.Add(new("proofs", proofJson));
            }
            return new OracleReport(format, CurrentRoute, CanonicalJson.Serialize(body, sortKeys: false), message, signature, key.Address, timestamp, metrics.TotalTokensProcessed);
        }
        var payload = new List<KeyValuePair<string, object?>>
        {
            new("agent", agent), new("processed_tokens", metrics.TotalTokensProcessed), new("avg_latency_ms", new PyFloat(metrics.AvgLatencyMs)),
            new("uptime_seconds", metrics.UptimeSeconds(now)), new("tasks_completed", metrics.TotalRequests), new("timestamp", timestamp),
        };
        if (proofJson.Length > 0)
        {
            payload.Add(new("proofs", proofJson));
        }
        var signed = CanonicalJson.Serialize(payload);
        var legacySignature = PersonalSign.Sign(key, signed);
        var legacyBody = CanonicalJson.Serialize(new KeyValuePair<string, object?>[] { new("payload", payload), new("signature", legacySignature) }, sortKeys: false);
        return new OracleReport(format, LegacyRoute, legacyBody, signed, legacySignature, key.Address, timestamp, metrics.TotalTokensProcessed);
    }

    /// <summary>Reads a posted report for the route it came to; a body that is not the route's shape is InvalidJson or InvalidData.</summary>
    public static ReceivedReport Parse(string route, string body)
    {
        var parsed = CanonicalJson.Parse(body) as List<KeyValuePair<string, object?>>
            ?? throw Malformed("the body must be a JSON object");
        if (route == LegacyRoute)
        {
            var payload = Member(parsed, "payload") as List<KeyValuePair<string, object?>> ?? throw Malformed("'payload' must be an object");
            var signature = Member(parsed, "signature") as string ?? throw Malformed("'signature' must be a string");
            return new ReceivedReport(OracleReportFormat.Legacy, Text(payload, "agent"), Integer(payload, "timestamp"), Integer(payload, "processed_tokens"), CanonicalJson.Serialize(payload), signature);
        }
        // The real Oracle's DTO accepts both spellings of a flat body.
        var agent = Member(parsed, "wallet") is string w ? w : Text(parsed, "agent");
        var tokens = Member(parsed, "tokensProcessed") is not null ? Integer(parsed, "tokensProcessed") : Integer(parsed, "processed_tokens");
        var timestamp = Integer(parsed, "timestamp");
        var message = CanonicalJson.Serialize(new KeyValuePair<string, object?>[] { new("agent", agent), new("processed_tokens", tokens), new("timestamp", timestamp) });
        return new ReceivedReport(OracleReportFormat.Current, agent, timestamp, tokens, message, Text(parsed, "signature"));
    }

    private static object? Member(List<KeyValuePair<string, object?>> members, string key) => members.FirstOrDefault(m => m.Key == key).Value;

    private static string Text(List<KeyValuePair<string, object?>> members, string key) =>
        Member(members, key) as string ?? throw Malformed($"'{key}' must be a string");

    private static long Integer(List<KeyValuePair<string, object?>> members, string key) =>
        Member(members, key) is BigInteger value && value >= long.MinValue && value <= long.MaxValue ? (long)value : throw Malformed($"'{key}' must be an integer");

    private static E2EException Malformed(string problem) => new(ErrorCatalog.InvalidJson, $"Malformed report: {problem}.");
}
