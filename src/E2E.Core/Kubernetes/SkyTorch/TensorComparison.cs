using System.Globalization;

namespace E2E.Core.Kubernetes.SkyTorch;

/// <summary>What Should -BeAllClose found: whether every value is close, and if not, the first that is not and how many are not.</summary>
public sealed record AllCloseResult(bool Close, string? Problem, long FirstIndex, double Actual, double Expected, long Differing, long Count);

/// <summary>
/// torch.allclose: |actual - expected| &lt;= atol + rtol * |expected| for every element (defaults rtol 1e-05,
/// atol 1e-08). NaN is close to nothing, itself included (torch's equal_nan=False), unless <c>equalNaN</c>; an
/// infinity is close only to the same infinity. Shapes must be equal (no broadcasting).
/// </summary>
public static class TensorComparison
{
    public static AllCloseResult AllClose(IReadOnlyList<long> actualShape, IReadOnlyList<double> actual, IReadOnlyList<long> expectedShape, IReadOnlyList<double> expected, double relativeTolerance, double absoluteTolerance, bool equalNaN)
    {
        if (!actualShape.SequenceEqual(expectedShape) || actual.Count != expected.Count)
        {
            return new AllCloseResult(false, $"the shapes differ: [{string.Join(", ", actualShape)}] against the expected [{string.Join(", ", expectedShape)}]", -1, double.NaN, double.NaN, actual.Count, actual.Count);
        }
        long first = -1, differing = 0;
        for (var i = 0; i < actual.Count; i++)
        {
            if (!Close(actual[i], expected[i], relativeTolerance, absoluteTolerance, equalNaN))
            {
                differing++;
                if (first < 0)
                {
                    first = i;
                }
            }
        }
        return first < 0 ? new AllCloseResult(true, null, -1, double.NaN, double.NaN, 0, actual.Count)
            : new AllCloseResult(false, null, first, actual[(int)first], expected[(int)first], differing, actual.Count);
    }

    public static bool Close(double actual, double expected, double relativeTolerance, double absoluteTolerance, bool equalNaN)
    {
        if (double.IsNaN(actual) || double.IsNaN(expected))
        {
            return equalNaN && double.IsNaN(actual) && double.IsNaN(expected);
        }
        if (double.IsInfinity(actual) || double.IsInfinity(expected))
        {
            return actual == expected;
        }
        return Math.Abs(actual - expected) <= absoluteTolerance + (relativeTolerance * Math.Abs(expected));
    }

    /// <summary>A flat index as the index of each dimension: 27 in [10, 10] is [2, 7].</summary>
    public static string Index(IReadOnlyList<long> shape, long flat)
    {
        if (shape.Count == 0)
        {
            return "[]";
        }
        var index = new long[shape.Count];
        for (var d = shape.Count - 1; d >= 0; d--)
        {
            index[d] = shape[d] == 0 ? 0 : flat % shape[d];
            flat = shape[d] == 0 ? 0 : flat / shape[d];
        }
        return "[" + string.Join(", ", index.Select(i => i.ToString(CultureInfo.InvariantCulture))) + "]";
    }
}
