using E2E.Core.Errors;

namespace E2E.Core.Kubernetes.SkyTorch;

/// <summary>An argument of an ATen operation: a tensor (with its values, or known by shape and type only), a number, a list of integers (dims) or a flag.</summary>
public abstract record AtenValue
{
    public sealed record Tensor(HostTensor Value) : AtenValue;

    /// <summary>A tensor known by its shape and type only (a Compute's tensor, for inferring what an operation gives).</summary>
    public sealed record Meta(IReadOnlyList<long> Shape, TensorDType DType) : AtenValue;

    public sealed record Number(double Value, bool IsInteger) : AtenValue;

    public sealed record IntList(IReadOnlyList<long> Values) : AtenValue;

    public sealed record Flag(bool Value) : AtenValue;
}

/// <summary>
/// The ATen operations the local cluster's SkyTorch server computes on CPU, and the in-process reference
/// (Invoke-E2ETensorOperation -Local) computes with: add, sub, mul, div (tensor or scalar, with broadcasting and
/// alpha), mm, matmul (vectors and matrices), t, transpose, sum, mean (all or some dims, keepdim), relu, neg, exp.
/// Names are upstream's ("aten.add.Tensor"; "aten::add.Tensor", and an omitted ".default", are read the same).
/// Types promote as torch's do for these: float64 over float32 over integers; a Python number keeps a tensor's type
/// unless it is a float and the tensor integral; true division and exp of integers give float32; mean needs a
/// floating type. Values are computed in double and rounded to the result's type. Shape errors say what torch says.
/// </summary>
public static class AtenKernels
{
    public static IReadOnlyList<string> Supported { get; } = new[]
    {
        "aten.add.Tensor", "aten.add.Scalar", "aten.sub.Tensor", "aten.sub.Scalar", "aten.mul.Tensor", "aten.mul.Scalar",
        "aten.div.Tensor", "aten.div.Scalar", "aten.mm.default", "aten.matmul.default", "aten.t.default", "aten.transpose.int",
        "aten.sum.default", "aten.sum.dim_IntList", "aten.mean.default", "aten.mean.dim", "aten.relu.default", "aten.neg.default", "aten.exp.default",
    };

    /// <summary>"aten::mm", "aten.mm" and "mm" as upstream sends them: "aten.mm.default".</summary>
    public static string Normalize(string name)
    {
        var dotted = name.Trim().Replace("::", ".", StringComparison.Ordinal);
        if (!dotted.StartsWith("aten.", StringComparison.Ordinal))
        {
            dotted = "aten." + dotted;
        }
        return dotted.Count(c => c == '.') == 1 ? dotted + ".default" : dotted;
    }

    /// <summary>
    /// The shape and type <paramref name="operation"/> gives (its arguments' tensors may be <see cref="AtenValue.Meta"/>),
    /// with the same checks as <see cref="Execute"/>; null for an operation not in <see cref="Supported"/>, which a real
    /// server may know.
    /// </summary>
    public static (long[] Shape, TensorDType DType)? Infer(string operation, IReadOnlyList<AtenValue> arguments)
    {
        var name = Normalize(operation);
        return Supported.Contains(name) ? Plan(name, arguments).Result : null;
    }

    public static HostTensor Execute(string operation, IReadOnlyList<AtenValue> arguments)
    {
        var name = Normalize(operation);
        if (!Supported.Contains(name))
        {
            throw new E2EException(ErrorCatalog.UnknownTensorOperation,
                $"{operation} is not an operation the local SkyTorch server computes; it knows {string.Join(", ", Supported)}.", operation);
        }
        var plan = Plan(name, arguments);
        return new HostTensor(plan.Result.Shape, plan.Result.DType, plan.Compute());
    }

    /// <summary>What an operation gives, checked, and how to compute its values.</summary>
    private sealed record Planned((long[] Shape, TensorDType DType) Result, Func<double[]> Compute);

