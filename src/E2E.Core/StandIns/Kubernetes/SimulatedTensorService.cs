using System.Collections.Concurrent;
using Google.Protobuf;
using E2E.Core.Errors;
using E2E.Core.Kubernetes.SkyTorch;
using E2E.Core.StandIns.Grpc;
using Skytorch.Torch;

namespace E2E.Core.StandIns.Kubernetes;

/// <summary>
/// The local cluster's SkyTorch server: skytorch.torch.Service on CPU, one tensor store per Compute. It does what
/// upstream's TensorServicer (skytorch/torch/server/service.py) does with the tensors and operations of
/// <see cref="AtenKernels"/>: UpdateTensor assembles chunks (the first carries shape, dtype and total bytes) into
/// the id the client chose; GetTensor streams 1 MB chunks or answers NOT_FOUND; DeleteTensors and CopyTensor;
/// ExecuteAtenOperation writes the result to the output id the client chose or to an id of its own, and reports a
/// failure as success=false with the error's text, as upstream does; StreamOperations answers each request in turn.
/// A suspended or deleted Compute's tensors are gone, as the real server's memory is.
/// </summary>
public sealed class SimulatedTensorService
{
    /// <summary>Upstream's DEFAULT_CHUNK_SIZE.</summary>
    public const int ChunkSize = 1024 * 1024;
    private const string Prefix = "/skytorch.torch.Service/";
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<ulong, HostTensor>> _computes = new(StringComparer.Ordinal);
    private long _nextId = 1L << 32; // upstream's server-assigned ids start above the clients' range

    public static bool Serves(string path) => path.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>The tensors a Compute holds now.</summary>
    public int TensorCount(string compute) => _computes.TryGetValue(compute, out var tensors) ? tensors.Count : 0;

    /// <summary>The Compute's server went away (suspended, deleted): its tensors with it.</summary>
    public void Forget(string compute) => _computes.TryRemove(compute, out _);

    public GrpcReply Handle(string compute, GrpcRequest request)
    {
        var tensors = _computes.GetOrAdd(compute, _ => new ConcurrentDictionary<ulong, HostTensor>());
        return request.Path[Prefix.Length..] switch
        {
            "UpdateTensor" => GrpcReply.Ok(Update(tensors, request.Messages.Select(TensorChunk.Parser.ParseFrom).ToList()).ToByteArray()),
            "GetTensor" => Get(tensors, GetTensorRequest.Parser.ParseFrom(request.Message).TensorId),
            "DeleteTensors" => GrpcReply.Ok(Delete(tensors, DeleteTensorsRequest.Parser.ParseFrom(request.Message)).ToByteArray()),
            "CopyTensor" => GrpcReply.Ok(Copy(tensors, CopyTensorRequest.Parser.ParseFrom(request.Message)).ToByteArray()),
            "ExecuteAtenOperation" => GrpcReply.Ok(Execute(tensors, ExecuteAtenRequest.Parser.ParseFrom(request.Message)).ToByteArray()),
            "StreamOperations" => GrpcReply.Stream(request.Messages.Select(m => Answer(tensors, StreamRequest.Parser.ParseFrom(m)).ToByteArray()).ToList()),
            var method => GrpcReply.Fail(12, $"Method not found: skytorch.torch.Service/{method}"),
        };
    }

    private static TensorResponse Update(ConcurrentDictionary<ulong, HostTensor> tensors, IReadOnlyList<TensorChunk> chunks)
    {
        if (chunks.Count == 0)
        {
            return new TensorResponse { Success = false, Message = "Error: no chunks" };
        }
        var first = chunks.First(c => c.ChunkNumber == 0);
        try
        {
            var buffer = new byte[checked((long)first.TotalBytes)];
            var size = first.Data.Length;
            foreach (var chunk in chunks)
            {
                chunk.Data.Span.CopyTo(buffer.AsSpan(checked((int)chunk.ChunkNumber * size)));
            }
            tensors[first.TensorId] = HostTensor.FromBytes(first.Shape, HostTensor.ParseTorchName(first.Dtype), buffer);
            return new TensorResponse { Success = true, Message = $"Updated tensor {first.TensorId}" };
        }
        catch (Exception ex) when (ex is E2EException or ArgumentException or OverflowException)
        {
            return new TensorResponse { Success = false, Message = $"Error: {ex.Message}" };
        }
    }

