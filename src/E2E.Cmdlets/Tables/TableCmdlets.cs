using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Backfill;
using E2E.Core.Tables;
using E2E.Core.Udf;

namespace E2E.Cmdlets.Tables;

/// <summary>Creates a table in the embedded SQLite table store from an image folder or from records.</summary>
/// <remarks>
/// <para>With -ImageDirectory, each image (.jpg, .jpeg, .png) becomes a row with columns image (binary), filename, breed and label, in the Oxford-IIIT Pet layout: files named Breed_N.jpg, breed = the name without its number, label = the breed's index among the folder's breeds, sorted. With -InputObject (from the pipeline), each record (hashtable or object) becomes a row and column types are inferred from the first record.</para>
/// <para>Rows are split into fragments of -FragmentSize rows (25 by default, as upstream), the unit of work of backfills. An existing table name is TableExists; names must be identifiers.</para>
/// </remarks>
/// <example>
/// <code>New-E2ETable -Database ./pets.db -Name pets -ImageDirectory ./images -FragmentSize 25</code>
/// <para>The Oxford Pets source table.</para>
/// </example>
/// <example>
/// <code>1..100 | ForEach-Object { @{ id = $_; text = "row $_" } } | New-E2ETable -Database ./t.db -Name numbers</code>
/// <para>A table from records.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "E2ETable", SupportsShouldProcess = true, DefaultParameterSetName = "Images")]
[OutputType(typeof(TableInfo))]
public sealed class NewE2ETableCommand : E2ECmdlet
{
    private readonly List<IReadOnlyDictionary<string, object?>> _records = new();

    /// <summary>The SQLite file of the table store; created when missing.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string? Database { get; set; }

    /// <summary>The table's name (letters, digits and '_').</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>A folder of pet images in the Oxford-IIIT layout.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Images")]
    [ValidateNotNullOrEmpty]
    public string? ImageDirectory { get; set; }

    /// <summary>At most this many images, the first by file name.</summary>
    [Parameter(ParameterSetName = "Images")]
    [ValidateRange(1, int.MaxValue)]
    public int? Limit { get; set; }

    /// <summary>Records (hashtables or objects) that become rows.</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Records", ValueFromPipeline = true)]
    [ValidateNotNull]
    public PSObject? InputObject { get; set; }

    /// <summary>Rows per fragment; 25 by default.</summary>
    [Parameter]
    [ValidateRange(1, 1_000_000)]
    public int FragmentSize { get; set; } = 25;

    protected override void Process()
    {
        if (InputObject is not null)
        {
            _records.Add(ToRecord(InputObject));
        }
    }

    protected override void End()
    {
        var database = GetUnresolvedProviderPathFromPSPath(Database!);
        if (!ShouldProcess($"{database} table {Name}", "Create table"))
        {
            return;
        }
        var store = new TableStore(database);
        if (ParameterSetName == "Images")
        {
            WriteObject(store.Create(Name!, PetImages.Columns, PetImages.Rows(GetUnresolvedProviderPathFromPSPath(ImageDirectory!), Limit), FragmentSize));
            return;
        }
        var columns = _records.Count == 0 ? Array.Empty<(string, ColumnType)>() : _records[0].Select(p => (p.Key, ColumnType.Infer(p.Value))).ToArray();
        WriteObject(store.Create(Name!, columns, _records, FragmentSize));
    }

    private static IReadOnlyDictionary<string, object?> ToRecord(PSObject record) => record.BaseObject switch
    {
        System.Collections.IDictionary map => map.Keys.Cast<object>().ToDictionary(k => k.ToString()!, k => Unwrap(map[k])),
        _ => record.Properties.ToDictionary(p => p.Name, p => Unwrap(p.Value)),
    };

    private static object? Unwrap(object? value) => value is PSObject wrapped ? wrapped.BaseObject : value;
}

/// <summary>Describes the tables of a table store: schema, rows, fragments, version.</summary>
/// <remarks>
/// <para>The version grows with every schema change and every committed backfill, so a test can see that partial results became visible. Columns bound to UDFs show the UDF, manifest and store. An unknown name is TableNotFound.</para>
/// </remarks>
/// <example>
/// <code>Get-E2ETable -Database ./pets.db -Name pets | Select-Object -ExpandProperty Columns</code>
/// <para>The pets table's columns and the UDFs behind them.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "E2ETable")]
[OutputType(typeof(TableInfo))]
public sealed class GetE2ETableCommand : E2ECmdlet
{
    /// <summary>The SQLite file of the table store.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Database { get; set; }

    /// <summary>The table's name; all tables when omitted.</summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TableNameCompleter))]
    public string? Name { get; set; }

    protected override void Process()
    {
        var store = TableStore.OpenExisting(GetUnresolvedProviderPathFromPSPath(Database!));
        foreach (var name in Name is null ? store.TableNames() : new[] { Name })
        {
            WriteObject(store.Describe(name));
        }
    }
}

