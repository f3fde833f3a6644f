namespace E2E.Core.Tracking;

internal static class TrackingPaths
{
    /// <summary>A local path from a path or a <c>file://</c> URI, made absolute.</summary>
    public static string LocalPath(string pathOrUri) =>
        Path.GetFullPath(pathOrUri.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? new Uri(pathOrUri).LocalPath : pathOrUri);
}
