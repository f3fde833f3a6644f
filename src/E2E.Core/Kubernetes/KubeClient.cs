using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using E2E.Core.Errors;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace E2E.Core.Kubernetes;

/// <summary>An API error with the server's Status object (reason, message, causes) kept for callers that branch on it.</summary>
public sealed class KubeApiException : E2EException
{
    public KubeApiException(ErrorId error, string message, int statusCode, string? reason, JsonObject? status, object? target, Exception? inner = null)
        : base(error, message, target, inner)
    {
        StatusCode = statusCode;
        Reason = reason;
        Status = status;
    }

    public int StatusCode { get; }

    public string? Reason { get; }

    public JsonObject? Status { get; }
}

public sealed record WatchEvent(string Type, JsonObject Object)
{
    public override string ToString() => $"{Type} {KubeObjects.Describe(Object)} rv={KubeObjects.ResourceVersion(Object)}";
}

public sealed record ListResult(IReadOnlyList<JsonObject> Items, string ResourceVersion);

/// <summary>
/// The module's Kubernetes client: KubernetesClient's operations (CustomObjects for untyped objects of any group,
/// core included; CoreV1 for logs; its watcher for watch streams) over its transport (TLS, client certificates,
/// tokens, basic auth, exec plugins). What it adds is what KubernetesClient lacks: discovery that maps kinds and
/// kubectl's resource names to resources (it has no dynamic client), paging of lists, an observer that relists on
/// 410 Gone and resumes after a dropped stream (client-go's reflector), a per-request timeout, errors mapped to
/// our ids, and <see cref="RetryAfterHandler"/> in its handler chain for 429 and 503.
/// </summary>
public sealed class KubeClient : IDisposable
{
    public const string DefaultFieldManager = "e2e";
    private readonly k8s.Kubernetes _kubernetes;
    private readonly HttpClient _http;
    private readonly Dictionary<string, IReadOnlyList<ApiResource>> _discovery = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _discoveryLock = new(1, 1);

    /// <summary>
    /// A client over KubernetesClient's transport for <paramref name="context"/>: its HttpClient (TLS, client
    /// certificates) and its credentials (tokens, basic auth, exec plugins), with <see cref="RetryAfterHandler"/>
    /// in its handler chain.
    /// </summary>
    public KubeClient(KubeContext context)
    {
        Context = context;
        // Per-request timeouts are ours (RequestTimeout); watches stream for as long as they are wanted.
        context.Configuration.HttpClientTimeout = Timeout.InfiniteTimeSpan;
        _kubernetes = new k8s.Kubernetes(context.Configuration, new RetryAfterHandler(() => MaxRetries));
        _http = _kubernetes.HttpClient;
    }

    public KubeContext Context { get; }

    public string Server => Context.Server;

    public string DefaultNamespace => Context.Namespace;

    public int MaxRetries { get; init; } = 5;

    /// <summary>Per-request timeout for everything but watches.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>A client for an unauthenticated http:// server such as the fake API server.</summary>
    public static KubeClient ForUrl(string server, string @namespace = "default") => new(Kubeconfig.Direct(server, @namespace));

