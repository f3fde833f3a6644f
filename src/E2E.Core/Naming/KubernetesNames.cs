using System.Text.RegularExpressions;
using E2E.Core.Errors;

namespace E2E.Core.Naming;

/// <summary>
/// Name and label syntax from the Kubernetes API conventions. Scope labels follow it too, so the same
/// labels can be stamped on every resource a scope creates, local or remote.
/// </summary>
public static partial class KubernetesNames
{
    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex Dns1123Subdomain();

    [GeneratedRegex("^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")]
    private static partial Regex QualifiedNamePart();

    [GeneratedRegex("^[a-z]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex Dns1035Label();

    /// <summary>A lowercase RFC 1123 subdomain of at most 253 characters: what most object names must be.</summary>
    public static bool IsDnsSubdomain(string name) => name.Length is > 0 and <= 253 && Dns1123Subdomain().IsMatch(name);

    /// <summary>An RFC 1035 label of at most 63 characters (starts with a letter): what Service and Compute names must be.</summary>
    public static bool IsDnsLabel(string name) => name.Length is > 0 and <= 63 && Dns1035Label().IsMatch(name);

    /// <summary>Throws InvalidLabel unless <paramref name="key"/> is a valid label key (optional DNS prefix, then a name of at most 63 characters).</summary>
    public static void ValidateLabelKey(string key)
    {
        var slash = key.IndexOf('/');
        var prefix = slash >= 0 ? key[..slash] : null;
        var name = slash >= 0 ? key[(slash + 1)..] : key;
        if (prefix is not null && (prefix.Length is 0 or > 253 || !Dns1123Subdomain().IsMatch(prefix)))
        {
            throw new E2EException(ErrorCatalog.InvalidLabel,
                $"Label key '{key}' has an invalid prefix: it must be a lowercase DNS subdomain of at most 253 characters.", key);
        }
        if (name.Length is 0 or > 63 || !QualifiedNamePart().IsMatch(name))
        {
            throw new E2EException(ErrorCatalog.InvalidLabel,
                $"Label key '{key}' is invalid: the name part must be 1-63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit.", key);
        }
    }

    /// <summary>Throws InvalidLabel unless <paramref name="value"/> is empty or a valid label value.</summary>
    public static void ValidateLabelValue(string key, string value)
    {
        if (value.Length == 0)
        {
            return;
        }
        if (value.Length > 63 || !QualifiedNamePart().IsMatch(value))
        {
            throw new E2EException(ErrorCatalog.InvalidLabel,
                $"Label '{key}' has an invalid value '{value}': it must be at most 63 characters of letters, digits, '-', '_' or '.', starting and ending with a letter or digit.", key);
        }
    }
}
