using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace E2E.Core.Toml;

/// <summary>
/// A TOML 1.0.0 parser (no TOML package restores here). Checked against every TOML 1.0.0 case of
/// toml-test: valid documents decode to the expected values, invalid ones fail with a line and column.
/// </summary>
public sealed partial class TomlParser
{
    private readonly string _text;
    private readonly string? _source;
    private int _pos;

    private int _depth;

    private TomlParser(string text, string? source)
    {
        _text = text;
        _source = source;
    }

    /// <summary>Parses UTF-8 bytes; invalid UTF-8 is an error, and a leading byte order mark is skipped.</summary>
    public static TomlTable Parse(byte[] utf8, string? source = null)
    {
        string text;
        try
        {
            text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(utf8);
        }
        catch (DecoderFallbackException ex)
        {
            var offset = Math.Max(0, ex.Index);
            var line = 1 + utf8.Take(Math.Min(offset, utf8.Length)).Count(b => b == (byte)'\n');
            throw new TomlException("the document is not valid UTF-8", line, 1, source);
        }
        return Parse(text, source);
    }

    public static TomlTable Parse(string text, string? source = null)
    {
        if (text.Length > 0 && text[0] == '\uFEFF')
        {
            text = text[1..];
        }
        return new TomlParser(text, source).ParseDocument();
    }

    public static TomlTable ParseFile(string path) => Parse(File.ReadAllBytes(path), path);

    private bool AtEnd => _pos >= _text.Length;

    private char Peek(int ahead = 0) => _pos + ahead < _text.Length ? _text[_pos + ahead] : '\0';

    private TomlTable ParseDocument()
    {
        var root = new TomlTable(TableOrigin.Header);
        var current = root;
        while (true)
        {
            SkipBlankLines();
            if (AtEnd)
            {
                return root;
            }
            if (Peek() == '[')
            {
                current = Peek(1) == '[' ? ParseArrayTableHeader(root) : ParseTableHeader(root);
            }
            else
            {
                ParseKeyValue(current);
            }
            ExpectLineEnd();
        }
    }

    // ---- lines, whitespace, comments -------------------------------------------------------------

    private void SkipWhitespace()
    {
        while (Peek() is ' ' or '\t' && !AtEnd)
        {
            _pos++;
        }
    }

    private bool AtNewline() => Peek() == '\n' || (Peek() == '\r' && Peek(1) == '\n');

    private void ConsumeNewline()
    {
        _pos += Peek() == '\r' ? 2 : 1;
    }

    private void SkipComment()
    {
        if (Peek() != '#')
        {
            return;
        }
        _pos++;
        while (!AtEnd && !AtNewline())
        {
            var c = Peek();
            if (IsControl(c))
            {
                throw Error(c == '\r' ? "a carriage return must be followed by a line feed" : $"control character U+{(int)c:X4} is not allowed in a comment");
            }
            _pos++;
        }
    }

    /// <summary>Skips whitespace, comments and newlines between statements and inside arrays.</summary>
    private void SkipBlankLines()
    {
        while (true)
        {
            SkipWhitespace();
            SkipComment();
            if (AtNewline())
            {
                ConsumeNewline();
                continue;
            }
            if (Peek() == '\r' && !AtEnd)
            {
                throw Error("a carriage return must be followed by a line feed");
            }
            return;
        }
    }

    private void ExpectLineEnd()
    {
        SkipWhitespace();
        SkipComment();
        if (AtEnd)
        {
            return;
        }
        if (!AtNewline())
        {
            throw Error(Peek() == '\r' ? "a carriage return must be followed by a line feed" : $"expected the end of the line, found '{Describe(Peek())}'");
        }
        ConsumeNewline();
    }

    private static bool IsControl(char c) => (c < 0x20 && c != '\t') || c == 0x7F;

    // ---- tables ---------------------------------------------------------------------------------