    private static Planned Plan(string name, IReadOnlyList<AtenValue> arguments)
    {
        AtenValue Arg(int i) => i < arguments.Count ? arguments[i]
            : throw new E2EException(ErrorCatalog.InvalidArgument, $"{name} takes at least {i + 1} arguments; {arguments.Count} were given.", name);
        AtenValue TensorArg(int i) => Arg(i) is AtenValue.Tensor or AtenValue.Meta ? arguments[i]
            : throw new E2EException(ErrorCatalog.InvalidArgument, $"{name} takes a tensor as argument {i + 1}.", name);
        double Alpha() => arguments.Count > 2 && arguments[2] is AtenValue.Number n ? n.Value : 1.0;
        var keepDim = arguments.Count > 2 && arguments[2] is AtenValue.Flag { Value: true };
        return name switch
        {
            "aten.add.Tensor" or "aten.add.Scalar" => Binary(TensorArg(0), Arg(1), (a, b, alpha) => a + (alpha * b), Alpha(), name, false),
            "aten.sub.Tensor" or "aten.sub.Scalar" => Binary(TensorArg(0), Arg(1), (a, b, alpha) => a - (alpha * b), Alpha(), name, false),
            "aten.mul.Tensor" or "aten.mul.Scalar" => Binary(TensorArg(0), Arg(1), (a, b, _) => a * b, 1, name, false),
            "aten.div.Tensor" or "aten.div.Scalar" => Binary(TensorArg(0), Arg(1), (a, b, _) => a / b, 1, name, true),
            "aten.mm.default" => MatMul(TensorArg(0), TensorArg(1), name, requireMatrices: true),
            "aten.matmul.default" => MatMul(TensorArg(0), TensorArg(1), name, requireMatrices: false),
            "aten.t.default" => ShapeOf(TensorArg(0)).Length <= 1 ? Identity(TensorArg(0)) : Transpose(TensorArg(0), 0, 1, name, requireMatrix: true),
            "aten.transpose.int" => Transpose(TensorArg(0), Dim(Arg(1), ShapeOf(TensorArg(0)), name), Dim(Arg(2), ShapeOf(TensorArg(0)), name), name, requireMatrix: false),
            "aten.sum.default" => Reduce(TensorArg(0), null, false, mean: false, name),
            "aten.sum.dim_IntList" => Reduce(TensorArg(0), Dims(Arg(1), ShapeOf(TensorArg(0)), name), keepDim, mean: false, name),
            "aten.mean.default" => Reduce(TensorArg(0), null, false, mean: true, name),
            "aten.mean.dim" => Reduce(TensorArg(0), Dims(Arg(1), ShapeOf(TensorArg(0)), name), keepDim, mean: true, name),
            "aten.relu.default" => Unary(TensorArg(0), v => Math.Max(v, 0), floatResult: false),
            "aten.neg.default" => Unary(TensorArg(0), v => -v, floatResult: false),
            _ => Unary(TensorArg(0), Math.Exp, floatResult: true), // aten.exp.default
        };
    }

    private static long[] ShapeOf(AtenValue value) => value switch
    {
        AtenValue.Tensor t => t.Value.Shape,
        AtenValue.Meta m => m.Shape.ToArray(),
        _ => Array.Empty<long>(),
    };

    private static TensorDType DTypeOf(AtenValue value) => value switch
    {
        AtenValue.Tensor t => t.Value.DType,
        AtenValue.Meta m => m.DType,
        AtenValue.Number { IsInteger: true } => TensorDType.Int64,
        _ => TensorDType.Float64,
    };

    private static double[] ValuesOf(AtenValue value) => value switch
    {
        AtenValue.Tensor t => t.Value.Values,
        AtenValue.Number n => new[] { n.Value },
        _ => throw new InvalidOperationException("a tensor known by shape only has no values to compute with"),
    };

    private static bool IsFloat(TensorDType dtype) => dtype is TensorDType.Float32 or TensorDType.Float64;

    private static TensorDType Wider(TensorDType a, TensorDType b)
    {
        if (IsFloat(a) || IsFloat(b))
        {
            return a == TensorDType.Float64 || b == TensorDType.Float64 ? TensorDType.Float64 : TensorDType.Float32;
        }
        return a == TensorDType.Int64 || b == TensorDType.Int64 ? TensorDType.Int64 : TensorDType.Int32;
    }

    private static Planned Identity(AtenValue a) => new((ShapeOf(a), DTypeOf(a)), () => ValuesOf(a).ToArray());

    private static Planned Unary(AtenValue a, Func<double, double> op, bool floatResult)
    {
        var dtype = floatResult && !IsFloat(DTypeOf(a)) ? TensorDType.Float32 : DTypeOf(a);
        return new((ShapeOf(a), dtype), () => ValuesOf(a).Select(op).ToArray());
    }

