using E2E.Core.Errors;
using E2E.Core.Toml;

namespace E2E.Core.Tests.Toml;

public class TomlParserTests
{
    [Fact]
    public void Reads_a_pyproject_like_document_in_order()
    {
        var doc = TomlParser.Parse("""
            [project]
            name = "oxford-pets-udfs"
            version = "0.1.0"
            dependencies = [
              "pillow>=10",  # images
              "numpy",
            ]

            [tool.uv]
            exclude-newer = "2025-08-27 00:00:00+00:00"
            """);
        Assert.Equal(new[] { "project", "tool" }, doc.Keys);
        Assert.Equal("oxford-pets-udfs", doc.Find("project", "name"));
        Assert.Equal(new object[] { "pillow>=10", "numpy" }, (TomlArray)doc.Find("project", "dependencies")!);
        Assert.Equal("2025-08-27 00:00:00+00:00", doc.Find("tool", "uv", "exclude-newer"));
        Assert.Null(doc.Find("project", "missing"));
    }

    [Theory]
    [InlineData("a = 1\nb = \"open\n", 2, 10, "not closed")]
    [InlineData("a = 1\n  [t]\n  x = 1\n  x = 2\n", 4, 3, "defined more than once")]
    [InlineData("a = 0x\n", 1, 5, "not a valid")]
    [InlineData("a = 1\r\nb = 2\rc = 3\n", 2, 6, "carriage return")]
    [InlineData("x = { a = 1,\n b = 2 }", 1, 13, "one line")]
    public void Errors_point_at_line_and_column(string text, int line, int column, string problem)
    {
        var ex = Assert.Throws<TomlException>(() => TomlParser.Parse(text, "cfg.toml"));
        Assert.Equal((line, column), (ex.Line, ex.Column));
        Assert.Contains(problem, ex.Problem);
        Assert.Same(ErrorCatalog.InvalidToml, ex.Error);
        Assert.StartsWith($"cfg.toml:{line}:{column}: ", ex.Message);
    }

    [Fact]
    public void Invalid_utf8_is_rejected()
    {
        var bytes = "a = \"x\"\nb = \""u8.ToArray().Concat(new byte[] { 0xC3, 0x28, (byte)'"', (byte)'\n' }).ToArray();
        var ex = Assert.Throws<TomlException>(() => TomlParser.Parse(bytes, "bad.toml"));
        Assert.Contains("UTF-8", ex.Problem);
        Assert.Equal(2, ex.Line);
    }

    [Fact]
    public void Date_times_keep_their_kind_text_and_instant()
    {
        var doc = TomlParser.Parse("odt = 1979-05-27 07:32:00.999-07:00\nldt = 1979-05-27T07:32:00\nld = 1979-05-27\nlt = 07:32:00.5\n");
        var odt = (TomlDateTime)doc["odt"];
        Assert.Equal(TomlDateTimeKind.OffsetDateTime, odt.Kind);
        Assert.Equal("1979-05-27T07:32:00.999-07:00", odt.Text);
        Assert.Equal(new DateTimeOffset(1979, 5, 27, 14, 32, 0, 999, TimeSpan.Zero), odt.Value.ToUniversalTime());
        Assert.Equal(TomlDateTimeKind.LocalDateTime, ((TomlDateTime)doc["ldt"]).Kind);
        Assert.Equal(TomlDateTimeKind.LocalDate, ((TomlDateTime)doc["ld"]).Kind);
        Assert.Equal(TimeSpan.FromMilliseconds(500), ((TomlDateTime)doc["lt"]).Value.TimeOfDay - new TimeSpan(7, 32, 0));
    }

    [Fact]
    public void Parses_every_venvstacks_fixture()
    {
        var files = Directory.EnumerateFiles(Fixtures.Path("venvstacks"), "*.toml", SearchOption.AllDirectories).ToArray();
        Assert.True(files.Length >= 30, $"{files.Length} files");
        foreach (var file in files)
        {
            var doc = TomlParser.ParseFile(file);
            Assert.True(doc.Count > 0, file);
        }
    }
}
