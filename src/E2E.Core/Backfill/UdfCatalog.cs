using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Tables;
using E2E.Core.Udf;

namespace E2E.Core.Backfill;

/// <summary>What a published UDF declares (its data type and inputs), asked of a short-lived worker.</summary>
public sealed record UdfDescription(string Name, string DataType, IReadOnlyList<string> Inputs, bool Batched, bool Stateful, double NumGpus);

public static class UdfCatalog
{
    public static async Task<UdfDescription> DescribeAsync(string manifestName, string storeUri, string udf, string python, string workerScript, string cacheDirectory, CancellationToken cancellation)
    {
        using var store = ObjectStores.Open(storeUri);
        var manifest = await ManifestStore.GetAsync(manifestName, store, cancellation).ConfigureAwait(false);
        var paths = new List<string> { Path.GetDirectoryName(Path.GetFullPath(workerScript))! };
        paths.AddRange(await ManifestStore.MaterializeAsync(manifest, store, cacheDirectory, cancellation).ConfigureAwait(false));
        using var worker = await UdfWorker.StartAsync(python, workerScript, paths, manifest.PyModules, udf, cancellation).ConfigureAwait(false);
        var d = worker.Description;
        return new UdfDescription(d.GetProperty("name").GetString()!, d.GetProperty("data_type").GetString()!,
            d.GetProperty("inputs").EnumerateArray().Select(i => i.GetString()!).ToArray(), d.GetProperty("batched").GetBoolean(), d.GetProperty("stateful").GetBoolean(), d.GetProperty("num_gpus").GetDouble());
    }

    /// <summary>The column type for a UDF: the requested one, which must agree with what the UDF declares, else the declared one.</summary>
    public static ColumnType ResolveType(UdfDescription udf, string? requested)
    {
        var declared = ColumnType.Parse(udf.DataType);
        if (requested is null)
        {
            return declared;
        }
        var wanted = ColumnType.Parse(requested);
        if (wanted != declared)
        {
            throw new E2EException(ErrorCatalog.UdfTypeMismatch, $"UDF '{udf.Name}' declares data_type {declared}, but the column was asked to be {wanted}.", requested);
        }
        return wanted;
    }
}
