namespace E2E.Core.Tests;

/// <summary>The repository's vendored test data (tests/fixtures), each set with its SOURCE.txt and LICENSE.</summary>
public static class Fixtures
{
    public static string Root { get; } = Find();

    public static string Path(params string[] parts) => System.IO.Path.Combine(new[] { Root }.Concat(parts).ToArray());

    private static string Find()
    {
        // Only inside this clone: the tests must pass with nothing beside the repository.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "E2E.psd1")))
            {
                return System.IO.Path.Combine(dir.FullName, "tests", "fixtures");
            }
        }
        throw new DirectoryNotFoundException("The repository root (E2E.psd1) was not found above " + AppContext.BaseDirectory);
    }
}
