using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using E2E.Core.Errors;
using E2E.Core.Net;

namespace E2E.Core.Containers;

/// <summary>
/// Makes servers of this host that listen on 127.0.0.1 only (a mock Oracle, ganache, the MLflow stand-in) reachable
/// from a container. Inside a container 127.0.0.1 is the container itself, and Docker's host gateway (the bridge's
/// address on the host) reaches only servers that listen there; so a URL naming the host's loopback is rewritten to
/// <see cref="HostName"/> (mapped to the network's gateway in the container's /etc/hosts, as --add-host does), and a
/// TCP relay on the gateway address forwards each connection to the loopback port. For http URLs the relay also
/// rewrites the first request's Host header to 127.0.0.1:&lt;port&gt; and asks for the connection to close after that
/// request: a server bound to loopback may answer only its own names (HttpListener returns 400 for any other Host),
/// and one request per connection means no later request passes unrewritten. The relays live as long as the
/// container's owner keeps this object; <see cref="Dispose"/> closes them and every connection through them.
/// </summary>
public sealed class HostLoopbackRelay : IDisposable
{
    /// <summary>The name Docker Desktop gives the host; on Linux engines it exists only where --add-host puts it.</summary>
    public const string HostName = "host.docker.internal";

    private readonly IPAddress _gateway;
    private readonly Dictionary<int, int> _relayedPorts = new();
    private readonly List<Socket> _listeners = new();
    private readonly ConcurrentDictionary<Socket, byte> _connections = new();
    private readonly CancellationTokenSource _stop = new();

    private HostLoopbackRelay(IPAddress gateway) => _gateway = gateway;

    /// <summary>The extra host entry the container needs ("host.docker.internal:&lt;gateway&gt;").</summary>
    public string ExtraHost => $"{HostName}:{_gateway}";

    /// <summary>What was rewritten, for the cmdlet's verbose output ("NAME url -> url, relayed ...").</summary>
    public List<string> Rewrites { get; } = new();

    /// <summary>A relay for containers on <paramref name="network"/> (the engine's default bridge when null): binds nothing until a URL needs it.</summary>
    public static async Task<HostLoopbackRelay> ForNetworkAsync(DockerEngine engine, string? network, CancellationToken cancellation) =>
        new(await engine.NetworkGatewayAsync(network ?? "bridge", cancellation).ConfigureAwait(false));

