using E2E.Core.Processes;

namespace E2E.Core.Tests.Processes;

/// <summary>What a process appended to its log since a point: a starter reads only its own process's lines.</summary>
public sealed class LogFileTests
{
    [Fact]
    public void Since_reads_what_was_appended_after_the_end_it_was_given()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("e2e-logfile-").FullName, "node.log");
        try
        {
            Assert.Equal(0, LogFile.End(path));
            Assert.Equal(string.Empty, LogFile.Since(path, 0));
            File.WriteAllText(path, "2026-12-01T00:00:00.000Z serving é earlier run\n");
            var end = LogFile.End(path);
            Assert.Equal(new FileInfo(path).Length, end);
            Assert.Equal(string.Empty, LogFile.Since(path, end));
            File.AppendAllText(path, "2026-12-03T00:00:00.000Z starting\n");
            Assert.Equal("2026-12-03T00:00:00.000Z starting\n", LogFile.Since(path, end));
            Assert.StartsWith("2026-12-01", LogFile.Since(path, 0));
            // A log cut shorter since (rotated by hand) reads as nothing new, not as an error.
            File.WriteAllText(path, "x\n");
            Assert.Equal(string.Empty, LogFile.Since(path, end));
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }
}