    /// <summary>
    /// The in-cluster context, as client-go and KubernetesClient build it: KUBERNETES_SERVICE_HOST/PORT, the
    /// service account's token (KubernetesClient's TokenFileAuth re-reads it, since it rotates), CA and namespace
    /// from <paramref name="accountDirectory"/>. (KubernetesClient's InClusterConfig reads a fixed directory;
    /// this is the same configuration with the directory as a parameter, so that it is tested.)
    /// </summary>
    public static KubeContext InClusterContext(Func<string, string?> environment, string accountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount")
    {
        var host = environment("KUBERNETES_SERVICE_HOST");
        var port = environment("KUBERNETES_SERVICE_PORT");
        var tokenFile = Path.Combine(accountDirectory, "token");
        if (string.IsNullOrEmpty(host) || string.IsNullOrEmpty(port) || !File.Exists(tokenFile))
        {
            throw new E2EException(ErrorCatalog.NotInCluster, $"Not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set and {tokenFile} must exist.", accountDirectory);
        }
        var ca = Path.Combine(accountDirectory, "ca.crt");
        var namespaceFile = Path.Combine(accountDirectory, "namespace");
        var server = "https://" + (host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host) + ":" + port;
        var ns = File.Exists(namespaceFile) ? File.ReadAllText(namespaceFile).Trim() : "default";
        ns = ns.Length == 0 ? "default" : ns;
        var configuration = new k8s.KubernetesClientConfiguration
        {
            Host = server,
            Namespace = ns,
            TokenProvider = new k8s.Authentication.TokenFileAuth(tokenFile),
            SslCaCerts = File.Exists(ca) ? Kubeconfig.PemRoots(File.ReadAllText(ca)) : null,
        };
        return new KubeContext("in-cluster", "in-cluster", server, ns, configuration);
    }

    public void Dispose()
    {
        _kubernetes.Dispose();
        _discoveryLock.Dispose();
    }

    public override string ToString() => $"Kubernetes API {Server} (context {Context.Name}, namespace {DefaultNamespace})";

    // ---- Discovery ----

    /// <summary>The resource serving <paramref name="apiVersion"/> and <paramref name="kind"/>; discovery is refreshed once on a miss (a CRD may have just been installed).</summary>
    public async Task<ApiResource> ResolveAsync(string apiVersion, string kind, CancellationToken cancellation)
    {
        for (var attempt = 0; attempt < 2; attempt++)
        {
            var resources = await GroupVersionAsync(apiVersion, refresh: attempt > 0, cancellation).ConfigureAwait(false);
            if (resources.FirstOrDefault(r => r.Kind == kind) is { } found)
            {
                return found;
            }
        }
        throw new E2EException(ErrorCatalog.KindNotServed, $"The API server at {Server} serves no kind '{kind}' in '{apiVersion}'. Is its CustomResourceDefinition installed and Established?", $"{apiVersion}/{kind}");
    }

    /// <summary>A resource by the names kubectl accepts: plural, singular, kind or short name, optionally with ".group".</summary>
    public async Task<ApiResource> FindAsync(string name, CancellationToken cancellation)
    {
        for (var attempt = 0; attempt < 2; attempt++)
        {
            if ((await ResourcesAsync(refresh: attempt > 0, cancellation).ConfigureAwait(false)).FirstOrDefault(r => r.Matches(name)) is { } found)
            {
                return found;
            }
        }
        throw new E2EException(ErrorCatalog.KindNotServed, $"The API server at {Server} serves no resource named '{name}'.", name);
    }

    /// <summary>Every resource the server serves, core first, then each group's preferred version (what kubectl api-resources lists).</summary>
    public async Task<IReadOnlyList<ApiResource>> ResourcesAsync(bool refresh, CancellationToken cancellation)
    {
        var versions = new List<string> { "v1" };
        var groups = await GetJsonAsync("/apis", cancellation).ConfigureAwait(false);
        versions.AddRange((groups["groups"] as JsonArray ?? new JsonArray()).OfType<JsonObject>()
            .Select(g => (string?)g["preferredVersion"]?["groupVersion"]).OfType<string>());
        var all = new List<ApiResource>();
        foreach (var version in versions)
        {
            all.AddRange(await GroupVersionAsync(version, refresh, cancellation).ConfigureAwait(false));
        }
        return all;
    }

    private async Task<IReadOnlyList<ApiResource>> GroupVersionAsync(string apiVersion, bool refresh, CancellationToken cancellation)
    {
        await _discoveryLock.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            if (!refresh && _discovery.TryGetValue(apiVersion, out var cached))
            {
                return cached;
            }
            var slash = apiVersion.IndexOf('/');
            var group = slash < 0 ? string.Empty : apiVersion[..slash];
            var version = slash < 0 ? apiVersion : apiVersion[(slash + 1)..];
            var path = group.Length == 0 ? $"/api/{version}" : $"/apis/{group}/{version}";
            JsonObject list;
            try
            {
                list = await GetJsonAsync(path, cancellation).ConfigureAwait(false);
            }
            catch (KubeApiException ex) when (ex.StatusCode == 404)
            {
                list = new JsonObject();
            }
            var resources = (list["resources"] as JsonArray ?? new JsonArray()).OfType<JsonObject>()
                .Where(r => !((string?)r["name"] ?? "/").Contains('/', StringComparison.Ordinal))
                .Select(r => new ApiResource(group, version, (string?)r["kind"] ?? string.Empty, (string?)r["name"] ?? string.Empty,
                    (string?)r["singularName"] ?? string.Empty, (bool?)r["namespaced"] ?? false,
                    (r["shortNames"] as JsonArray)?.Select(s => (string?)s ?? string.Empty).ToArray() ?? Array.Empty<string>()))
                .ToArray();
            _discovery[apiVersion] = resources;
            return resources;
        }
        finally
        {
            _discoveryLock.Release();
        }
    }

