using E2E.Core.Errors;
using E2E.Core.Grpc;
using Google.Protobuf;
using Grpc.Core;
using Skytorch.Torch;

namespace E2E.Core.Kubernetes.SkyTorch;

/// <summary>A tensor held by a Compute's server: its id there, its shape and type (null shape when an operation the client does not know made it), and where it lives.</summary>
public sealed class E2ETensor
{
    internal E2ETensor(ulong id, long[]? shape, TensorDType dtype, ComputeEndpoint endpoint, string cluster)
    {
        Id = id;
        Shape = shape;
        DType = dtype;
        Endpoint = endpoint;
        Cluster = cluster;
    }

    public ulong Id { get; }

    public long[]? Shape { get; }

    public TensorDType DType { get; }

    /// <summary>The Compute, as namespace/name (the compute-id the Gateway routes by).</summary>
    public string Compute => Endpoint.Metadata["compute-id"];

    public string Cluster { get; }

    public ComputeEndpoint Endpoint { get; }

    /// <summary>Removed from the Compute (Remove-E2ETensor, or its scope's end).</summary>
    public bool Removed { get; internal set; }

    public override string ToString() => $"tensor {Id} {HostTensor.TorchName(DType)}[{(Shape is null ? "?" : string.Join(", ", Shape))}] on {Compute}";
}

/// <summary>
/// skytorch.torch.Service through the Compute's Gateway, as upstream's Python client uses it: the Gateway address and
/// port, the compute-id header, tensor ids chosen by the client, tensors sent as 1 MB chunks of their contiguous
/// little-endian bytes (UpdateTensor, with the metadata that lets the server create them), read back the same way
/// (GetTensor), operations run with their outputs written to ids the client chose (ExecuteAtenOperation, or
/// StreamOperations for many), and freed with DeleteTensors. Statuses and failures map to the module's error ids.
/// </summary>
public static class TensorClient
{
    public const int ChunkSize = 1024 * 1024;

    // Client ids stay below 2^32, as upstream's do (its server numbers its own tensors above that).
    private static long _nextId = Random.Shared.NextInt64(1, 1L << 31);

    private static ulong NewId() => (ulong)(Interlocked.Increment(ref _nextId) & 0xFFFFFFFF);

    /// <summary>Sends <paramref name="tensor"/> to the Compute; <paramref name="planned"/> gets the tensor before anything is sent, so that its removal can be registered first.</summary>
    public static async Task<E2ETensor> SendAsync(ComputeEndpoint endpoint, string cluster, HostTensor tensor, string device, TimeSpan timeout, CancellationToken cancellation, Action<E2ETensor>? planned = null)
    {
        var id = NewId();
        var sent = new E2ETensor(id, tensor.Shape, tensor.DType, endpoint, cluster);
        planned?.Invoke(sent);
        var bytes = tensor.ToBytes();
        var metadata = new TensorMetadata { TensorId = id, Dtype = tensor.TorchDType, Nbytes = bytes.Length, DeviceType = device };
        metadata.Shape.AddRange(tensor.Shape);
        metadata.Stride.AddRange(HostTensor.Strides(tensor.Shape));
        await CallAsync(endpoint, "UpdateTensor", timeout, cancellation, async (client, headers, deadline) =>
        {
            using var call = client.UpdateTensor(headers, deadline, cancellation);
            var total = Math.Max(1, (bytes.Length + ChunkSize - 1) / ChunkSize);
            for (var number = 0; number < total; number++)
            {
                var chunk = new TensorChunk
                {
                    TensorId = id, ChunkNumber = (uint)number, TotalChunks = (uint)total,
                    Data = UnsafeByteOperations.UnsafeWrap(bytes.AsMemory(number * ChunkSize, Math.Min(ChunkSize, bytes.Length - (number * ChunkSize)))),
                };
                if (number == 0)
                {
                    chunk.TotalBytes = (ulong)bytes.Length;
                    chunk.Shape.AddRange(tensor.Shape);
                    chunk.Stride.AddRange(HostTensor.Strides(tensor.Shape));
                    chunk.Dtype = tensor.TorchDType;
                    chunk.Metadata = metadata;
                }
                await call.RequestStream.WriteAsync(chunk, cancellation).ConfigureAwait(false);
            }
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            var response = await call.ResponseAsync.ConfigureAwait(false);
            if (!response.Success)
            {
                throw Refused(endpoint, "UpdateTensor", response.Message, id);
            }
        }).ConfigureAwait(false);
        return sent;
    }

