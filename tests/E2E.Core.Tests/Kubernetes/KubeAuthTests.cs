using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using E2E.Core.Errors;
using E2E.Core.Kubernetes;

namespace E2E.Core.Tests.Kubernetes;

/// <summary>TLS (CA data, insecure-skip-verify, client certificates) and the authorization header of each kind of user, against a TLS server built here.</summary>
public sealed class KubeAuthTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-auth-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static CancellationToken Soon => new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token;

    private static (X509Certificate2 Ca, X509Certificate2 Server, X509Certificate2 Client) Certificates()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=e2e-test-ca", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        X509Certificate2 Issue(string subject, bool server)
        {
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
            if (server)
            {
                var names = new SubjectAlternativeNameBuilder();
                names.AddIpAddress(IPAddress.Loopback);
                names.AddDnsName("localhost");
                request.CertificateExtensions.Add(names.Build());
            }
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(new OidCollection { new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2") }, false));
            var serial = RandomNumberGenerator.GetBytes(8);
            using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(50), serial);
            return X509CertificateLoader.LoadPkcs12(issued.CopyWithPrivateKey(key).Export(X509ContentType.Pkcs12), null);
        }
        return (ca, Issue("CN=127.0.0.1", server: true), Issue("CN=e2e-user,O=system:masters", server: false));
    }

    private static string Pem(X509Certificate2 certificate) => certificate.ExportCertificatePem();

    private static string KeyPem(X509Certificate2 certificate) => certificate.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem();

    private static string B64(string text) => Convert.ToBase64String(Encoding.ASCII.GetBytes(text));

    /// <summary>A kubeconfig with one context, written to a file and loaded as a user's would be.</summary>
    private KubeContext Context(string server, string[] cluster, string[] user)
    {
        var lines = new List<string> { "apiVersion: v1", "kind: Config", "current-context: c", "clusters:", "- name: k", "  cluster:", $"    server: \"{server}\"" };
        lines.AddRange(cluster.Select(l => "    " + l));
        lines.AddRange(new[] { "contexts:", "- name: c", "  context: {cluster: k, user: u}", "users:", "- name: u" });
        lines.AddRange(user.Length == 0 ? new[] { "  user: {}" } : new[] { "  user:" }.Concat(user.Select(l => "    " + l)));
        var path = Path.Combine(_root, $"kubeconfig-{Guid.NewGuid():N}.yaml");
        File.WriteAllLines(path, lines);
        return Kubeconfig.Load(new[] { path }).Context();
    }

    [Fact]
    public async Task Tls_trusts_the_kubeconfig_CA_presents_the_client_certificate_and_refuses_other_CAs()
    {
        var (ca, serverCertificate, clientCertificate) = Certificates();
        using var server = new TlsEchoServer(serverCertificate);
        var user = new[] { $"client-certificate-data: {B64(Pem(clientCertificate))}", $"client-key-data: {B64(KeyPem(clientCertificate))}" };
        using (var client = new KubeClient(Context(server.Url, new[] { $"certificate-authority-data: {B64(Pem(ca))}" }, user)))
        {
            var answer = await client.GetJsonAsync("/version", Soon);
            Assert.Equal("CN=e2e-user, O=system:masters", (string?)answer["clientCertificate"]);
        }

        // Another CA: the TLS handshake fails and the error says the server cannot be reached.
        var (otherCa, _, _) = Certificates();
        using (var untrusting = new KubeClient(Context(server.Url, new[] { $"certificate-authority-data: {B64(Pem(otherCa))}" }, user)))
        {
            var ex = await Assert.ThrowsAsync<E2EException>(() => untrusting.GetJsonAsync("/version", Soon));
            Assert.Same(ErrorCatalog.KubeApiUnreachable, ex.Error);
        }

        // A CA file beside the kubeconfig, named by a relative path.
        File.WriteAllText(Path.Combine(_root, "ca.crt"), Pem(ca));
        using (var fromFile = new KubeClient(Context(server.Url, new[] { "certificate-authority: ca.crt" }, user)))
        {
            Assert.NotNull(await fromFile.GetJsonAsync("/version", Soon));
        }

        // insecure-skip-tls-verify accepts any server certificate.
        using var insecure = new KubeClient(Context(server.Url, new[] { "insecure-skip-tls-verify: true" }, user));
        Assert.NotNull(await insecure.GetJsonAsync("/version", Soon));
    }

    [Fact]
    public async Task Each_kind_of_user_sends_its_authorization()
    {
        var (_, serverCertificate, _) = Certificates();
        using var server = new TlsEchoServer(serverCertificate);
        async Task<string?> Authorization(params string[] user)
        {
            using var client = new KubeClient(Context(server.Url, new[] { "insecure-skip-tls-verify: true" }, user));
            return (string?)(await client.GetJsonAsync("/version", Soon))["authorization"];
        }

        Assert.Equal("Bearer static-token", await Authorization("token: static-token"));
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:s3cret")), await Authorization("username: admin", "password: s3cret"));
        var plugin = KubeTestTools.WriteExecutable(Path.Combine(_root, "plugin.sh"), "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"from-exec\"}}'\n");
        Assert.Equal("Bearer from-exec", await Authorization("exec:", "  apiVersion: client.authentication.k8s.io/v1beta1", $"  command: {plugin}"));
        // tokenFile, relative to the kubeconfig (KubernetesClient's model lacks the field; the module reads it).
        File.WriteAllText(Path.Combine(_root, "token.txt"), "from-file\n");
        Assert.Equal("Bearer from-file", await Authorization("tokenFile: token.txt"));
        Assert.Null(await Authorization());
    }

    /// <summary>An HTTPS server that asks for a client certificate and answers every request with what it saw.</summary>
    private sealed class TlsEchoServer : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly Task _serving;

        public TlsEchoServer(X509Certificate2 certificate)
        {
            _listener.Start();
            Url = $"https://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
            _serving = Task.Run(async () =>
            {
                while (true)
                {
                    TcpClient socket;
                    try
                    {
                        socket = await _listener.AcceptTcpClientAsync();
                    }
                    catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                    {
                        return;
                    }
                    _ = Task.Run(() => Serve(socket, certificate));
                }
            });
        }

        public string Url { get; }

        private static async Task Serve(TcpClient socket, X509Certificate2 certificate)
        {
            using (socket)
            {
                try
                {
                    using var tls = new SslStream(socket.GetStream(), false);
                    await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate, ClientCertificateRequired = true, RemoteCertificateValidationCallback = (_, _, _, _) => true });
                    var reader = new StreamReader(tls, Encoding.ASCII);
                    string? authorization = null;
                    for (var line = await reader.ReadLineAsync(); !string.IsNullOrEmpty(line); line = await reader.ReadLineAsync())
                    {
                        if (line.StartsWith("Authorization:", StringComparison.OrdinalIgnoreCase))
                        {
                            authorization = line[14..].Trim();
                        }
                    }
                    var subject = tls.RemoteCertificate is null ? null : new X509Certificate2(tls.RemoteCertificate).Subject;
                    var body = System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, string?> { ["authorization"] = authorization, ["clientCertificate"] = subject });
                    var bytes = Encoding.UTF8.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}");
                    await tls.WriteAsync(bytes);
                }
                catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException)
                {
                    // A client that refused our certificate.
                }

            }
        }

        public void Dispose()
        {
            _listener.Stop();
            _serving.Wait(TimeSpan.FromSeconds(2));
        }
    }
}