    private TomlTable ParseTableHeader(TomlTable root)
    {
        var start = _pos;
        _pos++;
        var keys = ParseKey();
        if (Peek() != ']')
        {
            throw Error("expected ']' to close the table header");
        }
        _pos++;
        var parent = WalkHeaderPath(root, keys, start);
        var name = keys[^1];
        if (!parent.TryGetValue(name, out var existing))
        {
            var table = new TomlTable(TableOrigin.Header);
            parent.Add(name, table);
            return table;
        }
        if (existing is TomlTable { Origin: TableOrigin.Implicit } implicitTable)
        {
            implicitTable.Origin = TableOrigin.Header;
            return implicitTable;
        }
        throw ErrorAt(start, existing is TomlTable { Origin: TableOrigin.Header }
            ? $"table [{string.Join('.', keys)}] is defined more than once"
            : $"[{string.Join('.', keys)}] cannot be defined as a table: the key already holds {Kind(existing)}");
    }

    private TomlTable ParseArrayTableHeader(TomlTable root)
    {
        var start = _pos;
        _pos += 2;
        var keys = ParseKey();
        if (Peek() != ']' || Peek(1) != ']')
        {
            throw Error("expected ']]' to close the array-of-tables header");
        }
        _pos += 2;
        var parent = WalkHeaderPath(root, keys, start);
        var name = keys[^1];
        var table = new TomlTable(TableOrigin.Header);
        if (!parent.TryGetValue(name, out var existing))
        {
            parent.Add(name, new TomlArray(isArrayOfTables: true) { table });
            return table;
        }
        if (existing is TomlArray { IsArrayOfTables: true } array)
        {
            array.Add(table);
            return table;
        }
        throw ErrorAt(start, $"[[{string.Join('.', keys)}]] cannot add to {Kind(existing)}");
    }

    /// <summary>Walks a header's parent keys, creating implicit tables; an array of tables continues in its last table.</summary>
    private TomlTable WalkHeaderPath(TomlTable root, List<string> keys, int start)
    {
        var table = root;
        foreach (var key in keys.Take(keys.Count - 1))
        {
            if (!table.TryGetValue(key, out var next))
            {
                var created = new TomlTable(TableOrigin.Implicit);
                table.Add(key, created);
                table = created;
                continue;
            }
            table = next switch
            {
                TomlTable { Origin: not TableOrigin.Inline } t => t,
                TomlArray { IsArrayOfTables: true } a => (TomlTable)a[^1],
                _ => throw ErrorAt(start, $"'{key}' in [{string.Join('.', keys)}] is {Kind(next)}, which cannot be extended"),
            };
        }
        return table;
    }

    // ---- keys and values ------------------------------------------------------------------------

    private void ParseKeyValue(TomlTable table)
    {
        var start = _pos;
        var keys = ParseKey();
        if (Peek() != '=')
        {
            throw Error(AtEnd || AtNewline() ? $"expected '=' after key '{string.Join('.', keys)}'" : $"expected '=' after the key, found '{Describe(Peek())}'");
        }
        _pos++;
        SkipWhitespace();
        var value = ParseValue();
        Assign(table, keys, value, start);
    }

    /// <summary>Stores a value under a dotted key, creating the tables the dots name; those may only be extended by dotted keys.</summary>
    private void Assign(TomlTable table, List<string> keys, object value, int start)
    {
        foreach (var key in keys.Take(keys.Count - 1))
        {
            if (!table.TryGetValue(key, out var next))
            {
                var created = new TomlTable(TableOrigin.Dotted);
                table.Add(key, created);
                table = created;
            }
            else if (next is TomlTable { Origin: TableOrigin.Dotted } dotted)
            {
                table = dotted;
            }
            else
            {
                throw ErrorAt(start, $"dotted key '{string.Join('.', keys)}' cannot add to '{key}', which is {Kind(next)}");
            }
        }
        var name = keys[^1];
        if (table.ContainsKey(name))
        {
            throw ErrorAt(start, $"key '{string.Join('.', keys)}' is defined more than once");
        }
        table.Add(name, value);
    }