    private async Task<(ApiResource Resource, string? Namespace)> Locate(JsonObject o, CancellationToken cancellation)
    {
        var resource = await ResolveAsync(KubeObjects.ApiVersion(o), KubeObjects.Kind(o), cancellation).ConfigureAwait(false);
        string? ns = null;
        if (resource.Namespaced)
        {
            ns = KubeObjects.Namespace(o) ?? DefaultNamespace;
            KubeObjects.Metadata(o)["namespace"] = ns;
        }
        return (resource, ns);
    }

    // ---- Reads ----
    // The verbs go through KubernetesClient's CustomObjects operations, which serve any resource of any group
    // (the core group too: its generated code maps /apis//v1 to /api/v1) with untyped bodies, as kubectl's
    // dynamic client does. What is ours is the mapping of its errors to our ids and the per-request timeout.

    public async Task<JsonObject?> GetAsync(ApiResource resource, string? @namespace, string name, CancellationToken cancellation)
    {
        var ns = Ns(resource, @namespace);
        try
        {
            return await CallAsync(token => string.IsNullOrEmpty(ns)
                ? _kubernetes.CustomObjects.GetClusterCustomObjectWithHttpMessagesAsync<JsonObject>(resource.Group, resource.Version, resource.Plural, name, cancellationToken: token)
                : _kubernetes.CustomObjects.GetNamespacedCustomObjectWithHttpMessagesAsync<JsonObject>(resource.Group, resource.Version, ns, resource.Plural, name, cancellationToken: token),
                $"{resource.Kind} {name}", cancellation).ConfigureAwait(false);
        }
        catch (KubeApiException ex) when (ex.StatusCode == 404)
        {
            return null;
        }
    }

    /// <summary>Every page of a list (limit/continue), with the list's resourceVersion for a following watch. An empty namespace lists every namespace.</summary>
    public async Task<ListResult> ListAsync(ApiResource resource, string? @namespace, string? labelSelector = null, string? fieldSelector = null, int pageSize = 500, CancellationToken cancellation = default)
    {
        var ns = Ns(resource, @namespace);
        var items = new List<JsonObject>();
        string? next = null;
        string resourceVersion;
        do
        {
            var token = next;
            var page = await CallAsync(t => string.IsNullOrEmpty(ns)
                ? _kubernetes.CustomObjects.ListClusterCustomObjectWithHttpMessagesAsync<JsonObject>(resource.Group, resource.Version, resource.Plural,
                    continueParameter: token, fieldSelector: NullIfEmpty(fieldSelector), labelSelector: NullIfEmpty(labelSelector), limit: pageSize, cancellationToken: t)
                : _kubernetes.CustomObjects.ListNamespacedCustomObjectWithHttpMessagesAsync<JsonObject>(resource.Group, resource.Version, ns, resource.Plural,
                    continueParameter: token, fieldSelector: NullIfEmpty(fieldSelector), labelSelector: NullIfEmpty(labelSelector), limit: pageSize, cancellationToken: t),
                resource.FullName, cancellation).ConfigureAwait(false);
            foreach (var item in (page["items"] as JsonArray ?? new JsonArray()).OfType<JsonObject>())
            {
                var copy = (JsonObject)item.DeepClone();
                // Lists leave apiVersion and kind off their items; put them back so items stand alone.
                copy["apiVersion"] ??= resource.ApiVersion;
                copy["kind"] ??= resource.Kind;
                items.Add(copy);
            }
            resourceVersion = (string?)page["metadata"]?["resourceVersion"] ?? string.Empty;
            next = NullIfEmpty((string?)page["metadata"]?["continue"]);
        }
        while (next is not null);
        return new ListResult(items, resourceVersion);
    }

    /// <summary>The last lines of a container's log (the current or the previous instance).</summary>
    public async Task<string> PodLogAsync(string @namespace, string pod, string container, bool previous, int tailLines, CancellationToken cancellation)
    {
        return await CallAsync(async token =>
        {
            using var log = await _kubernetes.CoreV1.ReadNamespacedPodLogWithHttpMessagesAsync(pod, @namespace, container: container, previous: previous ? true : null, tailLines: tailLines, cancellationToken: token).ConfigureAwait(false);
            using var reader = new StreamReader(log.Body, Encoding.UTF8);
            return new HttpOperationResponse<string> { Body = await reader.ReadToEndAsync(token).ConfigureAwait(false) };
        }, $"Pod {pod} container {container}", cancellation).ConfigureAwait(false);
    }

