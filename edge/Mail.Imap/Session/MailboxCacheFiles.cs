using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;
using Mail.Core.Ports;
using Microsoft.Extensions.Logging;

namespace Mail.Imap.Session;

/// <summary>
/// The gateway's per-mailbox cache files in &lt;CacheDirectory&gt;/boxes (one <see cref="MailboxCacheFile"/> per
/// mailbox, like Dovecot's dovecot.index and dovecot.index.cache in one), and the one background writer that changes
/// them: sessions read the files, never wait for a write, and never see a half-written record (each carries a
/// CRC-32). It is only a cache: a missing, damaged, foreign or older-format file is built again from the mailbox
/// index and the messages, never an error for a client.
/// </summary>
internal sealed class MailboxCacheFiles : IAsyncDisposable
{
    public const string DirectoryName = "boxes";

    private const int MaxPending = 100_000;
    private const int WriteBatch = 512;

    private readonly ConcurrentDictionary<(string User, string Name), MailboxCacheFile> _files = new();
    private readonly Channel<Work> _pending =
        Channel.CreateBounded<Work>(new BoundedChannelOptions(MaxPending) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly List<TaskCompletionSource> _flushWaiters = [];
    private readonly Task _writer;
    private readonly int _maxLoaded;
    private long _loaded;
    private long _hits;
    private long _written;
    private long _rebuilds;
    private long _listHits;
    private long _listWritten;

    public MailboxCacheFiles(string cacheDirectory, int maxLoadedEntries, ILogger logger)
    {
        Directory = Path.Combine(cacheDirectory, DirectoryName);
        System.IO.Directory.CreateDirectory(Directory);
        Logger = logger;
        _maxLoaded = maxLoadedEntries;
        RemoveOlderLayout(cacheDirectory);
        _writer = Task.Run(WriteLoopAsync);
    }

    public string Directory { get; }

    internal ILogger Logger { get; }

    /// <summary>Formatted items (ENVELOPE, BODYSTRUCTURE, BODY) served from the files since start.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Items appended to the files since start.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Files found damaged, foreign or of another format version (and so built again) since start.</summary>
    public long Rebuilds => Interlocked.Read(ref _rebuilds);

    /// <summary>SELECTs answered from a file's message list since start.</summary>
    public long ListHits => Interlocked.Read(ref _listHits);

    /// <summary>Message lists written since start.</summary>
    public long ListWritten => Interlocked.Read(ref _listWritten);

    /// <summary>The cache file of a mailbox (one object per mailbox, shared by sessions; a new UIDVALIDITY replaces it).</summary>
    public MailboxCacheFile Of(string user, string name, long uidValidity)
    {
        // Sessions know the login as typed, the store's MailboxInfo the user as stored: one file for both.
        user = user.ToLowerInvariant();
        var key = (user, name);
        while (true)
        {
            if (_files.TryGetValue(key, out var file) && file.UidValidity == uidValidity) return file;
            var fresh = new MailboxCacheFile(this, PathOf(user, name), user, name, uidValidity);
            if (file is null ? _files.TryAdd(key, fresh) : _files.TryUpdate(key, fresh, file)) return fresh;
        }
    }

    /// <summary>The message list kept for <paramref name="info"/>, or null when there is none that matches it exactly.</summary>
    public MessageList? TryReadList(MailboxInfo info)
    {
        if (info.MessageCount < MailboxCacheFile.MinListMessages || !BitConverter.IsLittleEndian) return null;
        var list = Of(info.User, info.Name, info.UidValidity).TryReadList(info);
        if (list is not null) Interlocked.Increment(ref _listHits);
        return list;
    }

    /// <summary>Queues the list read consistently with <paramref name="info"/> to be written behind the reply.</summary>
    public void SaveList(MailboxInfo info, IReadOnlyList<MessageRecord> records)
    {
        if (info.MessageCount < MailboxCacheFile.MinListMessages || !BitConverter.IsLittleEndian) return;
        _pending.Writer.TryWrite(new Work(Of(info.User, info.Name, info.UidValidity), null, null, info, records));
    }

    internal void QueueAppend(MailboxCacheFile file, string key, string value) => _pending.Writer.TryWrite(new Work(file, key, value, null, null));

    internal void CountHits(int n) => Interlocked.Add(ref _hits, n);

    internal void CountListWritten() => Interlocked.Increment(ref _listWritten);

    internal void CountWritten(int n) => Interlocked.Add(ref _written, n);

    /// <summary>Logs (once per damage) that a file is not usable and counts the rebuild.</summary>
    internal void ReportUnusable(string path, string reason)
    {
        Interlocked.Increment(ref _rebuilds);
        Logger.LogWarning("IMAP cache file {Path} {Reason}; building it again from the mailbox index", path, reason);
    }

    /// <summary>Items held in memory over all files: past the bound every file lets go of them (read again when needed).</summary>
    internal void CountLoaded(int n)
    {
        if (Interlocked.Add(ref _loaded, n) <= _maxLoaded) return;
        Interlocked.Exchange(ref _loaded, 0);
        foreach (var file in _files.Values) file.Unload();
    }

    /// <summary>Waits until everything queued so far is on disk (tests, shutdown).</summary>
    public async Task FlushAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_flushWaiters) _flushWaiters.Add(done);
        if (!_pending.Writer.TryWrite(default)) done.TrySetResult();
        await done.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    private string PathOf(string user, string mailbox)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(user + "\0" + mailbox), hash);
        return Path.Combine(Directory, Convert.ToHexStringLower(hash[..16]) + ".box");
    }

    private async Task WriteLoopAsync()
    {
        var appends = new Dictionary<MailboxCacheFile, List<KeyValuePair<string, string>>>();
        var reader = _pending.Reader;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            var taken = 0;
            while (taken < WriteBatch && reader.TryRead(out var work))
            {
                taken++;
                if (work.File is null) continue; // a flush marker
                if (work.Info is not null)
                {
                    // Appends queued before this list go first, so the rewrite keeps them.
                    Drain(appends);
                    work.File.WriteList(work.Info, work.Records!);
                    continue;
                }
                if (!appends.TryGetValue(work.File, out var batch)) appends[work.File] = batch = [];
                batch.Add(new(work.Key!, work.Value!));
            }
            Drain(appends);
            if (reader.Count == 0)
            {
                TaskCompletionSource[] waiters;
                lock (_flushWaiters)
                {
                    waiters = [.. _flushWaiters];
                    _flushWaiters.Clear();
                }
                foreach (var w in waiters) w.TrySetResult();
            }
        }
    }

    private static void Drain(Dictionary<MailboxCacheFile, List<KeyValuePair<string, string>>> appends)
    {
        foreach (var (file, batch) in appends) file.Append(batch);
        appends.Clear();
    }

    /// <summary>Files of the layout before per-mailbox files (one SQLite fetch cache, list snapshots apart) are
    /// deleted once: nothing reads them any more.</summary>
    private void RemoveOlderLayout(string cacheDirectory)
    {
        try
        {
            var lists = Path.Combine(cacheDirectory, "lists");
            var old = new[] { "fetch-cache.db", "fetch-cache.db-wal", "fetch-cache.db-shm", "fetch-cache.db-journal" }
                .Select(f => Path.Combine(cacheDirectory, f)).Where(File.Exists).ToList();
            if (old.Count == 0 && !System.IO.Directory.Exists(lists)) return;
            foreach (var f in old) File.Delete(f);
            if (System.IO.Directory.Exists(lists)) System.IO.Directory.Delete(lists, recursive: true);
            Logger.LogInformation("IMAP cache: removed the older fetch-cache.db and lists/ from {Directory}; per-mailbox files in {Boxes} replace them", cacheDirectory, Directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Logger.LogDebug(e, "IMAP cache: older files in {Directory} not removed", cacheDirectory);
        }
    }

    /// <summary>Writes what is queued, then stops the writer.</summary>
    public async ValueTask DisposeAsync()
    {
        _pending.Writer.TryComplete();
        try
        {
            await _writer.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Logger.LogWarning("IMAP cache writer did not finish within 30 s");
        }
    }

    /// <summary>One queued change: an item to append (Key, Value), a list to write (Info, Records), or (no File) a flush marker.</summary>
    private readonly record struct Work(MailboxCacheFile? File, string? Key, string? Value, MailboxInfo? Info, IReadOnlyList<MessageRecord>? Records);
}
