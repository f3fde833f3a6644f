using System.Text.RegularExpressions;

namespace E2E.Core.Errors;

/// <summary>
/// The one redaction of text the module does not write itself but must quote or store (a credential plugin's or
/// a tool's stderr, a UDF's exception, a URL a user gave): JWTs, bearer and basic credentials, values of
/// anything named like a token, password, secret or key (access_token=, client_secret:, "apiKey": ...), 64-hex-digit
/// private keys, and the user:password part of URLs are replaced before the text reaches a message, a log or a record.
/// </summary>
public static partial class SecretText
{
    [GeneratedRegex(@"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"
        + @"|(?<=\b(?:[Bb]earer|[Bb]asic)\s)[A-Za-z0-9._~+/=-]{8,}"
        + @"|(?<=(?:token|password|passwd|pwd|secret|key|credential)s?[""']?\s*[:=]\s*[""']?)[^\s""',;&]{4,}"
        + @"|\b(?:0x)?[0-9a-fA-F]{64}\b"
        + @"|(?<=://)[^/\s:@]+:[^/\s@]+(?=@)", RegexOptions.IgnoreCase)]
    private static partial Regex Secret();

    public static string Redact(string text) => Secret().Replace(text, "[redacted]");

    /// <summary>A URL for messages: the user:password part, if any, replaced.</summary>
    public static string Url(string url) => Redact(url);
}
