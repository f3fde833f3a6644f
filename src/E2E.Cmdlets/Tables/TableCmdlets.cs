using System.Management.Automation;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Backfill;
using E2E.Core.Errors;
using E2E.Core.Tables;
using E2E.Core.Udf;

namespace E2E.Cmdlets.Tables;

/// <summary>The engine of a cmdlet that reads or writes tables or their backfill jobs: the embedded store, or a Geneva database through the Geneva library.</summary>
public abstract class TableEngineCmdlet : E2ECmdlet
{
    /// <summary>Local (the embedded SQLite table store) or Geneva (a Geneva database, through the Geneva library in -Python; -Database is then its URI: file://, s3://, gs://, or a path).</summary>
    [Parameter]
    [ValidateSet("Local", "Geneva")]
    public string Engine { get; set; } = "Local";

    /// <summary>With -Engine Geneva: the Python that has geneva; python3 by default.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Python { get; set; } = "python3";

    protected bool Geneva => Engine.Equals("Geneva", StringComparison.OrdinalIgnoreCase);
}

/// <summary>Creates a table in the embedded SQLite table store from an image folder or from records.</summary>
/// <remarks>
/// <para>With -ImageDirectory, each image (.jpg, .jpeg, .png) becomes a row with columns image (binary), filename, breed and label, in the Oxford-IIIT Pet layout: files named Breed_N.jpg, breed = the name without its number, label = the breed's index among the folder's breeds, sorted. With -InputObject (from the pipeline), each record (hashtable or object) becomes a row and column types are inferred from the first record.</para>
/// <para>Rows are split into fragments of -FragmentSize rows (25 by default, as upstream), the unit of work of backfills. An existing table name is TableExists; names must be identifiers.</para>
/// <para>With -Engine Geneva the table is a Geneva table in the database -Database names (file://, s3://, gs://, or a path), built through the Geneva library in -Python as the Oxford Pets suite builds it: create_table with the first fragment's rows, then Table.add for each next one. Verified only against a stand-in module: geneva is not installable where this module is tested.</para>
/// </remarks>
/// <example>
/// <code>New-E2ETable -Database ./pets.db -Name pets -ImageDirectory ./images -FragmentSize 25</code>
/// <para>The Oxford Pets source table.</para>
/// </example>
/// <example>
/// <code>1..100 | ForEach-Object { @{ id = $_; text = "row $_" } } | New-E2ETable -Database ./t.db -Name numbers</code>
/// <para>A table from records.</para>
/// </example>
/// <example>
/// <code>New-E2ETable -Engine Geneva -Database gs://bucket/oxford/data -Name oxford_pets -ImageDirectory ./images</code>
/// <para>The same table in a Geneva database.</para>
/// </example>
[Cmdlet(VerbsCommon.New, "E2ETable", SupportsShouldProcess = true, DefaultParameterSetName = "Images")]
[OutputType(typeof(TableInfo))]
public sealed class NewE2ETableCommand : TableEngineCmdlet
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
        var database = Geneva ? LocationUri(Database!) : GetUnresolvedProviderPathFromPSPath(Database!);
        if (!ShouldProcess($"{database} table {Name}", "Create table"))
        {
            return;
        }
        var rows = ParameterSetName == "Images" ? PetImages.Rows(GetUnresolvedProviderPathFromPSPath(ImageDirectory!), Limit) : _records;
        if (Geneva)
        {
            WriteObject(GenevaEngine.CreateTableAsync(database, Name!, rows, FragmentSize, Python, ModuleFiles.GenevaBridgeScript, CancelToken).GetAwaiter().GetResult());
            return;
        }
        var store = new TableStore(database);
        var columns = ParameterSetName == "Images" ? PetImages.Columns
            : _records.Count == 0 ? Array.Empty<(string, ColumnType)>() : _records[0].Select(p => (p.Key, ColumnType.Infer(p.Value))).ToArray();
        WriteObject(store.Create(Name!, columns, rows, FragmentSize));
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
/// <para>-Engine Geneva describes the tables of a Geneva database (Connection.table_names(), or -Name): rows, fragments, Geneva's version, and each column with its Arrow type read as the nearest column type (the UDF bindings are Geneva's and are not shown).</para>
/// </remarks>
/// <example>
/// <code>Get-E2ETable -Database ./pets.db -Name pets | Select-Object -ExpandProperty Columns</code>
/// <para>The pets table's columns and the UDFs behind them.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "E2ETable")]
[OutputType(typeof(TableInfo))]
public sealed class GetE2ETableCommand : TableEngineCmdlet
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
        if (Geneva)
        {
            var uri = LocationUri(Database!);
            WriteObject(Name is null ? GenevaEngine.TablesAsync(uri, Python, ModuleFiles.GenevaBridgeScript, CancelToken).GetAwaiter().GetResult()
                : new[] { GenevaEngine.DescribeAsync(uri, Name, Python, ModuleFiles.GenevaBridgeScript, CancelToken).GetAwaiter().GetResult() }, enumerateCollection: true);
            return;
        }
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
/// <para>-Engine Geneva reads a Geneva table through lancedb's Table.to_lance() (-Where is Lance's SQL filter, -First its limit); values come as the Local engine gives them (bytes as byte arrays, structs and lists as JSON text), without _rowid and _fragment.</para>
/// </remarks>
/// <example>
/// <code>Get-E2ETableRow -Database ./pets.db -Name pets -Where 'size IS NULL' | Measure-Object</code>
/// <para>Counts the rows a backfill has not filled yet.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "E2ETableRow")]
[OutputType(typeof(PSObject))]
public sealed class GetE2ETableRowCommand : TableEngineCmdlet
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
        var rows = Geneva ? GenevaEngine.RowsAsync(LocationUri(Database!), Name!, Where, First, Python, ModuleFiles.GenevaBridgeScript, CancelToken).GetAwaiter().GetResult()
            : TableStore.OpenExisting(GetUnresolvedProviderPathFromPSPath(Database!)).Rows(Name!, First, Where, CancelToken);
        foreach (var row in rows)
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
/// <para>With -Engine Geneva the manifest's modules are fetched from -Store and imported in -Python, and the @geneva.udf named -Udf is added to the Geneva table with Table.add_columns; its declaration gives the type and inputs, so -Type and -Input are refused.</para>
/// </remarks>
/// <example>
/// <code>Add-E2EColumn -Database ./pets.db -Table pets -Name size -Udf file_size -Manifest oxford-pets-simple -Store file:///tmp/udf-bucket -Input image</code>
/// <para>A file_size column over the image column.</para>
/// </example>
/// <example>
/// <code>Add-E2EColumn -Engine Geneva -Database gs://bucket/oxford/data -Table oxford_pets -Name file_size -Udf file_size -Manifest oxford-pets-geneva-simple -Store gs://bucket/manifests</code>
/// <para>The same column on a Geneva table, from a package of @geneva.udf functions (examples/udfs/geneva-simple).</para>
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

    /// <summary>The Python for the worker that reads the UDF's declaration (with -Engine Geneva: the Python that has geneva); python3 by default.</summary>
    [Parameter]
    public string Python { get; set; } = "python3";

    /// <summary>Local (the embedded SQLite table store) or Geneva (Table.add_columns with the manifest's @geneva.udf, through the Geneva library in -Python; -Database is then the Geneva database URI).</summary>
    [Parameter]
    [ValidateSet("Local", "Geneva")]
    public string Engine { get; set; } = "Local";

    private bool Geneva => Engine.Equals("Geneva", StringComparison.OrdinalIgnoreCase);

    private string? _database;
    private string? _workerScript;

    protected override void PrepareRecord()
    {
        _database = Geneva ? LocationUri(Database!) : GetUnresolvedProviderPathFromPSPath(Database!);
        _workerScript = ModuleFiles.WorkerScript;
    }

    protected override async Task ProcessAsync()
    {
        if (Geneva)
        {
            await AddToGenevaAsync().ConfigureAwait(false);
            return;
        }
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

    /// <summary>The manifest's modules, materialized from -Store, imported by the bridge; Geneva's own UDF declaration gives the type and inputs.</summary>
    private async Task AddToGenevaAsync()
    {
        if (Type is not null || Input is not null)
        {
            throw new E2EException(ErrorCatalog.InvalidArgument, "With -Engine Geneva the @geneva.udf declares its type and inputs: leave out -Type and -Input.");
        }
        if (!await ShouldProcessAsync($"{_database} table {Table}", $"Add column {Name} computed by {Udf} (Geneva)").ConfigureAwait(false))
        {
            return;
        }
        var table = await WithProgressAsync(Activities.Manifest, $"UDF {Udf} of {Manifest}", () => "fetching the manifest and adding the column with Geneva", async () =>
        {
            using var manifestStore = ObjectStores.Open(Store!);
            var manifest = await ManifestStore.GetAsync(Manifest!, manifestStore, CancelToken).ConfigureAwait(false);
            var environment = await WorkerEnvironment.MaterializeAsync(manifest, manifestStore, ManifestStore.DefaultCacheDirectory, _workerScript!, CancelToken).ConfigureAwait(false);
            return await GenevaEngine.AddColumnAsync(_database!, Table!, Name!, Udf!, environment.Modules, environment.Paths, Python, ModuleFiles.GenevaBridgeScript, CancelToken).ConfigureAwait(false);
        }).ConfigureAwait(false);
        Output(table);
    }
}
