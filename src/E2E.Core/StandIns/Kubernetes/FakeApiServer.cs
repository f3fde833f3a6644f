using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using System.Text;
using System.Threading.Channels;
using E2E.Core.Errors;
using E2E.Core.Kubernetes;
using E2E.Core.Naming;
using E2E.Core.Net;

namespace E2E.Core.StandIns.Kubernetes;

/// <summary>
/// An in-process Kubernetes API server on 127.0.0.1 that speaks the wire format clients rely on: discovery,
/// CRUD on any registered or CRD-defined resource, server-side apply, merge patches, the status subresource,
/// watches (resourceVersion, bookmarks, 410 for compacted history), Status errors (404/409/410/422/429),
/// finalizers with deletionTimestamp, namespace termination and ownerReference garbage collection.
/// kubectl works against it (get/apply --server-side/wait/delete); tests use its fault knobs.
/// Server-side apply tracks which manager applied which fields (lists are atomic, as for CRDs without list
/// markers): conflicts are 409 unless forced, and fields a manager stops applying are removed. Creates, updates
/// and merge patches claim no fields.
/// </summary>
public sealed class FakeApiServer : IDisposable
{
    private static readonly ApiResource[] BuiltIn =
    {
        new("", "v1", "Namespace", "namespaces", "namespace", false, new[] { "ns" }),
        new("", "v1", "Pod", "pods", "pod", true, new[] { "po" }),
        new("", "v1", "Service", "services", "service", true, new[] { "svc" }),
        new("", "v1", "Event", "events", "event", true, new[] { "ev" }),
        new("", "v1", "ConfigMap", "configmaps", "configmap", true, new[] { "cm" }),
        new("", "v1", "Secret", "secrets", "secret", true, Array.Empty<string>()),
        new("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", true, new[] { "sa" }),
        new("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", true, new[] { "pvc" }),
        new("apps", "v1", "Deployment", "deployments", "deployment", true, new[] { "deploy" }),
        new("apps", "v1", "StatefulSet", "statefulsets", "statefulset", true, new[] { "sts" }),
        new("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", "customresourcedefinition", false, new[] { "crd", "crds" }),
        new("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", false, Array.Empty<string>()),
        new("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", false, Array.Empty<string>()),
        new("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", true, Array.Empty<string>()),
        new("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", true, Array.Empty<string>()),
    };

    private readonly object _gate = new();
    private readonly List<ApiResource> _resources = new(BuiltIn);
    private readonly Dictionary<string, JsonObject> _schemas = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, (ApiResource Resource, JsonObject Object)> _objects = new(StringComparer.Ordinal);
    private readonly List<(long Version, ApiResource Resource, string Type, JsonObject Object)> _history = new();
    private readonly List<Watcher> _watchers = new();
    private readonly Dictionary<string, string> _logs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, HashSet<string>>> _fieldOwners = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private HttpListener _listener;
    private List<Task> _workers = new();
    private long _version = 1;
    private long _oldestRetained = 1;
    private int _failNext;
    private int _failStatus;
    private TimeSpan? _failRetryAfter;
    private long _requests;

    public FakeApiServer(int port = 0)
    {
        (_listener, Port) = Loopback.Start(port, "The fake Kubernetes API server");
        Url = $"http://127.0.0.1:{Port}";
        foreach (var ns in new[] { "default", "kube-system", "kube-public" })
        {
            var namespaceObject = new JsonObject { ["apiVersion"] = "v1", ["kind"] = "Namespace", ["metadata"] = new JsonObject { ["name"] = ns, ["uid"] = Guid.NewGuid().ToString(), ["creationTimestamp"] = KubeObjects.Timestamp() }, ["status"] = new JsonObject { ["phase"] = "Active" } };
            Store(namespaceObject, BuiltIn[0], null);
        }
        StartWorkers();
    }

    public int Port { get; }

    public string Url { get; }

    /// <summary>How often watches that asked for bookmarks get one.</summary>
    public TimeSpan BookmarkInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Events kept for watches that resume from an older version; older ones get 410 Gone.</summary>
    public int HistoryLimit { get; set; } = 10_000;

    public long RequestCount => Interlocked.Read(ref _requests);

    public int OpenWatches { get { lock (_gate) { return _watchers.Count; } } }

    public string CurrentResourceVersion { get { lock (_gate) { return _version.ToString(CultureInfo.InvariantCulture); } } }

    public override string ToString() => $"fake Kubernetes API at {Url}";

    /// <summary>A kubeconfig that points kubectl (or anything else) at this server.</summary>
    public string Kubeconfig(string contextName = "e2e-local", string @namespace = "default") => $"""
        apiVersion: v1
        kind: Config
        current-context: {contextName}
        clusters:
        - name: {contextName}
          cluster:
            server: {Url}
        contexts:
        - name: {contextName}
          context:
            cluster: {contextName}
            user: {contextName}
            namespace: {@namespace}
        users:
        - name: {contextName}
          user:
            token: fake-token-not-a-secret
        """;

    // ---- Fault and content knobs ----

    /// <summary>The next <paramref name="count"/> requests are answered with <paramref name="status"/> (429 and 503 carry Retry-After when given).</summary>
    public void FailNext(int count, int status = 503, TimeSpan? retryAfter = null)
    {
        _failStatus = status;
        _failRetryAfter = retryAfter;
        Interlocked.Exchange(ref _failNext, count);
    }

    /// <summary>Forgets the event history, so any watch that resumes from an older version gets 410 Gone (as after etcd compaction).</summary>
    public void CompactHistory()
    {
        lock (_gate)
        {
            _history.Clear();
            _oldestRetained = _version + 1;
        }
    }

