using System.Diagnostics;
using System.Globalization;
using System.Text;
using E2E.Core.Ethereum;
using E2E.Core.Oracle;
using E2E.Core.StandIns.Oracle;

namespace E2E.Bench;

/// <summary>
/// secp256k1 signatures, verifications and recoveries per second on one core, next to OpenSSL's sign and
/// verify rates measured through the machine's Python 'cryptography' package in the same run.
/// </summary>
internal static class CryptoRates
{
    public static int Run(string[] args)
    {
        var seconds = double.Parse(Measure.Option(args, "--seconds", "3"), CultureInfo.InvariantCulture);
        using var key = EthKey.FromHex("0x" + string.Concat(Enumerable.Repeat("ab", 32)));
        var hashes = Enumerable.Range(0, 4096).Select(i => PersonalSign.Hash($"{{\"agent\":\"{key.Address}\",\"processed_tokens\":{i},\"timestamp\":1770000000}}")).ToArray();
        var signatures = hashes.Select(h => key.Sign(h)).ToArray();

        // Warm up the JIT and libsecp256k1's precomputed tables before measuring.
        for (var i = 0; i < 200; i++)
        {
            Secp256k1.Recover(hashes[i], signatures[i]);
            Secp256k1.Verify(hashes[i], signatures[i], key.PublicKey);
        }
        var sign = Rate(seconds, i => key.Sign(hashes[i % hashes.Length]));
        var verify = Rate(seconds, i => Secp256k1.Verify(hashes[i % hashes.Length], signatures[i % hashes.Length], key.PublicKey));
        var recover = Rate(seconds, i => Secp256k1.Recover(hashes[i % hashes.Length], signatures[i % hashes.Length]));
        var (opensslSign, opensslVerify) = OpenSsl(seconds);

        Console.WriteLine("crypto (one thread, secp256k1):");
        Console.WriteLine($"  E2E sign (RFC 6979, low-s, recovery id) : {sign,10:N0} /s   {Ratio(sign, opensslSign)} x OpenSSL sign");
        Console.WriteLine($"  E2E verify (ECDSA, known public key)    : {verify,10:N0} /s   {Ratio(verify, opensslVerify)} x OpenSSL verify");
        Console.WriteLine($"  E2E recover (public key from signature) : {recover,10:N0} /s   {Ratio(recover, verify)} x E2E verify");
        Console.WriteLine($"  OpenSSL sign  (python cryptography)     : {opensslSign,10:N0} /s");
        Console.WriteLine($"  OpenSSL verify (python cryptography)    : {opensslVerify,10:N0} /s");
        return 0;
    }

    private static string Ratio(double ours, double theirs) => theirs > 0 ? (ours / theirs).ToString("0.00", CultureInfo.InvariantCulture) : "n/a";

    private static double Rate(double seconds, Action<int> operation)
    {
        var clock = Stopwatch.StartNew();
        var count = 0;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            for (var i = 0; i < 64; i++)
            {
                operation(count++);
            }
        }
        return count / clock.Elapsed.TotalSeconds;
    }

    private static (double Sign, double Verify) OpenSsl(double seconds)
    {
        var script = string.Join("\n",
            "import time, os",
            "from cryptography.hazmat.primitives.asymmetric import ec, utils",
            "from cryptography.hazmat.primitives import hashes",
            "key = ec.generate_private_key(ec.SECP256K1())",
            "pub = key.public_key()",
            "alg = ec.ECDSA(utils.Prehashed(hashes.SHA256()))",
            "digests = [os.urandom(32) for _ in range(256)]",
            "sigs = [key.sign(d, alg) for d in digests]",
            $"limit = {seconds.ToString(CultureInfo.InvariantCulture)}",
            "def rate(op):",
            "    n = 0; start = time.perf_counter()",
            "    while time.perf_counter() - start < limit:",
            "        for i in range(64): op(n % 256); n += 1",
            "    return n / (time.perf_counter() - start)",
            "s = rate(lambda i: key.sign(digests[i], alg))",
            "v = rate(lambda i: pub.verify(sigs[i], digests[i], alg))",
            "print(f'{s} {v}')");
        var start = new ProcessStartInfo("python3", new[] { "-c", script }) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var python = Process.Start(start)!;
        var output = python.StandardOutput.ReadToEnd();
        var errors = python.StandardError.ReadToEnd();
        python.WaitForExit();
        if (python.ExitCode != 0)
        {
            Console.WriteLine($"  (OpenSSL reference unavailable: {errors.Trim()})");
            return (0, 0);
        }
        var parts = output.Trim().Split(' ');
        return (double.Parse(parts[0], CultureInfo.InvariantCulture), double.Parse(parts[1], CultureInfo.InvariantCulture));
    }
}

/// <summary>Reports the mock Oracle verifies and accepts per second, from a load loop on loopback.</summary>
internal static class OracleRate
{
    public static int Run(string[] args)
    {
        var count = int.Parse(Measure.Option(args, "--reports", "4000"), CultureInfo.InvariantCulture);
        var concurrency = int.Parse(Measure.Option(args, "--concurrency", "8"), CultureInfo.InvariantCulture);
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var keys = Enumerable.Range(1, concurrency).Select(i => EthKey.FromBytes(Enumerable.Repeat((byte)i, 32).ToArray())).ToArray();
        var metrics = new InferenceMetrics(600, 3, 300, DateTimeOffset.UtcNow);
        var perKey = count / concurrency;
        // Timestamps must strictly increase per agent, one second apart, all inside the (widened) freshness window.
        var reports = keys.Select(k => Enumerable.Range(0, perKey).Select(i => OracleReports.Build(k, metrics, Array.Empty<ProofData>(), now - 50 + i, OracleReportFormat.Current, DateTimeOffset.UtcNow)).ToArray()).ToArray();
        using var oracle = new MockOracleServer(new MockOracleOptions { FreshnessWindow = TimeSpan.FromSeconds(perKey + 120) });
        using var http = new HttpClient();
        var clock = Stopwatch.StartNew();
        Parallel.ForEach(reports, new ParallelOptions { MaxDegreeOfParallelism = concurrency }, chain =>
        {
            foreach (var report in chain)
            {
                using var response = http.PostAsync(oracle.Url + report.Route, new StringContent(report.Body, Encoding.UTF8, "application/json")).GetAwaiter().GetResult();
                if ((int)response.StatusCode != 200)
                {
                    throw new InvalidOperationException($"report refused: {(int)response.StatusCode}");
                }
            }
        });
        clock.Stop();
        var accepted = oracle.Reports(accepted: true).Count;
        Console.WriteLine($"mock Oracle: {accepted} reports verified and accepted in {clock.Elapsed.TotalSeconds:0.00} s = {accepted / clock.Elapsed.TotalSeconds:N0} reports/s ({concurrency} concurrent clients on loopback, 2 cores shared by client and server)");
        foreach (var key in keys)
        {
            key.Dispose();
        }
        return accepted == perKey * concurrency ? 0 : 1;
    }
}
