using System.Text.RegularExpressions;

namespace E2E.Core.Errors;

/// <summary>
/// For text the module does not write itself but must quote in an error (a credential plugin's stderr):
/// bearer tokens, JWTs and "token=..."/"password: ..." values are replaced before the text reaches a message.
/// </summary>
public static partial class SecretText
{
    [GeneratedRegex(@"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*|(?<=\b(?:[Bb]earer|[Bb]asic)\s)[A-Za-z0-9._~+/=-]{8,}|(?<=\b(?:token|password|secret|key)\b[""']?\s*[:=]\s*[""']?)[^\s""',;]{4,}", RegexOptions.IgnoreCase)]
    private static partial Regex Secret();

    public static string Redact(string text) => Secret().Replace(text, "[redacted]");
}
