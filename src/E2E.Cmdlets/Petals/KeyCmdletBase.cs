using System.Management.Automation;
using System.Runtime.InteropServices;
using System.Security;
using E2E.Cmdlets.Infrastructure;
using E2E.Core.Ethereum;

namespace E2E.Cmdlets.Petals;

/// <summary>
/// The key parameters shared by every cmdlet that signs. A key arrives as a SecureString, a file, or the
/// name of an environment variable (PLUMISE_PRIVATE_KEY when none is given); it is never a plain string
/// parameter, so it cannot end up in history, transcripts or error records.
/// </summary>
public abstract class KeyCmdletBase : AsyncE2ECmdlet
{
    public const string DefaultKeyVariable = "PLUMISE_PRIVATE_KEY";

    /// <summary>The private key as a SecureString, for example from Read-Host -AsSecureString or a secret vault.</summary>
    [Parameter(ParameterSetName = "SecureKey", Mandatory = true)]
    [ValidateNotNull]
    public SecureString? PrivateKey { get; set; }

    /// <summary>A file holding the private key as hex.</summary>
    [Parameter(ParameterSetName = "KeyFile", Mandatory = true)]
    [Alias("KeyFile")]
    [ValidateNotNullOrEmpty]
    public string? PrivateKeyPath { get; set; }

    /// <summary>The name of an environment variable holding the private key as hex; PLUMISE_PRIVATE_KEY by default.</summary>
    [Parameter(ParameterSetName = "KeyVariable")]
    [Alias("KeyVariable")]
    [ValidateNotNullOrEmpty]
    public string PrivateKeyVariable { get; set; } = DefaultKeyVariable;

    private string? _keyPath;

    /// <summary>Resolves the key file against the current location, on the pipeline thread.</summary>
    protected override void PrepareRecord()
    {
        if (PrivateKeyPath is not null)
        {
            _keyPath = GetUnresolvedProviderPathFromPSPath(PrivateKeyPath);
        }
    }

    protected EthKey LoadKey() => EthKey.FromHex(ReadKeyText());

    /// <summary>The key checked and as 0x-prefixed hex, for a child process that needs it (by environment, never argv).</summary>
    protected E2E.Core.Chain.EthKeyMaterial LoadKeyMaterial() => E2E.Core.Chain.EthKeyMaterial.FromText(ReadKeyText());

    /// <summary>The key's hex as its source holds it. Only for LoadKey and for funding a local chain; never for output.</summary>
    protected string ReadKeyText()
    {
        if (PrivateKey is not null)
        {
            var pointer = Marshal.SecureStringToGlobalAllocUnicode(PrivateKey);
            try
            {
                return Marshal.PtrToStringUni(pointer) ?? string.Empty;
            }
            finally
            {
                Marshal.ZeroFreeGlobalAllocUnicode(pointer);
            }
        }
        if (_keyPath is not null)
        {
            return File.Exists(_keyPath)
                ? File.ReadAllText(_keyPath)
                : throw new E2E.Core.Errors.E2EException(E2E.Core.Errors.ErrorCatalog.InvalidKey, $"The key file '{_keyPath}' does not exist.", _keyPath);
        }
        var value = Environment.GetEnvironmentVariable(PrivateKeyVariable);
        return string.IsNullOrWhiteSpace(value)
            ? throw new E2E.Core.Errors.E2EException(E2E.Core.Errors.ErrorCatalog.InvalidKey, $"The environment variable '{PrivateKeyVariable}' holds no private key; give -PrivateKey, -PrivateKeyPath or -PrivateKeyVariable.", PrivateKeyVariable)
            : value;
    }
}
