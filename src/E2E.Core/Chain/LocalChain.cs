using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Numerics;
using E2E.Core.Errors;
using E2E.Core.Net;
using E2E.Core.Ethereum;
using E2E.Core.Waiting;

namespace E2E.Core.Chain;

/// <summary>
/// A real local EVM chain: ganache started on 127.0.0.1 with a chain id and funded keys, ready when it
/// answers eth_chainId. Dispose kills it. Ganache is found through E2E_GANACHE, then PATH.
/// </summary>
public sealed class LocalChain : IDisposable
{
    private readonly Process _process;

    private LocalChain(Process process, int port, BigInteger chainId)
    {
        _process = process;
        Port = port;
        ChainId = chainId;
        RpcUrl = $"http://127.0.0.1:{port}";
    }

    public string RpcUrl { get; }

    public int Port { get; }

    public BigInteger ChainId { get; }

    public int ProcessId => _process.Id;

    /// <summary>The ganache program: $E2E_GANACHE, else 'ganache' on PATH; null when neither exists.</summary>
    public static string? FindGanache()
    {
        var configured = Environment.GetEnvironmentVariable("E2E_GANACHE");
        if (!string.IsNullOrEmpty(configured))
        {
            return File.Exists(configured) ? configured : null;
        }
        return (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, "ganache"))
            .FirstOrDefault(File.Exists);
    }

    /// <summary>Starts ganache; keys are funded with 1000 ether each. Never prints the keys: ganache runs quiet.</summary>
    public static async Task<LocalChain> StartAsync(BigInteger chainId, IReadOnlyList<EthKeyMaterial> fundedKeys, string? ganache, TimeSpan startTimeout, CancellationToken cancellation)
    {
        var program = ganache ?? FindGanache()
            ?? throw new E2EException(ErrorCatalog.ToolNotFound, "ganache is not installed: npm install --global ganache (or set E2E_GANACHE to its path).", "ganache");
        var port = Loopback.FreePort();
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "--chain.chainId", chainId.ToString(), "--server.host", "127.0.0.1", "--server.port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--logging.quiet", "--miner.instamine", "eager" })
        {
            start.ArgumentList.Add(argument);
        }
        foreach (var key in fundedKeys)
        {
            start.ArgumentList.Add("--wallet.accounts");
            start.ArgumentList.Add($"{key.Hex},1000000000000000000000");
        }
        var process = Process.Start(start) ?? throw new E2EException(ErrorCatalog.ToolNotFound, $"Could not start {program}.", program);
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var chain = new LocalChain(process, port, chainId);
        try
        {
            using var rpc = new ChainRpcClient(chain.RpcUrl, TimeSpan.FromSeconds(2));
            var options = new WaitOptions { Timeout = startTimeout, Interval = TimeSpan.FromMilliseconds(100), MaxInterval = TimeSpan.FromMilliseconds(500) };
            await ConditionWaiter.UntilAsync(async token =>
            {
                if (process.HasExited)
                {
                    throw new E2EException(ErrorCatalog.ChainRpcFailed, $"ganache exited with code {process.ExitCode} before it was ready.");
                }
                return await rpc.ChainIdAsync(token).ConfigureAwait(false) == chainId ? Observation.Met() : Observation.NotYet("wrong chain id");
            }, options, $"ganache on port {port}", cancellation).ConfigureAwait(false);
            return chain;
        }
        catch
        {
            chain.Dispose();
            throw;
        }
    }

    public override string ToString() => $"ganache (chain {ChainId}) at {RpcUrl}, pid {ProcessId}";

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        _process.Dispose();
    }
}

/// <summary>A key's hex for handing to a process that needs it (ganache funding), never for display.</summary>
public sealed record EthKeyMaterial(string Hex)
{
    public override string ToString() => "(private key)";
}
