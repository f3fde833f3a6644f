using System.Buffers.Binary;
using System.Globalization;
using E2E.Core.Errors;

namespace E2E.Core.Kubernetes.SkyTorch;

/// <summary>The element types a tensor moves and computes in, with torch's names for them.</summary>
public enum TensorDType
{
    Float32,
    Float64,
    Int32,
    Int64,
}

/// <summary>
/// A dense, contiguous CPU tensor: its shape, element type and values. Its bytes are what SkyTorch moves: the values
/// in row-major order, little-endian (torch's contiguous storage, as the server's numpy().tobytes() gives it).
/// Values are held as doubles; a float32 or int32 tensor's values are exactly its elements.
/// </summary>
public sealed class HostTensor
{
    public HostTensor(IReadOnlyList<long> shape, TensorDType dtype, double[] values)
    {
        Shape = shape.ToArray();
        if (Shape.Any(d => d < 0))
        {
            throw new E2EException(ErrorCatalog.TensorShapeMismatch, $"A shape has no negative sizes: [{string.Join(", ", Shape)}].", Shape);
        }
        var count = ElementCount(Shape);
        if (count != values.Length)
        {
            throw new E2EException(ErrorCatalog.TensorShapeMismatch, $"Shape [{string.Join(", ", Shape)}] holds {count} values, and {values.Length} were given.", Shape);
        }
        DType = dtype;
        Values = dtype switch
        {
            TensorDType.Float32 => values.Select(v => (double)(float)v).ToArray(),
            TensorDType.Int32 => values.Select(v => (double)checked((int)v)).ToArray(),
            TensorDType.Int64 => values.Select(v => (double)checked((long)v)).ToArray(),
            _ => values,
        };
    }

    public long[] Shape { get; }

    public TensorDType DType { get; }

    public double[] Values { get; }

    public long Count => Values.Length;

    public int ElementSize => DType is TensorDType.Float32 or TensorDType.Int32 ? 4 : 8;

    public long ByteCount => Count * ElementSize;

    /// <summary>torch's name of the element type: torch.float32, torch.int64, ...</summary>
    public string TorchDType => TorchName(DType);

    public static string TorchName(TensorDType dtype) => "torch." + dtype.ToString().ToLowerInvariant();

    public static TensorDType ParseTorchName(string name) => name switch
    {
        "torch.float32" or "torch.float" => TensorDType.Float32,
        "torch.float64" or "torch.double" => TensorDType.Float64,
        "torch.int32" or "torch.int" => TensorDType.Int32,
        "torch.int64" or "torch.long" => TensorDType.Int64,
        _ => throw new E2EException(ErrorCatalog.TensorDTypeNotSupported, $"dtype {name} is not supported here (float32, float64, int32, int64).", name),
    };

    public static long ElementCount(IReadOnlyList<long> shape) => shape.Aggregate(1L, (a, d) => checked(a * d));

    /// <summary>Row-major strides of a contiguous tensor of <paramref name="shape"/>, in elements.</summary>
    public static long[] Strides(IReadOnlyList<long> shape)
    {
        var strides = new long[shape.Count];
        var step = 1L;
        for (var i = shape.Count - 1; i >= 0; i--)
        {
            strides[i] = step;
            step *= Math.Max(shape[i], 1);
        }
        return strides;
    }

    public byte[] ToBytes()
    {
        var bytes = new byte[ByteCount];
        var span = bytes.AsSpan();
        for (var i = 0; i < Values.Length; i++)
        {
            switch (DType)
            {
                case TensorDType.Float32:
                    BinaryPrimitives.WriteSingleLittleEndian(span[(i * 4)..], (float)Values[i]);
                    break;
                case TensorDType.Float64:
                    BinaryPrimitives.WriteDoubleLittleEndian(span[(i * 8)..], Values[i]);
                    break;
                case TensorDType.Int32:
                    BinaryPrimitives.WriteInt32LittleEndian(span[(i * 4)..], (int)Values[i]);
                    break;
                default:
                    BinaryPrimitives.WriteInt64LittleEndian(span[(i * 8)..], (long)Values[i]);
                    break;
            }
        }
        return bytes;
    }

    public static HostTensor FromBytes(IReadOnlyList<long> shape, TensorDType dtype, ReadOnlySpan<byte> bytes)
    {
        var size = dtype is TensorDType.Float32 or TensorDType.Int32 ? 4 : 8;
        var count = ElementCount(shape);
        if (bytes.Length != count * size)
        {
            throw new E2EException(ErrorCatalog.TensorShapeMismatch, $"Shape [{string.Join(", ", shape)}] of {TorchName(dtype)} takes {count * size} bytes, and {bytes.Length} came.", shape);
        }
        var values = new double[count];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = dtype switch
            {
                TensorDType.Float32 => BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]),
                TensorDType.Float64 => BinaryPrimitives.ReadDoubleLittleEndian(bytes[(i * 8)..]),
                TensorDType.Int32 => BinaryPrimitives.ReadInt32LittleEndian(bytes[(i * 4)..]),
                _ => BinaryPrimitives.ReadInt64LittleEndian(bytes[(i * 8)..]),
            };
        }
        return new HostTensor(shape, dtype, values);
    }

    public override string ToString() => $"{TorchDType}[{string.Join(", ", Shape)}]";

    public string Describe(int first = 6) => $"{this} {{{string.Join(", ", Values.Take(first).Select(v => v.ToString("R", CultureInfo.InvariantCulture)))}{(Values.Length > first ? ", ..." : string.Empty)}}}";
}
