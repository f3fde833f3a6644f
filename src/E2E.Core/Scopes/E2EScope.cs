using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using E2E.Core.Errors;
using E2E.Core.Naming;

namespace E2E.Core.Scopes;

public enum ScopeState
{
    Active,
    Removing,
    Removed,
}

/// <summary>
/// A cleanup scope: everything created on its behalf registers an undo action here, and removal runs
/// them last-in first-out, carrying on past failures. Resources are stamped with <see cref="ResourceLabels"/>
/// (run id and expiry) so that a sweep can find what a crashed run left behind.
/// </summary>
public sealed class E2EScope
{
    /// <summary>Label key carrying the run id on every resource a scope creates.</summary>
    public const string RunIdLabel = "e2e.dev/run-id";

    /// <summary>Label key carrying the expiry (Unix seconds, UTC) on every resource a scope creates.</summary>
    public const string ExpiresLabel = "e2e.dev/expires";

    /// <summary>Name of the marker file written into a scope's temp root, so sweeps can tell whose it is and when it expires.</summary>
    public const string MarkerFileName = ".e2e-scope.json";

    private readonly object _gate = new();
    private readonly List<ScopeEntry> _entries = new();
    private string? _tempRoot;
    // The temp root with the marker: the scope's own, not a registered entry, and undone after all of them.
    private ScopeEntry? _rootEntry;