    private static GrpcReply Get(ConcurrentDictionary<ulong, HostTensor> tensors, ulong id) =>
        tensors.TryGetValue(id, out var tensor) ? GrpcReply.Stream(Chunks(id, tensor).Select(c => c.ToByteArray()).ToList())
            : GrpcReply.Fail(5, $"Tensor {id} not found");

    /// <summary>A tensor as upstream's serialize_tensor_to_chunks streams it: 1 MB chunks, the first with shape, stride, dtype and total bytes.</summary>
    private static IEnumerable<TensorChunk> Chunks(ulong id, HostTensor tensor)
    {
        var bytes = tensor.ToBytes();
        var total = Math.Max(1, (bytes.Length + ChunkSize - 1) / ChunkSize);
        for (var number = 0; number < total; number++)
        {
            var chunk = new TensorChunk
            {
                TensorId = id, ChunkNumber = (uint)number, TotalChunks = (uint)total,
                Data = ByteString.CopyFrom(bytes, number * ChunkSize, Math.Min(ChunkSize, bytes.Length - (number * ChunkSize))),
            };
            if (number == 0)
            {
                chunk.TotalBytes = (ulong)bytes.Length;
                chunk.Shape.AddRange(tensor.Shape);
                chunk.Stride.AddRange(HostTensor.Strides(tensor.Shape));
                chunk.Dtype = tensor.TorchDType;
            }
            yield return chunk;
        }
    }

    private static TensorResponse Delete(ConcurrentDictionary<ulong, HostTensor> tensors, DeleteTensorsRequest request)
    {
        var deleted = request.TensorIds.Count(id => tensors.TryRemove(id, out _));
        return new TensorResponse { Success = true, Message = $"Deleted {deleted} tensors" };
    }

    private static TensorResponse Copy(ConcurrentDictionary<ulong, HostTensor> tensors, CopyTensorRequest request)
    {
        if (!tensors.TryGetValue(request.SrcTensorId, out var source))
        {
            return new TensorResponse { Success = false, Message = $"Source tensor {request.SrcTensorId} not found" };
        }
        if (!tensors.TryGetValue(request.DstTensorId, out var target))
        {
            return new TensorResponse { Success = false, Message = $"Destination tensor {request.DstTensorId} not found" };
        }
        if (!source.Shape.SequenceEqual(target.Shape))
        {
            return new TensorResponse { Success = false, Message = $"The size of tensor a ({target.Count}) must match the size of tensor b ({source.Count})" };
        }
        tensors[request.DstTensorId] = new HostTensor(target.Shape, target.DType, source.Values);
        return new TensorResponse { Success = true };
    }

    private ExecuteAtenResponse Execute(ConcurrentDictionary<ulong, HostTensor> tensors, ExecuteAtenRequest request)
    {
        try
        {
            var arguments = request.Args.Select(a => Resolve(tensors, a)).ToList();
            // Keyword arguments as the positional ones these operations take: alpha (add, sub), dim and keepdim (sum, mean).
            if (request.Kwargs.TryGetValue("dim", out var dim))
            {
                arguments.Add(Resolve(tensors, dim));
            }
            if (request.Kwargs.TryGetValue("alpha", out var alpha))
            {
                arguments.Add(Resolve(tensors, alpha));
            }
            if (request.Kwargs.TryGetValue("keepdim", out var keepDim))
            {
                arguments.Add(Resolve(tensors, keepDim));
            }
            var name = AtenKernels.Normalize(request.OpName);
            if (!AtenKernels.Supported.Contains(name))
            {
                // What torch.ops says for an operation it does not have; the client tells it apart from other failures.
                return new ExecuteAtenResponse { Success = false, Message = $"'_OpNamespace' 'aten' object has no attribute '{name.Split('.')[1]}' (the local SkyTorch server computes {string.Join(", ", AtenKernels.Supported)})" };
            }
            var result = AtenKernels.Execute(name, arguments);
            if (request.Outputs.Count > 0)
            {
                tensors[request.Outputs[0].TensorId] = result;
                return new ExecuteAtenResponse { Success = true };
            }
            var id = (ulong)Interlocked.Increment(ref _nextId);
            tensors[id] = result;
            return new ExecuteAtenResponse { Success = true, OutputTensors = { new TensorReference { TensorId = id } } };
        }
        catch (E2EException ex)
        {
            return new ExecuteAtenResponse { Success = false, Message = ex.Message };
        }
    }

