using System.Net;
using System.Net.Sockets;
using E2E.Core.Net;

namespace E2E.Core.Tests.Networking;

/// <remarks>
/// Not part of CI (trait Kind=Stress; run it with tools/Test-Repeat.ps1 -Filter Kind=Stress). The race it provokes has
/// a second form that no caller can catch: the accept completes on a pool thread before HttpListener's endpoint has
/// made its lock, and the process ends (System.Net.HttpEndPointListener.ProcessAccept, ArgumentNullException). Alone
/// and with two busy processes beside it, that took the whole test host down in 1 of 30 runs, so in CI it would fail
/// unrelated work. The servers the module starts meet the race only when a client polls a fixed port at the very
/// moment it binds; the module's own waits probe a node only after it has logged that it serves.
/// </remarks>
[Collection(nameof(E2E.Core.Tests.Scopes.ProcessWide))]
[Trait("Kind", "Stress")]
public sealed class LoopbackTests
{
    [Fact]
    public async Task A_server_starts_while_clients_are_already_connecting_to_its_port()
    {
        // dotnet/corefx#35191, still in .NET 10: a connection that arrives while HttpListener.Start binds makes
        // Start throw ArgumentNullException (and left the port held). Health probes polling a starting node do it.
        for (var round = 0; round < 300; round++)
        {
            var port = Loopback.FreePort();
            using var stop = new CancellationTokenSource();
            using var hammering = new SemaphoreSlim(0);
            var hammer = Task.Run(() =>
            {
                while (!stop.IsCancellationRequested)
                {
                    if (hammering.CurrentCount == 0)
                    {
                        hammering.Release();
                    }
                    try
                    {
                        using var client = new TcpClient();
                        client.Connect(IPAddress.Loopback, port);
                    }
                    catch (SocketException)
                    {
                        // Not listening yet.
                    }
                }
            });
            await hammering.WaitAsync();
            HttpListener? listener = null;
            try
            {
                (listener, var started) = Loopback.Start(port, "the test server");
                Assert.Equal(port, started);
                Assert.True(listener.IsListening);
            }
            finally
            {
                stop.Cancel();
                await hammer;
                if (listener is not null)
                {
                    Loopback.Stop(listener);
                }
            }
        }
    }
}