    public E2EScope(string? name = null, IReadOnlyDictionary<string, string>? labels = null, TimeSpan? timeToLive = null, string? tempBase = null)
    {
        var ttl = timeToLive ?? TimeSpan.FromHours(2);
        if (ttl <= TimeSpan.Zero || ttl == TimeSpan.MaxValue)
        {
            throw new E2EException(ErrorCatalog.InvalidTimeout, $"The time to live must be positive and finite; got {ttl}.", ttl);
        }
        var copy = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in labels ?? new Dictionary<string, string>())
        {
            KubernetesNames.ValidateLabelKey(key);
            KubernetesNames.ValidateLabelValue(key, value);
            copy[key] = value;
        }
        Id = NewRunId();
        Name = string.IsNullOrWhiteSpace(name) ? Id : name;
        Labels = copy;
        CreatedAt = DateTimeOffset.UtcNow;
        ExpiresAt = CreatedAt + ttl;
        TempBase = tempBase ?? DefaultTempBase;
    }

    /// <summary>Where scopes put their temp roots unless told otherwise: $TMPDIR/e2e.</summary>
    public static string DefaultTempBase => Path.Combine(Path.GetTempPath(), "e2e");

    /// <summary>The run id: <c>e2e-</c> and 10 lowercase hex digits, valid as a Kubernetes name and label value.</summary>
    public string Id { get; }

    public string Name { get; }

    public IReadOnlyDictionary<string, string> Labels { get; }

    public DateTimeOffset CreatedAt { get; }

    public DateTimeOffset ExpiresAt { get; }

    /// <summary>Where this scope's temporary directories go (one subdirectory per scope, named by the run id).</summary>
    public string TempBase { get; }

    public ScopeState State { get; private set; }

    /// <summary>Registered entries in registration order, with their current state.</summary>
    public IReadOnlyList<ScopeEntry> Entries
    {
        get
        {
            lock (_gate)
            {
                return _entries.ToArray();
            }
        }
    }

    public int PendingCount
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count(e => e.State == UndoState.Pending);
            }
        }
    }

    /// <summary>The user's labels plus the run id and expiry, to stamp on every resource created for this scope.</summary>
    public IReadOnlyDictionary<string, string> ResourceLabels
    {
        get
        {
            var all = new SortedDictionary<string, string>(Labels.ToDictionary(p => p.Key, p => p.Value), StringComparer.Ordinal)
            {
                [RunIdLabel] = Id,
                [ExpiresLabel] = ExpiresAt.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            return all;
        }
    }

    public bool IsExpired(DateTimeOffset now) => now >= ExpiresAt;

    /// <summary>Registers an undo action. Register right after creating the thing, before any other work, so nothing leaks in between.</summary>
    public ScopeEntry Register(IUndoAction action)
    {
        ArgumentNullException.ThrowIfNull(action);
        lock (_gate)
        {
            if (State != ScopeState.Active)
            {
                throw new E2EException(ErrorCatalog.ScopeRemoved,
                    $"Scope '{Id}' is {State.ToString().ToLowerInvariant()}; '{action.Description}' cannot be registered in it. Create a new scope.", Id);
            }
            // The temp root holds the ledger of what is registered, for sweeps after a crash.
            if (_tempRoot is null)
            {
                try
                {
                    EnsureTempRoot();
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // No writable temp base: the scope still works, without a ledger for later sweeps.
                }
            }
            var entry = new ScopeEntry(_entries.Count + 1, action);
            _entries.Add(entry);
            WriteMarker();
            return entry;
        }
    }

    public ScopeEntry Register(string kind, string description, Action<UndoContext> undo) =>
        Register(new DelegateUndoAction(kind, description, undo));

    /// <summary>Registers deletion of a directory (recursively); a directory already gone is fine.</summary>
    public ScopeEntry TrackDirectory(string path) =>
        Register("Directory", path, _ => DeleteDirectoryIfPresent(path));

    /// <summary>Registers deletion of a file; a file already gone is fine.</summary>
    public ScopeEntry TrackFile(string path) =>
        Register("File", path, _ => File.Delete(path));

    /// <summary>Registers killing a process and all its children, then waiting for it to exit.</summary>
    public ScopeEntry TrackProcess(Process process, string description) =>
        Register("Process", $"{description} (pid {process.Id})", context =>
        {
            if (process.HasExited)
            {
                return;
            }
            process.Kill(entireProcessTree: true);
            if (!process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                throw new InvalidOperationException($"Process {process.Id} did not exit within 10 s of being killed.");
            }
        });

    /// <summary>Registers disposal of something that owns resources (a server, a client).</summary>
    public ScopeEntry TrackDisposable(IDisposable disposable, string kind, string description) =>
        Register(kind, description, _ => disposable.Dispose());

    /// <summary>
    /// Creates a fresh directory under this scope's temp root and registers its deletion. The temp root
    /// carries a marker file with the run id and expiry, so a sweep can remove it after a crash.
    /// </summary>
    /// <summary>
    /// The name a scope temp directory stands for: its prefix without the random suffix ("server" for
    /// ".../e2e-3fa9c1d2e4/server-1a2b3c4d"), so exports and reports name it the same in every run; any other path keeps its name.
    /// </summary>
    public static string StableName(string path)
    {
        var full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);
        var name = Path.GetFileName(full);
        var parent = Path.GetDirectoryName(full);
        var dash = name.LastIndexOf('-');
        var isScopeTemp = dash > 0 && name.Length - dash - 1 == 8 && name[(dash + 1)..].All(Uri.IsHexDigit)
            && parent is not null && File.Exists(Path.Combine(parent, MarkerFileName));
        return isScopeTemp ? name[..dash] : name;
    }

    public string CreateTempDirectory(string? prefix = null)
    {
        var label = string.IsNullOrEmpty(prefix) ? "tmp" : prefix;
        if (label.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || label.Contains("..", StringComparison.Ordinal))
        {
            throw new E2EException(ErrorCatalog.InvalidName, $"Temp directory prefix '{prefix}' must be a plain file name.", prefix);
        }
        var root = EnsureTempRoot();
        var path = Path.Combine(root, $"{label}-{Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant()}");
        Directory.CreateDirectory(path);
        TrackDirectory(path);
        return path;
    }

    /// <summary>
    /// Runs every pending undo action, last registered first. A failure is recorded and removal carries on.
    /// Removing a removed scope does nothing. When cancelled, the remaining entries stay pending and the
    /// scope stays active, so a later removal finishes the work.
    /// </summary>
    public ScopeRemovalResult Remove(CancellationToken cancellation = default, bool atProcessExit = false, Action<ScopeEntry, int, int>? undoing = null)
    {
        var clock = Stopwatch.StartNew();
        List<ScopeEntry> pending;
        lock (_gate)
        {
            if (State == ScopeState.Removed)
            {
                return new ScopeRemovalResult(Id, Array.Empty<ScopeEntry>(), 0, alreadyRemoved: true, cancelled: false, clock.Elapsed);
            }
            if (State == ScopeState.Removing)
            {
                // Another thread is removing it (for example, process exit racing the pipeline); let it finish.
                return new ScopeRemovalResult(Id, Array.Empty<ScopeEntry>(), 0, alreadyRemoved: true, cancelled: false, clock.Elapsed);
            }
            State = ScopeState.Removing;
            pending = _entries.Where(e => e.State == UndoState.Pending).OrderByDescending(e => e.Sequence).ToList();
        }

        var ran = new List<ScopeEntry>();
        var context = new UndoContext(cancellation, atProcessExit);
        var cancelled = false;
        foreach (var entry in pending)
        {
            if (cancellation.IsCancellationRequested)
            {
                cancelled = true;
                break;
            }
            undoing?.Invoke(entry, ran.Count, pending.Count);
            RunUndo(entry, context);
            ran.Add(entry);
        }
        if (!cancelled && _rootEntry is { State: UndoState.Pending } root)
        {
            RunUndo(root, context);
            if (root.State == UndoState.Failed)
            {
                ran.Add(root); // Reported like any entry; when it goes quietly, it is not one of the user's.
            }
        }

        lock (_gate)
        {
            State = cancelled ? ScopeState.Active : ScopeState.Removed;
            WriteMarker();
            var stillPending = _entries.Count(e => e.State == UndoState.Pending);
            return new ScopeRemovalResult(Id, ran, stillPending, alreadyRemoved: false, cancelled, clock.Elapsed);
        }
    }

    private static void RunUndo(ScopeEntry entry, UndoContext context)
    {
        try
        {
            entry.Action.Undo(context);
            entry.State = UndoState.Done;
        }
        catch (Exception ex)
        {
            entry.State = UndoState.Failed;
            entry.Error = ex;
        }
    }

    public override string ToString() => $"{Name} ({Id}, {State}, {PendingCount} pending)";

    private string EnsureTempRoot()
    {
        lock (_gate)
        {
            if (_tempRoot is not null)
            {
                return _tempRoot;
            }
            var root = Path.Combine(TempBase, Id);
            Directory.CreateDirectory(root);
            _tempRoot = root;
            _rootEntry = new ScopeEntry(0, new DelegateUndoAction("Directory", root, context => RemoveTempRoot(root, context.AtProcessExit)));
            WriteMarker();
            return root;
        }
    }

    /// <summary>
    /// The marker: who owns this scope (pid and the pid's start time, which tell a later sweep whether the run
    /// is still alive even once the pid is reused) and the ledger of what it registered, with each entry's state.
    /// Rewritten (atomically) at each registration and after removal, so that after a crash it says which
    /// cleanups never ran, and after a cleanup at process exit that failed in part, which failed and why.
    /// </summary>
    private void WriteMarker()
    {
        if (_tempRoot is null)
        {
            return;
        }
        var marker = new ScopeMarker(Id, Name, CreatedAt, ExpiresAt, Environment.ProcessId, LocalLeftovers.CurrentProcessStart,
            _entries.Select(e => new ScopeMarkerEntry(e.Sequence, e.Kind, SecretText.Redact(e.Description), e.State.ToString(),
                e.Error is null ? null : SecretText.Redact(e.Error.Message))).ToArray());
        var path = Path.Combine(_tempRoot, MarkerFileName);
        var temporary = path + ".new";
        try
        {
            File.WriteAllText(temporary, JsonSerializer.Serialize(marker, ScopeMarker.Json));
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The root was removed under us (by hand); the ledger is a record, not the cleanup itself.
        }
    }

    // The temp root goes last. When cleanup at process exit (or after a signal) left something failed or not
    // reached, nobody may be reading stderr: the marker stays, with the ledger saying what and why, and
    // everything else goes; the sweep that finds it once this process is gone reports those entries.
    // (A removal in the session reports its failures there, as errors; it leaves nothing.)
    private void RemoveTempRoot(string root, bool atProcessExit)
    {
        bool unfinished;
        lock (_gate)
        {
            unfinished = atProcessExit && _entries.Any(e => e.State != UndoState.Done);
        }
        if (!unfinished)
        {
            DeleteDirectoryIfPresent(root);
            return;
        }
        if (!Directory.Exists(root))
        {
            return;
        }
        foreach (var item in new DirectoryInfo(root).EnumerateFileSystemInfos())
        {
            if (item.Name == MarkerFileName)
            {
                continue;
            }
            if (item is DirectoryInfo directory && !item.Attributes.HasFlag(FileAttributes.ReparsePoint))
            {
                directory.Delete(recursive: true);
            }
            else
            {
                item.Delete();
            }
        }
    }

    private static void DeleteDirectoryIfPresent(string path)
    {
        if (Directory.Exists(path))
        {
            Directory.Delete(path, recursive: true);
        }
    }

    private static string NewRunId() => "e2e-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(5)).ToLowerInvariant();
}

/// <summary>What <see cref="E2EScope"/> writes into its temp root's marker file, and sweeps read back.</summary>
public sealed record ScopeMarker(string RunId, string Name, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, int Pid, DateTimeOffset? ProcessStart, IReadOnlyList<ScopeMarkerEntry>? Entries)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
}

/// <summary>One ledger entry of a marker: what was registered, and whether its cleanup ran.</summary>
public sealed record ScopeMarkerEntry(int Sequence, string Kind, string Description, string State, string? Error);
