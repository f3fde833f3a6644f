using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using E2E.Core.Backfill;
using E2E.Core.Errors;
using E2E.Core.Ethereum;
using E2E.Core.Kubernetes;
using E2E.Core.Oracle;
using E2E.Core.Snapshots;
using E2E.Core.Toml;

namespace E2E.Core.Tests.Fuzzing;

/// <summary>
/// Mutation fuzzing of every parser of input the user does not control, for a bounded time each
/// (E2E_FUZZ_SECONDS, 2 s by default; E2E_FUZZ_SEED=n repeats a run, E2E_FUZZ_SEED=random explores): seeds from the vendored fixtures, mutated
/// by byte flips, insertions of structural characters, deletions, truncations, repeated chunks (deep nesting,
/// long lines) and splices of two seeds. Every input must parse or fail with an E2EException (an id the
/// user can act on), within a few seconds; any other exception, or a hang, fails the test with the seed and
/// the input that did it. A stack overflow would end the test process, which fails the run as loudly.
/// </summary>
public sealed class ParserFuzzTests : IDisposable
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(double.TryParse(Environment.GetEnvironmentVariable("E2E_FUZZ_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out var s) ? s : 2);
    private static readonly TimeSpan PerInput = TimeSpan.FromSeconds(10);
    private const int MinimumMutations = 200;
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-fuzz-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static byte[][] Files(string pattern, params string[] folder) =>
        Directory.EnumerateFiles(Fixtures.Path(folder), pattern, SearchOption.AllDirectories).Order(StringComparer.Ordinal).Take(60)
            .Select(File.ReadAllBytes).Where(b => b.Length < 200_000).ToArray();

    [Fact]
    public void Toml() => Fuzz("TOML", Files("*.toml", "toml-test", "tests", "valid").Concat(Files("*.toml", "venvstacks")).ToArray(), input => TomlParser.Parse(input));

    [Fact]
    public void Json_comparison() => Fuzz("JSON comparison", Files("*.json", "venvstacks"), input =>
    {
        var seed = Path.Combine(_root, "seed.json");
        var mutated = Path.Combine(_root, "mutated.json");
        File.WriteAllBytes(mutated, input);
        File.WriteAllBytes(seed, input.Length > 0 && input[0] == (byte)'{' ? "{}"u8.ToArray() : "[]"u8.ToArray());
        JsonStreamComparer.Compare(seed, mutated, new ComparisonOptions { UnorderedPaths = new[] { "layers.*" } }, CancellationToken.None);
        DataTree.LoadJson(mutated);
    });

    [Fact]
    public void Kubernetes_manifests() => Fuzz("YAML and JSON manifests", Files("*.yaml", "skytorch", "config"), input =>
    {
        var path = Path.Combine(_root, "manifest.yaml");
        File.WriteAllBytes(path, input);
        Manifests.ReadAsync(new[] { path }, kustomize: false, CancellationToken.None).GetAwaiter().GetResult();
    });

    [Fact]
    public void Kubeconfig_files() => Fuzz("kubeconfig", Files("kubeconfig*.yml", "kubernetes", "kubernetes-client+csharp", "tests", "KubernetesClient.Tests", "assets"), input =>
    {
        var path = Path.Combine(_root, "kubeconfig");
        File.WriteAllBytes(path, input);
        var config = Kubeconfig.Load(new[] { path });
        foreach (var name in config.ContextNames)
        {
            try
            {
                config.Context(name);
            }
            catch (E2EException)
            {
                // A context the file cannot make (no user, no cluster) is this kind of failure.
            }
        }
    });

    [Fact]
    public void Archives() => Fuzz("zip and tar archives", new[] { Zip(), Tar(gzip: false), Tar(gzip: true) }, input =>
    {
        var path = Path.Combine(_root, "archive.bin");
        File.WriteAllBytes(path, input);
        ArchiveComparer.Read(path);
    });

    [Fact]
    public void Oracle_requests() => Fuzz("Oracle report bodies", OracleSeeds(), input =>
    {
        var body = Encoding.UTF8.GetString(input);
        foreach (var route in new[] { OracleReports.RouteOf(OracleReportFormat.Current), OracleReports.RouteOf(OracleReportFormat.Legacy) })
        {
            OracleReports.Parse(route, body);
        }
    });

    [Fact]
    public void Worker_protocol_answers() => Fuzz("UDF worker answers", new[] { WorkerAnswer() }, input => UdfWorker.ParseAnswer(input, 1234));

    /// <summary>An answer frame with every tag of module/python/e2e_worker.py: two blocks, values of each kind and an error.</summary>
    internal static byte[] WorkerAnswer()
    {
        var frame = new List<byte>();
        void Block(ushort udf, int count)
        {
            frame.AddRange(BitConverter.GetBytes(udf));
            frame.AddRange(BitConverter.GetBytes(count));
        }
        void Head(long id, byte tag)
        {
            frame.AddRange(BitConverter.GetBytes(id));
            frame.Add(tag);
        }
        void Sized(long id, byte tag, byte[] data)
        {
            Head(id, tag);
            frame.AddRange(BitConverter.GetBytes(data.Length));
            frame.AddRange(data);
        }
        Block(0, 4);
        Head(1, 1);
        frame.AddRange(BitConverter.GetBytes(42L));
        Sized(2, 255, "ValueError: bad"u8.ToArray());
        Head(3, 2);
        frame.AddRange(BitConverter.GetBytes(double.NaN));
        Head(4, 6);
        frame.Add(1);
        Block(1, 4);
        Sized(7, 5, """{"width": 3, "height": 4}"""u8.ToArray());
        Sized(8, 4, new byte[] { 0, 1, 2 });
        Sized(9, 3, "caf\u00e9"u8.ToArray());
        Head(10, 0);
        return frame.ToArray();
    }

    private static byte[][] OracleSeeds()
    {
        using var key = EthKey.FromHex("0x" + string.Concat(Enumerable.Repeat("ab", 32)));
        var metrics = new InferenceMetrics(600, 3, 300, DateTimeOffset.UtcNow);
        return new[] { OracleReportFormat.Current, OracleReportFormat.Legacy }
            .Select(f => Encoding.UTF8.GetBytes(OracleReports.Build(key, metrics, Array.Empty<ProofData>(), 1_770_000_000, f, DateTimeOffset.UtcNow).Body)).ToArray();
    }

    private static byte[] Zip()
    {
        using var memory = new MemoryStream();
        using (var zip = new ZipArchive(memory, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (name, text) in new[] { ("layer/a.txt", "one\ntwo\n"), ("layer/sub/b.json", "{\"x\": 1}") })
            {
                using var entry = zip.CreateEntry(name).Open();
                entry.Write(Encoding.UTF8.GetBytes(text));
            }
        }
        return memory.ToArray();
    }

    private static byte[] Tar(bool gzip)
    {
        using var memory = new MemoryStream();
        using (var output = gzip ? (Stream)new GZipStream(memory, CompressionLevel.Fastest, leaveOpen: true) : memory)
        using (var tar = new System.Formats.Tar.TarWriter(output, leaveOpen: true))
        {
            foreach (var (name, text) in new[] { ("layer/a.txt", "one\ntwo\n"), ("layer/b.txt", "b\n") })
            {
                tar.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(text)) });
            }
        }
        return memory.ToArray();
    }

    private static void Fuzz(string parser, byte[][] seeds, Action<byte[]> parse)
    {
        Assert.NotEmpty(seeds);
        // The same inputs in every CI run (a slower machine runs a prefix of them); E2E_FUZZ_SEED=random explores.
        var setting = Environment.GetEnvironmentVariable("E2E_FUZZ_SEED");
        var seed = setting == "random" ? Random.Shared.Next() : int.TryParse(setting, out var fixedSeed) ? fixedSeed : 20261201;
        var random = new Random(seed);
        Stopwatch? clock = null;
        var inputs = 0;
        // The seeds themselves first: each must parse or fail cleanly too. Then mutations for the time budget,
        // and at least MinimumMutations of them however busy the machine is (test classes run in parallel).
        var mutations = Inputs(seeds, random, () => (clock ??= Stopwatch.StartNew()).Elapsed < Budget || inputs - seeds.Length < MinimumMutations);
        foreach (var input in seeds.Concat(mutations))
        {
            inputs++;
            Exception? failure = null;
            var run = Task.Run(() =>
            {
                try
                {
                    parse(input);
                }
                catch (E2EException)
                {
                    // A clear error with an id: what hostile input should get.
                }
                catch (Exception ex)
                {
                    failure = ex;
                }
            });
            var finished = run.Wait(PerInput);
            var shown = Convert.ToBase64String(input.AsSpan(0, Math.Min(input.Length, 600)));
            Assert.True(finished, $"{parser}: an input took more than {PerInput.TotalSeconds} s (E2E_FUZZ_SEED={seed}, input {inputs}, {input.Length} bytes, base64 start {shown})");
            Assert.True(failure is null, $"{parser}: {failure?.GetType().Name}: {failure?.Message} (E2E_FUZZ_SEED={seed}, input {inputs}, {input.Length} bytes, base64 start {shown})\n{failure?.StackTrace}");
        }
        Assert.True(inputs >= seeds.Length + MinimumMutations, $"{parser}: only {inputs - seeds.Length} mutated inputs ran");
    }

    private static readonly byte[][] Tokens = "{ } [ ] \" ' = : , - # \n \\ & * ! | > % @ ` .. ../ \0 \u00ff \ud7ff 1e999 -0 nan inf 0x 9999999999999999999999 true null"
        .Split(' ').Select(Encoding.UTF8.GetBytes).Append(new byte[] { 0xC3 }).Append(new byte[] { 0xFF, 0xFE }).ToArray();

    private static byte[] Repeat(IReadOnlyList<byte> chunk, int times)
    {
        times = Math.Min(times, 2_000_000 / Math.Max(1, chunk.Count));
        var repeated = new byte[chunk.Count * times];
        for (var i = 0; i < repeated.Length; i++)
        {
            repeated[i] = chunk[i % chunk.Count];
        }
        return repeated;
    }

    private static IEnumerable<byte[]> Inputs(byte[][] seeds, Random random, Func<bool> more)
    {
        while (more())
        {
            var input = seeds[random.Next(seeds.Length)].ToList();
            for (var changes = 1 + random.Next(4); changes > 0; changes--)
            {
                var at = input.Count == 0 ? 0 : random.Next(input.Count);
                switch (random.Next(7))
                {
                    case 0 when input.Count > 0:
                        input[at] = (byte)random.Next(256);
                        break;
                    case 1:
                        input.InsertRange(at, Tokens[random.Next(Tokens.Length)]);
                        break;
                    case 2 when input.Count > 0:
                        input.RemoveRange(at, Math.Min(input.Count - at, 1 + random.Next(32)));
                        break;
                    case 3 when input.Count > 0:
                        input.RemoveRange(at, input.Count - at);
                        break;
                    case 4 when input.Count > 0:
                        // A chunk repeated: deep nesting ("[[[[", "a:\n  a:\n") and long runs.
                        var chunk = input.GetRange(at, Math.Min(input.Count - at, 1 + random.Next(8)));
                        input.InsertRange(at, Repeat(chunk, random.Next(2) == 0 ? 2 + random.Next(20) : 1000 + random.Next(20_000)));
                        break;
                    case 5:
                        var other = seeds[random.Next(seeds.Length)];
                        var from = other.Length == 0 ? 0 : random.Next(other.Length);
                        input.InsertRange(at, other.Skip(from).Take(1 + random.Next(200)));
                        break;
                    default:
                        input.InsertRange(at, Repeat(Tokens[random.Next(4)], random.Next(5000, 120_000)));
                        break;
                }
            }
            yield return input.ToArray();
        }
    }
}

