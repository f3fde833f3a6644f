using System.Numerics;
using E2E.Core.Errors;

namespace E2E.Core.Ethereum;

/// <summary>An RLP item: a byte string or a list of items.</summary>
public sealed class RlpItem
{
    private RlpItem(byte[]? bytes, IReadOnlyList<RlpItem>? items)
    {
        Bytes = bytes;
        Items = items;
    }

    public byte[]? Bytes { get; }

    public IReadOnlyList<RlpItem>? Items { get; }

    public bool IsList => Items is not null;

    public static RlpItem Of(byte[] bytes) => new(bytes, null);

    public static RlpItem List(params RlpItem[] items) => new(null, items);

    public static RlpItem List(IEnumerable<RlpItem> items) => new(null, items.ToArray());

    /// <summary>An unsigned integer as its minimal big-endian bytes (zero is the empty string).</summary>
    public static RlpItem Of(BigInteger value)
    {
        if (value.Sign < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(value), "RLP integers are unsigned.");
        }
        return Of(value.IsZero ? Array.Empty<byte>() : value.ToByteArray(isUnsigned: true, isBigEndian: true));
    }

    public byte[] AsBytes(string field) => Bytes ?? throw Rlp.Invalid($"{field} must be a byte string, not a list");

    public IReadOnlyList<RlpItem> AsList(string field) => Items ?? throw Rlp.Invalid($"{field} must be a list");

    /// <summary>A canonical unsigned integer: no leading zero byte, at most <paramref name="maxBytes"/> bytes.</summary>
    public BigInteger AsInteger(string field, int maxBytes = 32)
    {
        var bytes = AsBytes(field);
        if (bytes.Length > 0 && bytes[0] == 0)
        {
            throw Rlp.Invalid($"{field} has a leading zero byte");
        }
        if (bytes.Length > maxBytes)
        {
            throw Rlp.Invalid($"{field} is longer than {maxBytes} bytes");
        }
        return new BigInteger(bytes, isUnsigned: true, isBigEndian: true);
    }
}

/// <summary>Recursive Length Prefix encoding; the decoder accepts canonical encodings only, as Ethereum clients do.</summary>
public static class Rlp
{
    public static byte[] Encode(RlpItem item)
    {
        using var output = new MemoryStream();
        Write(output, item);
        return output.ToArray();
    }

    private static void Write(Stream output, RlpItem item)
    {
        if (item.Bytes is { } bytes)
        {
            if (bytes.Length == 1 && bytes[0] < 0x80)
            {
                output.WriteByte(bytes[0]);
                return;
            }
            WriteLength(output, bytes.Length, 0x80);
            output.Write(bytes);
            return;
        }
        using var payload = new MemoryStream();
        foreach (var child in item.Items!)
        {
            Write(payload, child);
        }
        WriteLength(output, (int)payload.Length, 0xC0);
        payload.Position = 0;
        payload.CopyTo(output);
    }

    private static void WriteLength(Stream output, int length, byte offset)
    {
        if (length < 56)
        {
            output.WriteByte((byte)(offset + length));
            return;
        }
        var lengthBytes = new BigInteger(length).ToByteArray(isUnsigned: true, isBigEndian: true);
        output.WriteByte((byte)(offset + 55 + lengthBytes.Length));
        output.Write(lengthBytes);
    }

    /// <summary>Decodes exactly one item that spans all of <paramref name="data"/>.</summary>
    public static RlpItem Decode(ReadOnlySpan<byte> data)
    {
        var position = 0;
        var item = Read(data, ref position);
        if (position != data.Length)
        {
            throw Invalid($"{data.Length - position} trailing bytes after the item");
        }
        return item;
    }

    private static RlpItem Read(ReadOnlySpan<byte> data, ref int position)
    {
        if (position >= data.Length)
        {
            throw Invalid("unexpected end of input");
        }
        var prefix = data[position++];
        if (prefix < 0x80)
        {
            return RlpItem.Of(new[] { prefix });
        }
        var isList = prefix >= 0xC0;
        var offset = isList ? 0xC0 : 0x80;
        int length;
        if (prefix - offset < 56)
        {
            length = prefix - offset;
            if (!isList && length == 1)
            {
                if (position >= data.Length)
                {
                    throw Invalid("unexpected end of input");
                }
                if (data[position] < 0x80)
                {
                    throw Invalid("a single byte below 0x80 must encode itself");
                }
            }
        }
        else
        {
            var lengthOfLength = prefix - offset - 55;
            if (position + lengthOfLength > data.Length)
            {
                throw Invalid("the length runs past the end of input");
            }
            if (data[position] == 0)
            {
                throw Invalid("a length has a leading zero byte");
            }
            if (lengthOfLength > 4)
            {
                throw Invalid("a length is too large");
            }
            long longLength = 0;
            for (var i = 0; i < lengthOfLength; i++)
            {
                longLength = (longLength << 8) | data[position + i];
            }
            position += lengthOfLength;
            if (longLength < 56)
            {
                throw Invalid("a length below 56 must use the short form");
            }
            if (longLength > int.MaxValue)
            {
                throw Invalid("a length is too large");
            }
            length = (int)longLength;
        }
        if (length > data.Length - position)
        {
            throw Invalid("the item runs past the end of input");
        }
        var body = data.Slice(position, length);
        position += length;
        if (!isList)
        {
            return RlpItem.Of(body.ToArray());
        }
        var items = new List<RlpItem>();
        var inner = 0;
        while (inner < body.Length)
        {
            items.Add(Read(body, ref inner));
        }
        return RlpItem.List(items);
    }

    internal static E2EException Invalid(string problem) => new(ErrorCatalog.InvalidRlp, $"Invalid RLP: {problem}.");
}
