using System.Globalization;
using System.Text;
using E2E.Core.Errors;

namespace E2E.Core.Ethereum;

/// <summary>EIP-191 version 0x45 (personal_sign): keccak256("\x19Ethereum Signed Message:\n" + byte length + message).</summary>
public static class PersonalSign
{
    public static byte[] Hash(string message) => Hash(Encoding.UTF8.GetBytes(message));

    public static byte[] Hash(byte[] message) =>
        Keccak.HashConcat(Encoding.ASCII.GetBytes("\u0019Ethereum Signed Message:\n" + message.Length.ToString(CultureInfo.InvariantCulture)), message);

    /// <summary>0x + r ‖ s ‖ v (v = 27 or 28): 132 characters.</summary>
    public static string Sign(EthKey key, string message) => Hex.Encode(key.Sign(Hash(message)).ToBytes(27));

    /// <summary>The address that signed the message; InvalidSignature when the signature is malformed or recovers nothing.</summary>
    public static EthAddress Recover(string message, string signatureHex)
    {
        var signature = EcdsaSignature.FromBytes(Hex.Decode(signatureHex, "signature"));
        var publicKey = Secp256k1.Recover(Hash(message), signature)
            ?? throw new E2EException(ErrorCatalog.InvalidSignature, "No public key can be recovered from the signature.");
        return EthAddress.FromPublicKey(publicKey);
    }

    /// <summary>True when the signature recovers to <paramref name="expected"/> (compared as bytes, so case does not matter).</summary>
    public static bool Verify(string message, string signatureHex, EthAddress expected)
    {
        try
        {
            return Recover(message, signatureHex).Equals(expected);
        }
        catch (E2EException)
        {
            return false;
        }
    }
}