    // ---- Writes ----

    public async Task<JsonObject> CreateAsync(JsonObject o, CancellationToken cancellation)
    {
        var (resource, ns) = await Locate(o, cancellation).ConfigureAwait(false);
        return await CallAsync(token => ns is null
            ? _kubernetes.CustomObjects.CreateClusterCustomObjectWithHttpMessagesAsync<JsonObject>(o, resource.Group, resource.Version, resource.Plural, cancellationToken: token)
            : _kubernetes.CustomObjects.CreateNamespacedCustomObjectWithHttpMessagesAsync<JsonObject>(o, resource.Group, resource.Version, ns, resource.Plural, cancellationToken: token),
            KubeObjects.Describe(o), cancellation).ConfigureAwait(false);
    }

    /// <summary>Server-side apply (application/apply-patch+yaml; JSON is YAML) with a field manager; force takes over conflicting fields.</summary>
    public async Task<JsonObject> ApplyAsync(JsonObject o, string fieldManager = DefaultFieldManager, bool force = true, string? subresource = null, CancellationToken cancellation = default)
    {
        var (resource, ns) = await Locate(o, cancellation).ConfigureAwait(false);
        return await PatchAsync(resource, ns, KubeObjects.Name(o), new V1Patch(o, V1Patch.PatchType.ApplyPatch), subresource, fieldManager, force ? true : null, KubeObjects.Describe(o), cancellation).ConfigureAwait(false);
    }

    /// <summary>A JSON merge patch (RFC 7386) of an object or of its status subresource.</summary>
    public Task<JsonObject> PatchAsync(ApiResource resource, string? @namespace, string name, JsonObject patch, string? subresource = null, CancellationToken cancellation = default) =>
        PatchAsync(resource, Ns(resource, @namespace), name, new V1Patch(patch, V1Patch.PatchType.MergePatch), subresource, null, null, $"{resource.Kind} {name}", cancellation);

    private Task<JsonObject> PatchAsync(ApiResource resource, string? ns, string name, V1Patch patch, string? subresource, string? fieldManager, bool? force, object target, CancellationToken cancellation)
    {
        if (subresource is not (null or "status"))
        {
            throw new ArgumentException($"Only the status subresource is patched; '{subresource}' is not.", nameof(subresource));
        }
        var status = subresource is not null;
        var (group, version, plural) = (resource.Group, resource.Version, resource.Plural);
        var objects = _kubernetes.CustomObjects;
        return CallAsync(token => (string.IsNullOrEmpty(ns), status) switch
        {
            (true, false) => objects.PatchClusterCustomObjectWithHttpMessagesAsync<JsonObject>(patch, group, version, plural, name, fieldManager: fieldManager, force: force, cancellationToken: token),
            (true, true) => objects.PatchClusterCustomObjectStatusWithHttpMessagesAsync<JsonObject>(patch, group, version, plural, name, fieldManager: fieldManager, force: force, cancellationToken: token),
            (false, false) => objects.PatchNamespacedCustomObjectWithHttpMessagesAsync<JsonObject>(patch, group, version, ns, plural, name, fieldManager: fieldManager, force: force, cancellationToken: token),
            (false, true) => objects.PatchNamespacedCustomObjectStatusWithHttpMessagesAsync<JsonObject>(patch, group, version, ns, plural, name, fieldManager: fieldManager, force: force, cancellationToken: token),
        }, target, cancellation);
    }

    /// <summary>Deletes one object; false when it was already gone. The object may live on while finalizers hold it.</summary>
    public async Task<bool> DeleteAsync(ApiResource resource, string? @namespace, string name, string propagationPolicy = "Background", long? gracePeriodSeconds = null, CancellationToken cancellation = default)
    {
        var ns = Ns(resource, @namespace);
        var options = new V1DeleteOptions { ApiVersion = "v1", Kind = "DeleteOptions", PropagationPolicy = propagationPolicy, GracePeriodSeconds = gracePeriodSeconds };
        try
        {
            await CallAsync(token => string.IsNullOrEmpty(ns)
                ? _kubernetes.CustomObjects.DeleteClusterCustomObjectWithHttpMessagesAsync<JsonObject>(resource.Group, resource.Version, resource.Plural, name, body: options, cancellationToken: token)
                : _kubernetes.CustomObjects.DeleteNamespacedCustomObjectWithHttpMessagesAsync<JsonObject>(resource.Group, resource.Version, ns, resource.Plural, name, body: options, cancellationToken: token),
                $"{resource.Kind} {name}", cancellation).ConfigureAwait(false);
            return true;
        }
        catch (KubeApiException ex) when (ex.StatusCode == 404)
        {
            return false;
        }
    }

