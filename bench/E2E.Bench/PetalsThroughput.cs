using System.Diagnostics;
using System.Globalization;
using E2E.Core.Petals;

namespace E2E.Bench;

/// <summary>
/// Tokens per second of distributed inference through 1, 2 and 4 node processes (the shipped node program,
/// over HTTP on loopback), with several prompts in flight at once, next to the single-process reference (every
/// block in this process) measured in the same run on the same prompts. Every swarm run is checked to give the
/// reference's tokens.
/// </summary>
internal static class PetalsThroughput
{
    public static int Run(string[] args)
    {
        var prompts = int.Parse(Measure.Option(args, "--prompts", "8"), CultureInfo.InvariantCulture);
        var tokens = int.Parse(Measure.Option(args, "--tokens", "64"), CultureInfo.InvariantCulture);
        var inputs = Enumerable.Range(0, prompts).Select(i => $"prompt number {i}").ToArray();
        using var client = new DistributedInference();

        var clock = Stopwatch.StartNew();
        var reference = inputs.Select(p => client.Reference(p, tokens, PetalsModel.Default)).ToArray();
        var sequential = clock.Elapsed;
        clock.Restart();
        Task.WaitAll(inputs.Select(p => Task.Run(() => client.Reference(p, tokens, PetalsModel.Default))).ToArray());
        var parallel = clock.Elapsed;
        var total = prompts * tokens;
        Console.WriteLine(FormattableString.Invariant($"petals: {prompts} prompts x {tokens} tokens = {total} tokens, {Environment.ProcessorCount} cores"));
        Console.WriteLine(FormattableString.Invariant($"  single process, one prompt at a time (reference): {total / sequential.TotalSeconds,9:0.0} tokens/s"));
        Console.WriteLine(FormattableString.Invariant($"  single process, all prompts at once:             {total / parallel.TotalSeconds,9:0.0} tokens/s"));

        foreach (var count in new[] { 1, 2, 4 })
        {
            var work = Directory.CreateTempSubdirectory("e2e-bench-petals-").FullName;
            var nodes = new List<PetalsNode>();
            try
            {
                var span = PetalsModel.DefaultBlockCount / count;
                for (var i = 0; i < count; i++)
                {
                    nodes.Add(PetalsNode.StartProcessAsync(new PetalsNodeLaunch
                    {
                        Name = $"bench-{count}-{i}",
                        BlockStart = i * span,
                        BlockEnd = i == count - 1 ? PetalsModel.DefaultBlockCount : (i + 1) * span,
                        WorkDirectory = Path.Combine(work, i.ToString(CultureInfo.InvariantCulture)),
                    }, _ => { }, CancellationToken.None).GetAwaiter().GetResult());
                }
                var infos = nodes.Select(n => n.Info).ToArray();
                // Warm the connections and the nodes' JIT, then one prompt alone: the latency of a hop with nothing queued.
                client.GenerateAsync("warm up", 64, infos, CancellationToken.None).GetAwaiter().GetResult();
                var alone = client.GenerateAsync(inputs[0], tokens, infos, CancellationToken.None).GetAwaiter().GetResult();
                clock.Restart();
                var results = Task.WhenAll(inputs.Select(p => client.GenerateAsync(p, tokens, infos, CancellationToken.None))).GetAwaiter().GetResult();
                var elapsed = clock.Elapsed;
                for (var i = 0; i < prompts; i++)
                {
                    if (!results[i].Tokens.SequenceEqual(reference[i].Tokens))
                    {
                        Console.Error.WriteLine($"  {count} node(s): prompt {i} differs from the reference");
                        return 1;
                    }
                }
                var meanHop = results.SelectMany(r => r.Hops).Average(h => h.MeanMs);
                Console.WriteLine(FormattableString.Invariant($"  {count} node process(es), {count} hop(s) a token:     {total / elapsed.TotalSeconds,9:0.0} tokens/s  ({total / elapsed.TotalSeconds / (total / sequential.TotalSeconds):0.00}x the reference; mean hop {meanHop:0.00} ms under load; one prompt alone {alone.TokensPerSecond:0.0} tokens/s, hop {alone.Hops.Average(h => h.MeanMs):0.00} ms; output equal)"));
            }
            finally
            {
                foreach (var node in nodes)
                {
                    node.Stop(TimeSpan.FromSeconds(5));
                }
                Directory.Delete(work, recursive: true);
            }
        }
        return 0;
    }
}
