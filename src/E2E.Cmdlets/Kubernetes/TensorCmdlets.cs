using System.Collections;
using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Errors;
using E2E.Core.Kubernetes;
using E2E.Core.Kubernetes.SkyTorch;
using E2E.Core.Scopes;

namespace E2E.Cmdlets.Kubernetes;

/// <summary>Sends a tensor to a Compute through its Gateway (skytorch.torch.Service/UpdateTensor).</summary>
/// <remarks>
/// <para>The values fill -Shape in row-major order (a 1-D tensor of all of them by default) and go, as upstream's client sends them, in 1 MB chunks of their contiguous little-endian bytes, with the metadata that lets the server create the tensor on -Device. -DType is float32 unless given, or unless the values are a typed array: [double[]] float64, [int[]] int32, [long[]] int64. The tensor's removal is registered in the current scope; Remove-E2ETensor frees it earlier.</para>
/// <para>Values that do not fill the shape are TensorShapeMismatch; a Compute that is not Ready answers UNAVAILABLE through the Gateway: ComputeUnavailable.</para>
/// </remarks>
/// <example>
/// <code>$x = Get-E2ECompute test-managed | Send-E2ETensor -Value (1..100) -Shape 10, 10
/// $y = Get-E2ECompute test-managed | Send-E2ETensor -Value (101..200) -Shape 10, 10
/// Invoke-E2ETensorOperation -Operation aten::mm -Argument $x, $y | Receive-E2ETensor</code>
/// <para>Multiplies two 10x10 matrices on the Compute and reads the product back.</para>
/// </example>
[Cmdlet(VerbsCommunications.Send, "E2ETensor", DefaultParameterSetName = "Name", SupportsShouldProcess = true)]
[OutputType(typeof(E2ETensor))]
public sealed class SendE2ETensorCommand : ComputeCmdletBase
{
    /// <summary>The values: numbers, or a tensor from Receive-E2ETensor or Invoke-E2ETensorOperation -Local.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNull]
    public object? Value { get; set; }

    /// <summary>The shape; all the values in one dimension by default.</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long[]? Shape { get; set; }

    /// <summary>Float32 unless the values are a typed array (see the description).</summary>
    [Parameter]
    public TensorDType? DType { get; set; }

    /// <summary>The server's device for the tensor (cpu, cuda); cpu by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Device { get; set; } = "cpu";

    /// <summary>How long the transfer may take; 300 s by default.</summary>
    [Parameter]
    [ValidateRange(0.001, 86400)]
    public double TimeoutSec { get; set; } = 300;

    private HostTensor? _tensor;
    private E2EScope? _scope;

    protected override void PrepareRecord()
    {
        base.PrepareRecord();
        _scope = Scopes.RequireCurrent("a tensor");
        _tensor = TensorArguments.ToHostTensor(Value!, Shape, DType);
    }

    protected override Task ProcessAsync() => ForEachTargetAsync(async (cluster, ns, name) =>
    {
        if (!await ShouldProcessAsync($"Compute {ns}/{name}", $"Send {_tensor}").ConfigureAwait(false))
        {
            return;
        }
        var endpoint = Computes.Endpoint(await Computes.GetAsync(cluster.Client, ns, name, CancelToken).ConfigureAwait(false), cluster.GatewayPort);
        // Its removal is registered before the first chunk goes: a Ctrl-C mid-transfer leaves nothing on the Compute.
        Output(await WithProgressAsync(Activities.Tensor, $"Send {_tensor} ({_tensor!.ByteCount / 1048576.0:0.#} MB) to {ns}/{name}", () => "sending",
            () => TensorClient.SendAsync(endpoint, cluster.Name, _tensor!, Device, TimeSpan.FromSeconds(TimeoutSec), CancelToken, tensor => TensorArguments.RegisterRemoval(_scope!, tensor))).ConfigureAwait(false));
    });
}

