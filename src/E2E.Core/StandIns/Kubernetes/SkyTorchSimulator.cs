using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using E2E.Core.Grpc;
using E2E.Core.Kubernetes;
using E2E.Core.StandIns.Grpc;

namespace E2E.Core.StandIns.Kubernetes;

/// <summary>
/// Stands in for the SkyTorch operator, the kubelet and the Contour Gateway on a machine without a cluster.
/// It watches Computes on a <see cref="FakeApiServer"/> and does what SYSTEMS.md §2.2 says the operator does:
/// server-side applies a Service, a GRPCRoute and a StatefulSet (owner references, the operator's labels),
/// creates the PVCs of volumeClaimTemplates (without owners, as the operator leaves them), runs the pod
/// (events, logs, readiness) and computes the Ready and Suspended conditions and status.addresses from the
/// Gateway. The Gateway is an h2c server on 127.0.0.1 that routes by the compute-id header and, once the Compute is
/// Ready, answers grpc.health.v1.Health/Check and skytorch.torch.Service (<see cref="SimulatedTensorService"/>) like
/// the real server; a Compute that is not Ready answers UNAVAILABLE.
/// The annotation simulate.e2e.dev/behaviour on a Compute makes it fail: NeverReady (readiness probe fails),
/// CrashLoop (the container exits; previous logs), ImagePullError, or HoldFinalizer (a finalizer nobody removes).
/// </summary>
public sealed class SkyTorchSimulator : IDisposable
{
    public const string BehaviourAnnotation = "simulate.e2e.dev/behaviour";
    public const string HoldFinalizer = "compute.skytorch.dev/simulated-hold";
    public const string OperatorNamespace = "skytorch-system";
    public const string GatewayName = "skytorch-gateway";
    public const string FieldManager = "skytorch-compute-controller";
    private const string ComputeApiVersion = "compute.skytorch.dev/v1alpha1";

    private readonly FakeApiServer _server;
    private readonly KubeClient _client;
    private readonly H2cGrpcServer _gateway;
    private readonly SimulatedTensorService _tensors = new();
    private readonly CancellationTokenSource _stop = new();
    /// <summary>Pods by Compute: false while "pulling the image", true once the container runs.</summary>
    private readonly ConcurrentDictionary<string, bool> _running = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _reconcile = new(1, 1);
    private readonly ConcurrentQueue<string> _errors = new();
    private Task _loop = Task.CompletedTask;
    private int _eventCounter;

    public SkyTorchSimulator(FakeApiServer server)
    {
        _server = server;
        _client = KubeClient.ForUrl(server.Url);
        _gateway = new H2cGrpcServer(Route);
    }

    /// <summary>How long a pod takes from creation to running.</summary>
    public TimeSpan StartupDelay { get; init; } = TimeSpan.FromMilliseconds(300);

    public Uri GatewayUrl => _gateway.Url;

    public int GatewayPort => _gateway.Port;

    public long GatewayCalls => _gateway.CallCount;

    /// <summary>The tensors a Compute's server holds now (namespace/name).</summary>
    public int TensorCount(string compute) => _tensors.TensorCount(compute);

    /// <summary>The last reconcile failures (at most 100), for diagnosing the simulation itself.</summary>
    public IReadOnlyList<string> ReconcileErrors => _errors.ToArray();

