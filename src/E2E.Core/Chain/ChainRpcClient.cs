using System.Globalization;
using System.Net.Http.Json;
using System.Numerics;
using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Ethereum;
using E2E.Core.Waiting;

namespace E2E.Core.Chain;

public sealed record TransactionReceipt(string TransactionHash, EthAddress From, EthAddress? To, long Status, long BlockNumber, long GasUsed);

/// <summary>What a sent transaction became: its fields as signed and its receipt.</summary>
public sealed record ChainTransactionResult(string Hash, EthAddress From, EthAddress? To, BigInteger ChainId, BigInteger Nonce, BigInteger GasLimit, BigInteger GasPrice, long Status, long BlockNumber, long GasUsed)
{
    public bool Succeeded => Status == 1;
}

/// <summary>The few Ethereum JSON-RPC calls the suites need, over HttpClient. RPC errors become ChainRpcFailed.</summary>
public sealed class ChainRpcClient : IDisposable
{
    private readonly HttpClient _http;
    private long _id;

    public ChainRpcClient(string url, TimeSpan? timeout = null)
    {
        Url = url;
        _http = new HttpClient { Timeout = timeout ?? TimeSpan.FromSeconds(30) };
    }

    public string Url { get; }

    public async Task<JsonElement> CallAsync(string method, object[] parameters, CancellationToken cancellation)
    {
        var request = new { jsonrpc = "2.0", id = Interlocked.Increment(ref _id), method, @params = parameters };
        JsonElement answer;
        try
        {
            using var response = await _http.PostAsJsonAsync(Url, request, cancellation).ConfigureAwait(false);
            answer = (await response.Content.ReadFromJsonAsync<JsonElement>(cancellation).ConfigureAwait(false)).Clone();
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException || (ex is TaskCanceledException && !cancellation.IsCancellationRequested))
        {
            throw new E2EException(ErrorCatalog.ChainRpcFailed, $"{method} to {Url} failed: {ex.Message}", Url, ex);
        }
        if (answer.TryGetProperty("error", out var error))
        {
            var message = error.TryGetProperty("message", out var m) ? m.GetString() : error.ToString();
            throw new E2EException(ErrorCatalog.ChainRpcFailed, $"{method} to {Url} failed: {message}", Url);
        }
        return answer.GetProperty("result");
    }

    public async Task<BigInteger> ChainIdAsync(CancellationToken cancellation) => Quantity(await CallAsync("eth_chainId", Array.Empty<object>(), cancellation).ConfigureAwait(false));

    public async Task<BigInteger> GasPriceAsync(CancellationToken cancellation) => Quantity(await CallAsync("eth_gasPrice", Array.Empty<object>(), cancellation).ConfigureAwait(false));

    public async Task<BigInteger> NonceAsync(EthAddress address, CancellationToken cancellation) =>
        Quantity(await CallAsync("eth_getTransactionCount", new object[] { address.ToString(), "pending" }, cancellation).ConfigureAwait(false));

    public async Task<string> SendRawTransactionAsync(byte[] raw, CancellationToken cancellation) =>
        (await CallAsync("eth_sendRawTransaction", new object[] { Hex.Encode(raw) }, cancellation).ConfigureAwait(false)).GetString()!;

    public async Task<TransactionReceipt?> ReceiptAsync(string hash, CancellationToken cancellation)
    {
        var result = await CallAsync("eth_getTransactionReceipt", new object[] { hash }, cancellation).ConfigureAwait(false);
        if (result.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        var to = result.TryGetProperty("to", out var t) && t.ValueKind == JsonValueKind.String ? EthAddress.Parse(t.GetString()!) : null;
        return new TransactionReceipt(result.GetProperty("transactionHash").GetString()!, EthAddress.Parse(result.GetProperty("from").GetString()!), to,
            (long)Quantity(result.GetProperty("status")), (long)Quantity(result.GetProperty("blockNumber")), (long)Quantity(result.GetProperty("gasUsed")));
    }

    /// <summary>Polls for the receipt until it exists; ReceiptTimedOut when it does not arrive in time.</summary>
    public async Task<TransactionReceipt> WaitForReceiptAsync(string hash, TimeSpan timeout, CancellationToken cancellation)
    {
        try
        {
            var options = new WaitOptions { Timeout = timeout, Interval = TimeSpan.FromMilliseconds(50), MaxInterval = TimeSpan.FromSeconds(1) };
            var result = await ConditionWaiter.UntilAsync(async token =>
            {
                var receipt = await ReceiptAsync(hash, token).ConfigureAwait(false);
                return receipt is null ? Observation.NotYet("no receipt yet") : Observation.Met(receipt);
            }, options, $"the receipt of {hash}", cancellation).ConfigureAwait(false);
            return (TransactionReceipt)result.LastValue!;
        }
        catch (E2EException ex) when (ex.Error == ErrorCatalog.WaitTimedOut)
        {
            throw new E2EException(ErrorCatalog.ReceiptTimedOut, $"No receipt for {hash} within {timeout.TotalSeconds} s.", hash, ex);
        }
    }

    /// <summary>
    /// Signs a legacy EIP-155 transaction (nonce and gas price from the chain unless given), sends it, waits for
    /// its receipt and returns the result; a receipt with status 0 is TransactionFailed.
    /// </summary>
    public async Task<ChainTransactionResult> SendAsync(EthKey key, EthAddress to, byte[] data, BigInteger gasLimit, BigInteger chainId, BigInteger? gasPrice, BigInteger? nonce, TimeSpan receiptTimeout, CancellationToken cancellation)
    {
        var actualChain = await ChainIdAsync(cancellation).ConfigureAwait(false);
        if (actualChain != chainId)
        {
            throw new E2EException(ErrorCatalog.ChainIdMismatch, $"The chain at {Url} has chain id {actualChain}, not {chainId}.", actualChain);
        }
        var tx = new EthTransaction
        {
            ChainId = chainId,
            Nonce = nonce ?? await NonceAsync(key.Address, cancellation).ConfigureAwait(false),
            GasPrice = gasPrice ?? await GasPriceAsync(cancellation).ConfigureAwait(false),
            GasLimit = gasLimit,
            To = to,
            Data = data,
        }.Sign(key);
        var hash = await SendRawTransactionAsync(tx.Encode(), cancellation).ConfigureAwait(false);
        var receipt = await WaitForReceiptAsync(hash, receiptTimeout, cancellation).ConfigureAwait(false);
        var result = new ChainTransactionResult(hash, receipt.From, receipt.To, chainId, tx.Nonce, tx.GasLimit, tx.GasPrice, receipt.Status, receipt.BlockNumber, receipt.GasUsed);
        if (!result.Succeeded)
        {
            throw new E2EException(ErrorCatalog.TransactionFailed, $"Transaction {hash} to {to} was mined with status 0.", result);
        }
        return result;
    }

    private static BigInteger Quantity(JsonElement value)
    {
        var text = value.GetString() ?? "0x0";
        return BigInteger.Parse("0" + text[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
    }

    public void Dispose() => _http.Dispose();
}