    public static async Task<HostTensor> ReceiveAsync(E2ETensor tensor, TimeSpan timeout, CancellationToken cancellation)
    {
        HostTensor? received = null;
        await CallAsync(tensor.Endpoint, "GetTensor", timeout, cancellation, async (client, headers, deadline) =>
        {
            using var call = client.GetTensor(new GetTensorRequest { TensorId = tensor.Id }, headers, deadline, cancellation);
            byte[]? buffer = null;
            TensorChunk? first = null;
            var chunkSize = 0;
            await foreach (var chunk in call.ResponseStream.ReadAllAsync(cancellation).ConfigureAwait(false))
            {
                if (first is null)
                {
                    first = chunk;
                    buffer = new byte[checked((long)chunk.TotalBytes)];
                    chunkSize = chunk.Data.Length;
                }
                chunk.Data.Span.CopyTo(buffer.AsSpan(checked((int)chunk.ChunkNumber * chunkSize)));
            }
            if (first is null)
            {
                throw new E2EException(ErrorCatalog.GrpcCallFailed, $"GetTensor of tensor {tensor.Id} at {tensor.Endpoint} returned no chunk.", tensor.Id);
            }
            received = HostTensor.FromBytes(first.Shape, HostTensor.ParseTorchName(first.Dtype), buffer);
        }, tensor.Id).ConfigureAwait(false);
        return received!;
    }

    /// <summary>
    /// Runs <paramref name="operation"/> on the Compute, its output written to a new id of this client's. The result's
    /// shape is inferred here for the operations <see cref="AtenKernels"/> knows (checked before the call); for others
    /// it is learned when the tensor is received.
    /// </summary>
    public static async Task<E2ETensor> ExecuteAsync(ComputeEndpoint endpoint, string cluster, string operation, IReadOnlyList<object> arguments, TimeSpan timeout, CancellationToken cancellation, Action<E2ETensor>? planned = null)
    {
        var (request, result) = Request(endpoint, operation, arguments);
        var output = Output(request, result, arguments, endpoint, cluster);
        planned?.Invoke(output);
        await CallAsync(endpoint, "ExecuteAtenOperation", timeout, cancellation, async (client, headers, deadline) =>
        {
            var response = await client.ExecuteAtenOperationAsync(request, headers, deadline, cancellation).ConfigureAwait(false);
            if (!response.Success)
            {
                throw Refused(endpoint, request.OpName, response.Message, request.Outputs[0].TensorId);
            }
        }).ConfigureAwait(false);
        return output;
    }

    private static E2ETensor Output(ExecuteAtenRequest request, (long[] Shape, TensorDType DType)? result, IReadOnlyList<object> arguments, ComputeEndpoint endpoint, string cluster) =>
        new(request.Outputs[0].TensorId, result?.Shape, result?.DType ?? arguments.OfType<E2ETensor>().FirstOrDefault()?.DType ?? TensorDType.Float32, endpoint, cluster);

