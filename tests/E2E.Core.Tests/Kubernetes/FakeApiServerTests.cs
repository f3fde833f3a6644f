using System.Diagnostics;
using System.Net.Sockets;
using System.Net;
using System.Text.Json.Nodes;
using System.Text;
using E2E.Core.Errors;
using E2E.Core.Kubernetes;
using E2E.Core.StandIns.Kubernetes;

namespace E2E.Core.Tests.Kubernetes;

public sealed class FakeApiServerTests : IDisposable
{
    internal static readonly string ComputeCrd = Fixtures.Path("skytorch", "config", "base", "crds", "compute.skytorch.dev_computes.yaml");
    private readonly FakeApiServer _server = new();
    private readonly KubeClient _client;
    private readonly string _root = Directory.CreateTempSubdirectory("e2e-fake-").FullName;

    public FakeApiServerTests() => _client = KubeClient.ForUrl(_server.Url);

    public void Dispose()
    {
        _client.Dispose();
        _server.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    private static CancellationToken Soon => new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token;

    internal static async Task<ApiResource> InstallComputeCrd(KubeClient client)
    {
        var crd = KubeObjects.ParseYaml(File.ReadAllText(ComputeCrd), ComputeCrd).Single();
        await client.ApplyAsync(crd, cancellation: Soon);
        return await client.ResolveAsync("compute.skytorch.dev/v1alpha1", "Compute", Soon);
    }

    private static JsonObject Compute(string name, string? ns = null, string labels = "{}") =>
        KubeObjects.Parse($$$"""{"apiVersion":"compute.skytorch.dev/v1alpha1","kind":"Compute","metadata":{"name":"{{{name}}}"{{{(ns is null ? "" : $",\"namespace\":\"{ns}\"")}}},"labels":{{{labels}}}},"spec":{"image":"ghcr.io/astefanutti/skytorch-server","suspend":false}}""");

    [Fact]
    public async Task The_real_CRD_is_served_after_install_and_instances_round_trip()
    {
        var computes = await InstallComputeCrd(_client);
        Assert.Equal(("computes", true, "computes.compute.skytorch.dev"), (computes.Plural, computes.Namespaced, computes.FullName));
        var crd = await _client.GetAsync(await _client.FindAsync("crd", Soon), null, "computes.compute.skytorch.dev", Soon);
        Assert.Equal("True", (string?)KubeObjects.Condition(crd!, "Established")?["status"]);

        var created = await _client.CreateAsync(Compute("alpha", labels: """{"team":"a"}"""), Soon);
        Assert.Equal("default", KubeObjects.Namespace(created));
        Assert.NotNull(KubeObjects.Uid(created));
        var conflict = await Assert.ThrowsAsync<KubeApiException>(() => _client.CreateAsync(Compute("alpha"), Soon));
        Assert.Equal((409, "AlreadyExists"), (conflict.StatusCode, conflict.Reason));
        Assert.Same(ErrorCatalog.KubeResourceExists, conflict.Error);

        for (var i = 0; i < 7; i++)
        {
            await _client.ApplyAsync(Compute($"bulk-{i}", labels: """{"team":"b"}"""), "skytorch-python-client", cancellation: Soon);
        }
        var page = await _client.ListAsync(computes, "default", "team=b", pageSize: 3, cancellation: Soon);
        Assert.Equal(7, page.Items.Count);
        Assert.All(page.Items, i => Assert.Equal("Compute", KubeObjects.Kind(i)));
        Assert.Single((await _client.ListAsync(computes, "default", "team in (a,c)", cancellation: Soon)).Items);
        Assert.Single((await _client.ListAsync(computes, "default", fieldSelector: "metadata.name=bulk-3", cancellation: Soon)).Items);

        // Status goes through the status subresource only; a main-resource write cannot change it.
        var status = KubeObjects.Parse("""{"status":{"conditions":[{"type":"Ready","status":"True","reason":"AllComponentsReady","message":"ok","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}""");
        await _client.PatchAsync(computes, "default", "alpha", status, "status", Soon);
        await _client.PatchAsync(computes, "default", "alpha", KubeObjects.Parse("""{"status":null,"spec":{"suspend":true}}"""), cancellation: Soon);
        var alpha = (await _client.GetAsync(computes, "default", "alpha", Soon))!;
        Assert.Equal("True", (string?)KubeObjects.Condition(alpha, "Ready")?["status"]);
        Assert.True((bool?)alpha["spec"]!["suspend"]);
        Assert.Equal(2L, KubeObjects.Integer(alpha["metadata"]!["generation"]));

        Assert.True(await _client.DeleteAsync(computes, "default", "alpha", cancellation: Soon));
        Assert.False(await _client.DeleteAsync(computes, "default", "alpha", cancellation: Soon));
        Assert.Null(await _client.GetAsync(computes, "default", "alpha", Soon));
    }

    [Fact]
    public async Task Server_side_apply_tracks_field_owners_conflicts_and_removals()
    {
        var computes = await InstallComputeCrd(_client);
        JsonObject Config(string spec) => KubeObjects.Parse($$$"""{"apiVersion":"compute.skytorch.dev/v1alpha1","kind":"Compute","metadata":{"name":"owned","labels":{"app.kubernetes.io/name":"x"}},"spec":{{{spec}}}}""");
        await _client.ApplyAsync(Config("""{"image":"a","suspend":false,"args":["--one"]}"""), "team-a", force: false, cancellation: Soon);

        // Another manager setting a field team-a owns to a different value conflicts, naming both.
        var conflict = await Assert.ThrowsAsync<KubeApiException>(() => _client.ApplyAsync(Config("""{"image":"b"}"""), "team-b", force: false, cancellation: Soon));
        Assert.Equal((409, "Conflict"), (conflict.StatusCode, conflict.Reason));
        Assert.Contains("conflict with \"team-a\": .spec.image", conflict.Message);
        // The same value is shared ownership, not a conflict.
        await _client.ApplyAsync(Config("""{"suspend":false}"""), "team-b", force: false, cancellation: Soon);

        // Forcing takes the field over; team-a then leaving args out removes them, but image stays (team-b owns it).
        await _client.ApplyAsync(Config("""{"image":"b"}"""), "team-b", force: true, cancellation: Soon);
        var live = await _client.ApplyAsync(Config("""{"suspend":false}"""), "team-a", force: false, cancellation: Soon);
        Assert.Equal("b", (string?)live["spec"]!["image"]);
        Assert.Null(live["spec"]!["args"]);
        Assert.Equal("x", KubeObjects.Labels(live)["app.kubernetes.io/name"]);
        var managers = ((JsonArray)live["metadata"]!["managedFields"]!).Select(m => (string?)m!["manager"]).ToArray();
        Assert.Equal(new[] { "team-a", "team-b" }, managers);
        Assert.NotNull(live["metadata"]!["managedFields"]![1]!["fieldsV1"]!["f:spec"]!["f:image"]);
    }

    [Fact]
    public async Task Invalid_objects_get_422_with_causes_and_missing_namespaces_404()
    {
        await InstallComputeCrd(_client);
        var invalid = await Assert.ThrowsAsync<KubeApiException>(() => _client.CreateAsync(Compute("9-starts-with-digit"), Soon));
        Assert.Equal((422, "Invalid"), (invalid.StatusCode, invalid.Reason));
        Assert.Same(ErrorCatalog.KubeResourceInvalid, invalid.Error);
        Assert.Contains("RFC 1035", invalid.Message);

        var badType = Compute("typed");
        badType["spec"]!["suspend"] = "yes";
        Assert.Contains("spec.suspend", (await Assert.ThrowsAsync<KubeApiException>(() => _client.CreateAsync(badType, Soon))).Message);

        var missingNamespace = await Assert.ThrowsAsync<KubeApiException>(() => _client.CreateAsync(Compute("x", "nowhere"), Soon));
        Assert.Equal(404, missingNamespace.StatusCode);
        Assert.Contains("namespaces \"nowhere\" not found", missingNamespace.Message);

        var unknownKind = await Assert.ThrowsAsync<E2EException>(() => _client.ResolveAsync("example.com/v1", "Widget", Soon));
        Assert.Same(ErrorCatalog.KindNotServed, unknownKind.Error);
    }

    [Fact]
    public async Task Finalizers_hold_deletion_and_owners_take_dependents_with_them()
    {
        var configMaps = await _client.ResolveAsync("v1", "ConfigMap", Soon);
        var owner = await _client.CreateAsync(KubeObjects.Parse("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"owner"}}"""), Soon);
        var ownerRef = $$"""[{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":"{{KubeObjects.Uid(owner)}}","controller":true,"blockOwnerDeletion":true}]""";
        await _client.CreateAsync(ConfigMap("child", ownerRef, null), Soon);
        await _client.CreateAsync(ConfigMap("held", ownerRef, "e2e.dev/hold"), Soon);

        await _client.DeleteAsync(configMaps, "default", "owner", cancellation: Soon);
        Assert.Null(await _client.GetAsync(configMaps, "default", "child", Soon));
        var held = (await _client.GetAsync(configMaps, "default", "held", Soon))!;
        Assert.True(KubeObjects.IsDeleting(held));
        Assert.Equal(new[] { "e2e.dev/hold" }, KubeObjects.Finalizers(held));

        await _client.PatchAsync(configMaps, "default", "held", KubeObjects.Parse("""{"metadata":{"finalizers":null}}"""), cancellation: Soon);
        Assert.Null(await _client.GetAsync(configMaps, "default", "held", Soon));

        // A dependent written after its owner went (a late reconcile) is collected too.
        await _client.CreateAsync(ConfigMap("late-child", ownerRef, null), Soon);
        Assert.Null(await _client.GetAsync(configMaps, "default", "late-child", Soon));
    }

    private static JsonObject ConfigMap(string name, string ownerReferences, string? finalizer)
    {
        var o = KubeObjects.Parse("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}""");
        o["metadata"]!["name"] = name;
        o["metadata"]!["ownerReferences"] = JsonNode.Parse(ownerReferences);
        if (finalizer is not null)
        {
            o["metadata"]!["finalizers"] = new JsonArray(finalizer);
        }
        return o;
    }

    private async Task<HttpResponseMessage> Raw(HttpMethod method, string path, string? body = null, string contentType = "application/json")
    {
        using var http = new HttpClient();
        var request = new HttpRequestMessage(method, _server.Url + path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        }
        return await http.SendAsync(request, Soon);
    }

    private async Task<JsonObject> OwnerWithChild(string owner, string? childFinalizer = null)
    {
        var created = await _client.CreateAsync(KubeObjects.Parse($$$"""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"{{{owner}}}"}}"""), Soon);
        var ownerRef = $$$"""[{"apiVersion":"v1","kind":"ConfigMap","name":"{{{owner}}}","uid":"{{{KubeObjects.Uid(created)}}}","blockOwnerDeletion":true}]""";
        await _client.CreateAsync(ConfigMap(owner + "-child", ownerRef, childFinalizer), Soon);
        return created;
    }

    [Theory]
    [InlineData("?propagationPolicy=Orphan")]
    [InlineData("?orphanDependents=true")]
    public async Task Delete_options_sent_as_query_parameters_are_honoured(string query)
    {
        var configMaps = await _client.ResolveAsync("v1", "ConfigMap", Soon);
        await OwnerWithChild("owner");
        Assert.Equal(HttpStatusCode.OK, (await Raw(HttpMethod.Delete, "/api/v1/namespaces/default/configmaps/owner" + query)).StatusCode);
        var orphan = (await _client.GetAsync(configMaps, "default", "owner-child", Soon))!;
        Assert.False(KubeObjects.IsDeleting(orphan));
        Assert.Empty((JsonArray)orphan["metadata"]!["ownerReferences"]!);
        var bad = await Raw(HttpMethod.Delete, "/api/v1/namespaces/default/configmaps/owner-child?propagationPolicy=Sometimes");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task Foreground_deletion_holds_the_owner_until_its_dependents_are_gone()
    {
        var configMaps = await _client.ResolveAsync("v1", "ConfigMap", Soon);
        await OwnerWithChild("owner", childFinalizer: "e2e.dev/hold");
        Assert.Equal(HttpStatusCode.OK, (await Raw(HttpMethod.Delete, "/api/v1/namespaces/default/configmaps/owner?propagationPolicy=Foreground")).StatusCode);
        var owner = (await _client.GetAsync(configMaps, "default", "owner", Soon))!;
        Assert.True(KubeObjects.IsDeleting(owner));
        Assert.Equal(new[] { "foregroundDeletion" }, KubeObjects.Finalizers(owner));
        Assert.True(KubeObjects.IsDeleting((await _client.GetAsync(configMaps, "default", "owner-child", Soon))!));

        await _client.PatchAsync(configMaps, "default", "owner-child", KubeObjects.Parse("""{"metadata":{"finalizers":null}}"""), cancellation: Soon);
        Assert.Null(await _client.GetAsync(configMaps, "default", "owner-child", Soon));
        Assert.Null(await _client.GetAsync(configMaps, "default", "owner", Soon));

        // With no dependents, foreground deletion is immediate.
        await _client.CreateAsync(KubeObjects.Parse("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"alone"}}"""), Soon);
        await Raw(HttpMethod.Delete, "/api/v1/namespaces/default/configmaps/alone?propagationPolicy=Foreground");
        Assert.Null(await _client.GetAsync(configMaps, "default", "alone", Soon));
    }

    [Fact]
    public async Task A_JSON_patch_is_415_before_its_body_is_read_and_new_namespaces_are_Active()
    {
        await _client.CreateAsync(KubeObjects.Parse("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"target"}}"""), Soon);
        var patch = await Raw(HttpMethod.Patch, "/api/v1/namespaces/default/configmaps/target", """[{"op":"add","path":"/data","value":{"a":"b"}}]""", "application/json-patch+json");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, patch.StatusCode);
        Assert.Contains("\"reason\":\"UnsupportedMediaType\"", await patch.Content.ReadAsStringAsync());

        var namespaces = await _client.ResolveAsync("v1", "Namespace", Soon);
        await _client.CreateAsync(KubeObjects.Parse("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"fresh"}}"""), Soon);
        Assert.Equal("Active", (string?)(await _client.GetAsync(namespaces, null, "fresh", Soon))!["status"]!["phase"]);
    }

    [Fact]
    public async Task Deleting_a_namespace_removes_its_contents_then_itself()
    {
        var namespaces = await _client.ResolveAsync("v1", "Namespace", Soon);
        var configMaps = await _client.ResolveAsync("v1", "ConfigMap", Soon);
        await _client.CreateAsync(KubeObjects.Parse("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"e2e-test"}}"""), Soon);
        await _client.CreateAsync(KubeObjects.Parse("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"e2e-test","finalizers":["e2e.dev/hold"]}}"""), Soon);
        await _client.DeleteAsync(namespaces, null, "e2e-test", cancellation: Soon);
        var terminating = (await _client.GetAsync(namespaces, null, "e2e-test", Soon))!;
        Assert.Equal("Terminating", (string?)terminating["status"]!["phase"]);
        var forbidden = await Assert.ThrowsAsync<KubeApiException>(() => _client.CreateAsync(KubeObjects.Parse("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b","namespace":"e2e-test"}}"""), Soon));
        Assert.Equal(403, forbidden.StatusCode);
        await _client.PatchAsync(configMaps, "e2e-test", "a", KubeObjects.Parse("""{"metadata":{"finalizers":[]}}"""), cancellation: Soon);
        Assert.Null(await _client.GetAsync(namespaces, null, "e2e-test", Soon));
    }

    [Fact]
    public async Task Observers_see_changes_resume_after_a_restart_and_relist_after_410()
    {
        var configMaps = await _client.ResolveAsync("v1", "ConfigMap", Soon);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _client.CreateAsync(KubeObjects.Parse("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"before"}}"""), Soon);
        var seen = new List<string>();
        var enumerator = _client.ObserveAsync(configMaps, "default", cancellation: stop.Token).GetAsyncEnumerator(stop.Token);
        async Task<string> Next()
        {
            do
            {
                Assert.True(await enumerator.MoveNextAsync());
            }
            while (enumerator.Current.Type == KubeClient.Synced);
            return $"{enumerator.Current.Type} {KubeObjects.Name(enumerator.Current.Object)}";
        }

        Assert.Equal("ADDED before", await Next());
        await _client.CreateAsync(KubeObjects.Parse("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"during"}}"""), Soon);
        Assert.Equal("ADDED during", await Next());

        // The API server restarts mid-watch; a change made right after is still seen (resumed from the last version).
        _server.Restart();
        await _client.PatchAsync(configMaps, "default", "during", KubeObjects.Parse("""{"data":{"k":"v"}}"""), cancellation: Soon);
        Assert.Equal("MODIFIED during", await Next());

        // History is compacted while changes happen and the stream drops: the observer relists and reports the difference.
        _server.CompactHistory();
        _server.Restart();
        await _client.DeleteAsync(configMaps, "default", "before", cancellation: Soon);
        _server.CompactHistory();
        var after = new HashSet<string> { await Next() };
        Assert.Contains("DELETED before", after);
        await enumerator.DisposeAsync();
    }

