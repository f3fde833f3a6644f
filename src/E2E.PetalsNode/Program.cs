using System.Globalization;
using System.Runtime.InteropServices;
using E2E.Core.Errors;
using E2E.Core.Ethereum;
using E2E.Core.Oracle;
using E2E.Core.Petals;
using E2E.Core.StandIns.Oracle;
using E2E.Core.StandIns.Petals;

// A Petals node (default), the mock Oracle ('mock-oracle') or a health probe ('probe URL': exit 0 when the URL
// answers 2xx within 5 s, 1 otherwise; the images' healthchecks use it, as they have no curl), configured by environment variables: the
// upstream node's (PLUMISE_PRIVATE_KEY, PLUMISE_RPC_URL, PLUMISE_CHAIN_ID, ORACLE_API_URL, MODEL_NAME, NUM_BLOCKS,
// PETALS_PORT, API_PORT, REPORT_INTERVAL) and ours (E2E_PETALS_BLOCK_START, E2E_PETALS_REPORT_FORMAT,
// E2E_PETALS_HEARTBEAT_INTERVAL, E2E_PETALS_SPOOL, PLUMISE_PRIVATE_KEY_FILE, E2E_ORACLE_PORT). Keys come by
// environment or file only, never argv. Logs go to stdout, one line each. SIGTERM or Ctrl-C stops it: a node
// makes one last report first. Exit codes: 0 stopped, 2 bad configuration, 98 port in use.
var stop = new CancellationTokenSource();
using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
using var onInt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);

void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}

static void Log(string message) => Console.Out.WriteLine($"{DateTimeOffset.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {message}");

static string? Setting(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;

static int Number(string name, int fallback, int min, int max)
{
    var text = Setting(name);
    if (text is null)
    {
        return fallback;
    }
    if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
    {
        throw new E2EException(ErrorCatalog.InvalidArgument, $"{name} must be a whole number from {min} to {max}, not '{text}'.");
    }
    return value;
}

// 0.0.0.0 (or ::) listens on every address, as a program in a container must; anything else is loopback only.
static bool EveryAddress(string name)
{
    var host = Setting(name);
    if (host is null or "127.0.0.1" or "localhost")
    {
        return false;
    }
    if (host is "0.0.0.0" or "::" or "[::]")
    {
        return true;
    }
    throw new E2EException(ErrorCatalog.InvalidArgument, $"{name} must be 0.0.0.0 (every address) or 127.0.0.1, not '{host}'.");
}

Console.Out.Flush();
if (args is ["probe", var probeUrl])
{
    using var probe = new System.Net.Http.HttpClient { Timeout = TimeSpan.FromSeconds(5) };
    try
    {
        return (await probe.GetAsync(probeUrl)).IsSuccessStatusCode ? 0 : 1;
    }
    catch (Exception ex) when (ex is System.Net.Http.HttpRequestException or TaskCanceledException or UriFormatException or InvalidOperationException)
    {
        Console.Error.WriteLine($"probe {probeUrl}: {ex.Message}");
        return 1;
    }
}
try
{
    if (args.Length > 0 && args[0] == "mock-oracle")
    {
        var port = Number("E2E_ORACLE_PORT", 3100, 1, 65535);
        using var oracle = new MockOracleServer(new MockOracleOptions
        {
            Port = port,
            EveryAddress = EveryAddress("E2E_ORACLE_HOST"),
            // The upstream compose mock prints these lines; its run_e2e.sh greps the first one.
            OnReport = report => Log(report.Accepted
                ? $"Received report from agent: {report.Agent}, processed tokens: {report.ProcessedTokens}"
                : $"Rejected report from agent: {report.Agent ?? "(unknown)"}: HTTP {report.StatusCode} {report.Reason}"),
        });
        Log(oracle.EveryAddress ? $"mock Oracle listening on every address, port {oracle.Port}" : $"mock Oracle listening on {oracle.Url}");
        await Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
        Log("mock Oracle stopped");
        return 0;
    }

    EthKey? key = Setting("PLUMISE_PRIVATE_KEY_FILE") is { } keyFile ? EthKey.FromFile(keyFile)
        : Setting("PLUMISE_PRIVATE_KEY") is not null ? EthKey.FromEnvironment("PLUMISE_PRIVATE_KEY")
        : null;
    var model = new PetalsModel(Setting("MODEL_NAME") ?? PetalsModel.DefaultName);
    var start = Number("E2E_PETALS_BLOCK_START", 0, 0, model.BlockCount - 1);
    var count = Number("NUM_BLOCKS", model.BlockCount - start, 1, model.BlockCount);
    var format = Setting("E2E_PETALS_REPORT_FORMAT") is { } formatText
        ? Enum.TryParse<OracleReportFormat>(formatText, ignoreCase: true, out var parsed) ? parsed : throw new E2EException(ErrorCatalog.InvalidArgument, $"E2E_PETALS_REPORT_FORMAT must be Current or Legacy, not '{formatText}'.")
        : OracleReportFormat.Current;
    var everyAddress = EveryAddress("PETALS_HOST");
    await using var node = PetalsNodeHost.Start(new PetalsNodeOptions
    {
        Model = model,
        BlockStart = start,
        BlockEnd = Math.Min(model.BlockCount, start + count),
        // Upstream serves /health and /metrics on API_PORT and the swarm on PETALS_PORT; this node has one HTTP server for both.
        Port = Setting("API_PORT") is not null ? Number("API_PORT", 31331, 0, 65535) : Number("PETALS_PORT", 31330, 0, 65535),
        Key = key,
        OracleUrl = Setting("ORACLE_API_URL"),
        ReportFormat = format,
        ReportInterval = TimeSpan.FromSeconds(Number("REPORT_INTERVAL", 60, 1, 86400)),
        SpoolDirectory = Setting("E2E_PETALS_SPOOL"),
        EveryAddress = everyAddress,
        ChainRpcUrl = Setting("PLUMISE_RPC_URL"),
        ChainId = Number("PLUMISE_CHAIN_ID", 41956, 1, int.MaxValue),
        HeartbeatInterval = TimeSpan.FromSeconds(Number("E2E_PETALS_HEARTBEAT_INTERVAL", 300, 1, 86400)),
        Log = Log,
    });
    await Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default);
    Log("stopping");
    await node.StopAsync(TimeSpan.FromSeconds(10));
    Log("stopped");
    return 0;
}
catch (E2EException ex) when (ex.Error == ErrorCatalog.ResourceBusy)
{
    Log($"error {ex.Error.Id}: {ex.Message}");
    return 98;
}
catch (E2EException ex)
{
    Log($"error {ex.Error.Id}: {ex.Message}");
    return 2;
}