    /// <summary>Several operations on one Compute through one StreamOperations call, answered in order; the first failure is thrown after all were answered.</summary>
    public static async Task<IReadOnlyList<E2ETensor>> ExecuteManyAsync(ComputeEndpoint endpoint, string cluster, IReadOnlyList<(string Operation, IReadOnlyList<object> Arguments)> operations, TimeSpan timeout, CancellationToken cancellation, Action<E2ETensor>? planned = null)
    {
        var requests = operations.Select(o => Request(endpoint, o.Operation, o.Arguments)).ToList();
        var outputs = requests.Select((r, i) => Output(r.Request, r.Result, operations[i].Arguments, endpoint, cluster)).ToList();
        outputs.ForEach(o => planned?.Invoke(o));
        await CallAsync(endpoint, "StreamOperations", timeout, cancellation, async (client, headers, deadline) =>
        {
            using var call = client.StreamOperations(headers, deadline, cancellation);
            foreach (var (request, _) in requests)
            {
                await call.RequestStream.WriteAsync(new StreamRequest { ExecuteAten = request }, cancellation).ConfigureAwait(false);
            }
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
            E2EException? failure = null;
            var index = 0;
            await foreach (var response in call.ResponseStream.ReadAllAsync(cancellation).ConfigureAwait(false))
            {
                var request = requests[index++].Request;
                if (!response.Success)
                {
                    failure ??= Refused(endpoint, request.OpName, response.ErrorMessage, request.Outputs[0].TensorId);
                }
            }
            if (failure is not null)
            {
                throw failure;
            }
            if (index != requests.Count)
            {
                throw new E2EException(ErrorCatalog.GrpcCallFailed, $"StreamOperations at {endpoint} answered {index} of {requests.Count} operations.", endpoint.ToString());
            }
        }).ConfigureAwait(false);
        return outputs;
    }