    private static AtenValue Resolve(ConcurrentDictionary<ulong, HostTensor> tensors, AtenArgument argument) => argument.ValueCase switch
    {
        AtenArgument.ValueOneofCase.Tensor => tensors.TryGetValue(argument.Tensor.TensorId, out var tensor) ? new AtenValue.Tensor(tensor)
            : throw new E2EException(ErrorCatalog.TensorNotFound, $"Tensor {argument.Tensor.TensorId} does not exist", argument.Tensor.TensorId),
        AtenArgument.ValueOneofCase.ScalarFloat => new AtenValue.Number(argument.ScalarFloat, IsInteger: false),
        AtenArgument.ValueOneofCase.ScalarInt => new AtenValue.Number(argument.ScalarInt, IsInteger: true),
        AtenArgument.ValueOneofCase.ScalarBool => new AtenValue.Flag(argument.ScalarBool),
        AtenArgument.ValueOneofCase.ListValue when argument.ListValue.Values.All(v => v.ValueCase == AtenArgument.ValueOneofCase.ScalarInt) =>
            new AtenValue.IntList(argument.ListValue.Values.Select(v => v.ScalarInt).ToArray()),
        var other => throw new E2EException(ErrorCatalog.InvalidArgument, $"Unsupported AtenArgument here: {other}", other.ToString()),
    };

    private StreamResponse Answer(ConcurrentDictionary<ulong, HostTensor> tensors, StreamRequest request)
    {
        switch (request.RequestCase)
        {
            case StreamRequest.RequestOneofCase.ExecuteAten:
                var executed = Execute(tensors, request.ExecuteAten);
                return new StreamResponse { Success = executed.Success, ErrorMessage = executed.Message, ExecuteAten = executed };
            case StreamRequest.RequestOneofCase.DeleteTensors:
                var deleted = Delete(tensors, request.DeleteTensors);
                return new StreamResponse { Success = true, DeleteTensors = deleted };
            case StreamRequest.RequestOneofCase.GetTensor:
                if (!tensors.TryGetValue(request.GetTensor.TensorId, out var tensor))
                {
                    return new StreamResponse { Success = false, ErrorMessage = $"Tensor {request.GetTensor.TensorId} not found" };
                }
                var got = new GetTensorResponse { Success = true, Data = ByteString.CopyFrom(tensor.ToBytes()), Dtype = tensor.TorchDType };
                got.Shape.AddRange(tensor.Shape);
                got.Stride.AddRange(HostTensor.Strides(tensor.Shape));
                return new StreamResponse { Success = true, GetTensor = got };
            case StreamRequest.RequestOneofCase.UpdateTensor:
                var update = request.UpdateTensor;
                var chunk = new TensorChunk { TensorId = update.TensorId, Data = update.Data, TotalChunks = 1, TotalBytes = (ulong)update.Data.Length, Dtype = update.Dtype };
                chunk.Shape.AddRange(update.Shape);
                var updated = Update(tensors, new[] { chunk });
                return new StreamResponse { Success = updated.Success, ErrorMessage = updated.Message, UpdateTensor = updated };
            case StreamRequest.RequestOneofCase.CopyTensor:
                var copied = Copy(tensors, request.CopyTensor);
                return new StreamResponse { Success = copied.Success, ErrorMessage = copied.Message, CopyTensor = copied };
            default:
                return new StreamResponse { Success = false, ErrorMessage = $"{request.RequestCase} is not served by the local SkyTorch server" };
        }
    }
}
