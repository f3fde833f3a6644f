using System.Text.RegularExpressions;
using E2E.Core.Tests.Udf;

namespace E2E.Core.Tests;

/// <summary>
/// The layout shows what is real: what stands in for another system lives under src/E2E.Core/StandIns/&lt;Domain&gt;/
/// in a namespace of its own, and the folders of the real clients hold none of it.
/// </summary>
public sealed partial class LayoutTests
{
    private static readonly string Core = UdfManifestTests.RepositoryPath("src", "E2E.Core");

    private static IEnumerable<(string Relative, string Text)> Sources() =>
        Directory.EnumerateFiles(Core, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal) && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(f => (Path.GetRelativePath(Core, f).Replace(Path.DirectorySeparatorChar, '/'), File.ReadAllText(f)));

    [GeneratedRegex(@"^namespace\s+([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex Namespace();

    // Types that stand in for another system: the fakes, mocks and simulators, and the servers of the embedded default.
    [GeneratedRegex(@"\b(?:class|record|struct)\s+(Fake\w*|Mock\w*|\w*Simulator|H2cGrpcServer|PetalsNodeHost|MlflowTrackingServer)\b")]
    private static partial Regex StandInType();

    [Fact]
    public void Stand_ins_live_under_StandIns_by_domain_and_nowhere_else()
    {
        var sources = Sources().ToList();
        Assert.Contains(sources, s => s.Relative.StartsWith("StandIns/", StringComparison.Ordinal));
        foreach (var (relative, text) in sources)
        {
            var folder = Path.GetDirectoryName(relative)!.Replace('\\', '/');
            var declared = Namespace().Match(text).Groups[1].Value;
            if (relative.StartsWith("StandIns/", StringComparison.Ordinal))
            {
                Assert.True(folder.Count(c => c == '/') == 1, $"{relative}: a stand-in sits in StandIns/<Domain>/");
                Assert.Equal("E2E.Core." + folder.Replace('/', '.'), declared);
            }
            else
            {
                Assert.False(declared.StartsWith("E2E.Core.StandIns", StringComparison.Ordinal), $"{relative} declares {declared} outside StandIns/");
                var standIn = StandInType().Match(text);
                Assert.False(standIn.Success, $"{relative} declares the stand-in {standIn.Groups[1].Value} outside StandIns/");
            }
        }
    }
}
