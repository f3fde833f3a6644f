using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Numerics;
using E2E.Core.Errors;
using E2E.Core.Processes;
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
    private readonly ProcessGroup _group;

    private LocalChain(ProcessGroup group, int port, BigInteger chainId)
    {
        _group = group;
        _process = group.Leader;
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
        // The funded keys reach ganache through its JavaScript API and an environment variable, never its command
        // line: argv is readable by every user through ps and /proc, the environment only by the same user.
        var package = GanachePackage(program)
            ?? throw new E2EException(ErrorCatalog.ToolNotFound, $"ganache's package was not found beside '{program}' (an npm install of ganache 7 is expected).", program);
        var node = ExternalTool.FindOnPath("node")
            ?? throw new E2EException(ErrorCatalog.ToolNotFound, "node is not on PATH; ganache needs it.", "node");
        var start = new ProcessStartInfo(node)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-e", Launcher, chainId.ToString(System.Globalization.CultureInfo.InvariantCulture), port.ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            start.ArgumentList.Add(argument);
        }
        start.Environment["E2E_GANACHE_PACKAGE"] = package;
        start.Environment["E2E_GANACHE_ACCOUNTS"] = System.Text.Json.JsonSerializer.Serialize(fundedKeys.Select(k => k.Hex).ToArray());
        var group = ProcessGroup.Start(start.Own());
        var process = group.Leader;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var chain = new LocalChain(group, port, chainId);
        try
        {
            using var rpc = new ChainRpcClient(chain.RpcUrl, TimeSpan.FromSeconds(2));
            var options = new WaitOptions { Timeout = startTimeout, Interval = TimeSpan.FromMilliseconds(100), MaxInterval = TimeSpan.FromMilliseconds(500) };
            await ConditionWaiter.UntilAsync(async token =>
            {
                if (process.HasExited)
                {
                    // Ends the wait at once instead of probing a dead process until the timeout.
                    throw new ProbeCannotSucceedException(new E2EException(ErrorCatalog.ChainRpcFailed, $"ganache exited with code {process.ExitCode} before it was ready."));
                }
                return await rpc.ChainIdAsync(token).ConfigureAwait(false) == chainId ? Observation.Met() : Observation.NotYet("wrong chain id");
            }, options, $"ganache on port {port}", cancellation).ConfigureAwait(false);
            return chain;
        }
        catch (ProbeCannotSucceedException ex) when (ex.InnerException is E2EException reason)
        {
            chain.Dispose();
            throw reason;
        }
        catch
        {
            chain.Dispose();
            throw;
        }
    }

    /// <summary>Starts ganache's server from its API: chain id and port from argv, funded keys from the environment (then dropped from it).</summary>
    private const string Launcher = """
        const ganache = require(process.env.E2E_GANACHE_PACKAGE);
        const keys = JSON.parse(process.env.E2E_GANACHE_ACCOUNTS || "[]");
        delete process.env.E2E_GANACHE_ACCOUNTS;
        const [chainId, port] = process.argv.slice(1);
        const server = ganache.server({
          chain: { chainId: Number(chainId) },
          wallet: { accounts: keys.map(k => ({ secretKey: k, balance: "0x3635C9ADC5DEA00000" })) },
          logging: { quiet: true },
          miner: { instamine: "eager" },
        });
        server.listen(Number(port), "127.0.0.1", err => { if (err) { console.error(err.message); process.exit(1); } });
        process.on("SIGTERM", () => server.close().finally(() => process.exit(0)));
        """;

    /// <summary>The ganache package folder behind a ganache executable (node_modules/.bin/ganache links into it).</summary>
    internal static string? GanachePackage(string program)
    {
        var resolved = new FileInfo(program).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(program);
        for (var dir = new FileInfo(resolved).Directory; dir is not null; dir = dir.Parent)
        {
            var manifest = Path.Combine(dir.FullName, "package.json");
            if (File.Exists(manifest) && File.ReadAllText(manifest).Contains("\"name\": \"ganache\"", StringComparison.Ordinal))
            {
                return dir.FullName;
            }
        }
        // A bin folder beside node_modules (npm's layout for a local install).
        var sibling = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(program))!, "..", "ganache"));
        return File.Exists(Path.Combine(sibling, "package.json")) ? sibling : null;
    }

    public override string ToString() => $"ganache (chain {ChainId}) at {RpcUrl}, pid {ProcessId}";

    public void Dispose()
    {
        // ganache and whatever node started for it, as one group.
        _group.Terminate(TimeSpan.Zero);
        _process.Dispose();
    }
}

/// <summary>A key's hex for handing to a process that needs it (ganache funding), never for display.</summary>
public sealed record EthKeyMaterial(string Hex)
{
    /// <summary>A key's hex as a user gave it (with or without 0x, spaces around), checked to be a valid key.</summary>
    public static EthKeyMaterial FromText(string text)
    {
        using (EthKey.FromHex(text))
        {
            return new EthKeyMaterial("0x" + text.Trim().Replace("0x", string.Empty, StringComparison.OrdinalIgnoreCase).ToLowerInvariant());
        }
    }

    public override string ToString() => "(private key)";
}