    /// <summary>True for URLs whose host is this machine's loopback (127.0.0.0/8, localhost, ::1).</summary>
    public static bool NamesHostLoopback(Uri uri) =>
        uri.IsLoopback && (uri.Host == "localhost" || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address)));

    /// <summary>
    /// <paramref name="value"/> unchanged unless it is an absolute http(s) URL naming the host's loopback; then the URL
    /// with <see cref="HostName"/> and the relay's port, the relay started, and the rewrite noted under <paramref name="name"/>.
    /// </summary>
    public string Rewrite(string name, string value)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || !NamesHostLoopback(uri))
        {
            return value;
        }
        var port = Relay(uri.Port, rewriteHost: uri.Scheme == "http");
        var rewritten = new UriBuilder(uri) { Host = HostName, Port = port }.Uri.ToString();
        // UriBuilder adds a trailing slash to a bare authority; keep the user's form.
        if (!value.EndsWith('/') && rewritten.EndsWith('/') && uri.AbsolutePath == "/")
        {
            rewritten = rewritten[..^1];
        }
        Rewrites.Add(string.Create(CultureInfo.InvariantCulture, $"{name} {value} -> {rewritten} (relayed from {_gateway}:{port} to 127.0.0.1:{uri.Port})"));
        return rewritten;
    }

    // The gateway port relaying to the loopback port: the same number when it is free on the gateway, else any.
    private int Relay(int loopbackPort, bool rewriteHost)
    {
        lock (_relayedPorts)
        {
            if (_relayedPorts.TryGetValue(loopbackPort, out var existing))
            {
                return existing;
            }
            var listener = new Socket(_gateway.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                try
                {
                    listener.Bind(new IPEndPoint(_gateway, loopbackPort));
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
                {
                    listener.Bind(new IPEndPoint(_gateway, 0));
                }
                listener.Listen(64);
            }
            catch (SocketException ex)
            {
                listener.Dispose();
                throw new E2EException(ErrorCatalog.ResourceBusy, $"Cannot relay 127.0.0.1:{loopbackPort} to containers: binding {_gateway} failed: {ex.Message}", loopbackPort, ex);
            }
            var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
            _listeners.Add(listener);
            _relayedPorts[loopbackPort] = port;
            _ = Loopback.AcceptAsync(listener, inbound => ForwardAsync(inbound, loopbackPort, rewriteHost), _stop.Token);
            return port;
        }
    }

    private async Task ForwardAsync(Socket inbound, int loopbackPort, bool rewriteHost)
    {
        using var outbound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        inbound.NoDelay = true;
        _connections[inbound] = 0;
        _connections[outbound] = 0;
        try
        {
            await outbound.ConnectAsync(new IPEndPoint(IPAddress.Loopback, loopbackPort), _stop.Token).ConfigureAwait(false);
            if (rewriteHost && !await SendFirstRequestHeadAsync(inbound, outbound, loopbackPort).ConfigureAwait(false))
            {
                return;
            }
            await Task.WhenAll(PumpAsync(inbound, outbound), PumpAsync(outbound, inbound)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The server refused or went away, the client left, or the relay is closing: the client sees its connection end.
        }
        finally
        {
            _connections.TryRemove(inbound, out _);
            _connections.TryRemove(outbound, out _);
            inbound.Dispose();
        }
    }

    /// <summary>The largest request head the relay rewrites; a client sending more is cut off.</summary>
    private const int MaxRequestHead = 64 * 1024;

    // Reads the client's first request head, sends it on with Host and Connection rewritten, and any body bytes read
    // with it; false when the client left (or sent no HTTP head) before the head was whole.
    private async Task<bool> SendFirstRequestHeadAsync(Socket inbound, Socket outbound, int loopbackPort)
    {
        var buffer = new byte[MaxRequestHead];
        var filled = 0;
        int end;
        while ((end = buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8)) < 0)
        {
            if (filled == buffer.Length)
            {
                return false;
            }
            var read = await inbound.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, _stop.Token).ConfigureAwait(false);
            if (read == 0)
            {
                return false;
            }
            filled += read;
        }
        var lines = System.Text.Encoding.Latin1.GetString(buffer, 0, end).Split("\r\n");
        var head = new System.Text.StringBuilder(lines[0]).Append("\r\n");
        foreach (var line in lines.Skip(1))
        {
            var name = line.Split(':', 2)[0].Trim();
            if (!name.Equals("Host", StringComparison.OrdinalIgnoreCase) && !name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                head.Append(line).Append("\r\n");
            }
        }
        head.Append(CultureInfo.InvariantCulture, $"Host: 127.0.0.1:{loopbackPort}\r\nConnection: close\r\n\r\n");
        await outbound.SendAsync(System.Text.Encoding.Latin1.GetBytes(head.ToString()), SocketFlags.None, _stop.Token).ConfigureAwait(false);
        if (filled > end + 4)
        {
            await outbound.SendAsync(buffer.AsMemory(end + 4, filled - end - 4), SocketFlags.None, _stop.Token).ConfigureAwait(false);
        }
        return true;
    }

    // One direction until its end of stream, which is passed on as a half-close (HTTP clients may close their sending side first).
    private async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    break;
                }
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token).ConfigureAwait(false);
            }
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // Reset or closing: end both ways.
            try
            {
                from.Shutdown(SocketShutdown.Both);
                to.Shutdown(SocketShutdown.Both);
            }
            catch (Exception shut) when (shut is SocketException or ObjectDisposedException)
            {
                // Already closed.
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        lock (_relayedPorts)
        {
            foreach (var listener in _listeners)
            {
                listener.Dispose();
            }
            _listeners.Clear();
        }
        foreach (var connection in _connections.Keys)
        {
            connection.Dispose();
        }
    }
}