/// <summary>Runs an ATen operation on a Compute's tensors (skytorch.torch.Service/ExecuteAtenOperation), or in-process as the reference (-Local).</summary>
/// <remarks>
/// <para>-Operation is an ATen name as upstream's client sends it ('aten::mm', 'aten::add.Tensor', 'aten.sum.dim_IntList'; an omitted overload is .default). -Argument takes tensors (E2ETensor, all on one Compute), numbers (integers stay integers), integer arrays (dims) and booleans, in the operation's order; -Alpha, -Dim and -KeepDim are the keyword arguments of add/sub and sum/mean. The result is written on the Compute to a new tensor, returned as an E2ETensor whose shape is known here for the operations the local server computes (add, sub, mul, div, mm, matmul, t, transpose, sum, mean, relu, neg, exp), checked before the call: shapes that do not fit are TensorShapeMismatch without a round trip. Operations piped in (objects with Operation and Argument) go to each Compute in one StreamOperations call, answered in order.</para>
/// <para>-Local computes the same operation in this process with the module's CPU kernels (tensors from the Compute are read first) and returns the values: the reference to compare with (Should -BeAllClose). The server's failures are UnknownTensorOperation, TensorShapeMismatch, TensorDTypeNotSupported, TensorNotFound or TensorOperationFailed, with the server's message; a Compute that is not Ready is ComputeUnavailable.</para>
/// </remarks>
/// <example>
/// <code>$sum = Invoke-E2ETensorOperation -Operation aten::add.Tensor -Argument $x, $y
/// $sum | Receive-E2ETensor | Should -BeAllClose -ExpectedValue (Invoke-E2ETensorOperation -Operation aten::add.Tensor -Argument $xValues, $yValues -Local)</code>
/// <para>Adds on the Compute and compares with the local reference.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Invoke, "E2ETensorOperation", SupportsShouldProcess = true)]
[OutputType(typeof(E2ETensor), typeof(HostTensor))]
public sealed class InvokeE2ETensorOperationCommand : AsyncE2ECmdlet
{
    /// <summary>The ATen operation: aten::mm, aten::add.Tensor, aten.sum.dim_IntList, ...</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(AtenOperationCompleter))]
    public string? Operation { get; set; }

    /// <summary>The operation's positional arguments: tensors, numbers, integer arrays, booleans.</summary>
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [AllowEmptyCollection]
    public object[] Argument { get; set; } = Array.Empty<object>();

    /// <summary>add/sub's alpha keyword.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public double? Alpha { get; set; }

    /// <summary>sum/mean's dim keyword.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public long[]? Dim { get; set; }

    /// <summary>sum/mean's keepdim keyword.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public SwitchParameter KeepDim { get; set; }

    /// <summary>Compute in this process, as the reference; returns the values.</summary>
    [Parameter]
    public SwitchParameter Local { get; set; }

    /// <summary>How long the call may take; 300 s by default.</summary>
    [Parameter]
    [ValidateRange(0.001, 86400)]
    public double TimeoutSec { get; set; } = 300;

    private readonly List<(string Operation, IReadOnlyList<object> Arguments)> _queued = new();
    private E2EScope? _scope;

    protected override void PrepareRecord()
    {
        var arguments = TensorArguments.Convert(Argument, Local).ToList();
        if (Dim is not null)
        {
            arguments.Add(new AtenValue.IntList(Dim));
        }
        if (Alpha is not null)
        {
            arguments.Add(new AtenValue.Number(Alpha.Value, Alpha.Value == Math.Floor(Alpha.Value)));
        }
        if (KeepDim)
        {
            arguments.Add(new AtenValue.Flag(true));
        }
        if (!Local)
        {
            _scope = Scopes.RequireCurrent("a tensor");
            if (!arguments.OfType<E2ETensor>().Any())
            {
                throw new E2EException(ErrorCatalog.InvalidArgument, $"{Operation} needs at least one tensor of a Compute among its arguments (or -Local for the in-process reference).", Operation);
            }
        }
        _queued.Add((Operation!, arguments));
    }

