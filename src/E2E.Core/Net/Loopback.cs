using System.Net;
using System.Net.Sockets;
using E2E.Core.Errors;

namespace E2E.Core.Net;

/// <summary>Servers the module starts listen on 127.0.0.1 only; this is how they get a port.</summary>
public static class Loopback
{
    /// <summary>A port that was free a moment ago (the OS picks it); callers retry if another process takes it first.</summary>
    public static int FreePort()
    {
        // The OS may hand the same ephemeral port to two probes in a row once each has closed; two servers of
        // this process then race for it (and managed HttpListener shares one socket per port, so the loser can
        // break the winner's shutdown). Never hand out a port twice in one process.
        lock (Given)
        {
            for (var attempt = 0; ; attempt++)
            {
                using var probe = new TcpListener(IPAddress.Loopback, 0);
                probe.Start();
                var port = ((IPEndPoint)probe.LocalEndpoint).Port;
                if (Given.Add(port) || attempt >= 50)
                {
                    return port;
                }
            }
        }
    }

    private static readonly HashSet<int> Given = new();

    /// <summary>Starts <paramref name="listener"/> on 127.0.0.1:<paramref name="port"/>; port 0 picks a free one (HttpListener cannot bind 0 itself).</summary>
    public static int Start(HttpListener listener, int port, string what)
    {
        for (var attempt = 0; ; attempt++)
        {
            var candidate = port == 0 ? FreePort() : port;
            listener.Prefixes.Clear();
            listener.Prefixes.Add($"http://127.0.0.1:{candidate}/");
            try
            {
                listener.Start();
                return candidate;
            }
            catch (HttpListenerException) when (port == 0 && attempt < 5)
            {
                // Another process took the port between the probe and the bind; pick again.
            }
            catch (HttpListenerException ex)
            {
                throw new E2EException(ErrorCatalog.ResourceBusy, $"{what} cannot listen on 127.0.0.1:{candidate}: {ex.Message}", candidate, ex);
            }
        }
    }
}