    /// <summary>Frees <paramref name="tensors"/> (all of one Compute) with one DeleteTensors call and marks them removed; the server's count of what it deleted.</summary>
    public static async Task<int> RemoveAsync(IReadOnlyList<E2ETensor> tensors, TimeSpan timeout, CancellationToken cancellation)
    {
        if (tensors.Count == 0)
        {
            return 0;
        }
        var endpoint = tensors[0].Endpoint;
        if (tensors.Any(t => t.Compute != tensors[0].Compute))
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, "RemoveAsync takes the tensors of one Compute.", tensors[0].Compute);
        }
        var request = new DeleteTensorsRequest();
        request.TensorIds.AddRange(tensors.Select(t => t.Id));
        var removed = 0;
        await CallAsync(endpoint, "DeleteTensors", timeout, cancellation, async (client, headers, deadline) =>
        {
            var response = await client.DeleteTensorsAsync(request, headers, deadline, cancellation).ConfigureAwait(false);
            // "Deleted N tensors", as upstream's server says it.
            removed = int.TryParse(response.Message.Split(' ').ElementAtOrDefault(1), out var count) ? count : tensors.Count;
        }).ConfigureAwait(false);
        foreach (var tensor in tensors)
        {
            tensor.Removed = true;
        }
        return removed;
    }

    /// <summary>The request, and what the operation gives where this client knows it (shapes checked as the server would).</summary>
    private static (ExecuteAtenRequest Request, (long[] Shape, TensorDType DType)? Result) Request(ComputeEndpoint endpoint, string operation, IReadOnlyList<object> arguments)
    {
        var request = new ExecuteAtenRequest { OpName = AtenKernels.Normalize(operation) };
        var meta = new List<AtenValue>();
        foreach (var argument in arguments)
        {
            switch (argument)
            {
                case E2ETensor tensor:
                    if (tensor.Compute != endpoint.Metadata["compute-id"])
                    {
                        throw new E2EException(ErrorCatalog.InvalidArgument, $"{tensor} is on another Compute than {endpoint.Metadata["compute-id"]}: an operation takes tensors of one Compute.", tensor.Id);
                    }
                    request.Args.Add(new AtenArgument { Tensor = new TensorReference { TensorId = tensor.Id } });
                    meta.Add(tensor.Shape is null ? new AtenValue.Meta(Array.Empty<long>(), tensor.DType) : new AtenValue.Meta(tensor.Shape, tensor.DType));
                    break;
                case AtenValue.Number number:
                    request.Args.Add(number.IsInteger ? new AtenArgument { ScalarInt = (long)number.Value } : new AtenArgument { ScalarFloat = number.Value });
                    meta.Add(number);
                    break;
                case AtenValue.IntList list:
                    var values = new AtenArgumentList();
                    values.Values.AddRange(list.Values.Select(v => new AtenArgument { ScalarInt = v }));
                    request.Args.Add(new AtenArgument { ListValue = values });
                    meta.Add(list);
                    break;
                case AtenValue.Flag flag:
                    request.Args.Add(new AtenArgument { ScalarBool = flag.Value });
                    meta.Add(flag);
                    break;
                default:
                    throw new E2EException(ErrorCatalog.InvalidArgument, $"An operation's argument is a tensor, a number, a list of integers or a flag, not {argument.GetType().Name}.", argument);
            }
        }
        var unknownShape = arguments.OfType<E2ETensor>().Any(t => t.Shape is null);
        var result = unknownShape ? null : AtenKernels.Infer(request.OpName, meta);
        request.Outputs.Add(new TensorReference { TensorId = NewId() });
        return (request, result);
    }

    /// <summary>A failure the server reported in its answer (success=false), as upstream's server words them.</summary>
    private static E2EException Refused(ComputeEndpoint endpoint, string method, string message, ulong id)
    {
        var error = message switch
        {
            _ when message.Contains("does not exist", StringComparison.Ordinal) || message.Contains("not found", StringComparison.Ordinal) => ErrorCatalog.TensorNotFound,
            _ when message.Contains("has no attribute", StringComparison.Ordinal) => ErrorCatalog.UnknownTensorOperation,
            _ when message.Contains("must match the size", StringComparison.Ordinal) || message.Contains("cannot be multiplied", StringComparison.Ordinal) || message.Contains("Dimension out of range", StringComparison.Ordinal) => ErrorCatalog.TensorShapeMismatch,
            _ when message.Contains("dtype", StringComparison.OrdinalIgnoreCase) => ErrorCatalog.TensorDTypeNotSupported,
            _ => ErrorCatalog.TensorOperationFailed,
        };
        return new E2EException(error, $"{method} on {endpoint.Metadata["compute-id"]} failed: {message}", id);
    }

    private static async Task CallAsync(ComputeEndpoint endpoint, string method, TimeSpan timeout, CancellationToken cancellation,
        Func<global::Skytorch.Torch.Service.ServiceClient, Metadata, DateTime, Task> call, ulong? tensorId = null)
    {
        using var channel = GrpcTransport.Channel(endpoint.Url);
        var headers = new Metadata();
        foreach (var (name, value) in endpoint.Metadata)
        {
            headers.Add(name, value);
        }
        try
        {
            await call(new global::Skytorch.Torch.Service.ServiceClient(channel), headers, DateTime.UtcNow + timeout).ConfigureAwait(false);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cancellation.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellation);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound && tensorId is not null)
        {
            throw new E2EException(ErrorCatalog.TensorNotFound, $"{endpoint.Metadata["compute-id"]} holds no tensor {tensorId} ({ex.Status.Detail}): it was removed, or the Compute's server restarted (a suspend frees every tensor).", tensorId, ex);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable && ex.Status.DebugException is null)
        {
            throw new E2EException(ErrorCatalog.ComputeUnavailable, $"skytorch.torch.Service/{method} on {endpoint.Metadata["compute-id"]}: UNAVAILABLE: {ex.Status.Detail} (is the Compute Ready?).", endpoint.ToString(), ex);
        }
        catch (RpcException ex)
        {
            throw GrpcHealthClient.Failure(ex, $"skytorch.torch.Service/{method}", endpoint.Url, timeout);
        }
    }
}
