using System.Management.Automation;
using E2E.Core.Ethereum;

namespace E2E.Cmdlets.Petals;

/// <summary>Shows the account address of a private key, without ever showing the key.</summary>
/// <remarks>
/// <para>Reads the key from -PrivateKey (SecureString), -PrivateKeyPath or the environment variable named by -PrivateKeyVariable (PLUMISE_PRIVATE_KEY by default) and returns its EIP-55 checksummed address and public key. A malformed key is InvalidKey; the message never quotes it.</para>
/// </remarks>
/// <example>
/// <code>$env:PLUMISE_PRIVATE_KEY = Get-Content ./node-a.key
/// (Get-E2EAccount).Address</code>
/// <para>The address the node's reports and transactions will come from.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "E2EAccount", DefaultParameterSetName = "KeyVariable")]
[OutputType(typeof(E2EAccount))]
public sealed class GetE2EAccountCommand : KeyCmdletBase
{
    protected override Task ProcessAsync()
    {
        using var key = LoadKey();
        Output(new E2EAccount(key.Address, Hex.Encode(key.PublicKey)));
        return Task.CompletedTask;
    }
}
