using E2E.Bench;

var benchmarks = new Dictionary<string, Func<string[], int>>
{
    ["compare-trees"] = CompareTrees.Run,
    ["compare-json"] = CompareJson.Run,
    ["crypto"] = CryptoRates.Run,
    ["oracle"] = OracleRate.Run,
    ["backfill-trials"] = BackfillTrials.Run,
    ["backfill-rate"] = BackfillRate.Run,
    ["embedding-rate"] = EmbeddingRate.Run,
    ["backfill-driver"] = BackfillTrials.Driver,
    ["waits"] = WaitLatency.Run,
    ["grpc"] = GrpcLatency.Run,
    ["tensors"] = TensorThroughput.Run,
    ["tracking-readers"] = TrackingReaders.Run,
    ["petals"] = PetalsThroughput.Run,
    ["docker-stack"] = DockerStack.Run,
};
if (args.Length == 0 || !benchmarks.TryGetValue(args[0], out var run))
{
    Console.Error.WriteLine($"usage: dotnet run -c Release --project bench/E2E.Bench -- <{string.Join("|", benchmarks.Keys)}> [options]");
    return 2;
}
return run(args[1..]);
