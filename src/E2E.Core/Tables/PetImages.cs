using System.Buffers.Binary;
using System.IO.Compression;
using System.Text.RegularExpressions;

namespace E2E.Core.Tables;

/// <summary>
/// Image rows in the Oxford-IIIT Pet layout: files named Breed_N.jpg (or .png); the breed is the name
/// without its trailing number, and the label is the breed's index among all breeds in the folder, sorted.
/// </summary>
public static partial class PetImages
{
    public static readonly (string Name, ColumnType Type)[] Columns =
    {
        ("image", ColumnType.Parse("binary")),
        ("filename", ColumnType.Parse("string")),
        ("breed", ColumnType.Parse("string")),
        ("label", ColumnType.Parse("int64")),
    };

    public static IEnumerable<IReadOnlyDictionary<string, object?>> Rows(string directory, int? limit = null)
    {
        var files = Directory.EnumerateFiles(directory)
            .Where(f => f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
            .Select(f => (File: f, Breed: Breed(Path.GetFileName(f))))
            .OrderBy(f => Path.GetFileName(f.File), StringComparer.Ordinal)
            .ToArray();
        var breeds = files.Select(f => f.Breed).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.OrdinalIgnoreCase).ToList();
        foreach (var (file, breed) in limit is null ? files : files.Take(limit.Value))
        {
            yield return new Dictionary<string, object?>
            {
                ["image"] = File.ReadAllBytes(file),
                ["filename"] = Path.GetFileName(file),
                ["breed"] = breed,
                ["label"] = (long)breeds.FindIndex(b => b.Equals(breed, StringComparison.OrdinalIgnoreCase)),
            };
        }
    }

    public static string Breed(string fileName) => TrailingNumber().Replace(Path.GetFileNameWithoutExtension(fileName), string.Empty);

    /// <summary>Writes <paramref name="count"/> small RGB PNGs named after real Oxford-IIIT breeds, sizes varying, for tests and benchmarks.</summary>
    public static void Generate(string directory, int count, int seed = 42, Action<int>? written = null, CancellationToken cancellation = default)
    {
        string[] breeds = { "Abyssinian", "Bengal", "Birman", "Bombay", "British_Shorthair", "Egyptian_Mau", "Maine_Coon", "Persian", "Ragdoll", "Russian_Blue", "Siamese", "Sphynx", "american_bulldog", "basset_hound", "beagle", "boxer", "chihuahua", "havanese", "keeshond", "pug", "samoyed", "shiba_inu" };
        Directory.CreateDirectory(directory);
        var random = new Random(seed);
        for (var i = 0; i < count; i++)
        {
            var width = 16 + random.Next(48);
            var height = 16 + random.Next(48);
            File.WriteAllBytes(Path.Combine(directory, $"{breeds[i % breeds.Length]}_{i / breeds.Length + 1}.png"), Png(width, height, (byte)random.Next(256)));
            written?.Invoke(i + 1);
            cancellation.ThrowIfCancellationRequested();
        }
    }

    public static byte[] Png(int width, int height, byte shade)
    {
        var raw = new byte[height * (1 + width * 3)];
        for (var y = 0; y < height; y++)
        {
            var row = y * (1 + width * 3);
            for (var x = 0; x < width; x++)
            {
                raw[row + 1 + x * 3] = shade;
                raw[row + 2 + x * 3] = (byte)(x * 4);
                raw[row + 3 + x * 3] = (byte)(y * 4);
            }
        }
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            zlib.Write(raw);
        }
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;
        header[9] = 2;
        using var png = new MemoryStream();
        png.Write(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A });
        Chunk(png, "IHDR", header);
        Chunk(png, "IDAT", compressed.ToArray());
        Chunk(png, "IEND", Array.Empty<byte>());
        return png.ToArray();
    }

    private static void Chunk(Stream output, string type, byte[] data)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        output.Write(length);
        var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        output.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(length, Crc32(typed));
        output.Write(length);
    }

    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        var c = (uint)n;
        for (var k = 0; k < 8; k++)
        {
            c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return c;
    }).ToArray();

    private static uint Crc32(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }
        return crc ^ 0xFFFFFFFFu;
    }

    [GeneratedRegex("_[0-9]+$")]
    private static partial Regex TrailingNumber();
}
