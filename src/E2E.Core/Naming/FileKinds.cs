using System.Runtime.InteropServices;
using E2E.Core.Errors;

namespace E2E.Core.Naming;

/// <summary>
/// Whether a path is a regular file, before it is opened: reading a device (/dev/zero never ends), a FIFO (open
/// blocks until someone writes) or a socket as if it were output would hang or never finish. .NET reports them
/// all as FileAttributes.Normal, so this asks stat(2) through the runtime's own System.Native library (the
/// function .NET's FileStatus is built on); where that is not available, everything counts as regular.
/// </summary>
public static class FileKinds
{
    // System.Native's FileStatus begins with two int32 fields, Flags and Mode; Mode carries the file type bits.
    private const int TypeMask = 0xF000;
    private const int RegularFile = 0x8000;
    private const int Directory = 0x4000;

    /// <summary>The file type of <paramref name="path"/> (stat follows links, so never a link), or null when it cannot be told.</summary>
    public static string? Describe(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return null;
        }
        // Larger than any FileStatus layout .NET has had (about 120 bytes).
        var status = new byte[512];
        try
        {
            if (Stat(path, status) != 0)
            {
                return null;
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
        var mode = BitConverter.ToInt32(status, 4) & TypeMask;
        return mode switch
        {
            RegularFile => "file",
            Directory => "directory",
            0x1000 => "FIFO",
            0x2000 => "character device",
            0x6000 => "block device",
            0xC000 => "socket",
            _ => null,
        };
    }

    /// <summary>NotARegularFile unless <paramref name="path"/> is a regular file (or its kind cannot be told).</summary>
    public static void RequireRegularFile(string path, string what)
    {
        if (Describe(path) is { } kind && kind != "file")
        {
            throw new E2EException(ErrorCatalog.NotARegularFile, $"{what} '{path}' is a {kind}, not a regular file; it is not read (a device or a FIFO would never end).", path);
        }
    }

    [DllImport("libSystem.Native", EntryPoint = "SystemNative_Stat")]
    private static extern int Stat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, [Out] byte[] status);
}
