using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Mail.Storage.Embedded;

/// <summary>
/// Files named by a 12-digit number and an extension, in order of creation: the spool journal's segments and the
/// message segments. Their paths, the ones in a directory (oldest first), and a new one.
/// </summary>
internal static class NumberedFiles
{
    public static string PathOf(string dir, long number, string extension) =>
        Path.Combine(dir, number.ToString("D12", CultureInfo.InvariantCulture) + extension);

    /// <summary>The numbered files with <paramref name="extension"/> in <paramref name="dir"/>, lowest number first.</summary>
    public static List<(long Number, string Path)> List(string dir, string extension)
    {
        var list = new List<(long Number, string Path)>();
        foreach (var path in Directory.EnumerateFiles(dir, "*" + extension))
        {
            if (long.TryParse(Path.GetFileNameWithoutExtension(path), NumberStyles.None, CultureInfo.InvariantCulture, out var n)) list.Add((n, path));
        }
        list.Sort((a, b) => a.Number.CompareTo(b.Number));
        return list;
    }

    /// <summary>A new file numbered <paramref name="atLeast"/> or, when another process (the `mail` CLI beside a
    /// server) created that number meanwhile, the next free one.</summary>
    public static (long Number, SafeFileHandle Handle) CreateNew(string dir, long atLeast, string extension, FileAccess access)
    {
        for (var number = atLeast; ; number++)
        {
            var path = PathOf(dir, number, extension);
            try
            {
                return (number, File.OpenHandle(path, FileMode.CreateNew, access, FileShare.Read | FileShare.Delete));
            }
            catch (IOException) when (File.Exists(path))
            {
            }
        }
    }
}