    private List<string> ParseKey()
    {
        var keys = new List<string>();
        while (true)
        {
            SkipWhitespace();
            keys.Add(ParseSimpleKey());
            if (keys.Count > E2E.Core.Limits.InputLimits.MaxNestingDepth)
            {
                throw Error($"a dotted key has more than {E2E.Core.Limits.InputLimits.MaxNestingDepth} parts");
            }
            SkipWhitespace();
            if (Peek() != '.')
            {
                return keys;
            }
            _pos++;
        }
    }

    private string ParseSimpleKey()
    {
        switch (Peek())
        {
            case '"':
                if (Peek(1) == '"' && Peek(2) == '"')
                {
                    throw Error("a key cannot be a multi-line string");
                }
                return ParseBasicString();
            case '\'':
                if (Peek(1) == '\'' && Peek(2) == '\'')
                {
                    throw Error("a key cannot be a multi-line string");
                }
                return ParseLiteralString();
        }
        var start = _pos;
        while (!AtEnd && (char.IsAsciiLetterOrDigit(Peek()) || Peek() is '_' or '-'))
        {
            _pos++;
        }
        if (_pos == start)
        {
            throw Error(AtEnd || AtNewline() ? "expected a key" : $"expected a key, found '{Describe(Peek())}'");
        }
        return _text[start.._pos];
    }

    private object ParseValue()
    {
        var c = Peek();
        switch (c)
        {
            case '"':
                return Peek(1) == '"' && Peek(2) == '"' ? ParseMultilineString('"') : ParseBasicString();
            case '\'':
                return Peek(1) == '\'' && Peek(2) == '\'' ? ParseMultilineString('\'') : ParseLiteralString();
            case '[':
                return Nested(ParseArray);
            case '{':
                return Nested(ParseInlineTable);
            case 't' when Matches("true"):
                _pos += 4;
                return true;
            case 'f' when Matches("false"):
                _pos += 5;
                return false;
        }
        if (char.IsAsciiDigit(c) || c is '+' or '-' or 'i' or 'n')
        {
            return ParseNumberOrDateTime();
        }
        throw Error(AtEnd || AtNewline() ? "expected a value" : $"expected a value, found '{Describe(c)}'");
    }

    private bool Matches(string word) => string.CompareOrdinal(_text, _pos, word, 0, word.Length) == 0;

    // ---- strings --------------------------------------------------------------------------------

    private string ParseBasicString()
    {
        _pos++;
        var builder = new StringBuilder();
        while (true)
        {
            if (AtEnd || AtNewline() || Peek() == '\r')
            {
                throw Error("the string is not closed on its line");
            }
            var c = Peek();
            if (c == '"')
            {
                _pos++;
                return builder.ToString();
            }
            if (c == '\\')
            {
                ParseEscape(builder);
                continue;
            }
            if (IsControl(c))
            {
                throw Error($"control character U+{(int)c:X4} must be escaped in a string");
            }
            builder.Append(c);
            _pos++;
        }
    }

    /// <summary>
    /// A multi-line string between triple quotes: a newline right after the opening is dropped, CRLF becomes LF,
    /// up to two quotes may precede the closing ones. Basic strings (") take escapes and line-ending backslashes.
    /// </summary>
    private string ParseMultilineString(char quote)
    {
        var basic = quote == '"';
        _pos += 3;
        if (AtNewline())
        {
            ConsumeNewline();
        }
        var builder = new StringBuilder();
        while (true)
        {
            if (AtEnd)
            {
                throw Error("the multi-line string is not closed");
            }
            var c = Peek();
            if (c == quote && Peek(1) == quote && Peek(2) == quote)
            {
                var quotes = CountRun(quote);
                if (quotes > 5)
                {
                    throw Error("too many quotes at the end of a multi-line string");
                }
                builder.Append(quote, quotes - 3);
                _pos += quotes;
                return builder.ToString();
            }
            if (basic && c == '\\')
            {
                if (!IsLineEndingBackslash())
                {
                    ParseEscape(builder);
                }
                continue;
            }
            if (AtNewline())
            {
                builder.Append('\n');
                ConsumeNewline();
                continue;
            }
            if (IsControl(c))
            {
                throw Error(c == '\r' ? "a carriage return must be followed by a line feed"
                    : basic ? $"control character U+{(int)c:X4} must be escaped in a string"
                    : $"control character U+{(int)c:X4} is not allowed in a literal string");
            }
            builder.Append(c);
            _pos++;
        }
    }