    /// <summary>Installs the Compute CRD (from <paramref name="crdPath"/>), the Gateway API kinds, the operator's namespace, Deployment and Gateway, then starts reconciling.</summary>
    public async Task StartAsync(string crdPath, CancellationToken cancellation)
    {
        foreach (var crd in KubeObjects.ParseYaml(File.ReadAllText(crdPath), crdPath).Concat(GatewayApiCrds()))
        {
            await _client.ApplyAsync(crd, "e2e-local-cluster", cancellation: cancellation).ConfigureAwait(false);
        }
        await _client.ApplyAsync(KubeObjects.Parse(Fill("""{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"@namespace@"}}""", ("@namespace@", OperatorNamespace))), "e2e-local-cluster", cancellation: cancellation).ConfigureAwait(false);
        var deployment = KubeObjects.Parse(Fill("""
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"skytorch-operator","namespace":"@namespace@","labels":{"app.kubernetes.io/name":"operator","app.kubernetes.io/component":"manager"}},
             "spec":{"replicas":1,"selector":{"matchLabels":{"app.kubernetes.io/name":"operator"}},"template":{"metadata":{"labels":{"app.kubernetes.io/name":"operator"}},"spec":{"containers":[{"name":"manager","image":"skytorch-operator:simulated"}]}}}}
            """, ("@namespace@", OperatorNamespace)));
        await _client.ApplyAsync(deployment, "e2e-local-cluster", cancellation: cancellation).ConfigureAwait(false);
        var deployments = await _client.ResolveAsync("apps/v1", "Deployment", cancellation).ConfigureAwait(false);
        await _client.PatchAsync(deployments, OperatorNamespace, "skytorch-operator", KubeObjects.Parse(Fill("""
            {"status":{"replicas":1,"readyReplicas":1,"availableReplicas":1,"conditions":[{"type":"Available","status":"True","reason":"MinimumReplicasAvailable","message":"Deployment has minimum availability.","lastTransitionTime":"@now@"}]}}
            """, ("@now@", KubeObjects.Timestamp()))), "status", cancellation).ConfigureAwait(false);
        var gateway = KubeObjects.Parse(Fill("""
            {"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","metadata":{"name":"@gateway@","namespace":"@namespace@"},
             "spec":{"gatewayClassName":"contour","listeners":[{"name":"grpc","protocol":"HTTP","port":50051,"allowedRoutes":{"namespaces":{"from":"All"}}}]}}
            """, ("@namespace@", OperatorNamespace), ("@gateway@", GatewayName)));
        await _client.ApplyAsync(gateway, "e2e-local-cluster", cancellation: cancellation).ConfigureAwait(false);
        var gateways = await _client.ResolveAsync("gateway.networking.k8s.io/v1", "Gateway", cancellation).ConfigureAwait(false);
        await _client.PatchAsync(gateways, OperatorNamespace, GatewayName, KubeObjects.Parse(Fill("""
            {"status":{"addresses":[{"type":"IPAddress","value":"127.0.0.1"}],"conditions":[{"type":"Accepted","status":"True","reason":"Accepted","message":"simulated","lastTransitionTime":"@now@"},{"type":"Programmed","status":"True","reason":"Programmed","message":"simulated Gateway on 127.0.0.1:@port@","lastTransitionTime":"@now@"}]}}
            """, ("@now@", KubeObjects.Timestamp()), ("@port@", GatewayPort))), "status", cancellation).ConfigureAwait(false);
        _loop = Task.Run(() => RunAsync(_stop.Token));
    }