/// <summary>Reads rows of a table as objects.</summary>
/// <remarks>
/// <para>Each row is an object with _rowid, _fragment and every column (vectors as float arrays, structs as JSON text). -Where takes one SQL expression over the columns (checked before it runs; InvalidFilter otherwise).</para>
/// </remarks>
/// <example>
/// <code>Get-E2ETableRow -Database ./pets.db -Name pets -Where 'size IS NULL' | Measure-Object</code>
/// <para>Counts the rows a backfill has not filled yet.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "E2ETableRow")]
[OutputType(typeof(PSObject))]
public sealed class GetE2ETableRowCommand : E2ECmdlet
{
    /// <summary>The SQLite file of the table store.</summary>
    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Database { get; set; }

    /// <summary>The table's name.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TableNameCompleter))]
    public string? Name { get; set; }

    /// <summary>Only the first N rows.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? First { get; set; }

    /// <summary>A SQL expression that rows must satisfy, such as 'label = 3 AND size IS NOT NULL'.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Where { get; set; }

    protected override void Process()
    {
        var store = TableStore.OpenExisting(GetUnresolvedProviderPathFromPSPath(Database!));
        foreach (var row in store.Rows(Name!, First, Where, CancelToken))
        {
            CancelToken.ThrowIfCancellationRequested();
            var item = new PSObject();
            foreach (var (key, value) in row)
            {
                item.Properties.Add(new PSNoteProperty(key, value));
            }
            WriteObject(item);
        }
    }
}

/// <summary>Adds a column computed by a UDF of a published manifest.</summary>
/// <remarks>
/// <para>Reads the manifest from -Store, asks a worker what -Udf declares, and adds an empty column of its data type (or -Type, which must agree: UdfTypeMismatch otherwise). The UDF's parameters name the input columns unless -Input says otherwise. An unknown UDF is UdfNotFound and an unknown input column ColumnNotFound; in both cases the table is not changed. Invoke-Backfill then fills the column.</para>
/// </remarks>
/// <example>
/// <code>Add-E2EColumn -Database ./pets.db -Table pets -Name size -Udf file_size -Manifest oxford-pets-simple -Store file:///tmp/udf-bucket -Input image</code>
/// <para>A file_size column over the image column.</para>
/// </example>
[Cmdlet(VerbsCommon.Add, "E2EColumn", SupportsShouldProcess = true)]
[OutputType(typeof(TableInfo))]
public sealed class AddE2EColumnCommand : AsyncE2ECmdlet
{
    /// <summary>The SQLite file of the table store.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string? Database { get; set; }

    /// <summary>The table to add the column to.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TableNameCompleter))]
    public string? Table { get; set; }

    /// <summary>The new column's name.</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>The UDF that computes the column.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string? Udf { get; set; }

    /// <summary>The published manifest (package name) that holds the UDF.</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ManifestNameCompleter))]
    public string? Manifest { get; set; }

    /// <summary>The store the manifest is published in (file://, s3://, gs://).</summary>
    [Parameter(Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string? Store { get; set; }

    /// <summary>The column type: int64, float64, string, binary, bool, struct or vector[float32, N]; the UDF's data_type by default.</summary>
    [Parameter]
    public string? Type { get; set; }

    /// <summary>The input columns, in the UDF's parameter order; the UDF's parameter names by default.</summary>
    [Parameter]
    public string[]? Input { get; set; }

    /// <summary>The Python for the worker that reads the UDF's declaration; python3 by default.</summary>
    [Parameter]
    public string Python { get; set; } = "python3";

    private string? _database;
    private string? _workerScript;

    protected override void PrepareRecord()
    {
        _database = GetUnresolvedProviderPathFromPSPath(Database!);
        _workerScript = ModuleFiles.WorkerScript;
    }

    protected override async Task ProcessAsync()
    {
        var store = TableStore.OpenExisting(_database!);
        store.Describe(Table!);
        var cache = ManifestStore.DefaultCacheDirectory;
        var udf = await WithProgressAsync(Activities.Manifest, $"UDF {Udf} of {Manifest}", () => "fetching the manifest and asking a worker for the UDF's signature",
            () => UdfCatalog.DescribeAsync(Manifest!, Store!, Udf!, Python, _workerScript!, cache, CancelToken)).ConfigureAwait(false);
        var type = UdfCatalog.ResolveType(udf, Type);
        if (await ShouldProcessAsync($"{_database} table {Table}", $"Add column {Name} ({type}) computed by {Udf}").ConfigureAwait(false))
        {
            var inputs = Input ?? udf.Inputs;
            UdfCatalog.CheckInputs(udf, inputs, store.Describe(Table!).Columns);
            Output(store.AddUdfColumn(Table!, Name!, type, udf.Name, Manifest!, Store!, inputs));
        }
    }
}
