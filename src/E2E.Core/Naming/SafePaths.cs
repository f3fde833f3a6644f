using E2E.Core.Errors;

namespace E2E.Core.Naming;

/// <summary>The one check that a path built from names or keys stays inside the folder it belongs to.</summary>
public static class SafePaths
{
    /// <summary>
    /// <paramref name="root"/> joined with <paramref name="relative"/> ('/' separated), or PathOutsideRoot when the
    /// result would leave <paramref name="root"/> (a "..", an absolute path, a drive).
    /// </summary>
    public static string Within(string root, string relative)
    {
        var fullRoot = Path.GetFullPath(root);
        var combined = Path.GetFullPath(Path.Combine(fullRoot, relative.Replace('/', Path.DirectorySeparatorChar)));
        var prefix = fullRoot.EndsWith(Path.DirectorySeparatorChar) ? fullRoot : fullRoot + Path.DirectorySeparatorChar;
        if (Path.IsPathRooted(relative.Replace('/', Path.DirectorySeparatorChar)) || (combined != fullRoot && !combined.StartsWith(prefix, StringComparison.Ordinal)))
        {
            throw new E2EException(ErrorCatalog.PathOutsideRoot, $"'{relative}' would lead outside '{fullRoot}'; nothing was read, written or deleted.", relative);
        }
        return combined;
    }
}
