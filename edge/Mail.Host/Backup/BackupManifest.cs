using System.Text.Json;
using System.Text.Json.Serialization;

namespace Mail.Host.Backup;

/// <summary>
/// <c>manifest.json</c> at the root of a backup, written last: a directory without it is not a backup (or one that
/// did not finish). <see cref="Format"/> is the wire format's version; a restore refuses a newer one than it reads.
/// Every file is listed with its size, SHA-256 and Unix mode, so a restore checks what it copies and keeps the
/// DKIM keys' 0600.
/// </summary>
public sealed record BackupManifest
{
    /// <summary>The format this build writes and the newest it reads.</summary>
    public const int CurrentFormat = 1;

    public const string FileName = "manifest.json";

    private const string Restore = "restore";

    [JsonPropertyName("format")] public required int Format { get; init; }
    [JsonPropertyName("created")] public required DateTimeOffset Created { get; init; }
    [JsonPropertyName("source")] public required string Source { get; init; }
    [JsonPropertyName("files")] public required List<BackupFile> Files { get; init; }
    [JsonPropertyName("directories")] public List<BackupDirectory> Directories { get; init; } = [];

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, BackupJson.Default.BackupManifest);

    /// <summary>Reads SRC/manifest.json; one clear line (<see cref="BackupException"/>) when it is missing, unreadable or newer.</summary>
    public static BackupManifest Read(string backupDirectory)
    {
        var path = Path.Combine(backupDirectory, FileName);
        if (!File.Exists(path))
            throw new BackupException($"{path} is missing: '{backupDirectory}' is not a backup made by `mail backup`, or one that did not finish", Restore);
        // The version first, from any JSON object, so a newer format is named as such rather than as a parse error.
        int format;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            format = document.RootElement.TryGetProperty("format", out var f) && f.TryGetInt32(out var n) ? n : 0;
        }
        catch (JsonException e)
        {
            throw new BackupException($"{path} is not valid JSON: {e.Message}", Restore);
        }
        if (format > CurrentFormat)
            throw new BackupException($"{path} is backup format {format}; this mail reads format {CurrentFormat} and older: restore it with the newer mail that made it", Restore);
        if (format < 1) throw new BackupException($"{path} has no format version", Restore);
        var manifest = JsonSerializer.Deserialize(File.ReadAllBytes(path), BackupJson.Default.BackupManifest)
            ?? throw new BackupException($"{path} is empty", Restore);
        foreach (var file in manifest.Files)
            if (!IsSafeRelative(file.Path)) throw new BackupException($"{path} names a file outside the backup: '{file.Path}'", Restore);
        foreach (var dir in manifest.Directories)
            if (!IsSafeRelative(dir.Path)) throw new BackupException($"{path} names a directory outside the backup: '{dir.Path}'", Restore);
        return manifest;
    }

    /// <summary>A relative path with '/' separators and no '..', '.' or empty part: what a backup's entries are.</summary>
    public static bool IsSafeRelative(string path) =>
        path.Length > 0 && !path.StartsWith('/') && path.Split('/').All(p => p.Length > 0 && p != "." && p != "..");
}

public sealed record BackupFile(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("size")] long Size,
    [property: JsonPropertyName("sha256")] string Sha256,
    [property: JsonPropertyName("mode")] int Mode);

public sealed record BackupDirectory(
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("mode")] int Mode);

/// <summary>A backup or restore cannot go on; the message is the operator's one line (EX_DATAERR).</summary>
public sealed class BackupException(string message, string what = "backup") : Exception(message)
{
    /// <summary>"backup" or "restore": the command the line names.</summary>
    public string What { get; } = what;
}

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(BackupManifest))]
internal sealed partial class BackupJson : JsonSerializerContext;