    [Fact]
    public async Task An_expired_version_is_a_410_error_event()
    {
        var configMaps = await _client.ResolveAsync("v1", "ConfigMap", Soon);
        var version = (await _client.ListAsync(configMaps, "default", cancellation: Soon)).ResourceVersion;
        await _client.CreateAsync(KubeObjects.Parse("""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"""), Soon);
        _server.CompactHistory();
        var gone = await Assert.ThrowsAsync<KubeApiException>(async () =>
        {
            await foreach (var _ in _client.WatchAsync(configMaps, "default", version, cancellation: Soon))
            {
            }
        });
        Assert.Equal((410, "Expired"), (gone.StatusCode, gone.Reason));
    }

    [Fact]
    public async Task Bookmarks_arrive_on_quiet_watches()
    {
        _server.BookmarkInterval = TimeSpan.FromMilliseconds(100);
        var configMaps = await _client.ResolveAsync("v1", "ConfigMap", Soon);
        var version = (await _client.ListAsync(configMaps, "default", cancellation: Soon)).ResourceVersion;
        await foreach (var e in _client.WatchAsync(configMaps, "default", version, timeoutSeconds: 5, cancellation: Soon))
        {
            Assert.Equal("BOOKMARK", e.Type);
            Assert.Equal(version, KubeObjects.ResourceVersion(e.Object));
            break;
        }
    }

