using E2E.Core.Errors;

namespace E2E.Core.Scopes;

/// <summary>
/// The scopes of one session (one PowerShell runspace): a stack whose top is the current scope, plus
/// every scope created, for lookup by id. Every live registry is also known to <see cref="ProcessExitCleanup"/>,
/// so scopes still active when the process exits are removed then.
/// </summary>
public sealed class ScopeRegistry
{
    private readonly object _gate = new();
    private readonly List<E2EScope> _stack = new();
    private readonly Dictionary<string, E2EScope> _byId = new(StringComparer.OrdinalIgnoreCase);

    public ScopeRegistry()
    {
        ProcessExitCleanup.Track(this);
    }

    /// <summary>The most recently created scope that is not removed yet, or null.</summary>
    public E2EScope? Current
    {
        get
        {
            lock (_gate)
            {
                return _stack.Count == 0 ? null : _stack[^1];
            }
        }
    }

    /// <summary>Every scope created in this session, oldest first, removed ones included.</summary>
    public IReadOnlyList<E2EScope> All
    {
        get
        {
            lock (_gate)
            {
                return _byId.Values.OrderBy(s => s.CreatedAt).ToArray();
            }
        }
    }

    public IReadOnlyList<E2EScope> Active
    {
        get
        {
            lock (_gate)
            {
                return _stack.ToArray();
            }
        }
    }

    /// <summary>Creates a scope and makes it current.</summary>
    public E2EScope Create(string? name = null, IReadOnlyDictionary<string, string>? labels = null, TimeSpan? timeToLive = null, string? tempBase = null)
    {
        var scope = new E2EScope(name, labels, timeToLive, tempBase);
        lock (_gate)
        {
            _stack.Add(scope);
            _byId[scope.Id] = scope;
        }
        return scope;
    }

    /// <summary>Finds a scope of this session by run id; throws ScopeNotFound otherwise.</summary>
    public E2EScope Get(string id)
    {
        lock (_gate)
        {
            if (_byId.TryGetValue(id, out var scope))
            {
                return scope;
            }
        }
        throw new E2EException(ErrorCatalog.ScopeNotFound,
            $"No scope with id '{id}' exists in this session. Get-E2EScope -All lists the scopes that do.", id);
    }

    /// <summary>The current scope, or NoCurrentScope when there is none.</summary>
    public E2EScope RequireCurrent(string forWhat) =>
        Current ?? throw new E2EException(ErrorCatalog.NoCurrentScope,
            $"No E2E scope is active, so {forWhat} would not be cleaned up. Create one first: $scope = New-E2EScope (in Pester, in BeforeAll).");

    /// <summary>Removes a scope (see <see cref="E2EScope.Remove"/>) and, once nothing is pending, takes it off the stack.</summary>
    public ScopeRemovalResult Remove(E2EScope scope, CancellationToken cancellation = default, Action<ScopeEntry, int, int>? undoing = null)
    {
        var result = scope.Remove(cancellation, undoing: undoing);
        if (scope.State == ScopeState.Removed)
        {
            lock (_gate)
            {
                _stack.Remove(scope);
            }
        }
        return result;
    }

    /// <summary>Removes every active scope, newest first; used when a session ends.</summary>
    public IReadOnlyList<ScopeRemovalResult> RemoveAll(CancellationToken cancellation = default, bool atProcessExit = false)
    {
        var results = new List<ScopeRemovalResult>();
        foreach (var scope in Active.Reverse())
        {
            results.Add(scope.Remove(cancellation, atProcessExit));
            if (scope.State == ScopeState.Removed)
            {
                lock (_gate)
                {
                    _stack.Remove(scope);
                }
            }
        }
        return results;
    }
}
