using E2E.Core.Ethereum;

namespace E2E.Core.Oracle;

/// <summary>A node's inference counters at one moment (upstream InferenceMetrics).</summary>
public sealed record InferenceMetrics(long TotalTokensProcessed, long TotalRequests, double TotalLatencyMs, DateTimeOffset StartTime)
{
    /// <summary>Mean latency rounded to 2 decimals, 0.0 when there were no requests.</summary>
    public double AvgLatencyMs => TotalRequests == 0 ? 0.0 : Math.Round(TotalLatencyMs / TotalRequests, 2, MidpointRounding.ToEven);

    public long UptimeSeconds(DateTimeOffset now) => (long)Math.Floor((now - StartTime).TotalSeconds);

    public double TokensPerSecond(DateTimeOffset now)
    {
        var seconds = (now - StartTime).TotalSeconds;
        return seconds <= 0 ? 0.0 : Math.Round(TotalTokensProcessed / seconds, 2, MidpointRounding.ToEven);
    }
}

/// <summary>A proof of one inference: modelHash = keccak(model name), proofHash = keccak(modelHash ‖ inputHash ‖ outputHash ‖ leftpad32(agent)).</summary>
public sealed record ProofData(byte[] ModelHash, byte[] InputHash, byte[] OutputHash, EthAddress Agent, long TokenCount)
{
    public byte[] ProofHash => Keccak.HashConcat(ModelHash, InputHash, OutputHash, new byte[12], Agent.Bytes);

    public static ProofData For(string modelName, byte[] input, byte[] output, EthAddress agent, long tokenCount) =>
        new(Keccak.Hash(System.Text.Encoding.UTF8.GetBytes(modelName)), Keccak.Hash(input), Keccak.Hash(output), agent, tokenCount);

    /// <summary>The upstream to_dict() shape.</summary>
    public IReadOnlyList<KeyValuePair<string, object?>> ToJson() => new KeyValuePair<string, object?>[]
    {
        new("modelHash", Hex.Encode(ModelHash)),
        new("inputHash", Hex.Encode(InputHash)),
        new("outputHash", Hex.Encode(OutputHash)),
        new("agentAddress", Agent.ToString()),
        new("tokenCount", TokenCount),
        new("proofHash", Hex.Encode(ProofHash)),
    };
}

/// <summary>Thread-safe counters and a bounded proof buffer (1000, oldest dropped first), as upstream's MetricsCollector.</summary>
public sealed class MetricsCollector
{
    public const int ProofBufferSize = 1000;

    private readonly object _gate = new();
    private readonly Queue<ProofData> _proofs = new();
    private readonly TimeProvider _time;
    private long _tokens;
    private long _requests;
    private double _latencyMs;
    private DateTimeOffset _start;

    public MetricsCollector(TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _start = _time.GetUtcNow();
    }

    /// <summary>Proofs dropped because the buffer was full.</summary>
    public long DroppedProofs { get; private set; }

    public void RecordInference(long tokens, double latencyMs)
    {
        if (tokens < 0 || latencyMs < 0 || !double.IsFinite(latencyMs))
        {
            throw new ArgumentOutOfRangeException(nameof(tokens), "Tokens and latency must be non-negative.");
        }
        lock (_gate)
        {
            _tokens += tokens;
            _requests++;
            _latencyMs += latencyMs;
        }
    }

    public void RecordProof(ProofData proof)
    {
        lock (_gate)
        {
            if (_proofs.Count == ProofBufferSize)
            {
                _proofs.Dequeue();
                DroppedProofs++;
            }
            _proofs.Enqueue(proof);
        }
    }

    /// <summary>Takes the buffered proofs, oldest first: all of them, or at most <paramref name="max"/> (the rest wait for the next report).</summary>
    public IReadOnlyList<ProofData> DrainProofs(int max = int.MaxValue)
    {
        lock (_gate)
        {
            var drained = new List<ProofData>(Math.Min(max, _proofs.Count));
            while (drained.Count < max && _proofs.TryDequeue(out var proof))
            {
                drained.Add(proof);
            }
            return drained;
        }
    }

    public InferenceMetrics Snapshot()
    {
        lock (_gate)
        {
            return new InferenceMetrics(_tokens, _requests, _latencyMs, _start);
        }
    }

    /// <summary>Returns the counters and zeroes them; the start time is kept, as upstream does.</summary>
    public InferenceMetrics Reset()
    {
        lock (_gate)
        {
            var snapshot = new InferenceMetrics(_tokens, _requests, _latencyMs, _start);
            (_tokens, _requests, _latencyMs) = (0, 0, 0);
            return snapshot;
        }
    }
}
