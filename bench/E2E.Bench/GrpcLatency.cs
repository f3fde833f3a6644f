using System.Diagnostics;
using System.Globalization;
using E2E.Core.Grpc;
using E2E.Core.StandIns.Grpc;

namespace E2E.Bench;

/// <summary>
/// grpc.health.v1 Health/Check latency against the local Gateway's h2c server on loopback, with NoDelay on its
/// sockets (as shipped) and, as the reference in the same run, with Nagle's algorithm left on.
/// </summary>
internal static class GrpcLatency
{
    public static int Run(string[] args)
    {
        var calls = int.Parse(Measure.Option(args, "--calls", "500"), CultureInfo.InvariantCulture);
        var serving = GrpcReply.Ok(Google.Protobuf.MessageExtensions.ToByteArray(new global::Grpc.Health.V1.HealthCheckResponse { Status = global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving }));
        var metadata = new Dictionary<string, string> { ["compute-id"] = "default/bench" };

        using (var server = new H2cGrpcServer(_ => serving))
        {
            var shipped = Latencies(server.Url, metadata, calls);
            Print("NoDelay (as shipped)", shipped);
        }
        using (var server = new H2cGrpcServer(_ => serving, noDelay: false))
        {
            Print("Nagle on (reference)", Latencies(server.Url, metadata, Math.Min(calls, 50)));
        }
        return 0;
    }

    private static double[] Latencies(Uri url, IReadOnlyDictionary<string, string> metadata, int calls)
    {
        for (var i = 0; i < 20; i++)
        {
            GrpcHealthClient.CheckAsync(url, "", metadata, TimeSpan.FromSeconds(10), CancellationToken.None).GetAwaiter().GetResult();
        }
        var result = new double[calls];
        for (var i = 0; i < calls; i++)
        {
            var clock = Stopwatch.StartNew();
            GrpcHealthClient.CheckAsync(url, "", metadata, TimeSpan.FromSeconds(10), CancellationToken.None).GetAwaiter().GetResult();
            result[i] = clock.Elapsed.TotalMilliseconds;
        }
        Array.Sort(result);
        return result;
    }

    private static void Print(string label, double[] sorted) =>
        Console.WriteLine(FormattableString.Invariant($"grpc health check, {label}: median {sorted[sorted.Length / 2]:0.000} ms, p99 {sorted[(int)(sorted.Length * 0.99)]:0.000} ms over {sorted.Length} calls"));
}
