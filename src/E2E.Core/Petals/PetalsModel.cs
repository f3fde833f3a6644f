using System.Buffers.Binary;
using E2E.Core.Errors;

namespace E2E.Core.Petals;

/// <summary>
/// A small deterministic language model that stands where bloom-560m stands in a Petals swarm: 24 blocks,
/// each a fixed transform of the hidden state (h + tanh(W·h + b), then RMS-normalised) whose weights come from
/// a generator seeded by the block's index, over a vocabulary of the 95 printable ASCII characters. The
/// same blocks computed in any process, in any split, give bit-identical states, so the tokens of a
/// distributed run can be compared exactly with a single-process run. Greedy decoding; the context is a
/// decaying sum of token and position embeddings.
/// </summary>
public sealed class PetalsModel
{
    public const string DefaultName = "e2e/tiny-bloom-24";
    public const int DefaultBlockCount = 24;
    public const int DefaultHiddenSize = 128;
    private const int FirstChar = 32;
    private const int VocabularySize = 95;
    private const double ContextDecay = 0.8;

    private readonly double[][] _embedding;
    private readonly double[][] _readout;
    private readonly Lazy<Block>[] _blocks;

    public PetalsModel(string name = DefaultName, int blockCount = DefaultBlockCount, int hiddenSize = DefaultHiddenSize)
    {
        if (blockCount < 1 || blockCount > 4096 || hiddenSize < 4 || hiddenSize > 4096)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, $"A model needs 1 to 4096 blocks and a hidden size of 4 to 4096 (got {blockCount} and {hiddenSize}).");
        }
        Name = name;
        BlockCount = blockCount;
        HiddenSize = hiddenSize;
        var random = new SplitMix64(0xE2E0_0000_0000_0001UL);
        _embedding = Enumerable.Range(0, VocabularySize).Select(_ => random.Vector(hiddenSize, 1.0)).ToArray();
        // A readout of its own, so the next token is not merely the one most like the last.
        _readout = Enumerable.Range(0, VocabularySize).Select(_ => random.Vector(hiddenSize, 1.0)).ToArray();
        _blocks = Enumerable.Range(0, blockCount).Select(i => new Lazy<Block>(() => new Block(i, hiddenSize))).ToArray();
    }

    public static PetalsModel Default { get; } = new();

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, PetalsModel> Named = new(StringComparer.Ordinal) { [DefaultName] = Default };

    /// <summary>The shipped model under <paramref name="name"/> (nodes may be started with another MODEL_NAME; the weights are the same).</summary>
    public static PetalsModel WithName(string name) => Named.GetOrAdd(name, n => new PetalsModel(n));

    /// <summary>The model the first of <paramref name="nodes"/> serves; the route checks that the others agree.</summary>
    public static PetalsModel Of(IReadOnlyList<PetalsNodeInfo> nodes) => WithName(nodes.Count > 0 ? nodes[0].Model : DefaultName);

    public string Name { get; }

    public int BlockCount { get; }

    public int HiddenSize { get; }

    /// <summary>The bytes of one hidden state on the wire: HiddenSize little-endian doubles.</summary>
    public int StateBytes => HiddenSize * sizeof(double);

    /// <summary>Token ids of a prompt; characters outside printable ASCII are InvalidArgument.</summary>
    public int[] Tokenize(string prompt)
    {
        var tokens = new int[prompt.Length];
        for (var i = 0; i < prompt.Length; i++)
        {
            var id = prompt[i] - FirstChar;
            if (id < 0 || id >= VocabularySize)
            {
                throw new E2EException(ErrorCatalog.InvalidArgument, $"The prompt has a character the model has no token for (U+{(int)prompt[i]:X4} at {i}); it knows printable ASCII only.");
            }
            tokens[i] = id;
        }
        return tokens;
    }

    public string Detokenize(IEnumerable<int> tokens) => new(tokens.Select(t => (char)(t + FirstChar)).ToArray());

    /// <summary>The context state after one more token at <paramref name="position"/>.</summary>
    public double[] Advance(double[]? context, int token, int position)
    {
        var next = new double[HiddenSize];
        var embedding = _embedding[token];
        for (var j = 0; j < HiddenSize; j++)
        {
            var frequency = Math.Pow(10000.0, -(double)(j / 2 * 2) / HiddenSize);
            var positional = (j % 2 == 0 ? Math.Sin(position * frequency) : Math.Cos(position * frequency)) * 0.5;
            next[j] = (context is null ? 0.0 : context[j] * ContextDecay) + embedding[j] + positional;
        }
        return next;
    }

    /// <summary>Blocks [start, end) applied to a hidden state, in order; the input is not changed.</summary>
    public double[] Forward(double[] hidden, int start, int end)
    {
        CheckSpan(start, end);
        if (hidden.Length != HiddenSize)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, $"A hidden state of this model has {HiddenSize} values, not {hidden.Length}.");
        }
        var state = (double[])hidden.Clone();
        for (var i = start; i < end; i++)
        {
            state = _blocks[i].Value.Apply(state);
        }
        return state;
    }

    /// <summary>How many earlier tokens the repetition penalty looks at, and what each repeat costs.</summary>
    private const int PenaltyWindow = 16;
    private const double RepeatPenalty = 4.0;

    /// <summary>
    /// The next token for a final hidden state: the highest readout score, less a penalty for each time the token
    /// appears among the last 16 (greedy decoding with a repetition penalty, as samplers have); ties go to the lowest id.
    /// </summary>
    public int NextToken(double[] hidden, IReadOnlyList<int> context)
    {
        var best = 0;
        var bestScore = double.NegativeInfinity;
        for (var v = 0; v < VocabularySize; v++)
        {
            var score = Dot(_readout[v], hidden);
            for (var i = Math.Max(0, context.Count - PenaltyWindow); i < context.Count; i++)
            {
                if (context[i] == v)
                {
                    score -= RepeatPenalty;
                }
            }
            if (score > bestScore)
            {
                (best, bestScore) = (v, score);
            }
        }
        return best;
    }

    /// <summary>The single-process reference: every block here, greedy, <paramref name="maxTokens"/> new tokens.</summary>
    public int[] Generate(string prompt, int maxTokens)
    {
        var tokens = Tokenize(prompt).ToList();
        double[]? context = null;
        for (var i = 0; i < tokens.Count; i++)
        {
            context = Advance(context, tokens[i], i);
        }
        var generated = new int[maxTokens];
        for (var n = 0; n < maxTokens; n++)
        {
            var next = NextToken(Forward(context ?? new double[HiddenSize], 0, BlockCount), tokens);
            generated[n] = next;
            context = Advance(context, next, tokens.Count);
            tokens.Add(next);
        }
        return generated;
    }

    public void CheckSpan(int start, int end)
    {
        if (start < 0 || end > BlockCount || start >= end)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, $"Blocks {start} to {end - 1} are not a span of {Name}, which has blocks 0 to {BlockCount - 1}.");
        }
    }

    public byte[] Encode(double[] state)
    {
        var bytes = new byte[state.Length * sizeof(double)];
        for (var i = 0; i < state.Length; i++)
        {
            BinaryPrimitives.WriteDoubleLittleEndian(bytes.AsSpan(i * sizeof(double)), state[i]);
        }
        return bytes;
    }

    public double[] Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != StateBytes)
        {
            throw new E2EException(ErrorCatalog.PetalsProtocolError, $"A hidden state of {Name} is {StateBytes} bytes, not {bytes.Length}.");
        }
        var state = new double[HiddenSize];
        for (var i = 0; i < state.Length; i++)
        {
            state[i] = BinaryPrimitives.ReadDoubleLittleEndian(bytes[(i * sizeof(double))..]);
            if (!double.IsFinite(state[i]))
            {
                throw new E2EException(ErrorCatalog.PetalsProtocolError, $"A hidden state holds a value that is not finite at {i}.");
            }
        }
        return state;
    }

    private static double Dot(double[] a, double[] b)
    {
        var sum = 0.0;
        for (var i = 0; i < a.Length; i++)
        {
            sum += a[i] * b[i];
        }
        return sum;
    }

    private sealed class Block
    {
        private readonly double[][] _weights;
        private readonly double[] _bias;

        public Block(int index, int size)
        {
            var random = new SplitMix64(0x9E37_79B9_7F4A_7C15UL * (ulong)(index + 1));
            var scale = 1.5 / Math.Sqrt(size);
            _weights = Enumerable.Range(0, size).Select(_ => random.Vector(size, scale)).ToArray();
            _bias = random.Vector(size, 0.1);
        }

        public double[] Apply(double[] h)
        {
            var output = new double[h.Length];
            var squares = 0.0;
            for (var i = 0; i < h.Length; i++)
            {
                output[i] = h[i] + Math.Tanh(Dot(_weights[i], h) + _bias[i]);
                squares += output[i] * output[i];
            }
            var norm = Math.Sqrt(squares / h.Length + 1e-6);
            for (var i = 0; i < output.Length; i++)
            {
                output[i] /= norm;
            }
            return output;
        }
    }

    /// <summary>Steele, Lea and Flood's SplitMix64: fixed, tiny, and the same everywhere.</summary>
    private sealed class SplitMix64(ulong seed)
    {
        private ulong _state = seed;

        public double[] Vector(int length, double scale)
        {
            var values = new double[length];
            for (var i = 0; i < length; i++)
            {
                // Uniform in [-scale, scale) from the top 53 bits.
                values[i] = ((Next() >> 11) * (1.0 / (1UL << 53)) * 2.0 - 1.0) * scale;
            }
            return values;
        }

        private ulong Next()
        {
            var z = _state += 0x9E37_79B9_7F4A_7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
            return z ^ (z >> 31);
        }
    }
}