    protected override async Task EndAsync()
    {
        if (Local)
        {
            foreach (var (operation, arguments) in _queued)
            {
                var values = new List<AtenValue>();
                foreach (var argument in arguments)
                {
                    values.Add(argument is E2ETensor remote ? new AtenValue.Tensor(await TensorClient.ReceiveAsync(remote, TimeSpan.FromSeconds(TimeoutSec), CancelToken).ConfigureAwait(false)) : (AtenValue)argument);
                }
                Output(AtenKernels.Execute(operation, values));
            }
            return;
        }
        // One operation is one call; several (from the pipeline) go to each Compute in one stream, in order, and
        // to several Computes at once. The results come out in the order the operations came in.
        var groups = _queued.Select((q, index) => (q.Operation, q.Arguments, Index: index)).GroupBy(q => q.Arguments.OfType<E2ETensor>().First().Compute).ToList();
        var confirmed = new List<IGrouping<string, (string Operation, IReadOnlyList<object> Arguments, int Index)>>();
        foreach (var group in groups)
        {
            if (await ShouldProcessAsync($"Compute {group.Key}", $"Run {string.Join(", ", group.Select(q => q.Operation))}").ConfigureAwait(false))
            {
                confirmed.Add(group);
            }
        }
        var answered = await Task.WhenAll(confirmed.Select(async group =>
        {
            var first = group.First().Arguments.OfType<E2ETensor>().First();
            var operations = group.Select(q => (q.Operation, q.Arguments)).ToList();
            // Each output's removal is registered before its operation is sent.
            Action<E2ETensor> register = tensor => TensorArguments.RegisterRemoval(_scope!, tensor);
            var results = operations.Count == 1
                ? new[] { await TensorClient.ExecuteAsync(first.Endpoint, first.Cluster, operations[0].Operation, operations[0].Arguments, TimeSpan.FromSeconds(TimeoutSec), CancelToken, register).ConfigureAwait(false) }
                : await TensorClient.ExecuteManyAsync(first.Endpoint, first.Cluster, operations, TimeSpan.FromSeconds(TimeoutSec), CancelToken, register).ConfigureAwait(false);
            return group.Select(q => q.Index).Zip(results);
        })).ConfigureAwait(false);
        foreach (var (_, result) in answered.SelectMany(a => a).OrderBy(a => a.First))
        {
            Output(result);
        }
    }
}

/// <summary>Reads a Compute's tensor back (skytorch.torch.Service/GetTensor): its shape, type and values.</summary>
/// <remarks>
/// <para>The server streams the tensor in chunks; the result has Shape, DType and Values (doubles, exactly the tensor's elements). A tensor the Compute no longer holds (removed, or its server restarted: a suspend and resume frees every tensor) is TensorNotFound.</para>
/// </remarks>
/// <example>
/// <code>($x | Receive-E2ETensor).Values[0..4]</code>
/// <para>The first five values of a tensor on the Compute.</para>
/// </example>
[Cmdlet(VerbsCommunications.Receive, "E2ETensor")]
[OutputType(typeof(HostTensor))]
public sealed class ReceiveE2ETensorCommand : AsyncE2ECmdlet
{
    /// <summary>Tensors from Send-E2ETensor or Invoke-E2ETensorOperation.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public E2ETensor[] Tensor { get; set; } = Array.Empty<E2ETensor>();

    /// <summary>How long the transfer may take; 300 s by default.</summary>
    [Parameter]
    [ValidateRange(0.001, 86400)]
    public double TimeoutSec { get; set; } = 300;

    protected override async Task ProcessAsync()
    {
        foreach (var tensor in Tensor)
        {
            Output(await WithProgressAsync(Activities.Tensor, $"Receive {tensor}", () => "receiving",
                () => TensorClient.ReceiveAsync(tensor, TimeSpan.FromSeconds(TimeoutSec), CancelToken)).ConfigureAwait(false));
        }
    }
}

