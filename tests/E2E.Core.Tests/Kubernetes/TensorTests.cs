using E2E.Core.Errors;
using E2E.Core.Kubernetes;
using E2E.Core.Kubernetes.SkyTorch;
using E2E.Core.StandIns.Grpc;
using E2E.Core.StandIns.Kubernetes;

namespace E2E.Core.Tests.Kubernetes;

/// <summary>
/// SkyTorch's tensor service: the CPU kernels against values worked out by hand, allclose, and the client against the
/// local server over real HTTP/2 (.NET's gRPC client is the judge of the h2c server's streams and flow control).
/// </summary>
public sealed class TensorTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static HostTensor T(long[] shape, params double[] values) => new(shape, TensorDType.Float32, values);

    private static AtenValue A(HostTensor t) => new AtenValue.Tensor(t);

    [Fact]
    public void Elementwise_operations_broadcast_and_promote_as_torch_does()
    {
        var m = T(new long[] { 2, 3 }, 1, 2, 3, 4, 5, 6);
        var row = T(new long[] { 3 }, 10, 20, 30);
        Assert.Equal(new double[] { 11, 22, 33, 14, 25, 36 }, AtenKernels.Execute("aten::add.Tensor", new AtenValue[] { A(m), A(row) }).Values);
        Assert.Equal(new double[] { -19, -38, -57, -16, -35, -54 }, AtenKernels.Execute("aten.sub.Tensor", new AtenValue[] { A(m), A(row), new AtenValue.Number(2, true) }).Values);
        var column = T(new long[] { 2, 1 }, 2, 3);
        Assert.Equal(new double[] { 2, 4, 6, 12, 15, 18 }, AtenKernels.Execute("mul.Tensor", new AtenValue[] { A(m), A(column) }).Values);
        // Integers divided are float32; a float scalar makes an integer tensor float32; float64 wins over float32.
        var ints = new HostTensor(new long[] { 2 }, TensorDType.Int64, new double[] { 3, 4 });
        var half = AtenKernels.Execute("aten::div.Scalar", new AtenValue[] { new AtenValue.Tensor(ints), new AtenValue.Number(2, true) });
        Assert.Equal(TensorDType.Float32, half.DType);
        Assert.Equal(new double[] { 1.5, 2 }, half.Values);
        Assert.Equal(TensorDType.Float32, AtenKernels.Execute("aten::mul.Scalar", new AtenValue[] { new AtenValue.Tensor(ints), new AtenValue.Number(0.5, false) }).DType);
        Assert.Equal(TensorDType.Int64, AtenKernels.Execute("aten::mul.Scalar", new AtenValue[] { new AtenValue.Tensor(ints), new AtenValue.Number(3, true) }).DType);
        Assert.Equal(TensorDType.Float64, AtenKernels.Execute("aten::add.Tensor", new AtenValue[] { A(m), new AtenValue.Tensor(new HostTensor(new long[] { 3 }, TensorDType.Float64, new double[] { 1, 1, 1 })) }).DType);
        // float32 results are rounded to float32.
        Assert.Equal((double)(float)(1 / 3.0), AtenKernels.Execute("aten::div.Scalar", new AtenValue[] { A(T(new long[] { 1 }, 1)), new AtenValue.Number(3, true) }).Values[0]);

        var mismatch = Assert.Throws<E2EException>(() => AtenKernels.Execute("aten::add.Tensor", new AtenValue[] { A(m), A(T(new long[] { 2 }, 1, 2)) }));
        Assert.Same(ErrorCatalog.TensorShapeMismatch, mismatch.Error);
        Assert.Contains("The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1", mismatch.Message);
    }

    [Fact]
    public void Matrix_products_transposes_and_reductions_give_the_values_worked_out_by_hand()
    {
        var a = T(new long[] { 2, 3 }, 1, 2, 3, 4, 5, 6);
        var b = T(new long[] { 3, 2 }, 7, 8, 9, 10, 11, 12);
        var product = AtenKernels.Execute("aten::mm", new AtenValue[] { A(a), A(b) });
        Assert.Equal(new long[] { 2, 2 }, product.Shape);
        Assert.Equal(new double[] { 58, 64, 139, 154 }, product.Values);
        var vector = AtenKernels.Execute("aten::matmul", new AtenValue[] { A(a), A(T(new long[] { 3 }, 1, 0, -1)) });
        Assert.Equal(new long[] { 2 }, vector.Shape);
        Assert.Equal(new double[] { -2, -2 }, vector.Values);
        var t = AtenKernels.Execute("aten::t", new AtenValue[] { A(a) });
        Assert.Equal(new long[] { 3, 2 }, t.Shape);
        Assert.Equal(new double[] { 1, 4, 2, 5, 3, 6 }, t.Values);
        var cube = T(new long[] { 2, 2, 2 }, 0, 1, 2, 3, 4, 5, 6, 7);
        var swapped = AtenKernels.Execute("aten::transpose.int", new AtenValue[] { A(cube), new AtenValue.Number(0, true), new AtenValue.Number(-1, true) });
        Assert.Equal(new double[] { 0, 4, 2, 6, 1, 5, 3, 7 }, swapped.Values);
        Assert.Equal(new double[] { 21 }, AtenKernels.Execute("aten::sum", new AtenValue[] { A(a) }).Values);
        var rows = AtenKernels.Execute("aten::sum.dim_IntList", new AtenValue[] { A(a), new AtenValue.IntList(new long[] { 1 }), new AtenValue.Flag(true) });
        Assert.Equal(new long[] { 2, 1 }, rows.Shape);
        Assert.Equal(new double[] { 6, 15 }, rows.Values);
        var columns = AtenKernels.Execute("aten::mean.dim", new AtenValue[] { A(a), new AtenValue.IntList(new long[] { 0 }) });
        Assert.Equal(new long[] { 3 }, columns.Shape);
        Assert.Equal(new double[] { 2.5, 3.5, 4.5 }, columns.Values);
        Assert.Equal(new double[] { 0, 2, 0 }, AtenKernels.Execute("aten::relu", new AtenValue[] { A(T(new long[] { 3 }, -1, 2, -3)) }).Values);
        Assert.Equal(new double[] { 1, -2 }, AtenKernels.Execute("aten::neg", new AtenValue[] { A(T(new long[] { 2 }, -1, 2)) }).Values);
        Assert.Equal((double)(float)Math.E, AtenKernels.Execute("aten::exp", new AtenValue[] { A(T(new long[] { 1 }, 1)) }).Values[0]);

        var inner = Assert.Throws<E2EException>(() => AtenKernels.Execute("aten::mm", new AtenValue[] { A(a), A(a) }));
        Assert.Contains("mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)", inner.Message);
        Assert.Same(ErrorCatalog.UnknownTensorOperation, Assert.Throws<E2EException>(() => AtenKernels.Execute("aten::conv9d", new AtenValue[] { A(a) })).Error);
        // What an operation gives is known from shapes alone, with the same checks, and nothing for operations this side does not know.
        var meta = new AtenValue.Meta(new long[] { 4096, 512 }, TensorDType.Float32);
        Assert.Equal(new long[] { 4096, 4096 }, AtenKernels.Infer("aten::mm", new[] { meta, new AtenValue.Meta(new long[] { 512, 4096 }, TensorDType.Float32) })!.Value.Shape);
        Assert.Same(ErrorCatalog.TensorShapeMismatch, Assert.Throws<E2EException>(() => AtenKernels.Infer("aten::mm", new[] { meta, meta })).Error);
        Assert.Null(AtenKernels.Infer("aten::conv2d", new[] { meta }));
    }

    [Fact]
    public void Tensors_are_their_little_endian_bytes_and_allclose_is_torchs()
    {
        var t = new HostTensor(new long[] { 2 }, TensorDType.Float32, new[] { 1.0, -2.5 });
        Assert.Equal(new byte[] { 0, 0, 0x80, 0x3F, 0, 0, 0x20, 0xC0 }, t.ToBytes());
        Assert.Equal(t.Values, HostTensor.FromBytes(t.Shape, TensorDType.Float32, t.ToBytes()).Values);
        Assert.Same(ErrorCatalog.TensorShapeMismatch, Assert.Throws<E2EException>(() => new HostTensor(new long[] { 2, 2 }, TensorDType.Float32, new double[] { 1, 2, 3 })).Error);
        Assert.Same(ErrorCatalog.TensorDTypeNotSupported, Assert.Throws<E2EException>(() => HostTensor.ParseTorchName("torch.bfloat16")).Error);

        var close = TensorComparison.AllClose(new long[] { 3 }, new[] { 1.0, 2.0, 3.0 }, new long[] { 3 }, new[] { 1.0 + 1e-6, 2.0, 3.0 }, 1e-5, 1e-8, equalNaN: false);
        Assert.True(close.Close);
        var far = TensorComparison.AllClose(new long[] { 2, 2 }, new[] { 1.0, 2.0, 3.0, 4.0 }, new long[] { 2, 2 }, new[] { 1.0, 2.0, 3.1, 4.2 }, 1e-5, 1e-8, equalNaN: false);
        Assert.Equal((false, 2L, 3.0, 3.1, 2L), (far.Close, far.FirstIndex, far.Actual, far.Expected, far.Differing));
        Assert.Equal("[1, 0]", TensorComparison.Index(new long[] { 2, 2 }, far.FirstIndex));
        Assert.False(TensorComparison.Close(double.NaN, double.NaN, 1e-5, 1e-8, equalNaN: false));
        Assert.True(TensorComparison.Close(double.NaN, double.NaN, 1e-5, 1e-8, equalNaN: true));
        Assert.True(TensorComparison.Close(double.PositiveInfinity, double.PositiveInfinity, 1e-5, 1e-8, false));
        Assert.False(TensorComparison.Close(double.PositiveInfinity, 1e308, 1e-5, 1e-8, false));
        Assert.Contains("shapes differ", TensorComparison.AllClose(new long[] { 4 }, new double[4], new long[] { 2, 2 }, new double[4], 1e-5, 1e-8, false).Problem);
    }

    private static (H2cGrpcServer Server, SimulatedTensorService Service, ComputeEndpoint Endpoint) LocalServer(Func<bool>? ready = null)
    {
        var service = new SimulatedTensorService();
        var server = new H2cGrpcServer(request => ready?.Invoke() == false ? GrpcReply.Fail(14, "no healthy upstream") : service.Handle(request.Headers["compute-id"], request));
        return (server, service, new ComputeEndpoint("alpha", "default", "127.0.0.1", server.Port, new Dictionary<string, string> { ["compute-id"] = "default/alpha" }));
    }

    [Fact]
    public async Task Tensors_go_to_the_local_server_in_chunks_are_operated_on_and_come_back_bit_for_bit()
    {
        var (server, service, endpoint) = LocalServer();
        using (server)
        {
            // 3.5 MB: four chunks each way.
            var values = Enumerable.Range(0, 917_504).Select(i => (i % 1009) / 3.0 - 100).ToArray();
            var big = new HostTensor(new long[] { 896, 1024 }, TensorDType.Float32, values);
            var sent = await TensorClient.SendAsync(endpoint, "local", big, "cpu", Timeout, CancellationToken.None);
            Assert.Equal(new long[] { 896, 1024 }, sent.Shape);
            Assert.Equal((TensorDType.Float32, "default/alpha"), (sent.DType, sent.Compute));
            var back = await TensorClient.ReceiveAsync(sent, Timeout, CancellationToken.None);
            Assert.Equal(big.ToBytes(), back.ToBytes());

            var x = await TensorClient.SendAsync(endpoint, "local", T(new long[] { 2, 2 }, 1, 2, 3, 4), "cpu", Timeout, CancellationToken.None);
            var sum = await TensorClient.ExecuteAsync(endpoint, "local", "aten::add.Tensor", new object[] { x, x }, Timeout, CancellationToken.None);
            Assert.Equal(new long[] { 2, 2 }, sum.Shape);
            Assert.Equal(new double[] { 2, 4, 6, 8 }, (await TensorClient.ReceiveAsync(sum, Timeout, CancellationToken.None)).Values);
            var streamed = await TensorClient.ExecuteManyAsync(endpoint, "local", new (string, IReadOnlyList<object>)[]
            {
                ("aten::mm", new object[] { x, x }), ("aten::mul.Scalar", new object[] { x, new AtenValue.Number(10, true) }), ("aten::t", new object[] { x }),
            }, Timeout, CancellationToken.None);
            Assert.Equal(new double[] { 7, 10, 15, 22 }, (await TensorClient.ReceiveAsync(streamed[0], Timeout, CancellationToken.None)).Values);
            Assert.Equal(new double[] { 10, 20, 30, 40 }, (await TensorClient.ReceiveAsync(streamed[1], Timeout, CancellationToken.None)).Values);
            Assert.Equal(new double[] { 1, 3, 2, 4 }, (await TensorClient.ReceiveAsync(streamed[2], Timeout, CancellationToken.None)).Values);

            var unknown = await Assert.ThrowsAsync<E2EException>(() => TensorClient.ExecuteAsync(endpoint, "local", "aten::conv9d", new object[] { x }, Timeout, CancellationToken.None));
            Assert.Same(ErrorCatalog.UnknownTensorOperation, unknown.Error);
            Assert.Same(ErrorCatalog.TensorShapeMismatch, (await Assert.ThrowsAsync<E2EException>(() => TensorClient.ExecuteAsync(endpoint, "local", "aten::mm", new object[] { x, sent }, Timeout, CancellationToken.None))).Error);

            Assert.Equal(6, service.TensorCount("default/alpha"));
            Assert.Equal(2, await TensorClient.RemoveAsync(new[] { x, sum }, Timeout, CancellationToken.None));
            Assert.True(x.Removed);
            Assert.Same(ErrorCatalog.TensorNotFound, (await Assert.ThrowsAsync<E2EException>(() => TensorClient.ReceiveAsync(x, Timeout, CancellationToken.None))).Error);
            Assert.Same(ErrorCatalog.TensorNotFound, (await Assert.ThrowsAsync<E2EException>(() => TensorClient.ExecuteAsync(endpoint, "local", "aten::relu", new object[] { x }, Timeout, CancellationToken.None))).Error);
            service.Forget("default/alpha");
            Assert.Same(ErrorCatalog.TensorNotFound, (await Assert.ThrowsAsync<E2EException>(() => TensorClient.ReceiveAsync(sent, Timeout, CancellationToken.None))).Error);
        }
    }

    [Fact]
    public async Task Many_large_transfers_at_once_share_one_connection_within_its_flow_control_windows()
    {
        var (server, _, endpoint) = LocalServer();
        using (server)
        {
            // Eight 8 MB tensors each way at once: more than the 16 MB windows on either side, so both wait for WINDOW_UPDATE.
            var tensors = Enumerable.Range(0, 8).Select(n => new HostTensor(new long[] { 2048, 1024 }, TensorDType.Float32, Enumerable.Range(0, 2048 * 1024).Select(i => (double)((i * (n + 3)) % 4093)).ToArray())).ToArray();
            var sent = await Task.WhenAll(tensors.Select(t => TensorClient.SendAsync(endpoint, "local", t, "cpu", Timeout, CancellationToken.None)));
            var back = await Task.WhenAll(sent.Select(t => TensorClient.ReceiveAsync(t, Timeout, CancellationToken.None)));
            for (var n = 0; n < tensors.Length; n++)
            {
                Assert.Equal(tensors[n].ToBytes(), back[n].ToBytes());
            }
        }
    }

    [Fact]
    public async Task A_compute_that_is_not_ready_is_ComputeUnavailable()
    {
        var ready = false;
        var (server, _, endpoint) = LocalServer(() => ready);
        using (server)
        {
            var error = await Assert.ThrowsAsync<E2EException>(() => TensorClient.SendAsync(endpoint, "local", T(new long[] { 1 }, 1), "cpu", Timeout, CancellationToken.None));
            Assert.Same(ErrorCatalog.ComputeUnavailable, error.Error);
            Assert.Contains("no healthy upstream", error.Message);
            ready = true;
            Assert.NotNull(await TensorClient.SendAsync(endpoint, "local", T(new long[] { 1 }, 1), "cpu", Timeout, CancellationToken.None));
        }
    }
}
