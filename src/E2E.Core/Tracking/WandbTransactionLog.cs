using System.Buffers.Binary;
using System.IO.Hashing;
using System.Numerics;
using E2E.Core.Errors;

namespace E2E.Core.Tracking;

/// <summary>
/// The framing of a <c>.wandb</c> file: a 7-byte header (":W&amp;B", magic 0xBEE1 LE, version 0), then
/// the LevelDB log format in 32 KiB blocks whose offsets count from the start of the file. Each chunk
/// is checksum (uint32 LE) | length (uint16 LE) | type (FULL 1, FIRST 2, MIDDLE 3, LAST 4) | payload.
/// wandb writes CRC-32 (IEEE) over type||payload; LevelDB's masked CRC-32C is accepted too. Damage is
/// stepped over the way LevelDB recovers (skip to the next block) and reported as a warning.
/// </summary>
public static class WandbTransactionLog
{
    public const int BlockSize = 32768;
    public const int HeaderSize = 7;
    private const int ChunkHeaderSize = 7;
    private const byte Full = 1, First = 2, Middle = 3, Last = 4;

    /// <summary>Every intact record's payload, in order; what was skipped goes into <paramref name="warnings"/>.</summary>
    public static List<byte[]> ReadRecords(ReadOnlySpan<byte> file, string source, List<string> warnings)
    {
        if (file.Length < HeaderSize || !file[..4].SequenceEqual(":W&B"u8) || BinaryPrimitives.ReadUInt16LittleEndian(file[4..6]) != 0xBEE1)
        {
            throw new E2EException(ErrorCatalog.TrackingStoreMalformed, $"'{source}' is not a W&B transaction log (no ':W&B' header with magic 0xBEE1).", source);
        }
        if (file[6] != 0)
        {
            throw new E2EException(ErrorCatalog.TrackingStoreMalformed, $"'{source}' is a W&B transaction log of version {file[6]}; only version 0 is known.", source);
        }
        var records = new List<byte[]>();
        List<byte>? pending = null;
        var position = HeaderSize;
        while (position < file.Length)
        {
            var leftInBlock = BlockSize - position % BlockSize;
            if (leftInBlock < ChunkHeaderSize)
            {
                position += leftInBlock;
                continue;
            }
            if (file.Length - position < ChunkHeaderSize)
            {
                warnings.Add($"{source}: the file ends {file.Length - position} bytes into a chunk header at offset {position} (a cut tail); read up to there.");
                break;
            }
            var header = file.Slice(position, ChunkHeaderSize);
            var checksum = BinaryPrimitives.ReadUInt32LittleEndian(header);
            var length = BinaryPrimitives.ReadUInt16LittleEndian(header[4..]);
            var type = header[6];
            if (type == 0 && length == 0 && checksum == 0)
            {
                // Zero-filled space (preallocation or the end of a block): nothing more in this block.
                position += leftInBlock;
                continue;
            }
            if (ChunkHeaderSize + length > leftInBlock)
            {
                warnings.Add($"{source}: the chunk at offset {position} claims {length} bytes, more than its block holds; skipped to the next block.");
                pending = null;
                position += leftInBlock;
                continue;
            }
            if (position + ChunkHeaderSize + length > file.Length)
            {
                warnings.Add($"{source}: the file ends {file.Length - position - ChunkHeaderSize} bytes into the {length}-byte chunk at offset {position} (a cut tail); read up to there.");
                break;
            }
            var payload = file.Slice(position + ChunkHeaderSize, length);
            if (!ChecksumMatches(checksum, type, payload))
            {
                warnings.Add($"{source}: the chunk at offset {position} fails its checksum; skipped to the next block.");
                pending = null;
                position += leftInBlock;
                continue;
            }
            position += ChunkHeaderSize + length;
            switch (type)
            {
                case Full:
                    WarnIfPending(pending, source, position, warnings);
                    pending = null;
                    records.Add(payload.ToArray());
                    break;
                case First:
                    WarnIfPending(pending, source, position, warnings);
                    pending = new List<byte>(payload.ToArray());
                    break;
                case Middle or Last when pending is null:
                    warnings.Add($"{source}: a continuation chunk at offset {position - ChunkHeaderSize - length} has no first chunk; skipped.");
                    break;
                case Middle:
                    pending!.AddRange(payload.ToArray());
                    break;
                case Last:
                    pending!.AddRange(payload.ToArray());
                    records.Add(pending.ToArray());
                    pending = null;
                    break;
                default:
                    warnings.Add($"{source}: the chunk at offset {position - ChunkHeaderSize - length} has unknown type {type}; skipped.");
                    break;
            }
        }
        if (pending is not null)
        {
            warnings.Add($"{source}: the last record is incomplete (no LAST chunk; a live or crashed run); it was left out.");
        }
        return records;
    }

    private static void WarnIfPending(List<byte>? pending, string source, int position, List<string> warnings)
    {
        if (pending is not null)
        {
            warnings.Add($"{source}: a record split over chunks has no LAST chunk before offset {position}; it was left out.");
        }
    }

    private static bool ChecksumMatches(uint expected, byte type, ReadOnlySpan<byte> payload)
    {
        var ieee = new Crc32();
        ieee.Append(stackalloc byte[] { type });
        ieee.Append(payload);
        if (ieee.GetCurrentHashAsUInt32() == expected)
        {
            return true;
        }
        var castagnoli = BitOperations.Crc32C(uint.MaxValue, type);
        foreach (var b in payload)
        {
            castagnoli = BitOperations.Crc32C(castagnoli, b);
        }
        castagnoli = ~castagnoli;
        var masked = ((castagnoli >> 15) | (castagnoli << 17)) + 0xa282ead8u;
        return masked == expected;
    }

    /// <summary>Frames <paramref name="records"/> as a .wandb file (FULL chunks, FIRST/MIDDLE/LAST across blocks), the way wandb's writer does.</summary>
    public static byte[] Write(IEnumerable<byte[]> records)
    {
        using var output = new MemoryStream();
        output.Write(":W&B"u8);
        output.Write(new byte[] { 0xE1, 0xBE, 0 });
        foreach (var record in records)
        {
            var offset = 0;
            var first = true;
            do
            {
                var leftInBlock = BlockSize - (int)(output.Position % BlockSize);
                if (leftInBlock < ChunkHeaderSize)
                {
                    output.Write(new byte[leftInBlock]);
                    leftInBlock = BlockSize;
                }
                var take = Math.Min(record.Length - offset, leftInBlock - ChunkHeaderSize);
                var last = offset + take == record.Length;
                var type = first && last ? Full : first ? First : last ? Last : Middle;
                var payload = record.AsSpan(offset, take);
                var crc = new Crc32();
                crc.Append(new[] { type });
                crc.Append(payload);
                var header = new byte[ChunkHeaderSize];
                BinaryPrimitives.WriteUInt32LittleEndian(header, crc.GetCurrentHashAsUInt32());
                BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), (ushort)take);
                header[6] = type;
                output.Write(header);
                output.Write(payload);
                offset += take;
                first = false;
            }
            while (offset < record.Length);
        }
        return output.ToArray();
    }
}