/// <summary>Frees tensors on their Compute (skytorch.torch.Service/DeleteTensors).</summary>
/// <remarks>
/// <para>Tensors are grouped by Compute, one call each. Removing a tensor twice, or one the Compute no longer holds, is not an error (the server counts what it deleted). The scope's end removes the tensors left.</para>
/// </remarks>
/// <example>
/// <code>$x, $y | Remove-E2ETensor</code>
/// <para>Frees two tensors.</para>
/// </example>
[Cmdlet(VerbsCommon.Remove, "E2ETensor", SupportsShouldProcess = true)]
[OutputType(typeof(void))]
public sealed class RemoveE2ETensorCommand : AsyncE2ECmdlet
{
    /// <summary>Tensors from Send-E2ETensor or Invoke-E2ETensorOperation.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public E2ETensor[] Tensor { get; set; } = Array.Empty<E2ETensor>();

    /// <summary>How long the call may take; 60 s by default.</summary>
    [Parameter]
    [ValidateRange(0.001, 3600)]
    public double TimeoutSec { get; set; } = 60;

    private readonly List<E2ETensor> _tensors = new();

    protected override void PrepareRecord() => _tensors.AddRange(Tensor);

    protected override async Task EndAsync()
    {
        foreach (var group in _tensors.Where(t => !t.Removed).GroupBy(t => t.Compute))
        {
            var tensors = group.ToList();
            if (!await ShouldProcessAsync($"Compute {group.Key}", $"Remove {tensors.Count} tensor(s)").ConfigureAwait(false))
            {
                continue;
            }
            var removed = await TensorClient.RemoveAsync(tensors, TimeSpan.FromSeconds(TimeoutSec), CancelToken).ConfigureAwait(false);
            Verbose($"Removed {removed} of {tensors.Count} tensor(s) on {group.Key}.");
        }
    }
}

/// <summary>Makes a tensor of values in this process: the reference side of a comparison, or what Send-E2ETensor sends.</summary>
/// <remarks>
/// <para>The values fill -Shape in row-major order (one dimension of all of them by default); -DType is float32 unless given, or unless the values are a typed array ([double[]] float64, [int[]] int32, [long[]] int64). Values that do not fill the shape are TensorShapeMismatch.</para>
/// </remarks>
/// <example>
/// <code>$x = New-E2ETensor -Value (1..6) -Shape 2, 3
/// Invoke-E2ETensorOperation aten::t -Argument $x -Local</code>
/// <para>A 2x3 float32 tensor, and its transpose computed in-process.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "E2ETensor", SupportsShouldProcess = true)]
[OutputType(typeof(HostTensor))]
public sealed class NewE2ETensorCommand : E2ECmdlet
{
    /// <summary>The values, in row-major order.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNull]
    public object? Value { get; set; }

    /// <summary>The shape; all the values in one dimension by default.</summary>
    [Parameter(Position = 1)]
    [ValidateRange(0, long.MaxValue)]
    public long[]? Shape { get; set; }

    /// <summary>Float32 unless the values are a typed array.</summary>
    [Parameter]
    public TensorDType? DType { get; set; }

    protected override void Process()
    {
        var tensor = TensorArguments.ToHostTensor(Value!, Shape, DType);
        if (ShouldProcess(tensor.ToString(), "Make tensor"))
        {
            WriteObject(tensor);
        }
    }
}

/// <summary>Compares a tensor with the expected values as torch.allclose does; what Should -BeAllClose uses.</summary>
/// <remarks>
/// <para>Close means |actual - expected| &lt;= AbsoluteTolerance + RelativeTolerance * |expected| for every element (torch's defaults: 1e-05 and 1e-08). NaN is close to nothing, itself included, unless -EqualNaN; an infinity only to the same infinity. Tensors on a Compute are read back first; plain numbers are a tensor of one dimension, compared with -Actual of any shape holding as many values. The result says whether all are close and, if not, how many differ and the first (its index in every dimension and both values); shapes that differ are a result too (Close false, Problem), not an error.</para>
/// </remarks>
/// <example>
/// <code>Compare-E2ETensor -Actual ($product | Receive-E2ETensor) -Expected $reference -AbsoluteTolerance 1e-5</code>
/// <para>Checks a product read back from a Compute against the in-process reference.</para>
/// </example>
[Cmdlet(VerbsData.Compare, "E2ETensor")]
[OutputType(typeof(TensorComparisonResult))]
public sealed class CompareE2ETensorCommand : AsyncE2ECmdlet
{
    /// <summary>The tensor checked: an E2ETensor (read back), tensor values, or numbers.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    public object? Actual { get; set; }

