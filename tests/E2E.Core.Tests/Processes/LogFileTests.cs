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

    [Fact]
    public async Task A_tail_up_to_the_last_complete_line_and_a_follow_from_there_neither_repeat_nor_split_a_line()
    {
        var dir = Directory.CreateTempSubdirectory("e2e-logfile-").FullName;
        var path = Path.Combine(dir, "service.log");
        try
        {
            File.WriteAllText(path, "a\nb\npart");
            Assert.Equal(4, LogFile.EndOfLastLine(path));
            Assert.Equal("a\nb", LogFile.Tail(path, 10, 4));
            Assert.Equal(0, LogFile.EndOfLastLine(Path.Combine(dir, "none.log")));

            // A writer appends lines (some in two writes) while readers take a tail and follow on, at random moments.
            for (var round = 0; round < 20; round++)
            {
                File.WriteAllText(path, string.Empty);
                var done = false;
                var writer = Task.Run(async () =>
                {
                    using var log = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
                    for (var i = 1; i <= 200; i++)
                    {
                        var line = System.Text.Encoding.UTF8.GetBytes($"line {i}\n");
                        log.Write(line, 0, 3);
                        log.Flush();
                        log.Write(line, 3, line.Length - 3);
                        log.Flush();
                        if (i % 20 == 0)
                        {
                            await Task.Delay(1);
                        }
                    }
                    done = true;
                });
                await Task.Delay(Random.Shared.Next(0, 5));
                var end = LogFile.EndOfLastLine(path);
                var seen = LogFile.Tail(path, int.MaxValue, end).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
                using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await foreach (var line in LogFile.FollowAsync(path, end, () => Volatile.Read(ref done), stop.Token))
                {
                    seen.Add(line);
                }
                await writer;
                Assert.Equal(Enumerable.Range(1, 200).Select(i => $"line {i}"), seen);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