    /// <summary>An elementwise operation with broadcasting (sizes equal or 1, aligned from the right).</summary>
    private static Planned Binary(AtenValue a, AtenValue b, Func<double, double, double, double> op, double alpha, string name, bool trueDivision)
    {
        if (b is not (AtenValue.Tensor or AtenValue.Meta or AtenValue.Number))
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, $"{name} takes a tensor or a number as its second argument.", name);
        }
        var dtype = b is AtenValue.Number number ? (number.IsInteger || IsFloat(DTypeOf(a)) ? DTypeOf(a) : TensorDType.Float32) : Wider(DTypeOf(a), DTypeOf(b));
        if (trueDivision && !IsFloat(dtype))
        {
            dtype = TensorDType.Float32;
        }
        var shapeA = ShapeOf(a);
        var shapeB = ShapeOf(b);
        var rank = Math.Max(shapeA.Length, shapeB.Length);
        var shape = new long[rank];
        for (var i = 0; i < rank; i++)
        {
            var da = i < rank - shapeA.Length ? 1 : shapeA[i - (rank - shapeA.Length)];
            var db = i < rank - shapeB.Length ? 1 : shapeB[i - (rank - shapeB.Length)];
            if (da != db && da != 1 && db != 1)
            {
                throw new E2EException(ErrorCatalog.TensorShapeMismatch,
                    $"{name}: The size of tensor a ({da}) must match the size of tensor b ({db}) at non-singleton dimension {i}", name);
            }
            shape[i] = Math.Max(da, db);
        }
        return new((shape, dtype), () =>
        {
            var (left, right) = (ValuesOf(a), ValuesOf(b));
            var strideA = BroadcastStrides(shapeA, shape);
            var strideB = BroadcastStrides(shapeB, shape);
            var result = new double[HostTensor.ElementCount(shape)];
            var index = new long[rank];
            for (long flat = 0; flat < result.Length; flat++)
            {
                long ia = 0, ib = 0;
                for (var d = 0; d < rank; d++)
                {
                    ia += index[d] * strideA[d];
                    ib += index[d] * strideB[d];
                }
                var value = op(left[ia], right[ib], alpha);
                result[flat] = IsFloat(dtype) ? value : Math.Truncate(value);
                for (var d = rank - 1; d >= 0 && ++index[d] == shape[d]; d--)
                {
                    index[d] = 0;
                }
            }
            return result;
        });
    }

    /// <summary>Strides of <paramref name="shape"/> read as <paramref name="target"/>: 0 where a size of 1 (or a missing leading dimension) repeats.</summary>
    private static long[] BroadcastStrides(long[] shape, long[] target)
    {
        var own = HostTensor.Strides(shape);
        var strides = new long[target.Length];
        for (var i = 0; i < target.Length; i++)
        {
            var j = i - (target.Length - shape.Length);
            strides[i] = j < 0 || shape[j] == 1 ? 0 : own[j];
        }
        return strides;
    }

    private static Planned MatMul(AtenValue a, AtenValue b, string name, bool requireMatrices)
    {
        var (shapeA, shapeB) = (ShapeOf(a), ShapeOf(b));
        if ((requireMatrices && (shapeA.Length != 2 || shapeB.Length != 2)) || shapeA.Length is < 1 or > 2 || shapeB.Length is < 1 or > 2)
        {
            throw new E2EException(ErrorCatalog.TensorShapeMismatch,
                $"{name}: {(requireMatrices ? "mm multiplies matrices" : "matmul here takes vectors and matrices")}; the shapes were [{string.Join(", ", shapeA)}] and [{string.Join(", ", shapeB)}]", name);
        }
        // A vector is a row on the left and a column on the right; its dimension leaves the result, as in torch.matmul.
        var (m, k) = shapeA.Length == 2 ? (shapeA[0], shapeA[1]) : (1L, shapeA[0]);
        var (k2, n) = shapeB.Length == 2 ? (shapeB[0], shapeB[1]) : (shapeB[0], 1L);
        if (k != k2)
        {
            throw new E2EException(ErrorCatalog.TensorShapeMismatch, $"{name}: mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {k2}x{n})", name);
        }
        var shape = new List<long>();
        if (shapeA.Length == 2)
        {
            shape.Add(m);
        }
        if (shapeB.Length == 2)
        {
            shape.Add(n);
        }
        return new((shape.ToArray(), Wider(DTypeOf(a), DTypeOf(b))), () =>
        {
            var (left, right) = (ValuesOf(a), ValuesOf(b));
            var result = new double[m * n];
            for (long i = 0; i < m; i++)
            {
                for (long p = 0; p < k; p++)
                {
                    var value = left[(i * k) + p];
                    for (long j = 0; j < n; j++)
                    {
                        result[(i * n) + j] += value * right[(p * n) + j];
                    }
                }
            }
            return result;
        });
    }

    private static int Dim(AtenValue value, long[] shape, string name)
    {
        var dim = value is AtenValue.Number { IsInteger: true } n ? (long)n.Value
            : throw new E2EException(ErrorCatalog.InvalidArgument, $"{name} takes an integer dimension.", name);
        var rank = Math.Max(shape.Length, 1);
        if (dim < -rank || dim >= rank)
        {
            throw new E2EException(ErrorCatalog.TensorShapeMismatch, $"{name}: Dimension out of range (expected to be in range of [{-rank}, {rank - 1}], but got {dim})", name);
        }
        return (int)(dim < 0 ? dim + rank : dim);
    }

    private static int[] Dims(AtenValue value, long[] shape, string name) => value switch
    {
        AtenValue.IntList list => list.Values.Select(d => Dim(new AtenValue.Number(d, true), shape, name)).Distinct().Order().ToArray(),
        AtenValue.Number { IsInteger: true } => new[] { Dim(value, shape, name) },
        _ => throw new E2EException(ErrorCatalog.InvalidArgument, $"{name} takes a list of dimensions.", name),
    };

    private static Planned Transpose(AtenValue a, int d0, int d1, string name, bool requireMatrix)
    {
        var source = ShapeOf(a);
        if (requireMatrix && source.Length != 2)
        {
            throw new E2EException(ErrorCatalog.TensorShapeMismatch, $"{name}: t() expects a tensor with <= 2 dimensions, but self is {source.Length}D", name);
        }
        var shape = source.ToArray();
        if (shape.Length > 0)
        {
            (shape[d0], shape[d1]) = (shape[d1], shape[d0]);
        }
        return new((shape, DTypeOf(a)), () =>
        {
            var values = ValuesOf(a);
            var strides = HostTensor.Strides(source);
            if (strides.Length > 0)
            {
                (strides[d0], strides[d1]) = (strides[d1], strides[d0]);
            }
            var result = new double[values.Length];
            var index = new long[shape.Length];
            for (long flat = 0; flat < result.Length; flat++)
            {
                long from = 0;
                for (var d = 0; d < shape.Length; d++)
                {
                    from += index[d] * strides[d];
                }
                result[flat] = values[from];
                for (var d = shape.Length - 1; d >= 0 && ++index[d] == shape[d]; d--)
                {
                    index[d] = 0;
                }
            }
            return result;
        });
    }

    private static Planned Reduce(AtenValue a, int[]? dims, bool keepDim, bool mean, string name)
    {
        var source = ShapeOf(a);
        var over = dims ?? Enumerable.Range(0, source.Length).ToArray();
        var dtype = DTypeOf(a);
        if (mean && !IsFloat(dtype))
        {
            throw new E2EException(ErrorCatalog.TensorDTypeNotSupported, $"{name}: mean(): could not infer output dtype. Input dtype must be either a floating point or complex dtype. Got: {dtype}", name);
        }
        var resultType = !mean && dtype == TensorDType.Int32 ? TensorDType.Int64 : dtype;
        var kept = Enumerable.Range(0, source.Length).Select(d => over.Contains(d) ? 1L : source[d]).ToArray();
        var shape = keepDim ? kept : Enumerable.Range(0, source.Length).Where(d => !over.Contains(d)).Select(d => source[d]).ToArray();
        return new((shape, resultType), () =>
        {
            var values = ValuesOf(a);
            var sums = new double[HostTensor.ElementCount(kept)];
            var keptStrides = HostTensor.Strides(kept);
            var index = new long[source.Length];
            for (long flat = 0; flat < values.Length; flat++)
            {
                long to = 0;
                for (var d = 0; d < index.Length; d++)
                {
                    to += (over.Contains(d) ? 0 : index[d]) * keptStrides[d];
                }
                sums[to] += values[flat];
                for (var d = index.Length - 1; d >= 0 && ++index[d] == source[d]; d--)
                {
                    index[d] = 0;
                }
            }
            if (mean)
            {
                var count = over.Aggregate(1L, (p, d) => p * source[d]);
                for (var i = 0; i < sums.Length; i++)
                {
                    sums[i] /= count;
                }
            }
            return sums;
        });
    }
}
