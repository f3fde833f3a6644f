using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using E2E.Core.Kubernetes;
using E2E.Core.StandIns.Kubernetes;

namespace E2E.Bench;

/// <summary>
/// How long after a condition becomes true a wait returns: watch-driven ResourceWaiter against the fake API
/// server, next to a loop that GETs every second (what a script with Start-Sleep 1 does). The clock starts
/// when the change is sent, so the figure includes the PATCH round trip: an upper bound.
/// </summary>
internal static class WaitLatency
{
    public static int Run(string[] args)
    {
        var waits = int.Parse(Measure.Option(args, "--waits", "100"), CultureInfo.InvariantCulture);
        var polls = int.Parse(Measure.Option(args, "--polls", "20"), CultureInfo.InvariantCulture);
        using var server = new FakeApiServer();
        using var client = KubeClient.ForUrl(server.Url);
        var configMaps = client.ResolveAsync("v1", "ConfigMap", CancellationToken.None).GetAwaiter().GetResult();
        client.CreateAsync(KubeObjects.Parse("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"flag"},"data":{"state":"0"}}"""), CancellationToken.None).GetAwaiter().GetResult();
        var random = new Random(41956);

        var watched = new List<double>();
        for (var i = 1; i <= waits; i++)
        {
            var wait = ResourceWaiter.WaitAsync(client, configMaps, "default", "flag", WaitCondition.Parse($"jsonpath={{.data.state}}={i}"), TimeSpan.FromSeconds(30), CancellationToken.None);
            Thread.Sleep(random.Next(20, 60)); // Let the wait reach its watch, as a real one would long before the change.
            var clock = Stopwatch.StartNew();
            Flip(client, configMaps, i);
            wait.GetAwaiter().GetResult();
            watched.Add(clock.Elapsed.TotalMilliseconds);
        }

        var polled = new List<double>();
        for (var i = 1; i <= polls; i++)
        {
            var value = (waits + i).ToString(CultureInfo.InvariantCulture);
            var returned = new TaskCompletionSource<double>();
            var clock = new Stopwatch();
            var loop = Task.Run(async () =>
            {
                while (true)
                {
                    var o = await client.GetAsync(configMaps, "default", "flag", CancellationToken.None);
                    if ((string?)o?["data"]?["state"] == value)
                    {
                        returned.SetResult(clock.Elapsed.TotalMilliseconds);
                        return;
                    }
                    await Task.Delay(1000);
                }
            });
            Thread.Sleep(random.Next(0, 1000)); // The change lands at a random point of the polling period.
            clock.Start();
            Flip(client, configMaps, waits + i);
            polled.Add(returned.Task.GetAwaiter().GetResult());
            loop.GetAwaiter().GetResult();
        }

        Console.WriteLine($"wait latency, condition true -> wait returns (fake API server on loopback, {Environment.ProcessorCount} cores)");
        Console.WriteLine($"  watch-driven Wait ({waits} waits): median {Percentile(watched, 50):0.0} ms, p99 {Percentile(watched, 99):0.0} ms, max {watched.Max():0.0} ms");
        Console.WriteLine($"  1 s polling loop  ({polls} waits): median {Percentile(polled, 50):0.0} ms, p99 {Percentile(polled, 99):0.0} ms, max {polled.Max():0.0} ms");
        Console.WriteLine($"  goal: median <= 50 ms -> {(Percentile(watched, 50) <= 50 ? "met" : "NOT met")}");
        return 0;
    }

    private static void Flip(KubeClient client, ApiResource configMaps, int value) =>
        client.PatchAsync(configMaps, "default", "flag", new JsonObject { ["data"] = new JsonObject { ["state"] = value.ToString(CultureInfo.InvariantCulture) } }).GetAwaiter().GetResult();

    private static double Percentile(List<double> values, double percentile)
    {
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(percentile / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }
}