/// <summary>What the fuzz runs found, each kept as a fixed case: an id, never a raw exception.</summary>
public sealed class FuzzFindingsTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-fuzz-found-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_root, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Theory]
    [InlineData("apiVersion: v1\nkind: Namespace\nmetadata: n\n")]
    [InlineData("apiVersion: v1\nkind: [Namespace]\nmetadata:\n  name: x\n")]
    [InlineData("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: [x]\n")]
    [InlineData("apiVersion: v1\nkind: Namespace\nmetadata:\n  :\n  :\n  name: skytorch-system\n")]
    public void Malformed_manifests_are_ManifestInvalid(string yaml)
    {
        var ex = Assert.Throws<E2EException>(() => Manifests.ReadAsync(new[] { Write("m.yaml", yaml) }, kustomize: false, CancellationToken.None).GetAwaiter().GetResult());
        Assert.Same(ErrorCatalog.ManifestInvalid, ex.Error);
    }

    [Fact]
    public void A_kubeconfig_of_comments_only_is_empty_and_null_entries_are_skipped()
    {
        Assert.Empty(Kubeconfig.Load(new[] { Write("comments", "# nothing here\n") }).ContextNames);
        var config = Kubeconfig.Load(new[] { Write("nulls", "apiVersion: v1\nkind: Config\nclusters:\n- \n- cluster:\n    server: http://127.0.0.1:1\n  name: c\ncontexts:\n- \n- context:\n    cluster: c\n  name: x\nusers:\n- \n") });
        Assert.Equal(new[] { "x" }, config.ContextNames);
        var duplicate = Assert.Throws<E2EException>(() => Kubeconfig.Load(new[] { Write("duplicate", "apiVersion: v1\nkind: Config\npreferences: {}\npreferences: {}\n") }));
        Assert.Same(ErrorCatalog.KubeconfigInvalid, duplicate.Error);
    }

    [Fact]
    public void Certificate_authority_data_that_is_no_certificate_is_KubeconfigInvalid()
    {
        var config = Kubeconfig.Load(new[] { Write("ca", "apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters:\n- cluster:\n    server: https://127.0.0.1:1\n    certificate-authority-data: " + Convert.ToBase64String("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"u8.ToArray()) + "\n  name: c\ncontexts:\n- context:\n    cluster: c\n    user: u\n  name: x\nusers:\n- name: u\n  user:\n    token: abc\n") });
        Assert.Same(ErrorCatalog.KubeconfigInvalid, Assert.Throws<E2EException>(() => config.Context()).Error);
    }
}
