using System.Net;
using System.Net.Sockets;
using E2E.Core.Errors;

namespace E2E.Core.Net;

/// <summary>
/// Servers the module starts listen on 127.0.0.1 only, unless a program in a container asks for every address
/// (inside its own network namespace 127.0.0.1 is unreachable through a published port); this is how they get a port.
/// </summary>
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

    /// <summary>
    /// One accept loop of a socket server (TCP or unix): takes connections until the listener is closed or
    /// <paramref name="stop"/> is cancelled, and serves each on a task of its own.
    /// </summary>
    public static async Task AcceptAsync(Socket listener, Func<Socket, Task> serve, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            Socket connection;
            try
            {
                connection = await listener.AcceptAsync(stop).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = Task.Run(() => serve(connection));
        }
    }

    /// <summary>
    /// One accept loop of an HttpListener server: takes requests until the listener stops or <paramref name="stop"/>
    /// is cancelled, and treats a client that went away mid-response as nothing to report. With
    /// <paramref name="eachOnItsOwnTask"/>, requests that hold their connection (watches) do not block the loop.
    /// </summary>
    public static async Task ServeAsync(HttpListener listener, Func<HttpListenerContext, Task> handle, bool eachOnItsOwnTask, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested && listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception) when (stop.IsCancellationRequested || !listener.IsListening)
            {
                return;
            }
            catch (HttpListenerException)
            {
                continue;
            }
            var handled = HandleQuietly(handle, context);
            if (!eachOnItsOwnTask)
            {
                await handled.ConfigureAwait(false);
            }
        }
    }

    private static async Task HandleQuietly(Func<HttpListenerContext, Task> handle, HttpListenerContext context)
    {
        try
        {
            await Task.Yield(); // Off the accept loop's stack, so a long request never holds it.
            await handle(context).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The client went away mid-response, or the server is stopping.
        }
    }

    /// <summary>Stops and closes a listener started by <see cref="Start"/>, freeing its port.</summary>
    public static void Stop(HttpListener listener)
    {
        try
        {
            listener.Stop();
            listener.Close();
        }
        catch (HttpListenerException)
        {
            // Managed HttpListener can fail to look its endpoint up again while closing; the socket goes with the process.
        }
        catch (ObjectDisposedException)
        {
            // Closed already (a failed Start closes it).
        }
    }

    /// <summary>
    /// A new HttpListener started on 127.0.0.1:<paramref name="port"/> (and answering Host: localhost), or with
    /// <paramref name="everyAddress"/> on every address of the host; port 0 picks a free one (HttpListener cannot
    /// bind 0 itself). A taken port is ResourceBusy, or with port 0 another pick.
    /// </summary>
    /// <remarks>
    /// A client that connects while Start binds (a health probe polling a starting server, a watch reconnecting to
    /// a restarting one) makes Start throw ArgumentNullException inside the managed HttpListener (dotnet/corefx#35191,
    /// still in .NET 10): the half-built endpoint's socket is left bound and the listener is closed. That is retried
    /// with a new listener once a collection has finalised the orphaned socket, so the port is free again.
    /// </remarks>
    public static (HttpListener Listener, int Port) Start(int port, string what, bool everyAddress = false)
    {
        for (var attempt = 0; ; attempt++)
        {
            var candidate = port == 0 ? FreePort() : port;
            var listener = new HttpListener();
            if (everyAddress)
            {
                // '+' binds the wildcard address and answers whatever Host a client names (a service name, an IP).
                listener.Prefixes.Add($"http://+:{candidate}/");
            }
            else
            {
                listener.Prefixes.Add($"http://127.0.0.1:{candidate}/");
                // Clients that name the host localhost (healthchecks in compose files do) send Host: localhost.
                listener.Prefixes.Add($"http://localhost:{candidate}/");
            }
            try
            {
                listener.Start();
                return (listener, candidate);
            }
            catch (ArgumentNullException) when (attempt < 20)
            {
                Stop(listener);
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
            catch (Exception ex) when (ex is HttpListenerException or SocketException && attempt < 20 && (port == 0 || attempt > 0))
            {
                // Port 0: another process took the port between the probe and the bind; pick again. A given port
                // after a retried race: the orphaned socket may need one more collection to let go.
                Stop(listener);
                if (port != 0)
                {
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                    Thread.Sleep(10 * attempt);
                }
            }
            catch (Exception ex) when (ex is HttpListenerException or SocketException)
            {
                Stop(listener);
                throw new E2EException(ErrorCatalog.ResourceBusy, $"{what} cannot listen on {(everyAddress ? "port " : "127.0.0.1:")}{candidate}: {ex.Message}", candidate, ex);
            }
        }
    }
}
