using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using E2E.Core.Kubernetes;
using E2E.Core.Kubernetes.SkyTorch;
using E2E.Core.StandIns.Grpc;
using E2E.Core.StandIns.Kubernetes;

namespace E2E.Bench;

/// <summary>
/// SkyTorch's tensor service on the local cluster's Gateway (the h2c server and the simulated tensor service, on
/// loopback): Send/Receive throughput of a 256 MB float32 tensor next to a plain loopback TCP copy of the same bytes
/// in the same run (the physical ceiling here), and the round-trip latency of a 100x100 matmul (send both, operate,
/// receive) next to the same product computed in-process.
/// </summary>
internal static class TensorThroughput
{
    public static int Run(string[] args)
    {
        var megabytes = int.Parse(Measure.Option(args, "--mb", "256"), CultureInfo.InvariantCulture);
        var rounds = int.Parse(Measure.Option(args, "--rounds", "3"), CultureInfo.InvariantCulture);
        var service = new SimulatedTensorService();
        using var server = new H2cGrpcServer(request => service.Handle(request.Headers["compute-id"], request));
        var endpoint = new ComputeEndpoint("bench", "default", "127.0.0.1", server.Port, new Dictionary<string, string> { ["compute-id"] = "default/bench" });
        var timeout = TimeSpan.FromMinutes(10);
        var count = megabytes * 1024L * 1024 / 4;
        var values = new double[count];
        for (long i = 0; i < count; i++)
        {
            values[i] = (i % 4093) / 7.0;
        }
        var tensor = new HostTensor(new[] { count }, TensorDType.Float32, values);
        var bytes = tensor.ToBytes();
        Console.WriteLine($"tensor throughput: a {megabytes} MB float32 tensor through the local Gateway (h2c, 1 MB chunks), {rounds} rounds, medians (fastest-slowest)");
        var sends = new List<TimeSpan>();
        var receives = new List<TimeSpan>();
        var copies = new List<TimeSpan>();
        for (var round = 0; round < rounds; round++)
        {
            copies.Add(LoopbackCopy(bytes));
            var clock = Stopwatch.StartNew();
            var sent = TensorClient.SendAsync(endpoint, "bench", tensor, "cpu", timeout, CancellationToken.None).GetAwaiter().GetResult();
            sends.Add(clock.Elapsed);
            clock.Restart();
            var back = TensorClient.ReceiveAsync(sent, timeout, CancellationToken.None).GetAwaiter().GetResult();
            receives.Add(clock.Elapsed);
            if (back.Count != count || back.Values[count - 1] != tensor.Values[count - 1])
            {
                throw new InvalidOperationException("the tensor came back different");
            }
            TensorClient.RemoveAsync(new[] { sent }, timeout, CancellationToken.None).GetAwaiter().GetResult();
        }
        string Rate(List<TimeSpan> runs)
        {
            var t = Timings.Of(runs);
            return FormattableString.Invariant($"{megabytes / t.Median,7:0} MB/s ({t})");
        }
        Console.WriteLine($"  Send-E2ETensor (UpdateTensor)      : {Rate(sends)}");
        Console.WriteLine($"  Receive-E2ETensor (GetTensor)      : {Rate(receives)}");
        Console.WriteLine($"  plain loopback TCP copy, same bytes: {Rate(copies)}");

        var random = new Random(42);
        var a = new HostTensor(new long[] { 100, 100 }, TensorDType.Float32, Enumerable.Range(0, 10000).Select(_ => random.NextDouble()).ToArray());
        var b = new HostTensor(new long[] { 100, 100 }, TensorDType.Float32, Enumerable.Range(0, 10000).Select(_ => random.NextDouble()).ToArray());
        var latencies = new List<double>();
        var local = new List<double>();
        for (var i = 0; i < 220; i++)
        {
            var clock = Stopwatch.StartNew();
            var x = TensorClient.SendAsync(endpoint, "bench", a, "cpu", timeout, CancellationToken.None).GetAwaiter().GetResult();
            var y = TensorClient.SendAsync(endpoint, "bench", b, "cpu", timeout, CancellationToken.None).GetAwaiter().GetResult();
            var product = TensorClient.ExecuteAsync(endpoint, "bench", "aten::mm", new object[] { x, y }, timeout, CancellationToken.None).GetAwaiter().GetResult();
            TensorClient.ReceiveAsync(product, timeout, CancellationToken.None).GetAwaiter().GetResult();
            var elapsed = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            AtenKernels.Execute("aten::mm", new AtenValue[] { new AtenValue.Tensor(a), new AtenValue.Tensor(b) });
            var inProcess = clock.Elapsed.TotalMilliseconds;
            TensorClient.RemoveAsync(new[] { x, y, product }, timeout, CancellationToken.None).GetAwaiter().GetResult();
            if (i >= 20)
            {
                latencies.Add(elapsed);
                local.Add(inProcess);
            }
        }
        latencies.Sort();
        local.Sort();
        Console.WriteLine(FormattableString.Invariant($"  100x100 matmul round trip (send both, mm, receive): median {latencies[latencies.Count / 2]:0.00} ms, p99 {latencies[(int)(latencies.Count * 0.99)]:0.00} ms over {latencies.Count}; the product alone in-process: median {local[local.Count / 2]:0.00} ms"));
        return 0;
    }

    /// <summary>The same bytes written to a loopback socket and read whole on the other side.</summary>
    private static TimeSpan LoopbackCopy(byte[] bytes)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var receive = Task.Run(async () =>
            {
                using var accepted = await listener.AcceptSocketAsync().ConfigureAwait(false);
                var buffer = new byte[bytes.Length];
                var read = 0;
                while (read < buffer.Length)
                {
                    read += await accepted.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None).ConfigureAwait(false);
                }
            });
            var clock = Stopwatch.StartNew();
            using (var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                client.Connect((IPEndPoint)listener.LocalEndpoint);
                client.Send(bytes);
                receive.GetAwaiter().GetResult();
            }
            return clock.Elapsed;
        }
        finally
        {
            listener.Stop();
        }
    }
}