    [Fact]
    public async Task Too_many_requests_is_retried_after_Retry_After()
    {
        var namespaces = await _client.ResolveAsync("v1", "Namespace", Soon);
        _server.FailNext(2, 429, TimeSpan.FromSeconds(1));
        var clock = Stopwatch.StartNew();
        Assert.NotNull(await _client.GetAsync(namespaces, null, "default", Soon));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.9), $"retried after {clock.Elapsed}");

        using var impatient = new KubeClient(_client.Context) { MaxRetries = 1 };
        _server.FailNext(3, 429, TimeSpan.FromMilliseconds(10));
        var ex = await Assert.ThrowsAsync<KubeApiException>(() => impatient.GetAsync(namespaces, null, "default", Soon));
        Assert.Equal((429, "TooManyRequests"), (ex.StatusCode, ex.Reason));
        _server.FailNext(0);
    }

    [Fact]
    public async Task An_unreachable_server_is_KubeApiUnreachable()
    {
        using var nowhere = KubeClient.ForUrl($"http://127.0.0.1:{E2E.Core.Net.Loopback.FreePort()}");
        var ex = await Assert.ThrowsAsync<E2EException>(() => nowhere.FindAsync("pods", Soon));
        Assert.Same(ErrorCatalog.KubeApiUnreachable, ex.Error);
    }

    [Fact]
    public async Task Bearer_tokens_and_in_cluster_configuration_are_sent()
    {
        var account = Directory.CreateDirectory(Path.Combine(_root, "sa")).FullName;
        File.WriteAllText(Path.Combine(account, "token"), "rotating-token-1\n");
        File.WriteAllText(Path.Combine(account, "namespace"), "skytorch-system");
        var env = new Dictionary<string, string?> { ["KUBERNETES_SERVICE_HOST"] = "127.0.0.1", ["KUBERNETES_SERVICE_PORT"] = "6443" };
        var context = KubeClient.InClusterContext(n => env.GetValueOrDefault(n), account);
        Assert.Equal(("https://127.0.0.1:6443", "skytorch-system"), (context.Server, context.Namespace));
        Assert.Same(ErrorCatalog.NotInCluster, Assert.Throws<E2EException>(() => KubeClient.InClusterContext(_ => null, account)).Error);

        // The token file is re-read (service account tokens rotate): KubernetesClient's TokenFileAuth, like client-go,
        // keeps a token for a minute; the test ends that minute early.
        const string ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        using var capture = new RawHttpServer(ok, ok);
        context.Configuration.Host = capture.Url;
        using var client = new KubeClient(context with { Server = capture.Url });
        await client.GetJsonAsync("/version", Soon);
        File.WriteAllText(Path.Combine(account, "token"), "rotating-token-2\n");
        // (TokenExpiresAt is internal to KubernetesClient: set through reflection instead of waiting a minute.)
        typeof(k8s.Authentication.TokenFileAuth).GetProperty("TokenExpiresAt", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.NonPublic)!
            .SetValue(context.Configuration.TokenProvider, DateTime.UtcNow.AddSeconds(-1));
        await client.GetJsonAsync("/version", Soon);
        Assert.Contains("Authorization: Bearer rotating-token-1", capture.Requests[0]);
        Assert.Contains("Authorization: Bearer rotating-token-2", capture.Requests[1]);
    }

    [Fact]
    public async Task Watch_streams_and_lists_captured_from_a_real_API_server_decode_as_client_go_decodes_them()
    {
        var data = Fixtures.Path("kubernetes", "kubernetes+client-go", "dynamic", "testdata", "TestGoldenResponse");
        var serviceAccounts = new ApiResource("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", true, Array.Empty<string>());
        using (var replay = new RawHttpServer(File.ReadAllText(Path.Combine(data, "responses", "events"))))
        using (var client = KubeClient.ForUrl(replay.Url))
        {
            var events = new JsonArray();
            await foreach (var e in client.WatchAsync(serviceAccounts, "mops", "42", cancellation: Soon))
            {
                events.Add(new JsonObject { ["object"] = e.Object.DeepClone(), ["type"] = e.Type });
            }
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(File.ReadAllText(Path.Combine(data, "watch"))), events));
            var request = replay.Requests.Single().Split(' ')[1];
            Assert.StartsWith("/api/v1/namespaces/mops/serviceaccounts?", request);
            Assert.Equal(new[] { "allowWatchBookmarks=true", "resourceVersion=42", "watch=true" }, request.Split('?')[1].Split('&').Order());
        }
        using (var replay = new RawHttpServer(File.ReadAllText(Path.Combine(data, "responses", "list"))))
        using (var client = KubeClient.ForUrl(replay.Url))
        {
            var list = await client.ListAsync(serviceAccounts, "mops", cancellation: Soon);
            var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(data, "list")))!;
            Assert.Equal((string?)expected["metadata"]!["resourceVersion"], list.ResourceVersion);
            Assert.True(JsonNode.DeepEquals(expected["items"], new JsonArray(list.Items.Select(i => (JsonNode)i.DeepClone()).ToArray())));
        }
    }

    [Fact]
    public async Task Requests_match_client_go_golden_requests()
    {
        var golden = Fixtures.Path("kubernetes", "kubernetes+client-go", "dynamic", "testdata", "TestGoldenRequest");
        var flips = new ApiResource("flops", "v1alpha1", "Flip", "flips", "flip", true, Array.Empty<string>());
        const string ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        using var capture = new RawHttpServer(ok, ok, ok);
        using var client = KubeClient.ForUrl(capture.Url);
        await client.PatchAsync(flips, "mops", "mips", KubeObjects.Parse("""{"foo":"bar"}"""), "status", Soon);
        await client.DeleteAsync(flips, "mops", "mips", cancellation: Soon);
        await client.GetAsync(flips, "mops", "mips", Soon);
        // KubernetesClient's CustomObjects operations patch the status subresource (client-go's "applystatus" request);
        // delete and get address the object itself, where client-go's golden requests name the subresource "fin".
        foreach (var (request, name) in capture.Requests.Zip(new[] { "applystatus", "delete", "get" }))
        {
            var expected = File.ReadAllText(Path.Combine(golden, name)).Split('\n')[0];
            var expectedPath = expected.Split(' ')[1].Split('?')[0];
            expectedPath = name == "applystatus" ? expectedPath : expectedPath[..expectedPath.LastIndexOf('/')];
            Assert.StartsWith($"{expected.Split(' ')[0]} {expectedPath}", request);
        }
        // Merge patch here where client-go's golden request is strategic: custom resources accept only merge patches.
        Assert.Contains("Content-Type: application/merge-patch+json", capture.Requests[0]);
        Assert.EndsWith("{\"foo\":\"bar\"}", capture.Requests[0]);
        Assert.Contains("\"kind\":\"DeleteOptions\"", capture.Requests[1]);
        Assert.Contains("\"apiVersion\":\"v1\"", capture.Requests[1]);
        Assert.Contains("\"propagationPolicy\":\"Background\"", capture.Requests[1]);
    }

    [Fact]
    public async Task Kubectl_gets_applies_waits_and_deletes_against_the_fake()
    {
        var kubeconfig = Path.Combine(_root, "kubeconfig");
        File.WriteAllText(kubeconfig, _server.Kubeconfig());
        // kubectl's discovery cache goes under HOME: the test's folder, not the real home.
        string Kubectl(params string[] args) => KubeTestTools.Kubectl(kubeconfig, _root, args);

        Assert.Contains("default", Kubectl("get", "namespaces"));
        Kubectl("apply", "--server-side", "-f", ComputeCrd);
        Kubectl("wait", "--for=condition=Established", "crd/computes.compute.skytorch.dev", "--timeout=20s");
        var manifest = Path.Combine(_root, "compute.yaml");
        File.WriteAllText(manifest, """
            apiVersion: compute.skytorch.dev/v1alpha1
            kind: Compute
            metadata: {name: test-managed, namespace: default}
            spec: {image: ghcr.io/astefanutti/skytorch-server, suspend: false}
            """);
        Assert.Contains("serverside-applied", Kubectl("apply", "--server-side", "--field-manager=skytorch-python-client", "-f", manifest));
        Assert.Contains("test-managed", Kubectl("get", "computes", "-o", "name"));
        var computes = await _client.ResolveAsync("compute.skytorch.dev/v1alpha1", "Compute", Soon);
        var ready = Task.Run(async () =>
        {
            await Task.Delay(500);
            await _client.PatchAsync(computes, "default", "test-managed", KubeObjects.Parse("""{"status":{"conditions":[{"type":"Ready","status":"True","reason":"AllComponentsReady","message":"ready","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"""), "status", Soon);
        });
        Assert.Contains("condition met", Kubectl("wait", "--for=condition=Ready", "compute/test-managed", "--timeout=20s"));
        await ready;
        Assert.Contains("\"AllComponentsReady\"", Kubectl("get", "compute", "test-managed", "-o", "json"));
        Assert.Contains("deleted", Kubectl("delete", "-f", manifest, "--wait=true", "--timeout=20s"));

        // Cascades as kubectl sends them, and a JSON patch refused with 415.
        var parent = Path.Combine(_root, "parent.json");
        File.WriteAllText(parent, """{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"parent"}}""");
        Kubectl("create", "-f", parent);
        var parentUid = Kubectl("get", "configmap", "parent", "-o", "jsonpath={.metadata.uid}").Trim();
        var child = Path.Combine(_root, "child.json");
        File.WriteAllText(child, $$$"""{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"kid","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"parent","uid":"{{{parentUid}}}"}]}}""");
        Kubectl("create", "-f", child);
        Kubectl("delete", "configmap", "parent", "--cascade=orphan");
        Assert.Contains("kid", Kubectl("get", "configmap", "kid", "-o", "name"));
        var refused = Assert.ThrowsAny<Exception>(() => Kubectl("patch", "configmap", "kid", "--type=json", "-p", "[{\"op\":\"add\",\"path\":\"/data\",\"value\":{}}]"));
        Assert.True(refused.Message.Contains("JSON patch", StringComparison.Ordinal), refused.Message);
        Assert.Contains("Active", Kubectl("get", "namespace", "default", "-o", "jsonpath={.status.phase}"));
        Assert.Null(await _client.GetAsync(computes, "default", "test-managed", Soon));
    }
}