    /// <summary>The expected tensor: an E2ETensor (read back), tensor values, or numbers.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNull]
    public object? Expected { get; set; }

    /// <summary>1e-05 by default, as torch.allclose.</summary>
    [Parameter]
    [ValidateRange(0, double.MaxValue)]
    public double RelativeTolerance { get; set; } = 1e-5;

    /// <summary>1e-08 by default, as torch.allclose.</summary>
    [Parameter]
    [ValidateRange(0, double.MaxValue)]
    public double AbsoluteTolerance { get; set; } = 1e-8;

    /// <summary>NaN is close to NaN.</summary>
    [Parameter]
    public SwitchParameter EqualNaN { get; set; }

    protected override async Task ProcessAsync()
    {
        var actual = await ValuesAsync(Actual!, null).ConfigureAwait(false);
        var expected = await ValuesAsync(Expected!, actual.Shape).ConfigureAwait(false);
        var result = TensorComparison.AllClose(actual.Shape, actual.Values, expected.Shape, expected.Values, RelativeTolerance, AbsoluteTolerance, EqualNaN);
        Output(new TensorComparisonResult(result, result.FirstIndex >= 0 ? TensorComparison.Index(actual.Shape, result.FirstIndex) : null, RelativeTolerance, AbsoluteTolerance, EqualNaN));
    }

    /// <summary>A tensor's values; plain numbers take <paramref name="shapeOfOther"/> when they are as many.</summary>
    private async Task<HostTensor> ValuesAsync(object value, long[]? shapeOfOther)
    {
        var unwrapped = value is PSObject ps ? ps.BaseObject : value;
        if (unwrapped is E2ETensor remote)
        {
            return await TensorClient.ReceiveAsync(remote, TimeSpan.FromMinutes(5), CancelToken).ConfigureAwait(false);
        }
        if (unwrapped is HostTensor tensor)
        {
            return tensor;
        }
        var numbers = TensorArguments.ToHostTensor(value, null, TensorDType.Float64);
        return shapeOfOther is not null && HostTensor.ElementCount(shapeOfOther) == numbers.Count ? new HostTensor(shapeOfOther, TensorDType.Float64, numbers.Values) : numbers;
    }
}

/// <summary>What Compare-E2ETensor found.</summary>
public sealed record TensorComparisonResult(AllCloseResult Result, string? FirstIndex, double RelativeTolerance, double AbsoluteTolerance, bool EqualNaN)
{
    public bool Close => Result.Close;

    public long Differing => Result.Differing;

    public long Count => Result.Count;

    public string? Problem => Result.Problem;

    public override string ToString() => Close ? $"all {Count} values close (rtol {RelativeTolerance}, atol {AbsoluteTolerance})"
        : Problem ?? $"{Differing} of {Count} values differ; the first at {FirstIndex} (flat {Result.FirstIndex}): {Result.Actual.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} against the expected {Result.Expected.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}";
}

/// <summary>Completes -Operation with the operations the local SkyTorch server computes.</summary>
public sealed class AtenOperationCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete, System.Management.Automation.Language.CommandAst commandAst, IDictionary fakeBoundParameters) =>
        AtenKernels.Supported.Select(o => o.Replace("aten.", "aten::", StringComparison.Ordinal)).Where(o => o.StartsWith(wordToComplete, StringComparison.OrdinalIgnoreCase))
            .Select(o => new CompletionResult(o, o, CompletionResultType.ParameterValue, o));
}

