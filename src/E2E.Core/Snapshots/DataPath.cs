using System.Text;
using System.Text.RegularExpressions;

namespace E2E.Core.Snapshots;

/// <summary>
/// Paths into a data tree as users write them: <c>layers.frameworks[1].archive_size</c>; keys that are not
/// plain names are quoted: <c>env["my.key"]</c>. Globs: <c>*</c> is one key, <c>[*]</c> any index, <c>**</c>
/// any depth; a pattern with no '.' or '[' names a key at any depth (<c>archive_size</c>).
/// </summary>
public static partial class DataPath
{
    public static string Member(string parent, string key)
    {
        var plain = PlainKey().IsMatch(key);
        var part = plain ? key : "[" + System.Text.Json.JsonSerializer.Serialize(key) + "]";
        return parent.Length == 0 ? (plain ? key : part) : plain ? parent + "." + key : parent + part;
    }

    public static string Index(string parent, int index) => $"{parent}[{index}]";

    public static Regex Glob(string pattern)
    {
        if (pattern.IndexOfAny(new[] { '.', '[' }) < 0 && !pattern.Contains("**", StringComparison.Ordinal))
        {
            pattern = "**." + pattern;
        }
        var regex = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            if (string.CompareOrdinal(pattern, i, "**.", 0, 3) == 0)
            {
                regex.Append("(?:.*\\.|.*\\]|)");
                i += 2;
            }
            else if (string.CompareOrdinal(pattern, i, "**", 0, 2) == 0)
            {
                regex.Append(".*");
                i += 1;
            }
            else if (string.CompareOrdinal(pattern, i, "[*]", 0, 3) == 0)
            {
                regex.Append("\\[[0-9]+\\]");
                i += 2;
            }
            else if (pattern[i] == '*')
            {
                regex.Append("[^.\\[]*");
            }
            else
            {
                regex.Append(Regex.Escape(pattern[i].ToString()));
            }
        }
        return new Regex(regex.Append('$').ToString(), RegexOptions.CultureInvariant);
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_-]*$")]
    private static partial Regex PlainKey();
}