    // ---- Watches ----

    /// <summary>One watch stream from <paramref name="resourceVersion"/> (KubernetesClient's watcher); ends when the server closes it. A 410 (as an ERROR event or a status) throws KubeApiException with StatusCode 410.</summary>
    public async IAsyncEnumerable<WatchEvent> WatchAsync(ApiResource resource, string? @namespace, string? resourceVersion, string? labelSelector = null, string? fieldSelector = null,
        int? timeoutSeconds = null, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        var ns = Ns(resource, @namespace);
        var objects = _kubernetes.CustomObjects;
        var (group, version, plural) = (resource.Group, resource.Version, resource.Plural);
        // The watcher hands an ERROR event (a Status) and an unreadable line to onError and reads on; the first
        // ends this stream with the server's status (410 makes the observer relist), the second (a line cut
        // short by a dropped connection) ends it quietly so that the observer resumes from the last version.
        // (The watcher catches what onError throws and hands it to onError again, hence the second case.)
        var ended = false;
        void OnError(Exception error)
        {
            switch (error)
            {
                case KubernetesException { Status: { } status }:
                    throw StatusError(status.Code ?? 500, new JsonObject { ["kind"] = "Status", ["reason"] = status.Reason, ["message"] = status.Message, ["code"] = status.Code }, resource.FullName);
                case KubeApiException:
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
                    break;
                default:
                    ended = true;
                    break;
            }
        }
        var stream = string.IsNullOrEmpty(ns)
            ? objects.WatchListClusterCustomObjectAsync(group, version, plural, allowWatchBookmarks: true, fieldSelector: NullIfEmpty(fieldSelector), labelSelector: NullIfEmpty(labelSelector),
                resourceVersion: NullIfEmpty(resourceVersion), timeoutSeconds: timeoutSeconds, onError: OnError, cancellationToken: cancellation)
            : objects.WatchListNamespacedCustomObjectAsync(group, version, ns, plural, allowWatchBookmarks: true, fieldSelector: NullIfEmpty(fieldSelector), labelSelector: NullIfEmpty(labelSelector),
                resourceVersion: NullIfEmpty(resourceVersion), timeoutSeconds: timeoutSeconds, onError: OnError, cancellationToken: cancellation);
        var events = stream.GetAsyncEnumerator(cancellation);
        try
        {
            while (!ended)
            {
                try
                {
                    if (!await events.MoveNextAsync().ConfigureAwait(false))
                    {
                        yield break;
                    }
                }
                catch (Exception ex) when (ex is IOException && !cancellation.IsCancellationRequested)
                {
                    yield break; // The server went away mid-stream; the observer resumes from the last version.
                }
                catch (Exception ex) when (ex is not E2EException && !cancellation.IsCancellationRequested)
                {
                    throw Translate(ex, "watch " + resource.FullName, resource.FullName, cancellation);
                }
                var (type, element) = events.Current;
                var o = element is System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.Object } json ? JsonObject.Create(json) : null;
                if (ended)
                {
                    yield break;
                }
                yield return new WatchEvent(type switch
                {
                    WatchEventType.Added => "ADDED",
                    WatchEventType.Modified => "MODIFIED",
                    WatchEventType.Deleted => "DELETED",
                    WatchEventType.Bookmark => "BOOKMARK",
                    _ => "ERROR",
                }, o ?? new JsonObject());
            }
        }
        finally
        {
            await events.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The event <see cref="ObserveAsync"/> yields after each (re)list: what came before it is the whole current state.</summary>
    public const string Synced = "SYNCED";

    /// <summary>The event <see cref="ObserveAsync"/> yields when a list failed and will be retried; its object is a Status with the message.</summary>
    public const string Error = "ERROR";

    private static TimeSpan Backoff(int failures) => TimeSpan.FromMilliseconds(Math.Min(2000, 50 * (1 << Math.Min(failures, 6))));

    /// <summary>
    /// List, then watch for ever: ADDED for what the list found, then the stream's events; after a dropped
    /// stream the watch resumes from the last version seen; after 410 Gone it relists and reports what changed
    /// meanwhile (ADDED/MODIFIED, and DELETED for objects that went away), then SYNCED. Bookmarks only advance the version.
    /// </summary>
    public async IAsyncEnumerable<WatchEvent> ObserveAsync(ApiResource resource, string? @namespace, string? labelSelector = null, string? fieldSelector = null,
        [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        var known = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        string? version = null;
        var failures = 0;
        while (!cancellation.IsCancellationRequested)
        {
            if (version is null)
            {
                ListResult list;
                E2EException? failure = null;
                try
                {
                    list = await ListAsync(resource, @namespace, labelSelector, fieldSelector, cancellation: cancellation).ConfigureAwait(false);
                }
                catch (E2EException ex) when (!cancellation.IsCancellationRequested)
                {
                    // As client-go's reflector: a failed list is retried with backoff, never the end of the watch.
                    failure = ex;
                    list = new ListResult(Array.Empty<JsonObject>(), string.Empty);
                }
                if (failure is not null)
                {
                    failures++;
                    yield return new WatchEvent(Error, new JsonObject { ["kind"] = "Status", ["message"] = failure.Message });
                    await Task.Delay(Backoff(failures), cancellation).ConfigureAwait(false);
                    continue;
                }
                var seen = new HashSet<string>(StringComparer.Ordinal);
                foreach (var item in list.Items)
                {
                    var key = Key(item);
                    seen.Add(key);
                    var changed = !known.TryGetValue(key, out var before) || KubeObjects.ResourceVersion(before) != KubeObjects.ResourceVersion(item);
                    known[key] = item;
                    if (changed)
                    {
                        yield return new WatchEvent(before is null ? "ADDED" : "MODIFIED", item);
                    }
                }
                foreach (var gone in known.Keys.Where(k => !seen.Contains(k)).ToArray())
                {
                    var last = known[gone];
                    known.Remove(gone);
                    yield return new WatchEvent("DELETED", last);
                }
                version = list.ResourceVersion;
                yield return new WatchEvent(Synced, new JsonObject { ["metadata"] = new JsonObject { ["resourceVersion"] = version } });
            }
            var events = WatchAsync(resource, @namespace, version, labelSelector, fieldSelector, timeoutSeconds: 300, cancellation).GetAsyncEnumerator(cancellation);
            try
            {
                while (true)
                {
                    WatchEvent e;
                    try
                    {
                        if (!await events.MoveNextAsync().ConfigureAwait(false))
                        {
                            break;
                        }
                        e = events.Current;
                        failures = 0;
                    }
                    catch (KubeApiException ex) when (ex.StatusCode == 410)
                    {
                        version = null; // Too old: relist.
                        break;
                    }
                    catch (E2EException) when (!cancellation.IsCancellationRequested)
                    {
                        // The server is restarting or shedding load; back off and try again from the same version.
                        failures++;
                        await Task.Delay(Backoff(failures), cancellation).ConfigureAwait(false);
                        break;
                    }
                    version = KubeObjects.ResourceVersion(e.Object) is { Length: > 0 } v ? v : version;
                    if (e.Type == "BOOKMARK")
                    {
                        continue;
                    }
                    var key = Key(e.Object);
                    if (e.Type == "DELETED")
                    {
                        known.Remove(key);
                    }
                    else
                    {
                        known[key] = e.Object;
                    }
                    yield return e;
                }
            }
            finally
            {
                await events.DisposeAsync().ConfigureAwait(false);
            }
        }
        cancellation.ThrowIfCancellationRequested();

        static string Key(JsonObject o) => (KubeObjects.Namespace(o) ?? string.Empty) + "/" + KubeObjects.Name(o);
    }

    // ---- Plumbing ----

    /// <summary>
    /// A GET of a path KubernetesClient has no operation for (discovery of any group version, /version, /readyz),
    /// over its HttpClient and credentials.
    /// </summary>
    public async Task<JsonObject> GetJsonAsync(string path, CancellationToken cancellation)
    {
        var text = await GetTextAsync(path, cancellation).ConfigureAwait(false);
        try
        {
            return JsonNode.Parse(text) as JsonObject ?? throw new System.Text.Json.JsonException("not an object");
        }
        catch (System.Text.Json.JsonException ex)
        {
            // A success whose body is not a JSON object (a proxy's page) is an API failure, not a crash.
            throw new E2EException(ErrorCatalog.KubeApiFailed, $"The API server at {Server} answered with a body that is not a JSON object ({text.Length} bytes).", path, ex);
        }
    }

    /// <summary>Plain text from a path such as /readyz.</summary>
    public async Task<string> GetTextAsync(string path, CancellationToken cancellation)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(RequestTimeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_kubernetes.BaseUri, path.TrimStart('/')));
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            if (_kubernetes.Credentials is { } credentials)
            {
                await credentials.ProcessHttpRequestAsync(request, timeout.Token).ConfigureAwait(false);
            }
            using var response = await _http.SendAsync(request, timeout.Token).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? text : throw StatusError((int)response.StatusCode, StatusBody(text), path);
        }
        catch (Exception ex) when (ex is not E2EException)
        {
            throw Translate(ex, "GET " + path, path, cancellation);
        }
    }

    /// <summary>One KubernetesClient operation under the per-request timeout, its failures mapped to our ids.</summary>
    private async Task<T> CallAsync<T>(Func<CancellationToken, Task<HttpOperationResponse<T>>> operation, object target, CancellationToken cancellation)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        timeout.CancelAfter(RequestTimeout);
        try
        {
            using var response = await operation(timeout.Token).ConfigureAwait(false);
            return response.Body;
        }
        catch (Exception ex) when (ex is not E2EException)
        {
            throw Translate(ex, target.ToString() ?? string.Empty, target, cancellation);
        }
    }

    /// <summary>
    /// What a failed request means to a user: the server's Status (by its code), an unreachable or silent server,
    /// a body cut off by a dropped connection, or an exec plugin that failed while refreshing a credential.
    /// </summary>
    private Exception Translate(Exception ex, string what, object target, CancellationToken cancellation) => ex switch
    {
        HttpOperationException { Response: { } response } => StatusError((int)response.StatusCode, StatusBody(response.Content ?? string.Empty), target),
        OperationCanceledException when cancellation.IsCancellationRequested => ex,
        OperationCanceledException => new E2EException(ErrorCatalog.KubeApiUnreachable, $"The API server at {Server} did not answer {what} within {RequestTimeout.TotalSeconds:0} s.", target),
        HttpRequestException or IOException => new E2EException(ErrorCatalog.KubeApiUnreachable, $"The API server at {Server} cannot be reached or dropped the connection: {ex.Message}", target, ex),
        System.Text.Json.JsonException => new E2EException(ErrorCatalog.KubeApiFailed, $"The API server at {Server} answered {what} with a body that is not JSON.", target, ex),
        k8s.Exceptions.KubeConfigException or System.ComponentModel.Win32Exception => Kubeconfig.Translate(ex, null, Context.Name),
        _ => ex,
    };

    private static JsonObject StatusBody(string text)
    {
        try
        {
            return JsonNode.Parse(text) as JsonObject ?? new JsonObject();
        }
        catch (System.Text.Json.JsonException)
        {
            return new JsonObject { ["message"] = text.Length > 500 ? text[..500] : text };
        }
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    /// <summary>Maps an API Status to an error id, with the causes (field: message) in the text.</summary>
    public static KubeApiException StatusError(int code, JsonObject status, object target)
    {
        var reason = (string?)status["reason"];
        var message = (string?)status["message"] ?? $"HTTP {code}";
        var causes = (status["details"]?["causes"] as JsonArray)?.OfType<JsonObject>()
            .Select(c => $"{c["field"]}: {c["message"]}").ToArray() ?? Array.Empty<string>();
        var id = code switch
        {
            401 or 403 => ErrorCatalog.KubeUnauthorized,
            404 => ErrorCatalog.KubeResourceNotFound,
            409 => ErrorCatalog.KubeResourceExists,
            400 or 422 => ErrorCatalog.KubeResourceInvalid,
            _ => ErrorCatalog.KubeApiFailed,
        };
        var text = $"{code} {reason ?? "Error"}: {message}" + (causes.Length > 0 && !causes.All(c => message.Contains(c, StringComparison.Ordinal)) ? " [" + string.Join("; ", causes) + "]" : string.Empty);
        return new KubeApiException(id, text, code, reason, status, target);
    }

    private string? Ns(ApiResource resource, string? @namespace) => resource.Namespaced ? @namespace ?? DefaultNamespace : null;
}