/// <summary>Answers each connection with the next canned HTTP response (bytes as recorded) and keeps the requests.</summary>
internal sealed class RawHttpServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Task _serving;
    private readonly List<string> _requests = new();

    public RawHttpServer(params string[] responses)
    {
        _listener.Start();
        Url = $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
        _serving = Task.Run(async () =>
        {
            foreach (var response in responses)
            {
                using var socket = await _listener.AcceptTcpClientAsync();
                var stream = socket.GetStream();
                var head = new StringBuilder();
                var buffer = new byte[1];
                while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await stream.ReadAsync(buffer) == 1)
                {
                    head.Append((char)buffer[0]);
                }
                var length = head.ToString().Split("\r\n").Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)).Select(l => int.Parse(l[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
                var body = new byte[length];
                await stream.ReadExactlyAsync(body);
                lock (_requests)
                {
                    _requests.Add(head + Encoding.UTF8.GetString(body));
                }
                var bytes = Encoding.UTF8.GetBytes(response.Contains("\r\n", StringComparison.Ordinal) ? response : response.Replace("\n", "\r\n", StringComparison.Ordinal));
                await stream.WriteAsync(bytes);
                await stream.FlushAsync();
                socket.Client.Shutdown(SocketShutdown.Send);
            }
        });
    }

    public string Url { get; }

    public IReadOnlyList<string> Requests { get { lock (_requests) { return _requests.ToArray(); } } }

    public void Dispose()
    {
        _listener.Stop();
        try
        {
            _serving.Wait(TimeSpan.FromSeconds(2));
        }
        catch (AggregateException ex) when (ex.InnerException is SocketException or ObjectDisposedException)
        {
            // Stopped while waiting for a connection that never came: nothing left to serve.
        }
    }
}