    /// <summary>A backslash that ends a line (trailing whitespace allowed) trims the newline and all whitespace after it.</summary>
    private bool IsLineEndingBackslash()
    {
        var look = _pos + 1;
        while (look < _text.Length && _text[look] is ' ' or '\t')
        {
            look++;
        }
        var atNewline = look < _text.Length && (_text[look] == '\n' || (_text[look] == '\r' && look + 1 < _text.Length && _text[look + 1] == '\n'));
        if (!atNewline)
        {
            return false;
        }
        _pos = look;
        while (!AtEnd && (Peek() is ' ' or '\t' || AtNewline()))
        {
            if (AtNewline())
            {
                ConsumeNewline();
            }
            else
            {
                _pos++;
            }
        }
        return true;
    }

    private void ParseEscape(StringBuilder builder)
    {
        var start = _pos;
        _pos++;
        var c = Peek();
        _pos++;
        switch (c)
        {
            case 'b': builder.Append('\b'); return;
            case 't': builder.Append('\t'); return;
            case 'n': builder.Append('\n'); return;
            case 'f': builder.Append('\f'); return;
            case 'r': builder.Append('\r'); return;
            case '"': builder.Append('"'); return;
            case '\\': builder.Append('\\'); return;
            case 'u': AppendCodePoint(builder, 4, start); return;
            case 'U': AppendCodePoint(builder, 8, start); return;
            default:
                throw ErrorAt(start, AtEndOrNewline(c) ? "a backslash must be followed by an escape" : $"'\\{Describe(c)}' is not a valid escape");
        }
    }

    private static bool AtEndOrNewline(char c) => c is '\0' or '\n' or '\r';

