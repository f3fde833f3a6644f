using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using E2E.Core.Errors;

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
/// The module's Kubernetes client, on KubernetesClient's transport (its HttpClient for TLS and client
/// certificates, its credentials for tokens, basic auth and exec plugins). What it adds on top is what
/// KubernetesClient lacks or what untyped objects need: discovery maps kinds to resources; get, list (selectors, paging), create,
/// server-side apply, merge patch, delete and the status subresource; watch with bookmarks, and an observer
/// that relists on 410 Gone and resumes after a dropped stream, as client-go's reflector does.
/// 429 and 503 answers are retried after Retry-After (at most <see cref="MaxRetries"/> times).
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

    public async Task<JsonObject?> GetAsync(ApiResource resource, string? @namespace, string name, CancellationToken cancellation)
    {
        try
        {
            return await GetJsonAsync(resource.Path(Ns(resource, @namespace), name), cancellation).ConfigureAwait(false);
        }
        catch (KubeApiException ex) when (ex.StatusCode == 404)
        {
            return null;
        }
    }

    /// <summary>Every page of a list (limit/continue), with the list's resourceVersion for a following watch.</summary>
    public async Task<ListResult> ListAsync(ApiResource resource, string? @namespace, string? labelSelector = null, string? fieldSelector = null, int pageSize = 500, CancellationToken cancellation = default)
    {
        var items = new List<JsonObject>();
        string? next = null;
        string resourceVersion;
        do
        {
            var query = Query(("labelSelector", labelSelector), ("fieldSelector", fieldSelector), ("limit", pageSize.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("continue", next));
            var page = await GetJsonAsync(resource.Path(Ns(resource, @namespace)) + query, cancellation).ConfigureAwait(false);
            foreach (var item in (page["items"] as JsonArray ?? new JsonArray()).OfType<JsonObject>())
            {
                var copy = (JsonObject)item.DeepClone();
                // Lists leave apiVersion and kind off their items; put them back so items stand alone.
                copy["apiVersion"] ??= resource.ApiVersion;
                copy["kind"] ??= resource.Kind;
                items.Add(copy);
            }
            resourceVersion = (string?)page["metadata"]?["resourceVersion"] ?? string.Empty;
            next = (string?)page["metadata"]?["continue"];
        }
        while (!string.IsNullOrEmpty(next));
        return new ListResult(items, resourceVersion);
    }

    // ---- Writes ----

    public async Task<JsonObject> CreateAsync(JsonObject o, CancellationToken cancellation)
    {
        var (resource, ns) = await Locate(o, cancellation).ConfigureAwait(false);
        return await SendJsonAsync(HttpMethod.Post, resource.Path(ns), o, "application/json", KubeObjects.Describe(o), cancellation).ConfigureAwait(false);
    }

    /// <summary>Server-side apply (PATCH application/apply-patch+yaml; JSON is YAML) with a field manager; force takes over conflicting fields.</summary>
    public async Task<JsonObject> ApplyAsync(JsonObject o, string fieldManager = DefaultFieldManager, bool force = true, string? subresource = null, CancellationToken cancellation = default)
    {
        var (resource, ns) = await Locate(o, cancellation).ConfigureAwait(false);
        var path = resource.Path(ns, KubeObjects.Name(o), subresource) + Query(("fieldManager", fieldManager), ("force", force ? "true" : null));
        return await SendJsonAsync(HttpMethod.Patch, path, o, "application/apply-patch+yaml", KubeObjects.Describe(o), cancellation).ConfigureAwait(false);
    }

    /// <summary>A JSON merge patch (RFC 7386) of an object or of its status subresource.</summary>
    public Task<JsonObject> PatchAsync(ApiResource resource, string? @namespace, string name, JsonObject patch, string? subresource = null, CancellationToken cancellation = default) =>
        SendJsonAsync(HttpMethod.Patch, resource.Path(Ns(resource, @namespace), name, subresource), patch, "application/merge-patch+json", $"{resource.Kind} {name}", cancellation);

    /// <summary>Deletes one object; false when it was already gone. The object may live on while finalizers hold it.</summary>
    public async Task<bool> DeleteAsync(ApiResource resource, string? @namespace, string name, string propagationPolicy = "Background", long? gracePeriodSeconds = null, CancellationToken cancellation = default)
    {
        var options = new JsonObject { ["kind"] = "DeleteOptions", ["apiVersion"] = "v1", ["propagationPolicy"] = propagationPolicy };
        if (gracePeriodSeconds is { } grace)
        {
            options["gracePeriodSeconds"] = grace;
        }
        try
        {
            await SendJsonAsync(HttpMethod.Delete, resource.Path(Ns(resource, @namespace), name), options, "application/json", $"{resource.Kind} {name}", cancellation).ConfigureAwait(false);
            return true;
        }
        catch (KubeApiException ex) when (ex.StatusCode == 404)
        {
            return false;
        }
    }

    // ---- Watches ----

    /// <summary>One watch stream from <paramref name="resourceVersion"/>; ends when the server closes it. A 410 (as an ERROR event or a status) throws KubeApiException with StatusCode 410.</summary>
    public async IAsyncEnumerable<WatchEvent> WatchAsync(ApiResource resource, string? @namespace, string? resourceVersion, string? labelSelector = null, string? fieldSelector = null,
        int? timeoutSeconds = null, [EnumeratorCancellation] CancellationToken cancellation = default)
    {
        var query = Query(("watch", "true"), ("allowWatchBookmarks", "true"), ("resourceVersion", resourceVersion), ("labelSelector", labelSelector), ("fieldSelector", fieldSelector),
            ("timeoutSeconds", timeoutSeconds?.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        using var response = await SendAsync(HttpMethod.Get, resource.Path(Ns(resource, @namespace)) + query, null, null, streaming: true, resource.FullName, cancellation).ConfigureAwait(false);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellation).ConfigureAwait(false), Encoding.UTF8);
        while (true)
        {
            string? line;
            try
            {
                line = await reader.ReadLineAsync(cancellation).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException && !cancellation.IsCancellationRequested)
            {
                yield break; // The server went away mid-stream; the observer resumes from the last version.
            }
            if (line is null)
            {
                yield break;
            }
            if (line.Length == 0)
            {
                continue;
            }
            JsonObject e;
            try
            {
                e = JsonNode.Parse(line) as JsonObject ?? new JsonObject();
            }
            catch (System.Text.Json.JsonException)
            {
                yield break; // A line cut short by a dropped connection: resume from the last version.
            }
            var type = (string?)e["type"] ?? string.Empty;
            var o = e["object"] as JsonObject ?? new JsonObject();
            if (type == "ERROR")
            {
                throw StatusError((int)(KubeObjects.Integer(o["code"]) ?? 500), o, resource.FullName);
            }
            yield return new WatchEvent(type, o);
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

    public async Task<JsonObject> GetJsonAsync(string path, CancellationToken cancellation)
    {
        using var response = await SendAsync(HttpMethod.Get, path, null, null, streaming: false, path, cancellation).ConfigureAwait(false);
        return ParseAnswer(await ReadBodyAsync(response, path, cancellation).ConfigureAwait(false), path);
    }

    /// <summary>A body cut off by a dropped connection is an unreachable server, like a refused connection.</summary>
    private async Task<string> ReadBodyAsync(HttpResponseMessage response, object target, CancellationToken cancellation)
    {
        try
        {
            return await response.Content.ReadAsStringAsync(cancellation).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException && !cancellation.IsCancellationRequested)
        {
            throw new E2EException(ErrorCatalog.KubeApiUnreachable, $"The API server at {Server} dropped the connection while answering: {ex.Message}", target, ex);
        }
    }

    /// <summary>A success whose body is not a JSON object (a proxy's page, a connection cut short) is an API failure, not a crash.</summary>
    private JsonObject ParseAnswer(string text, object target)
    {
        try
        {
            return JsonNode.Parse(text) as JsonObject ?? throw new System.Text.Json.JsonException("not an object");
        }
        catch (System.Text.Json.JsonException ex)
        {
            throw new E2EException(ErrorCatalog.KubeApiFailed, $"The API server at {Server} answered with a body that is not a JSON object ({text.Length} bytes).", target, ex);
        }
    }

    /// <summary>Plain text from a path such as a pod's log.</summary>
    public async Task<string> GetTextAsync(string path, CancellationToken cancellation)
    {
        using var response = await SendAsync(HttpMethod.Get, path, null, null, streaming: false, path, cancellation).ConfigureAwait(false);
        return await ReadBodyAsync(response, path, cancellation).ConfigureAwait(false);
    }

    private async Task<JsonObject> SendJsonAsync(HttpMethod method, string path, JsonObject body, string contentType, object target, CancellationToken cancellation)
    {
        using var response = await SendAsync(method, path, KubeObjects.Compact(body), contentType, streaming: false, target, cancellation).ConfigureAwait(false);
        var text = await ReadBodyAsync(response, target, cancellation).ConfigureAwait(false);
        return text.Length == 0 ? new JsonObject() : ParseAnswer(text, target);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? body, string? contentType, bool streaming, object target, CancellationToken cancellation)
    {
        using var request = new HttpRequestMessage(method, new Uri(_kubernetes.BaseUri, path.TrimStart('/')));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.UserAgent.ParseAdd("e2e-powershell/1.0");
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType ?? "application/json");
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        if (!streaming)
        {
            timeout.CancelAfter(RequestTimeout);
        }
        HttpResponseMessage response;
        try
        {
            if (_kubernetes.Credentials is { } credentials)
            {
                await credentials.ProcessHttpRequestAsync(request, timeout.Token).ConfigureAwait(false);
            }
            response = await _http.SendAsync(request, streaming ? HttpCompletionOption.ResponseHeadersRead : HttpCompletionOption.ResponseContentRead, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellation.IsCancellationRequested)
        {
            throw new E2EException(ErrorCatalog.KubeApiUnreachable, $"The API server at {Server} did not answer {method} {path} within {RequestTimeout.TotalSeconds:0} s.", target);
        }
        catch (HttpRequestException ex)
        {
            throw new E2EException(ErrorCatalog.KubeApiUnreachable, $"The API server at {Server} cannot be reached: {ex.Message}", target, ex);
        }
        catch (Exception ex) when (ex is k8s.Exceptions.KubeConfigException or System.ComponentModel.Win32Exception)
        {
            // An exec plugin refreshing an expired credential.
            throw Kubeconfig.Translate(ex, null, Context.Name);
        }
        if (response.IsSuccessStatusCode)
        {
            return response;
        }
        using (response)
        {
            var code = (int)response.StatusCode;
            var text = await ReadBodyAsync(response, target, cancellation).ConfigureAwait(false);
            JsonObject? status = null;
            try
            {
                status = JsonNode.Parse(text) as JsonObject;
            }
            catch (System.Text.Json.JsonException)
            {
                status = new JsonObject { ["message"] = text.Length > 500 ? text[..500] : text };
            }
            throw StatusError(code, status ?? new JsonObject(), target);
        }
    }

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

    private static string Query(params (string Name, string? Value)[] parameters)
    {
        var present = parameters.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}").ToArray();
        return present.Length == 0 ? string.Empty : "?" + string.Join("&", present);
    }
}
