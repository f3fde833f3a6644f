using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Tables;
using E2E.Core.Udf;

namespace E2E.Core.Backfill;

/// <summary>What a published UDF declares (its data type and inputs), asked of a short-lived worker.</summary>
public sealed record UdfDescription(string Name, string DataType, IReadOnlyList<string> Inputs, bool Batched, bool Stateful, double NumGpus)
{
    /// <summary>Each input's Python annotation (bytes, int, float, str, bool, dict, list), or null where the UDF has none.</summary>
    public IReadOnlyList<string?> InputTypes { get; init; } = Array.Empty<string?>();
}

public static class UdfCatalog
{
    public static async Task<UdfDescription> DescribeAsync(string manifestName, string storeUri, string udf, string python, string workerScript, string cacheDirectory, CancellationToken cancellation)
    {
        using var store = ObjectStores.Open(storeUri);
        var manifest = await ManifestStore.GetAsync(manifestName, store, cancellation).ConfigureAwait(false);
        var environment = await WorkerEnvironment.MaterializeAsync(manifest, store, cacheDirectory, workerScript, cancellation).ConfigureAwait(false);
        await using var worker = await UdfWorker.StartAsync(python, environment, new[] { new WorkerUdf(udf, Array.Empty<int>()) }, source: null, cancellation).ConfigureAwait(false);
        var d = worker.Descriptions[udf];
        return new UdfDescription(d.GetProperty("name").GetString()!, d.GetProperty("data_type").GetString()!,
            d.GetProperty("inputs").EnumerateArray().Select(i => i.GetString()!).ToArray(), d.GetProperty("batched").GetBoolean(), d.GetProperty("stateful").GetBoolean(), d.GetProperty("num_gpus").GetDouble())
        {
            InputTypes = d.TryGetProperty("input_types", out var types) ? types.EnumerateArray().Select(t => t.ValueKind == JsonValueKind.String ? t.GetString() : null).ToArray() : Array.Empty<string?>(),
        };
    }

    /// <summary>
    /// Checks that each bound column can be what the UDF's annotation says it takes (a bytes input is not an int64
    /// column); inputs without an annotation, and batched UDFs (which take lists), are not checked.
    /// </summary>
    public static void CheckInputs(UdfDescription udf, IReadOnlyList<string> boundColumns, IReadOnlyList<TableColumn> columns)
    {
        if (udf.Batched)
        {
            return;
        }
        for (var i = 0; i < Math.Min(boundColumns.Count, udf.InputTypes.Count); i++)
        {
            var annotation = udf.InputTypes[i];
            var column = columns.FirstOrDefault(c => c.Name == boundColumns[i]);
            if (annotation is null || column is null)
            {
                continue;
            }
            var fits = annotation switch
            {
                "bytes" or "bytearray" => column.Type.Name == "binary",
                "int" => column.Type.Name is "int64" or "bool",
                "float" => column.Type.Name is "float64" or "int64",
                "str" => column.Type.Name == "string",
                "bool" => column.Type.Name == "bool",
                "dict" => column.Type.Name == "struct",
                "list" => column.Type.Name == "vector",
                _ => true,
            };
            if (!fits)
            {
                var parameter = i < udf.Inputs.Count ? udf.Inputs[i] : $"input {i + 1}";
                throw new E2EException(ErrorCatalog.UdfTypeMismatch,
                    $"UDF '{udf.Name}' takes '{parameter}: {annotation}', but column '{column.Name}' is {column.Type}; bind another column with -Input.", column.Name);
            }
        }
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