    private void AppendCodePoint(StringBuilder builder, int digits, int start)
    {
        if (_pos + digits > _text.Length || !_text.AsSpan(_pos, digits).ToString().All(char.IsAsciiHexDigit))
        {
            throw ErrorAt(start, $"a \\{(digits == 4 ? 'u' : 'U')} escape needs {digits} hexadecimal digits");
        }
        var code = int.Parse(_text.AsSpan(_pos, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        if (code > 0x10FFFF || code is >= 0xD800 and <= 0xDFFF || code < 0)
        {
            throw ErrorAt(start, $"U+{code:X} is not a Unicode scalar value");
        }
        builder.Append(char.ConvertFromUtf32(code));
        _pos += digits;
    }

    private string ParseLiteralString()
    {
        _pos++;
        var start = _pos;
        while (true)
        {
            if (AtEnd || AtNewline() || Peek() == '\r')
            {
                throw Error("the string is not closed on its line");
            }
            var c = Peek();
            if (c == '\'')
            {
                var value = _text[start.._pos];
                _pos++;
                return value;
            }
            if (IsControl(c))
            {
                throw Error($"control character U+{(int)c:X4} is not allowed in a literal string");
            }
            _pos++;
        }
    }

    private int CountRun(char c)
    {
        var n = 0;
        while (Peek(n) == c && _pos + n < _text.Length)
        {
            n++;
        }
        return n;
    }

    // ---- arrays and inline tables ---------------------------------------------------------------

    /// <summary>Arrays and inline tables recurse: past the nesting limit the parser stops with an error, not a stack overflow.</summary>
    private object Nested(Func<object> parse)
    {
        if (++_depth > E2E.Core.Limits.InputLimits.MaxNestingDepth)
        {
            throw Error($"arrays and inline tables are nested deeper than {E2E.Core.Limits.InputLimits.MaxNestingDepth} levels");
        }
        try
        {
            return parse();
        }
        finally
        {
            _depth--;
        }
    }

    private TomlArray ParseArray()
    {
        _pos++;
        var array = new TomlArray(isArrayOfTables: false);
        while (true)
        {
            SkipBlankLines();
            if (Peek() == ']')
            {
                _pos++;
                return array;
            }
            if (AtEnd)
            {
                throw Error("the array is not closed");
            }
            array.Add(ParseValue());
            SkipBlankLines();
            if (Peek() == ',')
            {
                _pos++;
                continue;
            }
            if (Peek() == ']')
            {
                _pos++;
                return array;
            }
            throw Error(AtEnd ? "the array is not closed" : $"expected ',' or ']' in the array, found '{Describe(Peek())}'");
        }
    }

    private TomlTable ParseInlineTable()
    {
        _pos++;
        var table = new TomlTable(TableOrigin.Dotted);
        SkipWhitespace();
        if (Peek() == '}')
        {
            _pos++;
            return Freeze(table);
        }
        while (true)
        {
            if (AtEnd || AtNewline())
            {
                throw Error("an inline table must be on one line and closed with '}'");
            }
            var start = _pos;
            var keys = ParseKey();
            if (Peek() != '=')
            {
                throw Error($"expected '=' in the inline table, found '{Describe(Peek())}'");
            }
            _pos++;
            SkipWhitespace();
            Assign(table, keys, ParseValue(), start);
            SkipWhitespace();
            if (Peek() == ',')
            {
                _pos++;
                SkipWhitespace();
                if (Peek() == '}')
                {
                    throw Error("a trailing comma is not allowed in an inline table");
                }
                continue;
            }
            if (Peek() == '}')
            {
                _pos++;
                return Freeze(table);
            }
            throw Error(AtEnd || AtNewline() ? "an inline table must be on one line and closed with '}'" : $"expected ',' or '}}' in the inline table, found '{Describe(Peek())}'");
        }
    }

    /// <summary>Marks an inline table and the tables its dotted keys made as complete.</summary>
    private static TomlTable Freeze(TomlTable table)
    {
        table.Origin = TableOrigin.Inline;
        foreach (var (_, value) in table)
        {
            if (value is TomlTable { Origin: TableOrigin.Dotted } inner)
            {
                Freeze(inner);
            }
        }
        return table;
    }

    // ---- numbers and dates ----------------------------------------------------------------------

    private object ParseNumberOrDateTime()
    {
        var start = _pos;
        var token = ReadToken();
        // A date followed by a space and a time is one offset or local date-time ("1979-05-27 07:32:00").
        if (DateOnlyPattern().IsMatch(token) && Peek() == ' ' && char.IsAsciiDigit(Peek(1)) && char.IsAsciiDigit(Peek(2)) && Peek(3) == ':')
        {
            _pos++;
            token = token + "T" + ReadToken();
        }
        if (token.Length == 0)
        {
            throw Error($"expected a value, found '{Describe(Peek())}'");
        }
        if (token.Length >= 5 && char.IsAsciiDigit(token[0]) && (token.IndexOf(':') is 2 || (token.Length >= 5 && token[4] == '-' && token[..4].All(char.IsAsciiDigit))))
        {
            return ParseDateTime(token, start);
        }
        return ParseNumber(token, start);
    }

    private string ReadToken()
    {
        var start = _pos;
        while (!AtEnd && (char.IsAsciiLetterOrDigit(Peek()) || Peek() is '_' or '+' or '-' or '.' or ':'))
        {
            _pos++;
        }
        return _text[start.._pos];
    }

    private object ParseNumber(string token, int start)
    {
        switch (token)
        {
            case "inf" or "+inf":
                return double.PositiveInfinity;
            case "-inf":
                return double.NegativeInfinity;
            case "nan" or "+nan" or "-nan":
                return double.NaN;
        }
        if (token.Length > 2 && token[0] == '0' && token[1] is 'x' or 'o' or 'b')
        {
            var (pattern, radix) = token[1] switch
            {
                'x' => (HexPattern(), 16),
                'o' => (OctPattern(), 8),
                _ => (BinPattern(), 2),
            };
            if (!pattern.IsMatch(token))
            {
                throw ErrorAt(start, $"'{token}' is not a valid integer");
            }
            var digits = token[2..].Replace("_", string.Empty, StringComparison.Ordinal);
            try
            {
                var value = Convert.ToUInt64(digits, radix);
                return value <= long.MaxValue ? (long)value : throw new OverflowException();
            }
            catch (OverflowException)
            {
                throw ErrorAt(start, $"'{token}' does not fit in a 64-bit integer");
            }
        }
        if (DecimalIntegerPattern().IsMatch(token))
        {
            if (long.TryParse(token.Replace("_", string.Empty, StringComparison.Ordinal), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var integer))
            {
                return integer;
            }
            throw ErrorAt(start, $"'{token}' does not fit in a 64-bit integer");
        }
        if (FloatPattern().IsMatch(token))
        {
            return double.Parse(token.Replace("_", string.Empty, StringComparison.Ordinal), NumberStyles.Float, CultureInfo.InvariantCulture);
        }
        throw ErrorAt(start, $"'{token}' is not a valid value");
    }

    private TomlDateTime ParseDateTime(string token, int start)
    {
        var local = LocalTimePattern().Match(token);
        if (local.Success)
        {
            var time = Time(local.Groups["h"], local.Groups["m"], local.Groups["s"], start, token);
            return new TomlDateTime(TomlDateTimeKind.LocalTime, token, new DateTimeOffset(DateTime.MinValue.Add(time.ToTimeSpan()) + Fraction(local.Groups["f"].Value), TimeSpan.Zero));
        }
        var match = DateTimePattern().Match(token);
        if (!match.Success)
        {
            throw ErrorAt(start, $"'{token}' is not a valid date or time");
        }
        var year = int.Parse(match.Groups["y"].Value, CultureInfo.InvariantCulture);
        var month = int.Parse(match.Groups["mo"].Value, CultureInfo.InvariantCulture);
        var day = int.Parse(match.Groups["d"].Value, CultureInfo.InvariantCulture);
        if (month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(Math.Max(1, year), month))
        {
            throw ErrorAt(start, $"'{token}' is not a valid date");
        }
        var date = new DateTime(Math.Max(1, year), month, day, 0, 0, 0, DateTimeKind.Unspecified);
        if (!match.Groups["h"].Success)
        {
            return new TomlDateTime(TomlDateTimeKind.LocalDate, token, new DateTimeOffset(date, TimeSpan.Zero));
        }
        var clock = Time(match.Groups["h"], match.Groups["m"], match.Groups["s"], start, token);
        var moment = date + clock.ToTimeSpan() + Fraction(match.Groups["f"].Value);
        var text = token[..10] + "T" + token[11..];
        if (!match.Groups["z"].Success)
        {
            return new TomlDateTime(TomlDateTimeKind.LocalDateTime, text, new DateTimeOffset(moment, TimeSpan.Zero));
        }
        var zone = match.Groups["z"].Value;
        var offset = TimeSpan.Zero;
        if (zone is not "Z" and not "z")
        {
            var hours = int.Parse(zone.AsSpan(1, 2), CultureInfo.InvariantCulture);
            var minutes = int.Parse(zone.AsSpan(4, 2), CultureInfo.InvariantCulture);
            if (hours > 23 || minutes > 59)
            {
                throw ErrorAt(start, $"'{token}' has an invalid offset");
            }
            offset = new TimeSpan(hours, minutes, 0) * (zone[0] == '-' ? -1 : 1);
        }
        text = text[..^zone.Length] + (zone is "z" or "Z" ? "Z" : zone);
        return new TomlDateTime(TomlDateTimeKind.OffsetDateTime, text, new DateTimeOffset(moment, offset));
    }

    private TimeOnly Time(Group h, Group m, Group s, int start, string token)
    {
        var hour = int.Parse(h.Value, CultureInfo.InvariantCulture);
        var minute = int.Parse(m.Value, CultureInfo.InvariantCulture);
        var second = int.Parse(s.Value, CultureInfo.InvariantCulture);
        if (hour > 23 || minute > 59 || second > 60)
        {
            throw ErrorAt(start, $"'{token}' is not a valid time");
        }
        // A leap second (:60) is valid TOML; .NET cannot hold it, so the value keeps :59 while Text keeps :60.
        return new TimeOnly(hour, minute, Math.Min(second, 59));
    }

    private static TimeSpan Fraction(string digits) =>
        digits.Length == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(long.Parse(digits.PadRight(7, '0')[..7], CultureInfo.InvariantCulture));

    [GeneratedRegex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    private static partial Regex DateOnlyPattern();

    [GeneratedRegex("^(?<y>[0-9]{4})-(?<mo>[0-9]{2})-(?<d>[0-9]{2})([Tt](?<h>[0-9]{2}):(?<m>[0-9]{2}):(?<s>[0-9]{2})(\\.(?<f>[0-9]+))?(?<z>[Zz]|[+-][0-9]{2}:[0-9]{2})?)?$")]
    private static partial Regex DateTimePattern();

    [GeneratedRegex("^(?<h>[0-9]{2}):(?<m>[0-9]{2}):(?<s>[0-9]{2})(\\.(?<f>[0-9]+))?$")]
    private static partial Regex LocalTimePattern();

    [GeneratedRegex("^0x[0-9A-Fa-f](_?[0-9A-Fa-f])*$")]
    private static partial Regex HexPattern();

    [GeneratedRegex("^0o[0-7](_?[0-7])*$")]
    private static partial Regex OctPattern();

    [GeneratedRegex("^0b[01](_?[01])*$")]
    private static partial Regex BinPattern();

    [GeneratedRegex("^[+-]?(0|[1-9](_?[0-9])*)$")]
    private static partial Regex DecimalIntegerPattern();

    [GeneratedRegex("^[+-]?(0|[1-9](_?[0-9])*)((\\.[0-9](_?[0-9])*)([eE][+-]?[0-9](_?[0-9])*)?|[eE][+-]?[0-9](_?[0-9])*)$")]
    private static partial Regex FloatPattern();

    // ---- errors ---------------------------------------------------------------------------------

    private static string Kind(object value) => value switch
    {
        TomlTable { Origin: TableOrigin.Inline } => "an inline table",
        TomlTable { Origin: TableOrigin.Dotted } => "a table made by dotted keys",
        TomlTable => "a table",
        TomlArray { IsArrayOfTables: true } => "an array of tables",
        TomlArray => "an array",
        _ => $"a value ({value.GetType().Name})",
    };

    private static string Describe(char c) => c switch
    {
        '\0' => "end of input",
        '\n' => "newline",
        '\r' => "carriage return",
        '\t' => "tab",
        _ when char.IsControl(c) => $"U+{(int)c:X4}",
        _ => c.ToString(),
    };

    private TomlException Error(string problem) => ErrorAt(_pos, problem);

    private TomlException ErrorAt(int position, string problem)
    {
        position = Math.Min(position, _text.Length);
        var line = 1;
        var lineStart = 0;
        for (var i = 0; i < position; i++)
        {
            if (_text[i] == '\n')
            {
                line++;
                lineStart = i + 1;
            }
        }
        return new TomlException(problem, line, position - lineStart + 1, _source);
    }
}