/// <summary>Turning the shell's values into tensors and operation arguments, and freeing tensors with their scope.</summary>
internal static class TensorArguments
{
    public static HostTensor ToHostTensor(object value, long[]? shape, TensorDType? dtype)
    {
        var unwrapped = value is PSObject ps ? ps.BaseObject : value;
        if (unwrapped is HostTensor tensor)
        {
            return shape is null && dtype is null ? tensor : new HostTensor(shape ?? tensor.Shape, dtype ?? tensor.DType, tensor.Values);
        }
        var typed = unwrapped switch
        {
            double[] => TensorDType.Float64,
            int[] => TensorDType.Int32,
            long[] => TensorDType.Int64,
            _ => TensorDType.Float32,
        };
        var items = unwrapped is IEnumerable enumerable and not string ? enumerable.Cast<object?>() : new[] { unwrapped };
        var values = items.Select(v => v is PSObject p ? p.BaseObject : v).Select(v => v switch
        {
            null => throw new E2EException(ErrorCatalog.InvalidArgument, "A tensor's values are numbers; one was $null.", null),
            IConvertible c and not string => c.ToDouble(System.Globalization.CultureInfo.InvariantCulture),
            _ => throw new E2EException(ErrorCatalog.InvalidArgument, $"A tensor's values are numbers, not {v.GetType().Name} ('{v}').", v),
        }).ToArray();
        return new HostTensor(shape ?? new[] { (long)values.Length }, dtype ?? typed, values);
    }

    /// <summary>Operation arguments as the client takes them; with <paramref name="local"/>, tensor values too.</summary>
    public static IEnumerable<object> Convert(IEnumerable<object> arguments, bool local) => arguments.Select(a => a is PSObject p ? p.BaseObject : a).Select<object, object>(a => a switch
    {
        E2ETensor tensor when tensor.Removed => throw new E2EException(ErrorCatalog.TensorNotFound, $"{tensor} was removed.", tensor.Id),
        E2ETensor tensor => (object)tensor,
        HostTensor values when local => new AtenValue.Tensor(values),
        HostTensor => throw new E2EException(ErrorCatalog.InvalidArgument, "Tensor values are an argument of -Local only; send them to the Compute first (Send-E2ETensor).", a),
        bool flag => new AtenValue.Flag(flag),
        int or long or short or byte => new AtenValue.Number(System.Convert.ToDouble(a, System.Globalization.CultureInfo.InvariantCulture), IsInteger: true),
        double or float or decimal => new AtenValue.Number(System.Convert.ToDouble(a, System.Globalization.CultureInfo.InvariantCulture), IsInteger: false),
        int[] dims => new AtenValue.IntList(dims.Select(d => (long)d).ToArray()),
        long[] dims => new AtenValue.IntList(dims),
        object[] items when items.All(i => (i is PSObject q ? q.BaseObject : i) is int or long) => new AtenValue.IntList(items.Select(i => System.Convert.ToInt64(i is PSObject q ? q.BaseObject : i, System.Globalization.CultureInfo.InvariantCulture)).ToArray()),
        object[] items when local => new AtenValue.Tensor(ToHostTensor(items, null, null)),
        _ => throw new E2EException(ErrorCatalog.InvalidArgument, $"An operation's argument is a tensor, a number, an integer array or a boolean, not {a?.GetType().Name ?? "$null"}.", a),
    });

    /// <summary>Registers the tensor's removal in the scope: at the scope's end it is freed unless it was removed before (a Compute gone by then holds nothing to free).</summary>
    public static void RegisterRemoval(E2EScope scope, E2ETensor tensor) =>
        scope.Register("Tensor", tensor.ToString(), context =>
        {
            if (tensor.Removed)
            {
                return;
            }
            try
            {
                TensorClient.RemoveAsync(new[] { tensor }, TimeSpan.FromSeconds(30), context.Cancellation).GetAwaiter().GetResult();
            }
            catch (E2EException ex) when (ex.Error == ErrorCatalog.ComputeUnavailable || ex.Error == ErrorCatalog.GrpcCallFailed)
            {
                // The Compute (or its cluster) went first: its tensors went with its server.
            }
        });
}