    /// <summary>Drops every open connection and listens again on the same port: a restarting API server. State is kept, as etcd keeps it.</summary>
    public void Restart(TimeSpan downtime = default)
    {
        Watcher[] watchers;
        lock (_gate)
        {
            watchers = _watchers.ToArray();
            _watchers.Clear();
        }
        foreach (var w in watchers)
        {
            w.Events.Writer.TryComplete(new IOException("API server restarting"));
        }
        _listener.Abort();
        Task.WaitAll(_workers.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)).ToArray(), TimeSpan.FromSeconds(5));
        if (downtime > TimeSpan.Zero)
        {
            Thread.Sleep(downtime);
        }
        (_listener, _) = Loopback.Start(Port, "The fake Kubernetes API server");
        StartWorkers();
    }

    /// <summary>Sets what GET .../pods/{pod}/log returns for a container (and with previous=true, the previous instance).</summary>
    public void SetPodLog(string @namespace, string pod, string container, string text, bool previous = false)
    {
        lock (_gate)
        {
            _logs[$"{@namespace}/{pod}/{container}/{previous}"] = text;
        }
    }

    public void Dispose()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        _stop.Cancel();
        lock (_gate)
        {
            foreach (var w in _watchers)
            {
                w.Events.Writer.TryComplete();
            }
            _watchers.Clear();
        }
        _listener.Abort();
        Task.WaitAll(_workers.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)).ToArray(), TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }

    // ---- In-process access (the simulated operator and tests use the same rules as HTTP callers) ----

    public IReadOnlyList<ApiResource> Resources { get { lock (_gate) { return _resources.ToArray(); } } }

    public JsonObject? Find(string apiVersion, string kind, string? @namespace, string name)
    {
        lock (_gate)
        {
            var resource = _resources.FirstOrDefault(r => r.ApiVersion == apiVersion && r.Kind == kind);
            return resource is not null && _objects.TryGetValue(Key(resource, @namespace, name), out var found) ? (JsonObject)found.Object.DeepClone() : null;
        }
    }

    public IReadOnlyList<JsonObject> All(string? labelSelector = null)
    {
        var selector = LabelSelector.Parse(labelSelector);
        lock (_gate)
        {
            return _objects.Values.Select(v => v.Object).Where(selector.Matches).Select(o => (JsonObject)o.DeepClone()).ToArray();
        }
    }

    // ---- HTTP ----

    private void StartWorkers()
    {
        // Watches hold their connection open, so each request gets its own task.
        var listener = _listener;
        _workers = Enumerable.Range(0, 8).Select(_ => Task.Run(() => Loopback.ServeAsync(listener, HandleAsync, eachOnItsOwnTask: true, _stop.Token))).ToList();
    }

    private bool TakeFailure()
    {
        while (true)
        {
            var left = Volatile.Read(ref _failNext);
            if (left <= 0)
            {
                return false;
            }
            if (Interlocked.CompareExchange(ref _failNext, left - 1, left) == left)
            {
                return true;
            }
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        Interlocked.Increment(ref _requests);
        var request = context.Request;
        var path = request.Url!.AbsolutePath.TrimEnd('/');
        var query = System.Web.HttpUtility.ParseQueryString(request.Url.Query);
        if (TakeFailure())
        {
            if (_failRetryAfter is { } retry)
            {
                context.Response.Headers["Retry-After"] = ((int)Math.Ceiling(retry.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            }
            await RespondAsync(context.Response, _failStatus, Status(_failStatus, _failStatus == 429 ? "TooManyRequests" : "ServiceUnavailable", "injected failure")).ConfigureAwait(false);
            return;
        }
        string body;
        using (var reader = new StreamReader(request.InputStream, Encoding.UTF8))
        {
            body = await reader.ReadToEndAsync().ConfigureAwait(false);
        }
        try
        {
            if (Fixed(path) is { } fixedAnswer)
            {
                await RespondAsync(context.Response, 200, fixedAnswer).ConfigureAwait(false);
                return;
            }
            var target = Route(path) ?? throw new FakeApiError(404, "NotFound", $"the server could not find the requested resource ({request.HttpMethod} {path})");
            if (request.HttpMethod == "GET" && target.Name is null && query["watch"] is "true" or "1")
            {
                await WatchAsync(context.Response, target, query).ConfigureAwait(false);
                return;
            }
            if (target.Subresource == "log")
            {
                await RespondAsync(context.Response, 200, PodLog(target, query), "text/plain").ConfigureAwait(false);
                return;
            }
            // As the real server, the patch type is checked before the body is read: a JSON patch is 415, not a parse error.
            if (request.HttpMethod == "PATCH" && (request.ContentType ?? string.Empty).StartsWith("application/json-patch+json", StringComparison.OrdinalIgnoreCase))
            {
                throw new FakeApiError(415, "UnsupportedMediaType", "the fake API server does not implement JSON patch; use a merge patch or server-side apply");
            }
            var (code, answer) = request.HttpMethod switch
            {
                "GET" when target.Name is null => (200, List(target, query)),
                "GET" => (200, Get(target)),
                "POST" when target.Name is null => (201, Create(target, Body(body, request.ContentType))),
                "PUT" when target.Name is not null => (200, Update(target, Body(body, request.ContentType))),
                "PATCH" when target.Name is not null => Patch(target, Body(body, request.ContentType), request.ContentType ?? string.Empty, query),
                "DELETE" when target.Name is not null => (200, Delete(target, body.Length == 0 ? new JsonObject() : Body(body, "application/json"), query)),
                _ => throw new FakeApiError(405, "MethodNotAllowed", $"{request.HttpMethod} is not supported on {path}"),
            };
            await RespondAsync(context.Response, code, answer).ConfigureAwait(false);
        }
        catch (FakeApiError ex)
        {
            await RespondAsync(context.Response, ex.Code, Status(ex.Code, ex.Reason, ex.Message, ex.Causes, ex.Details)).ConfigureAwait(false);
        }
        catch (E2EException ex)
        {
            await RespondAsync(context.Response, 400, Status(400, "BadRequest", ex.Message)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not (HttpListenerException or IOException or ObjectDisposedException))
        {
            // A fake bug must answer, not hang the client: report it as the server would report a panic.
            await RespondAsync(context.Response, 500, Status(500, "InternalError", $"fake API server error: {ex.GetType().Name}: {ex.Message}")).ConfigureAwait(false);
        }
    }

    private JsonObject? Fixed(string path)
    {
        lock (_gate)
        {
            switch (path)
            {
                case "" or "/healthz" or "/readyz" or "/livez":
                    return new JsonObject { ["status"] = "ok" };
                case "/version":
                    return new JsonObject { ["major"] = "1", ["minor"] = "32", ["gitVersion"] = "v1.32.0-e2e-fake", ["platform"] = "linux/amd64" };
                case "/openapi/v3":
                    // Enough OpenAPI v3 for kubectl to see that PATCH takes fieldValidation; it then leaves
                    // validation to the server instead of downloading schemas (which the fake does not publish).
                    var index = new JsonObject();
                    foreach (var gv in _resources.Select(r => r.GroupVersionPath.TrimStart('/')).Distinct())
                    {
                        index[gv] = new JsonObject { ["serverRelativeURL"] = $"/openapi/v3/{gv}?hash={_resources.Count}" };
                    }
                    return new JsonObject { ["paths"] = index };
                case "/api":
                    return new JsonObject { ["kind"] = "APIVersions", ["versions"] = new JsonArray("v1"), ["serverAddressByClientCIDRs"] = new JsonArray(new JsonObject { ["clientCIDR"] = "0.0.0.0/0", ["serverAddress"] = $"127.0.0.1:{Port}" }) };
                case "/apis":
                    var groups = _resources.Where(r => r.Group.Length > 0).GroupBy(r => r.Group).Select(g =>
                    {
                        var versions = g.Select(r => r.Version).Distinct().Select(v => (JsonNode)new JsonObject { ["groupVersion"] = $"{g.Key}/{v}", ["version"] = v }).ToArray();
                        return (JsonNode)new JsonObject { ["name"] = g.Key, ["versions"] = new JsonArray(versions), ["preferredVersion"] = versions[0].DeepClone() };
                    });
                    return new JsonObject { ["kind"] = "APIGroupList", ["apiVersion"] = "v1", ["groups"] = new JsonArray(groups.ToArray()) };
            }
            if (path.StartsWith("/openapi/v3/", StringComparison.Ordinal))
            {
                var documentPaths = new JsonObject();
                foreach (var r in _resources.Where(r => r.GroupVersionPath == path["/openapi/v3".Length..]))
                {
                    var patch = new JsonObject
                    {
                        ["x-kubernetes-group-version-kind"] = new JsonObject { ["group"] = r.Group, ["version"] = r.Version, ["kind"] = r.Kind },
                        ["parameters"] = new JsonArray(new JsonObject { ["name"] = "fieldValidation", ["in"] = "query", ["schema"] = new JsonObject { ["type"] = "string" } }),
                        ["responses"] = new JsonObject(),
                    };
                    documentPaths[r.Path(r.Namespaced ? "{namespace}" : null, "{name}").Replace("%7B", "{", StringComparison.Ordinal).Replace("%7D", "}", StringComparison.Ordinal)] = new JsonObject { ["patch"] = patch };
                }
                return new JsonObject { ["openapi"] = "3.0.0", ["info"] = new JsonObject { ["title"] = "fake", ["version"] = "v1" }, ["paths"] = documentPaths };
            }
            var groupVersion = path.StartsWith("/api/", StringComparison.Ordinal) ? path[5..] : path.StartsWith("/apis/", StringComparison.Ordinal) ? path[6..] : null;
            if (groupVersion is null || groupVersion.Count(c => c == '/') > (path.StartsWith("/api/", StringComparison.Ordinal) ? 0 : 1))
            {
                return null;
            }
            var served = _resources.Where(r => r.ApiVersion == groupVersion).ToArray();
            if (served.Length == 0)
            {
                throw new FakeApiError(404, "NotFound", $"the server could not find the requested resource ({groupVersion})");
            }
            var entries = served.Select(r => (JsonNode)r.ToDiscovery())
                .Concat(served.Select(r => (JsonNode)new JsonObject { ["name"] = r.Plural + "/status", ["singularName"] = string.Empty, ["namespaced"] = r.Namespaced, ["kind"] = r.Kind, ["verbs"] = new JsonArray("get", "patch", "update") }));
            return new JsonObject { ["kind"] = "APIResourceList", ["apiVersion"] = "v1", ["groupVersion"] = groupVersion, ["resources"] = new JsonArray(entries.ToArray()) };
        }
    }

    private sealed record Target(ApiResource Resource, string? Namespace, string? Name, string? Subresource);

    private Target? Route(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        int rest;
        string apiVersion;
        if (parts.Length >= 3 && parts[0] == "api")
        {
            (apiVersion, rest) = (parts[1], 2);
        }
        else if (parts.Length >= 4 && parts[0] == "apis")
        {
            (apiVersion, rest) = ($"{parts[1]}/{parts[2]}", 3);
        }
        else
        {
            return null;
        }
        string? ns = null;
        // "namespaces/x/pods" is a namespaced collection; "namespaces/x" alone is the Namespace object.
        if (parts.Length - rest >= 3 && parts[rest] == "namespaces")
        {
            ns = Uri.UnescapeDataString(parts[rest + 1]);
            rest += 2;
        }
        lock (_gate)
        {
            var resource = _resources.FirstOrDefault(r => r.ApiVersion == apiVersion && r.Plural == parts[rest]);
            if (resource is null || (ns is not null && !resource.Namespaced))
            {
                return null;
            }
            var name = parts.Length > rest + 1 ? Uri.UnescapeDataString(parts[rest + 1]) : null;
            var sub = parts.Length > rest + 2 ? parts[rest + 2] : null;
            if (name is not null && resource.Namespaced && ns is null)
            {
                return null;
            }
            return new Target(resource, ns, name, sub);
        }
    }

    private static JsonObject Body(string body, string? contentType)
    {
        if (body.Length == 0)
        {
            throw new FakeApiError(400, "BadRequest", "the request has no body");
        }
        try
        {
            // JSON is YAML, and apply bodies may be either.
            var documents = contentType?.Contains("yaml", StringComparison.OrdinalIgnoreCase) == true ? KubeObjects.ParseYaml(body, "request body") : new[] { KubeObjects.Parse(body) };
            return documents.Count == 1 ? documents[0] : throw new FakeApiError(400, "BadRequest", "the body must hold exactly one object");
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or E2EException)
        {
            throw new FakeApiError(400, "BadRequest", $"the body does not parse: {ex.Message}");
        }
    }

    // ---- Verbs ----

    private JsonObject Get(Target target)
    {
        lock (_gate)
        {
            return (JsonObject)Existing(target).DeepClone();
        }
    }

    private JsonObject List(Target target, System.Collections.Specialized.NameValueCollection query)
    {
        var labels = LabelSelector.Parse(query["labelSelector"]);
        var fields = FieldSelector.Parse(query["fieldSelector"]);
        var limit = int.TryParse(query["limit"], out var l) && l > 0 ? l : int.MaxValue;
        var offset = int.TryParse(query["continue"], out var c) ? c : 0;
        lock (_gate)
        {
            var matching = Matching(target.Resource, target.Namespace, labels, fields).ToArray();
            var page = matching.Skip(offset).Take(limit).Select(o => (JsonNode)o.DeepClone()).ToArray();
            var metadata = new JsonObject { ["resourceVersion"] = _version.ToString(CultureInfo.InvariantCulture) };
            if (offset + page.Length < matching.Length)
            {
                metadata["continue"] = (offset + page.Length).ToString(CultureInfo.InvariantCulture);
                metadata["remainingItemCount"] = matching.Length - offset - page.Length;
            }
            return new JsonObject { ["apiVersion"] = target.Resource.ApiVersion, ["kind"] = target.Resource.Kind + "List", ["metadata"] = metadata, ["items"] = new JsonArray(page) };
        }
    }

    private IEnumerable<JsonObject> Matching(ApiResource resource, string? @namespace, LabelSelector labels, FieldSelector fields) =>
        _objects.Values.Where(v => v.Resource == resource && (@namespace is null || KubeObjects.Namespace(v.Object) == @namespace))
            .Select(v => v.Object).Where(o => labels.Matches(o) && fields.Matches(o));

    private JsonObject Create(Target target, JsonObject o)
    {
        lock (_gate)
        {
            Prepare(target, o);
            var metadata = KubeObjects.Metadata(o);
            if (string.IsNullOrEmpty((string?)metadata["name"]) && metadata["generateName"] is { } prefix)
            {
                metadata["name"] = (string?)prefix + Guid.NewGuid().ToString("N")[..5];
            }
            var key = Key(target.Resource, target.Namespace, KubeObjects.Name(o));
            if (_objects.ContainsKey(key))
            {
                throw new FakeApiError(409, "AlreadyExists", $"{target.Resource.FullName} \"{KubeObjects.Name(o)}\" already exists",
                    details: new JsonObject { ["name"] = KubeObjects.Name(o), ["group"] = target.Resource.Group, ["kind"] = target.Resource.Plural });
            }
            Validate(target.Resource, o);
            metadata["uid"] = Guid.NewGuid().ToString();
            metadata["creationTimestamp"] = KubeObjects.Timestamp();
            metadata["generation"] = 1L;
            if (target.Resource.Kind == "Namespace")
            {
                o["status"] = new JsonObject { ["phase"] = "Active" }; // The namespace controller's part.
            }
            var created = Store(o, target.Resource, "ADDED");
            CollectIfOwnersGone(target.Resource, o);
            return created;
        }
    }

    private JsonObject Update(Target target, JsonObject o)
    {
        lock (_gate)
        {
            var live = Existing(target);
            Prepare(target, o);
            var expected = KubeObjects.ResourceVersion(o);
            if (expected.Length > 0 && expected != KubeObjects.ResourceVersion(live))
            {
                throw new FakeApiError(409, "Conflict", $"Operation cannot be fulfilled on {target.Resource.FullName} \"{target.Name}\": the object has been modified; please apply your changes to the latest version and try again");
            }
            return Replace(target, live, o);
        }
    }

    private (int, JsonObject) Patch(Target target, JsonObject patch, string contentType, System.Collections.Specialized.NameValueCollection query)
    {
        lock (_gate)
        {
            var apply = contentType.StartsWith("application/apply-patch", StringComparison.OrdinalIgnoreCase);
            if (apply && string.IsNullOrEmpty(query["fieldManager"]))
            {
                throw new FakeApiError(400, "BadRequest", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch");
            }
            var key = Key(target.Resource, target.Namespace, target.Name!);
            var manager = query["fieldManager"] ?? string.Empty;
            if (!_objects.TryGetValue(key, out var entry))
            {
                if (!apply || target.Subresource is not null)
                {
                    throw NotFound(target);
                }
                var created = (JsonObject)patch.DeepClone();
                created.Remove("status");
                KubeObjects.Metadata(created)["name"] = target.Name;
                var owners = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal) { [manager] = FieldOwnership.Leaves(created).Keys.ToHashSet(StringComparer.Ordinal) };
                KubeObjects.Metadata(created)["managedFields"] = FieldOwnership.ManagedFields(owners, target.Resource.ApiVersion, KubeObjects.Timestamp());
                var result = Create(target with { Name = null }, created);
                _fieldOwners[key] = owners;
                return (201, result);
            }
            var live = entry.Object;
            if (!apply)
            {
                // Merge and strategic patches are applied as merge patches (maps merged, lists replaced).
                var merged = (JsonObject)KubeObjects.MergePatch(live, patch)!;
                KubeObjects.Metadata(merged)["resourceVersion"] = null;
                return (200, Replace(target, live, merged));
            }
            // Server-side apply: fields are owned by the managers that applied them; a different value for a field
            // another manager owns is a conflict unless forced; fields this manager applied before and now leaves
            // out are removed unless another manager owns them too.
            var before = _fieldOwners.TryGetValue(key, out var known) ? known : new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
            var ownership = before.ToDictionary(p => p.Key, p => new HashSet<string>(p.Value, StringComparer.Ordinal), StringComparer.Ordinal);
            var applied = FieldOwnership.Leaves(patch);
            var conflicts = applied
                .SelectMany(leaf => ownership.Where(o => o.Key != manager && o.Value.Contains(leaf.Key)).Select(o => (Path: leaf.Key, Manager: o.Key, leaf.Value)))
                .Where(c => !JsonNode.DeepEquals(FieldOwnership.ValueAt(live, c.Path), c.Value))
                .ToArray();
            if (conflicts.Length > 0 && query["force"] is not ("true" or "1"))
            {
                throw new FakeApiError(409, "Conflict",
                    $"Apply failed with {conflicts.Length} conflict{(conflicts.Length == 1 ? string.Empty : "s")}: " + string.Join("; ", conflicts.Select(c => $"conflict with \"{c.Manager}\": {FieldOwnership.Display(c.Path)}")),
                    conflicts.Select(c => (FieldOwnership.Display(c.Path), $"conflict with \"{c.Manager}\"")).ToArray());
            }
            foreach (var conflict in conflicts)
            {
                ownership[conflict.Manager].Remove(conflict.Path);
            }
            var start = (JsonObject)live.DeepClone();
            if (ownership.TryGetValue(manager, out var previous))
            {
                foreach (var dropped in previous.Where(p => !applied.ContainsKey(p) && !ownership.Any(o => o.Key != manager && o.Value.Contains(p))))
                {
                    FieldOwnership.RemoveAt(start, dropped);
                }
            }
            ownership[manager] = applied.Keys.ToHashSet(StringComparer.Ordinal);
            foreach (var empty in ownership.Where(o => o.Value.Count == 0).Select(o => o.Key).ToArray())
            {
                ownership.Remove(empty);
            }
            var patched = (JsonObject)KubeObjects.MergePatch(start, patch)!;
            KubeObjects.Metadata(patched)["managedFields"] = FieldOwnership.ManagedFields(ownership, target.Resource.ApiVersion, KubeObjects.Timestamp());
            KubeObjects.Metadata(patched)["resourceVersion"] = null;
            var stored = Replace(target, live, patched);
            _fieldOwners[key] = ownership; // Only once the write passed validation.
            return (200, stored);
        }
    }

    /// <summary>Writes a new version of a live object: the status subresource changes only status; the main resource never changes status of kinds with a status subresource.</summary>
    private JsonObject Replace(Target target, JsonObject live, JsonObject incoming)
    {
        var next = (JsonObject)live.DeepClone();
        if (target.Subresource == "status")
        {
            next["status"] = incoming["status"]?.DeepClone();
        }
        else
        {
            var status = live["status"]?.DeepClone();
            next = (JsonObject)incoming.DeepClone();
            var kept = HasStatusSubresource(target.Resource) ? status : incoming["status"]?.DeepClone() ?? status;
            if (kept is null)
            {
                next.Remove("status");
            }
            else
            {
                next["status"] = kept;
            }
            var metadata = KubeObjects.Metadata(next);
            var liveMetadata = KubeObjects.Metadata(live);
            foreach (var fixedField in new[] { "uid", "creationTimestamp", "deletionTimestamp", "namespace", "name" })
            {
                metadata[fixedField] = liveMetadata[fixedField]?.DeepClone();
            }
            var specChanged = !JsonNode.DeepEquals(live["spec"], next["spec"]);
            metadata["generation"] = (KubeObjects.Integer(liveMetadata["generation"]) ?? 1) + (specChanged ? 1 : 0);
            Validate(target.Resource, next);
        }
        if (JsonNode.DeepEquals(Comparable(live), Comparable(next)))
        {
            return (JsonObject)live.DeepClone(); // A no-op write does not bump the version, as on a real server.
        }
        var stored = Store(next, target.Resource, "MODIFIED");
        if (KubeObjects.IsDeleting(next) && KubeObjects.Finalizers(next).Count == 0)
        {
            Remove(target.Resource, next);
        }
        else
        {
            CollectIfOwnersGone(target.Resource, next);
        }
        return stored;

        static JsonNode Comparable(JsonObject o)
        {
            var copy = (JsonObject)o.DeepClone();
            KubeObjects.Metadata(copy).Remove("resourceVersion");
            KubeObjects.Metadata(copy).Remove("managedFields");
            return copy;
        }
    }

    private JsonObject Delete(Target target, JsonObject options, System.Collections.Specialized.NameValueCollection query)
    {
        lock (_gate)
        {
            var live = Existing(target);
            // DeleteOptions come in the body or, as client-go and KubernetesClient send them, as query parameters.
            var orphan = options["orphanDependents"]?.GetValue<bool>() ?? (query["orphanDependents"] is { } q ? q is "true" or "1" : null);
            var policy = (string?)options["propagationPolicy"] ?? query["propagationPolicy"] ?? (orphan == true ? "Orphan" : "Background");
            if (policy is not ("Orphan" or "Background" or "Foreground"))
            {
                throw new FakeApiError(400, "BadRequest", $"DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"{policy}\": supported values: \"Foreground\", \"Background\", \"Orphan\"");
            }
            return DeleteObject(target.Resource, live, policy);
        }
    }

    private JsonObject DeleteObject(ApiResource resource, JsonObject live, string policy)
    {
        if (policy == "Orphan")
        {
            foreach (var dependent in Dependents(live).ToArray())
            {
                var copy = (JsonObject)dependent.Object.DeepClone();
                var refs = (JsonArray)copy["metadata"]!["ownerReferences"]!;
                foreach (var r in refs.OfType<JsonObject>().Where(r => (string?)r["uid"] == KubeObjects.Uid(live)).ToArray())
                {
                    refs.Remove(r);
                }
                Store(copy, dependent.Resource, "MODIFIED");
            }
        }
        if (resource.Kind == "Namespace")
        {
            var terminating = (JsonObject)live.DeepClone();
            KubeObjects.Metadata(terminating)["deletionTimestamp"] ??= KubeObjects.Timestamp();
            terminating["status"] = new JsonObject { ["phase"] = "Terminating" };
            Store(terminating, resource, "MODIFIED");
            foreach (var inside in _objects.Values.Where(v => KubeObjects.Namespace(v.Object) == KubeObjects.Name(live)).ToArray())
            {
                if (!KubeObjects.IsDeleting(inside.Object))
                {
                    DeleteObject(inside.Resource, inside.Object, "Background");
                }
            }
            FinishNamespaces();
            return terminating;
        }
        if (policy == "Foreground" && Dependents(live).Any())
        {
            // Foreground: the owner stays, marked and held by the foregroundDeletion finalizer, until the garbage
            // collector has deleted its dependents (in the foreground too); FinishForegroundDeletions lets it go.
            var held = (JsonObject)live.DeepClone();
            var metadata = KubeObjects.Metadata(held);
            metadata["deletionTimestamp"] ??= KubeObjects.Timestamp();
            metadata["deletionGracePeriodSeconds"] = 0;
            if (!KubeObjects.Finalizers(held).Contains(ForegroundFinalizer))
            {
                var finalizers = metadata["finalizers"] as JsonArray ?? new JsonArray();
                finalizers.Add(ForegroundFinalizer);
                metadata["finalizers"] = finalizers;
            }
            held = Store(held, resource, "MODIFIED");
            foreach (var dependent in Dependents(held).ToArray())
            {
                if (!KubeObjects.IsDeleting(dependent.Object))
                {
                    DeleteObject(dependent.Resource, dependent.Object, "Foreground");
                }
            }
            FinishForegroundDeletions();
            return _objects.TryGetValue(Key(resource, KubeObjects.Namespace(held), KubeObjects.Name(held)), out var still) ? (JsonObject)still.Object.DeepClone() : held;
        }
        if (KubeObjects.Finalizers(live).Count > 0)
        {
            if (KubeObjects.IsDeleting(live))
            {
                return (JsonObject)live.DeepClone();
            }
            var marked = (JsonObject)live.DeepClone();
            KubeObjects.Metadata(marked)["deletionTimestamp"] = KubeObjects.Timestamp();
            KubeObjects.Metadata(marked)["deletionGracePeriodSeconds"] = 0;
            return Store(marked, resource, "MODIFIED");
        }
        var removed = (JsonObject)live.DeepClone();
        Remove(resource, live);
        return removed;
    }

    private void Remove(ApiResource resource, JsonObject live)
    {
        if (!_objects.Remove(Key(resource, KubeObjects.Namespace(live), KubeObjects.Name(live))))
        {
            return;
        }
        _fieldOwners.Remove(Key(resource, KubeObjects.Namespace(live), KubeObjects.Name(live)));
        var gone = (JsonObject)live.DeepClone();
        _version++;
        KubeObjects.Metadata(gone)["resourceVersion"] = _version.ToString(CultureInfo.InvariantCulture);
        Publish(resource, "DELETED", gone);
        if (resource.Kind == "CustomResourceDefinition")
        {
            Unregister(gone);
        }
        // Garbage collection: dependents of a removed owner go too (background propagation).
        foreach (var dependent in Dependents(gone).ToArray())
        {
            if (!KubeObjects.IsDeleting(dependent.Object))
            {
                DeleteObject(dependent.Resource, dependent.Object, "Background");
            }
        }
        FinishForegroundDeletions();
        FinishNamespaces();
    }

    /// <summary>
    /// The garbage collector's other half: an object written with owner references none of which exists any more
    /// (a controller that reconciled a just-deleted owner) is deleted, as the real collector deletes dangling dependents.
    /// </summary>
    private void CollectIfOwnersGone(ApiResource resource, JsonObject o)
    {
        var owners = (o["metadata"]?["ownerReferences"] as JsonArray)?.OfType<JsonObject>().Select(r => (string?)r["uid"]).OfType<string>().ToArray() ?? Array.Empty<string>();
        if (owners.Length > 0 && !_objects.Values.Any(v => KubeObjects.Uid(v.Object) is { } uid && owners.Contains(uid)) && !KubeObjects.IsDeleting(o))
        {
            DeleteObject(resource, o, "Background");
        }
    }

    private IEnumerable<(ApiResource Resource, JsonObject Object)> Dependents(JsonObject owner) =>
        _objects.Values.Where(v => (v.Object["metadata"]?["ownerReferences"] as JsonArray)?.OfType<JsonObject>().Any(r => (string?)r["uid"] == KubeObjects.Uid(owner)) == true);

    private const string ForegroundFinalizer = "foregroundDeletion";

    /// <summary>Owners held by foregroundDeletion whose dependents are all gone lose that finalizer (and go, if it was the last).</summary>
    private void FinishForegroundDeletions()
    {
        foreach (var held in _objects.Values.Where(v => KubeObjects.IsDeleting(v.Object) && KubeObjects.Finalizers(v.Object).Contains(ForegroundFinalizer)).ToArray())
        {
            if (Dependents(held.Object).Any())
            {
                continue;
            }
            var released = (JsonObject)held.Object.DeepClone();
            var finalizers = (JsonArray)KubeObjects.Metadata(released)["finalizers"]!;
            foreach (var f in finalizers.Where(f => (string?)f == ForegroundFinalizer).ToArray())
            {
                finalizers.Remove(f);
            }
            if (finalizers.Count == 0)
            {
                Remove(held.Resource, released);
            }
            else
            {
                Store(released, held.Resource, "MODIFIED");
            }
        }
    }

    private void FinishNamespaces()
    {
        foreach (var ns in _objects.Values.Where(v => v.Resource.Kind == "Namespace" && KubeObjects.IsDeleting(v.Object)).ToArray())
        {
            if (!_objects.Values.Any(v => KubeObjects.Namespace(v.Object) == KubeObjects.Name(ns.Object)))
            {
                Remove(ns.Resource, ns.Object);
            }
        }
    }

    private JsonObject Existing(Target target) =>
        _objects.TryGetValue(Key(target.Resource, target.Namespace, target.Name!), out var entry) ? entry.Object : throw NotFound(target);

    private static FakeApiError NotFound(Target target) =>
        new(404, "NotFound", $"{target.Resource.FullName} \"{target.Name}\" not found", details: new JsonObject { ["name"] = target.Name, ["group"] = target.Resource.Group, ["kind"] = target.Resource.Plural });

    private void Prepare(Target target, JsonObject o)
    {
        o["apiVersion"] ??= target.Resource.ApiVersion;
        o["kind"] ??= target.Resource.Kind;
        if (KubeObjects.ApiVersion(o) != target.Resource.ApiVersion || KubeObjects.Kind(o) != target.Resource.Kind)
        {
            throw new FakeApiError(400, "BadRequest", $"the object's apiVersion/kind {KubeObjects.ApiVersion(o)}/{KubeObjects.Kind(o)} does not match the path ({target.Resource.ApiVersion}/{target.Resource.Kind})");
        }
        var metadata = KubeObjects.Metadata(o);
        if (target.Resource.Namespaced)
        {
            var given = (string?)metadata["namespace"];
            if (given is not null && given != target.Namespace)
            {
                throw new FakeApiError(400, "BadRequest", $"the namespace of the provided object ({given}) does not match the namespace sent on the request ({target.Namespace})");
            }
            metadata["namespace"] = target.Namespace;
            if (!_objects.TryGetValue(Key(BuiltIn[0], null, target.Namespace!), out var ns))
            {
                throw new FakeApiError(404, "NotFound", $"namespaces \"{target.Namespace}\" not found", details: new JsonObject { ["name"] = target.Namespace, ["kind"] = "namespaces" });
            }
            if (KubeObjects.IsDeleting(ns.Object) && !_objects.ContainsKey(Key(target.Resource, target.Namespace, KubeObjects.Name(o))))
            {
                throw new FakeApiError(403, "Forbidden", $"{target.Resource.Plural} \"{KubeObjects.Name(o)}\" is forbidden: unable to create new content in namespace {target.Namespace} because it is being terminated");
            }
        }
        if (target.Name is not null && KubeObjects.Name(o) is { Length: > 0 } name && name != target.Name)
        {
            throw new FakeApiError(400, "BadRequest", $"the name of the object ({name}) does not match the name on the URL ({target.Name})");
        }
    }

    private void Validate(ApiResource resource, JsonObject o)
    {
        var causes = new List<(string Field, string Message)>();
        var name = KubeObjects.Name(o);
        if (name.Length == 0)
        {
            causes.Add(("metadata.name", "Required value: name or generateName is required"));
        }
        else if (!KubernetesNames.IsDnsSubdomain(name))
        {
            causes.Add(("metadata.name", $"Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"));
        }
        foreach (var (key, value) in KubeObjects.Labels(o))
        {
            try
            {
                KubernetesNames.ValidateLabelKey(key);
                KubernetesNames.ValidateLabelValue(key, value);
            }
            catch (E2EException ex)
            {
                causes.Add(($"metadata.labels", ex.Message));
            }
        }
        if (_schemas.TryGetValue(resource.FullName + "/" + resource.Version, out var schema))
        {
            causes.AddRange(OpenApiSchema.Validate(schema, o));
        }
        if (causes.Count > 0)
        {
            var message = $"{resource.Kind}.{resource.Group} \"{name}\" is invalid: " + string.Join(", ", causes.Select(c => $"{c.Field}: {c.Message}"));
            throw new FakeApiError(422, "Invalid", message, causes, new JsonObject { ["name"] = name, ["group"] = resource.Group, ["kind"] = resource.Kind });
        }
    }

    private JsonObject Store(JsonObject o, ApiResource resource, string? eventType)
    {
        _version++;
        KubeObjects.Metadata(o)["resourceVersion"] = _version.ToString(CultureInfo.InvariantCulture);
        _objects[Key(resource, KubeObjects.Namespace(o), KubeObjects.Name(o))] = (resource, o);
        if (eventType is not null)
        {
            Publish(resource, eventType, o);
        }
        if (resource.Kind == "CustomResourceDefinition" && eventType == "ADDED")
        {
            Register(o);
        }
        return (JsonObject)o.DeepClone();
    }

    private void Publish(ApiResource resource, string type, JsonObject o)
    {
        var snapshot = (JsonObject)o.DeepClone();
        _history.Add((_version, resource, type, snapshot));
        if (_history.Count > HistoryLimit)
        {
            var drop = _history.Count - HistoryLimit;
            _oldestRetained = _history[drop].Version;
            _history.RemoveRange(0, drop);
        }
        foreach (var watcher in _watchers)
        {
            watcher.Offer(resource, type, snapshot);
        }
    }

    /// <summary>A new CRD serves its kind at once and is marked NamesAccepted and Established in a following write.</summary>
    private void Register(JsonObject crd)
    {
        var spec = crd["spec"] as JsonObject ?? new JsonObject();
        var group = (string?)spec["group"] ?? string.Empty;
        var names = spec["names"] as JsonObject ?? new JsonObject();
        var namespaced = (string?)spec["scope"] != "Cluster";
        foreach (var version in (spec["versions"] as JsonArray ?? new JsonArray()).OfType<JsonObject>().Where(v => (bool?)v["served"] != false))
        {
            var resource = new ApiResource(group, (string?)version["name"] ?? "v1", (string?)names["kind"] ?? string.Empty, (string?)names["plural"] ?? string.Empty,
                (string?)names["singular"] ?? ((string?)names["kind"] ?? string.Empty).ToLowerInvariant(), namespaced,
                (names["shortNames"] as JsonArray)?.Select(s => (string?)s ?? string.Empty).ToArray() ?? Array.Empty<string>());
            _resources.RemoveAll(r => r.Group == resource.Group && r.Version == resource.Version && r.Plural == resource.Plural);
            _resources.Add(resource);
            if (version["schema"]?["openAPIV3Schema"] is JsonObject schema)
            {
                _schemas[resource.FullName + "/" + resource.Version] = (JsonObject)schema.DeepClone();
            }
            if (version["subresources"]?["status"] is not null)
            {
                _statusSubresource.Add(resource.FullName);
            }
        }
        var established = (JsonObject)crd.DeepClone();
        established["status"] = new JsonObject
        {
            ["conditions"] = new JsonArray(
                new JsonObject { ["type"] = "NamesAccepted", ["status"] = "True", ["reason"] = "NoConflicts", ["message"] = "no conflicts found", ["lastTransitionTime"] = KubeObjects.Timestamp() },
                new JsonObject { ["type"] = "Established", ["status"] = "True", ["reason"] = "InitialNamesAccepted", ["message"] = "the initial names have been accepted", ["lastTransitionTime"] = KubeObjects.Timestamp() }),
            ["acceptedNames"] = names.DeepClone(),
            ["storedVersions"] = new JsonArray((spec["versions"] as JsonArray ?? new JsonArray()).OfType<JsonObject>().Where(v => (bool?)v["storage"] == true).Select(v => (JsonNode?)JsonValue.Create((string?)v["name"])).ToArray()),
        };
        Store(established, BuiltIn.First(r => r.Kind == "CustomResourceDefinition"), "MODIFIED");
    }

    private readonly HashSet<string> _statusSubresource = new(StringComparer.Ordinal) { "pods", "services", "namespaces", "persistentvolumeclaims", "deployments.apps", "statefulsets.apps", "customresourcedefinitions.apiextensions.k8s.io" };

    private bool HasStatusSubresource(ApiResource resource) => _statusSubresource.Contains(resource.FullName);

    private void Unregister(JsonObject crd)
    {
        var group = (string?)crd["spec"]?["group"];
        var plural = (string?)crd["spec"]?["names"]?["plural"];
        var removed = _resources.Where(r => r.Group == group && r.Plural == plural).ToArray();
        foreach (var resource in removed)
        {
            foreach (var instance in _objects.Values.Where(v => v.Resource == resource).ToArray())
            {
                Remove(resource, instance.Object);
            }
            _resources.Remove(resource);
        }
    }

    private string PodLog(Target target, System.Collections.Specialized.NameValueCollection query)
    {
        lock (_gate)
        {
            var pod = Existing(target);
            var container = query["container"] ?? (string?)pod["spec"]?["containers"]?[0]?["name"] ?? string.Empty;
            var previous = query["previous"] is "true" or "1";
            if (_logs.TryGetValue($"{target.Namespace}/{target.Name}/{container}/{previous}", out var text))
            {
                return text;
            }
            throw previous
                ? new FakeApiError(400, "BadRequest", $"previous terminated container \"{container}\" in pod \"{target.Name}\" not found")
                : new FakeApiError(400, "BadRequest", $"container \"{container}\" in pod \"{target.Name}\" is waiting to start: ContainerCreating");
        }
    }

    // ---- Watch ----

    private sealed class Watcher
    {
        public required ApiResource Resource { get; init; }
        public string? Namespace { get; init; }
        public required LabelSelector Labels { get; init; }
        public required FieldSelector Fields { get; init; }
        public Channel<(string Type, JsonObject Object)> Events { get; } = Channel.CreateUnbounded<(string, JsonObject)>();

        public void Offer(ApiResource resource, string type, JsonObject o)
        {
            if (resource == Resource && (Namespace is null || KubeObjects.Namespace(o) == Namespace) && Labels.Matches(o) && Fields.Matches(o))
            {
                Events.Writer.TryWrite((type, o));
            }
        }
    }

    private async Task WatchAsync(HttpListenerResponse response, Target target, System.Collections.Specialized.NameValueCollection query)
    {
        var watcher = new Watcher { Resource = target.Resource, Namespace = target.Namespace, Labels = LabelSelector.Parse(query["labelSelector"]), Fields = FieldSelector.Parse(query["fieldSelector"]) };
        var bookmarks = query["allowWatchBookmarks"] is "true" or "1";
        var timeout = int.TryParse(query["timeoutSeconds"], out var seconds) && seconds > 0 ? TimeSpan.FromSeconds(seconds) : TimeSpan.FromMinutes(30);
        var from = query["resourceVersion"];
        JsonObject? gone = null;
        lock (_gate)
        {
            if (string.IsNullOrEmpty(from) || from == "0")
            {
                // No version: the current state first, as synthetic ADDED events.
                foreach (var o in Matching(target.Resource, target.Namespace, watcher.Labels, watcher.Fields))
                {
                    watcher.Events.Writer.TryWrite(("ADDED", (JsonObject)o.DeepClone()));
                }
            }
            else if (!long.TryParse(from, NumberStyles.None, CultureInfo.InvariantCulture, out var version))
            {
                throw new FakeApiError(400, "BadRequest", $"invalid resource version \"{from}\"");
            }
            else if (version + 1 < _oldestRetained)
            {
                gone = Status(410, "Expired", $"too old resource version: {version} ({_oldestRetained - 1})");
            }
            else
            {
                foreach (var (v, resource, type, o) in _history.Where(h => h.Version > version))
                {
                    watcher.Offer(resource, type, o);
                }
            }
            if (gone is null)
            {
                _watchers.Add(watcher);
            }
        }
        response.StatusCode = 200;
        response.ContentType = "application/json";
        response.SendChunked = true;
        var output = response.OutputStream;
        try
        {
            if (gone is not null)
            {
                // A real server answers an expired watch with 200 and one ERROR event.
                await WriteEventAsync(output, "ERROR", gone).ConfigureAwait(false);
                return;
            }
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            deadline.CancelAfter(timeout);
            var nextBookmark = DateTime.UtcNow + BookmarkInterval;
            while (!deadline.IsCancellationRequested)
            {
                var wait = bookmarks ? nextBookmark - DateTime.UtcNow : TimeSpan.FromSeconds(30);
                using var tick = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
                tick.CancelAfter(wait > TimeSpan.Zero ? wait : TimeSpan.Zero);
                try
                {
                    var (type, o) = await watcher.Events.Reader.ReadAsync(tick.Token).ConfigureAwait(false);
                    await WriteEventAsync(output, type, o).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!deadline.IsCancellationRequested)
                {
                    if (bookmarks)
                    {
                        var mark = new JsonObject { ["kind"] = target.Resource.Kind, ["apiVersion"] = target.Resource.ApiVersion, ["metadata"] = new JsonObject { ["resourceVersion"] = CurrentResourceVersion } };
                        await WriteEventAsync(output, "BOOKMARK", mark).ConfigureAwait(false);
                        nextBookmark = DateTime.UtcNow + BookmarkInterval;
                    }
                }
                catch (ChannelClosedException)
                {
                    response.Abort(); // Restart: the connection drops without a clean end.
                    return;
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                _watchers.Remove(watcher);
            }
            try
            {
                response.Close();
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
            {
                // Already aborted.
            }
        }
    }

    private static async Task WriteEventAsync(Stream output, string type, JsonObject o)
    {
        var line = Encoding.UTF8.GetBytes(KubeObjects.Compact(new JsonObject { ["type"] = type, ["object"] = o.DeepClone() }) + "\n");
        await output.WriteAsync(line).ConfigureAwait(false);
        await output.FlushAsync().ConfigureAwait(false);
    }

    // ---- Helpers ----

    private static string Key(ApiResource resource, string? @namespace, string name) => $"{resource.FullName}/{@namespace}/{name}";


    private static JsonObject Status(int code, string reason, string message, IReadOnlyList<(string Field, string Message)>? causes = null, JsonObject? details = null)
    {
        var status = new JsonObject { ["kind"] = "Status", ["apiVersion"] = "v1", ["metadata"] = new JsonObject(), ["status"] = "Failure", ["message"] = message, ["reason"] = reason, ["code"] = code };
        if (causes is { Count: > 0 } || details is not null)
        {
            var d = details ?? new JsonObject();
            if (causes is { Count: > 0 })
            {
                d["causes"] = new JsonArray(causes.Select(c => (JsonNode)new JsonObject { ["reason"] = "FieldValueInvalid", ["message"] = c.Message, ["field"] = c.Field }).ToArray());
            }
            status["details"] = d;
        }
        return status;
    }

    private static async Task RespondAsync(HttpListenerResponse response, int code, JsonObject body, string contentType = "application/json") =>
        await RespondAsync(response, code, KubeObjects.Compact(body), contentType).ConfigureAwait(false);

    private static async Task RespondAsync(HttpListenerResponse response, int code, string body, string contentType = "application/json")
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        response.StatusCode = code;
        response.ContentType = contentType;
        response.ContentLength64 = bytes.Length;
        await response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
        response.Close();
    }

    private sealed class FakeApiError : Exception
    {
        public FakeApiError(int code, string reason, string message, IReadOnlyList<(string Field, string Message)>? causes = null, JsonObject? details = null)
            : base(message)
        {
            Code = code;
            Reason = reason;
            Causes = causes;
            Details = details;
        }

        public int Code { get; }
        public string Reason { get; }
        public IReadOnlyList<(string Field, string Message)>? Causes { get; }
        public JsonObject? Details { get; }
    }
}