    public void Dispose()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        _stop.Cancel();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The loop ends by cancellation.
        }
        _gateway.Dispose();
        _client.Dispose();
        _stop.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellation)
    {
        var computes = await _client.ResolveAsync(ComputeApiVersion, "Compute", cancellation).ConfigureAwait(false);
        while (!cancellation.IsCancellationRequested)
        {
            try
            {
                await foreach (var e in _client.ObserveAsync(computes, string.Empty, cancellation: cancellation).ConfigureAwait(false))
                {
                    if (e.Type == "DELETED")
                    {
                        _running.TryRemove(Key(e.Object), out _);
                        _tensors.Forget(Key(e.Object));
                        continue;
                    }
                    if (e.Type is KubeClient.Synced or KubeClient.Error)
                    {
                        continue;
                    }
                    _ = ReconcileSoon(KubeObjects.Namespace(e.Object)!, KubeObjects.Name(e.Object), TimeSpan.Zero, cancellation);
                }
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (!cancellation.IsCancellationRequested)
            {
                // Whatever broke the watch, a controller starts it again.
                _errors.Enqueue($"{DateTime.UtcNow:O} watch: {ex.Message}");
                await Task.Delay(200, cancellation).ConfigureAwait(false);
            }
        }
    }

    private async Task StartPodLater(string key, string @namespace, string name)
    {
        try
        {
            await Task.Delay(StartupDelay, _stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        if (_running.TryUpdate(key, true, false))
        {
            await ReconcileSoon(@namespace, name, TimeSpan.Zero, _stop.Token).ConfigureAwait(false);
        }
    }

    private async Task ReconcileSoon(string @namespace, string name, TimeSpan delay, CancellationToken cancellation, int attempt = 0)
    {
        try
        {
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, cancellation).ConfigureAwait(false);
            }
            await _reconcile.WaitAsync(cancellation).ConfigureAwait(false);
            try
            {
                await ReconcileAsync(@namespace, name, cancellation).ConfigureAwait(false);
            }
            finally
            {
                _reconcile.Release();
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // The simulator is stopping.
        }
        catch (Exception ex)
        {
            // Usually a race with a deletion or an API restart. Kept for diagnostics, and requeued below.
            _errors.Enqueue($"{DateTime.UtcNow:O} reconcile {@namespace}/{name}: {ex.Message}");
            while (_errors.Count > 100)
            {
                _errors.TryDequeue(out _);
            }
            if (attempt < 20 && !cancellation.IsCancellationRequested)
            {
                // Requeue with backoff, as controller-runtime does after a failed reconcile.
                _ = ReconcileSoon(@namespace, name, TimeSpan.FromMilliseconds(Math.Min(2000, 100 * (attempt + 1))), cancellation, attempt + 1);
            }
        }
    }

    private async Task ReconcileAsync(string @namespace, string name, CancellationToken cancellation)
    {
        var computes = await _client.ResolveAsync(ComputeApiVersion, "Compute", cancellation).ConfigureAwait(false);
        var compute = await _client.GetAsync(computes, @namespace, name, cancellation).ConfigureAwait(false);
        if (compute is null || KubeObjects.IsDeleting(compute))
        {
            return;
        }
        var behaviour = (string?)compute["metadata"]?["annotations"]?[BehaviourAnnotation] ?? string.Empty;
        if (behaviour.Equals("HoldFinalizer", StringComparison.OrdinalIgnoreCase) && !KubeObjects.Finalizers(compute).Contains(HoldFinalizer))
        {
            var finalizers = new JsonArray(KubeObjects.Finalizers(compute).Append(HoldFinalizer).Select(f => (JsonNode?)JsonValue.Create(f)).ToArray());
            compute = await _client.PatchAsync(computes, @namespace, name, new JsonObject { ["metadata"] = new JsonObject { ["finalizers"] = finalizers } }, cancellation: cancellation).ConfigureAwait(false);
        }
        var spec = compute["spec"] as JsonObject ?? new JsonObject();
        var suspended = (bool?)spec["suspend"] == true;
        var labels = new JsonObject
        {
            ["app.kubernetes.io/name"] = "skytorch-server",
            ["app.kubernetes.io/instance"] = name,
            ["app.kubernetes.io/component"] = "compute",
            ["app.kubernetes.io/managed-by"] = "skytorch-operator",
            ["app.kubernetes.io/part-of"] = "skytorch",
        };
        foreach (var (labelKey, labelValue) in KubeObjects.StringMap(spec["labels"]))
        {
            labels[labelKey] = labelValue;
        }
        var owner = OwnerReference(ComputeApiVersion, "Compute", name, KubeObjects.Uid(compute)!);
        var service = await Apply(new JsonObject
        {
            ["apiVersion"] = "v1", ["kind"] = "Service", ["metadata"] = Metadata(name, @namespace, labels, owner),
            ["spec"] = new JsonObject
            {
                ["type"] = "ClusterIP",
                ["selector"] = new JsonObject { ["app.kubernetes.io/name"] = "skytorch-server", ["app.kubernetes.io/instance"] = name },
                ["ports"] = new JsonArray(new JsonObject { ["name"] = "grpc", ["port"] = 50051, ["targetPort"] = "grpc", ["protocol"] = "TCP", ["appProtocol"] = "kubernetes.io/h2c" }),
            },
        }, cancellation).ConfigureAwait(false);
        _ = service;
        await Apply(new JsonObject
        {
            ["apiVersion"] = "gateway.networking.k8s.io/v1", ["kind"] = "GRPCRoute", ["metadata"] = Metadata(name, @namespace, labels, owner),
            ["spec"] = new JsonObject
            {
                ["parentRefs"] = new JsonArray(new JsonObject { ["name"] = GatewayName, ["namespace"] = OperatorNamespace }),
                ["rules"] = new JsonArray(new JsonObject
                {
                    ["matches"] = new JsonArray(new JsonObject { ["headers"] = new JsonArray(new JsonObject { ["type"] = "Exact", ["name"] = "compute-id", ["value"] = $"{@namespace}/{name}" }) }),
                    ["backendRefs"] = new JsonArray(new JsonObject { ["name"] = name, ["port"] = 50051 }),
                }),
            },
        }, cancellation).ConfigureAwait(false);
        var image = (string?)spec["image"] ?? "skytorch-server:latest";
        var statefulSet = await Apply(new JsonObject
        {
            ["apiVersion"] = "apps/v1", ["kind"] = "StatefulSet", ["metadata"] = Metadata(name, @namespace, labels, owner),
            ["spec"] = new JsonObject
            {
                ["replicas"] = suspended ? 0 : 1,
                ["podManagementPolicy"] = "Parallel",
                ["serviceName"] = name,
                ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app.kubernetes.io/name"] = "skytorch-server", ["app.kubernetes.io/instance"] = name } },
                ["template"] = new JsonObject { ["metadata"] = new JsonObject { ["labels"] = labels.DeepClone() }, ["spec"] = PodSpec(image, spec) },
            },
        }, cancellation).ConfigureAwait(false);
        foreach (var template in (spec["volumeClaimTemplates"] as JsonArray ?? new JsonArray()).OfType<JsonObject>())
        {
            var claim = new JsonObject
            {
                ["apiVersion"] = "v1", ["kind"] = "PersistentVolumeClaim",
                ["metadata"] = new JsonObject { ["name"] = (string?)template["metadata"]?["name"], ["namespace"] = @namespace, ["labels"] = labels.DeepClone() },
                ["spec"] = template["spec"]?.DeepClone() ?? new JsonObject(),
                ["status"] = new JsonObject { ["phase"] = "Bound" },
            };
            await Apply(claim, cancellation).ConfigureAwait(false);
        }

        var pods = await _client.ResolveAsync("v1", "Pod", cancellation).ConfigureAwait(false);
        var podName = name + "-0";
        var pod = await _client.GetAsync(pods, @namespace, podName, cancellation).ConfigureAwait(false);
        var key = Key(compute);
        var conditions = new List<JsonObject>();
        var previous = compute["status"]?["conditions"] as JsonArray;
        var addresses = new JsonArray();
        if (suspended)
        {
            if (pod is not null)
            {
                await _client.DeleteAsync(pods, @namespace, podName, cancellation: cancellation).ConfigureAwait(false);
                await Event(@namespace, podName, KubeObjects.Uid(pod), "Killing", "Stopping container server", "Normal", cancellation).ConfigureAwait(false);
            }
            _running.TryRemove(key, out _);
            _tensors.Forget(key); // the server's process is gone, and its tensors with it
            conditions.Add(Condition(previous, "Ready", "False", "StatefulSetNotReady", "StatefulSet has 0/0 ready replicas"));
            conditions.Add(Condition(previous, "Suspended", "True", "Suspended", "Compute is suspended"));
        }
        else
        {
            var stsOwner = OwnerReference("apps/v1", "StatefulSet", name, KubeObjects.Uid(statefulSet)!);
            if (pod is null)
            {
                pod = await _client.CreateAsync(new JsonObject
                {
                    ["apiVersion"] = "v1", ["kind"] = "Pod", ["metadata"] = Metadata(podName, @namespace, labels, stsOwner),
                    ["spec"] = PodSpec(image, spec),
                    ["status"] = new JsonObject { ["phase"] = "Pending", ["conditions"] = new JsonArray(new JsonObject { ["type"] = "PodScheduled", ["status"] = "True" }) },
                }, cancellation).ConfigureAwait(false);
                // The start is scheduled before anything else can fail, or a failed reconcile would leave the pod never started.
                _running[key] = false;
                _ = StartPodLater(key, @namespace, name);
                await Event(@namespace, podName, KubeObjects.Uid(pod), "Scheduled", $"Successfully assigned {@namespace}/{podName} to e2e-local-node", "Normal", cancellation).ConfigureAwait(false);
                await Event(@namespace, podName, KubeObjects.Uid(pod), "Pulling", $"Pulling image \"{image}\"", "Normal", cancellation).ConfigureAwait(false);
            }
            else if (_running.TryAdd(key, false))
            {
                // A pod this simulator did not start (an earlier reconcile failed after creating it): start it now.
                _ = StartPodLater(key, @namespace, name);
            }
            var started = _running.TryGetValue(key, out var running) && running;
            var ready = started && await RunPodAsync(pods, pod, image, behaviour, cancellation).ConfigureAwait(false);
            var statefulSets = await _client.ResolveAsync("apps/v1", "StatefulSet", cancellation).ConfigureAwait(false);
            await _client.PatchAsync(statefulSets, @namespace, name, KubeObjects.Parse(Fill("""{"status":{"replicas":1,"readyReplicas":@ready@,"availableReplicas":@ready@}}""", ("@ready@", (ready ? 1 : 0)))), "status", cancellation).ConfigureAwait(false);
            if (ready)
            {
                var routes = await _client.ResolveAsync("gateway.networking.k8s.io/v1", "GRPCRoute", cancellation).ConfigureAwait(false);
                await _client.PatchAsync(routes, @namespace, name, new JsonObject
                {
                    ["status"] = new JsonObject
                    {
                        ["parents"] = new JsonArray(new JsonObject
                        {
                            ["parentRef"] = new JsonObject { ["name"] = GatewayName, ["namespace"] = OperatorNamespace },
                            ["controllerName"] = "projectcontour.io/gateway-controller",
                            ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Accepted", ["status"] = "True", ["reason"] = "Accepted", ["message"] = "Accepted GRPCRoute" }),
                        }),
                    },
                }, "status", cancellation).ConfigureAwait(false);
                conditions.Add(Condition(previous, "Ready", "True", "AllComponentsReady", "Pods (1/1 replicas), GRPCRoute, and Gateway are ready"));
                addresses.Add(new JsonObject { ["type"] = "IPAddress", ["value"] = "127.0.0.1" });
            }
            else
            {
                conditions.Add(Condition(previous, "Ready", "False", "StatefulSetNotReady", "StatefulSet has 0/1 ready replicas"));
            }
            if (previous?.OfType<JsonObject>().Any(c => (string?)c["type"] == "Suspended") == true)
            {
                conditions.Add(Condition(previous, "Suspended", "False", "Resumed", "Compute is resumed"));
            }
        }
        var status = new JsonObject { ["conditions"] = new JsonArray(conditions.Select(c => (JsonNode)c).ToArray()) };
        if (addresses.Count > 0)
        {
            status["addresses"] = addresses;
        }
        else
        {
            status["addresses"] = null;
        }
        await _client.PatchAsync(computes, @namespace, name, new JsonObject { ["status"] = status }, "status", cancellation).ConfigureAwait(false);
    }

    /// <summary>Brings the pod to its running state for the behaviour; true when it is ready.</summary>
    private async Task<bool> RunPodAsync(ApiResource pods, JsonObject pod, string image, string behaviour, CancellationToken cancellation)
    {
        var ns = KubeObjects.Namespace(pod)!;
        var name = KubeObjects.Name(pod);
        var uid = KubeObjects.Uid(pod);
        var firstRun = (string?)pod["status"]?["phase"] == "Pending" && pod["status"]?["containerStatuses"] is null;
        JsonObject containerStatus;
        var ready = false;
        var phase = "Running";
        switch (behaviour.ToLowerInvariant())
        {
            case "crashloop":
                containerStatus = KubeObjects.Parse(Fill("""{"name":"server","image":"@image@","ready":false,"restartCount":3,"started":false,"state":{"waiting":{"reason":"CrashLoopBackOff","message":"back-off 40s restarting failed container=server pod=@name@"}},"lastState":{"terminated":{"exitCode":1,"reason":"Error"}}}""", ("@image@", image), ("@name@", name)));
                if (firstRun)
                {
                    _server.SetPodLog(ns, name, "server", "Starting SkyTorch server on [::]:50051\n", previous: false);
                    _server.SetPodLog(ns, name, "server", "Starting SkyTorch server on [::]:50051\nTraceback (most recent call last):\n  File \"/app/skytorch/server/__main__.py\", line 12, in <module>\nImportError: libcuda.so.1: cannot open shared object file: No such file or directory\n", previous: true);
                    await Event(ns, name, uid, "BackOff", "Back-off restarting failed container server in pod " + name, "Warning", cancellation).ConfigureAwait(false);
                }
                break;
            case "imagepullerror":
                phase = "Pending";
                containerStatus = KubeObjects.Parse(Fill("""{"name":"server","image":"@image@","ready":false,"restartCount":0,"started":false,"state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image \"@image@\""}}}""", ("@image@", image)));
                if (firstRun)
                {
                    await Event(ns, name, uid, "Failed", $"Failed to pull image \"{image}\": rpc error: code = NotFound desc = failed to pull and unpack image: not found", "Warning", cancellation).ConfigureAwait(false);
                }
                break;
            case "neverready":
                containerStatus = KubeObjects.Parse(Fill("""{"name":"server","image":"@image@","ready":false,"restartCount":0,"started":true,"state":{"running":{"startedAt":"@now@"}}}""", ("@now@", KubeObjects.Timestamp()), ("@image@", image)));
                if (firstRun)
                {
                    _server.SetPodLog(ns, name, "server", "Starting SkyTorch server on [::]:50051\nHealth: skytorch.torch.Service NOT_SERVING (device initialisation pending)\n");
                    await Event(ns, name, uid, "Unhealthy", "Readiness probe failed: service unhealthy (responded with \"NOT_SERVING\")", "Warning", cancellation).ConfigureAwait(false);
                }
                break;
            default:
                ready = true;
                containerStatus = KubeObjects.Parse(Fill("""{"name":"server","image":"@image@","ready":true,"restartCount":0,"started":true,"state":{"running":{"startedAt":"@now@"}}}""", ("@now@", KubeObjects.Timestamp()), ("@image@", image)));
                if (firstRun)
                {
                    _server.SetPodLog(ns, name, "server", "Starting SkyTorch server on [::]:50051\nServing skytorch.torch.Service, skytorch.metrics.v1.Metrics, grpc.health.v1.Health\n");
                    await Event(ns, name, uid, "Pulled", $"Successfully pulled image \"{image}\"", "Normal", cancellation).ConfigureAwait(false);
                    await Event(ns, name, uid, "Created", "Created container: server", "Normal", cancellation).ConfigureAwait(false);
                    await Event(ns, name, uid, "Started", "Started container server", "Normal", cancellation).ConfigureAwait(false);
                }
                break;
        }
        if (firstRun)
        {
            var status = new JsonObject
            {
                ["phase"] = phase,
                ["podIP"] = "127.0.0.1",
                ["conditions"] = new JsonArray(
                    new JsonObject { ["type"] = "PodScheduled", ["status"] = "True" },
                    new JsonObject { ["type"] = "Ready", ["status"] = ready ? "True" : "False", ["reason"] = ready ? null : "ContainersNotReady" }),
                ["containerStatuses"] = new JsonArray(containerStatus),
            };
            await _client.PatchAsync(pods, ns, name, new JsonObject { ["status"] = status }, "status", cancellation).ConfigureAwait(false);
        }
        return ready;
    }

    /// <summary>The Gateway: routes by compute-id to a Ready Compute and answers the health service as the SkyTorch server does.</summary>
    private GrpcReply Route(GrpcRequest request)
    {
        var id = request.Headers.GetValueOrDefault("compute-id") ?? string.Empty;
        var slash = id.IndexOf('/');
        var compute = slash > 0 ? _server.Find(ComputeApiVersion, "Compute", id[..slash], id[(slash + 1)..]) : null;
        if (compute is null || KubeObjects.IsDeleting(compute))
        {
            return GrpcReply.Fail(12, $"no GRPCRoute matches compute-id \"{id}\"");
        }
        if ((string?)KubeObjects.Condition(compute, "Ready")?["status"] != "True")
        {
            return GrpcReply.Fail(14, "no healthy upstream");
        }
        if (SimulatedTensorService.Serves(request.Path))
        {
            return _tensors.Handle(id, request);
        }
        if (request.Path != "/grpc.health.v1.Health/Check")
        {
            return GrpcReply.Fail(12, $"the simulated SkyTorch server implements skytorch.torch.Service and grpc.health.v1.Health/Check, not {request.Path}");
        }
        var service = global::Grpc.Health.V1.HealthCheckRequest.Parser.ParseFrom(request.Message).Service;
        return service is "" or "skytorch.torch.Service" or "skytorch.metrics.v1.Metrics"
            ? GrpcReply.Ok(Google.Protobuf.MessageExtensions.ToByteArray(new global::Grpc.Health.V1.HealthCheckResponse { Status = global::Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving }))
            : GrpcReply.Fail(5, $"unknown service {service}");
    }

    private async Task<JsonObject> Apply(JsonObject o, CancellationToken cancellation) =>
        await _client.ApplyAsync(o, FieldManager, cancellation: cancellation).ConfigureAwait(false);

    private async Task Event(string @namespace, string pod, string? uid, string reason, string message, string type, CancellationToken cancellation)
    {
        var now = KubeObjects.Timestamp();
        var number = Interlocked.Increment(ref _eventCounter);
        await _client.CreateAsync(new JsonObject
        {
            ["apiVersion"] = "v1", ["kind"] = "Event",
            ["metadata"] = new JsonObject { ["name"] = $"{pod}.{number:x8}", ["namespace"] = @namespace },
            ["involvedObject"] = new JsonObject { ["kind"] = "Pod", ["name"] = pod, ["namespace"] = @namespace, ["uid"] = uid, ["apiVersion"] = "v1" },
            ["reason"] = reason, ["message"] = message, ["type"] = type, ["count"] = 1,
            ["firstTimestamp"] = now, ["lastTimestamp"] = now,
            ["source"] = new JsonObject { ["component"] = reason is "Scheduled" ? "default-scheduler" : "kubelet", ["host"] = "e2e-local-node" },
        }, cancellation).ConfigureAwait(false);
    }

    private static JsonObject PodSpec(string image, JsonObject spec)
    {
        var container = new JsonObject
        {
            ["name"] = "server",
            ["image"] = image,
            ["ports"] = new JsonArray(new JsonObject { ["name"] = "grpc", ["containerPort"] = 50051 }),
            ["env"] = new JsonArray(
                new JsonObject { ["name"] = "SKYTORCH_PORT", ["value"] = "50051" },
                new JsonObject { ["name"] = "SKYTORCH_HOST", ["value"] = "[::]" },
                new JsonObject { ["name"] = "SKYTORCH_LOG_LEVEL", ["value"] = "INFO" }),
            ["readinessProbe"] = new JsonObject { ["grpc"] = new JsonObject { ["port"] = 50051, ["service"] = "skytorch.torch.Service" }, ["initialDelaySeconds"] = 2, ["periodSeconds"] = 2, ["timeoutSeconds"] = 5, ["failureThreshold"] = 3 },
        };
        foreach (var env in (spec["env"] as JsonArray ?? new JsonArray()).OfType<JsonObject>())
        {
            ((JsonArray)container["env"]!).Add(new JsonObject { ["name"] = env["name"]?.DeepClone(), ["value"] = env["value"]?.DeepClone() });
        }
        foreach (var field in new[] { "command", "args" })
        {
            if (spec[field] is JsonArray values)
            {
                container[field] = values.DeepClone();
            }
        }
        if (spec["resources"] is JsonObject resources)
        {
            container["resources"] = new JsonObject { ["requests"] = resources.DeepClone(), ["limits"] = resources.DeepClone() };
        }
        return new JsonObject { ["containers"] = new JsonArray(container) };
    }

    private static JsonObject Metadata(string name, string @namespace, JsonObject labels, JsonObject owner) => new()
    {
        ["name"] = name,
        ["namespace"] = @namespace,
        ["labels"] = labels.DeepClone(),
        ["ownerReferences"] = new JsonArray(owner.DeepClone()),
    };

    private static JsonObject OwnerReference(string apiVersion, string kind, string name, string uid) => new()
    {
        ["apiVersion"] = apiVersion, ["kind"] = kind, ["name"] = name, ["uid"] = uid, ["controller"] = true, ["blockOwnerDeletion"] = true,
    };

    /// <summary>A condition that keeps its lastTransitionTime while its status does not change, so a repeated reconcile writes nothing.</summary>
    private static JsonObject Condition(JsonArray? previous, string type, string status, string reason, string message)
    {
        var before = previous?.OfType<JsonObject>().FirstOrDefault(c => (string?)c["type"] == type);
        var since = before is not null && (string?)before["status"] == status ? (string?)before["lastTransitionTime"] : KubeObjects.Timestamp();
        return new JsonObject { ["type"] = type, ["status"] = status, ["reason"] = reason, ["message"] = message, ["lastTransitionTime"] = since, ["observedGeneration"] = 1L };
    }

    private static IEnumerable<JsonObject> GatewayApiCrds() =>
        new[] { ("Gateway", "gateways", "Namespaced"), ("GRPCRoute", "grpcroutes", "Namespaced"), ("GatewayClass", "gatewayclasses", "Cluster") }.Select(k => KubeObjects.Parse(Fill("""
            {"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"@plural@.gateway.networking.k8s.io"},
             "spec":{"group":"gateway.networking.k8s.io","scope":"@scope@","names":{"kind":"@kind@","plural":"@plural@","singular":"@singular@","listKind":"@kind@List"},
              "versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},"schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}
            """, ("@singular@", k.Item1.ToLowerInvariant()), ("@kind@", k.Item1), ("@plural@", k.Item2), ("@scope@", k.Item3))));

    /// <summary>A JSON template with @token@ placeholders filled in (JSON braces rule out interpolated strings here).</summary>
    private static string Fill(string template, params (string Token, object Value)[] values)
    {
        foreach (var (token, value) in values)
        {
            template = template.Replace(token, Convert.ToString(value, CultureInfo.InvariantCulture), StringComparison.Ordinal);
        }
        return template;
    }

    private static string Key(JsonObject o) => $"{KubeObjects.Namespace(o)}/{KubeObjects.Name(o)}";

}
