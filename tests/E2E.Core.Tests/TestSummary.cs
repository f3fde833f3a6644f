namespace E2E.Core.Tests;

/// <summary>
/// Conformance counts (toml-test, Ethereum vectors) written to out/test-summaries/, which test.sh prints
/// after the run, so CI output shows how many cases passed, not just that a test passed.
/// </summary>
public static class TestSummary
{
    public static void Report(string name, int passed, int failed)
    {
        string? dir = null;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "E2E.psd1")))
            {
                dir = Path.Combine(d.FullName, "out", "test-summaries");
                break;
            }
        }
        if (dir is null)
        {
            return;
        }
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, name + ".txt"), $"{name}: {passed} passed, {failed} failed\n");
    }
}
