using Microsoft.Win32.SafeHandles;

namespace Mail.Storage.Embedded;

/// <summary>
/// A handle on a SQLite database's write-ahead log (<c>NAME-wal</c>), so that <see cref="DurabilityBarrier"/> can make
/// its commits durable: an <c>fdatasync</c> of any descriptor of the file covers what SQLite wrote through its own.
/// The log lives as long as a connection is open (the stores keep theirs); should SQLite remove it and start another,
/// the handle is reopened on the next use.
/// </summary>
internal sealed class SqliteWriteAheadLog(string databasePath)
{
    private readonly string _path = databasePath + "-wal";
    private readonly Lock _gate = new();
    private SafeFileHandle? _handle;

    /// <summary>The log's handle, or null where there is none to sync (not yet written, or not Linux: the barrier syncs
    /// logs there only).</summary>
    public SafeFileHandle? Current()
    {
        if (!OperatingSystem.IsLinux()) return null;
        lock (_gate)
        {
            if (_handle is { } h && DurableFile.SameFile(h, _path)) return h;
            // The barrier holds its own reference to a handle it still has to sync: disposing only drops ours.
            _handle?.Dispose();
            _handle = null;
            try
            {
                _handle = File.OpenHandle(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            }
            catch (FileNotFoundException)
            {
            }
            return _handle;
        }
    }
}
