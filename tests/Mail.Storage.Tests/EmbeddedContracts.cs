using Mail.Core.Ports;
using Mail.Storage.Contracts;
using Mail.Storage.Embedded;

namespace Mail.Storage.Tests;

/// <summary>A temp directory per test class instance (xunit creates one instance per test).</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mail-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

public sealed class FileMessageStoreContractTests : MessageStoreContract, IDisposable
{
    private readonly TempDir _dir = new();

    protected override Task<IMessageStore> CreateStoreAsync() => Task.FromResult<IMessageStore>(new FileMessageStore(System.IO.Path.Combine(_dir.Path, "messages")));

    public void Dispose() => _dir.Dispose();
}

public sealed class SegmentMessageStoreContractTests : MessageStoreContract, IDisposable
{
    private readonly TempDir _dir = new();
    private SegmentMessageStore? _store;

    protected override Task<IMessageStore> CreateStoreAsync() =>
        Task.FromResult<IMessageStore>(_store = new SegmentMessageStore(System.IO.Path.Combine(_dir.Path, "originals")));

    public void Dispose()
    {
        _store?.Dispose();
        _dir.Dispose();
    }
}

public sealed class EmbeddedMessageStoreContractTests : MessageStoreContract, IDisposable
{
    private readonly TempDir _dir = new();
    private SegmentMessageStore? _originals;

    protected override Task<IMessageStore> CreateStoreAsync()
    {
        _originals = new SegmentMessageStore(System.IO.Path.Combine(_dir.Path, "originals"));
        return Task.FromResult<IMessageStore>(new EmbeddedMessageStore(new FileMessageStore(System.IO.Path.Combine(_dir.Path, "messages")), _originals));
    }

    public void Dispose()
    {
        _originals?.Dispose();
        _dir.Dispose();
    }
}

/// <summary>As the server runs it: copies appended to segments of their own, files read for older copies.</summary>
public sealed class EmbeddedMessageStoreWithCopySegmentsContractTests : MessageStoreContract, IDisposable
{
    private readonly TempDir _dir = new();
    private SegmentMessageStore? _originals;
    private SegmentMessageStore? _copies;

    protected override Task<IMessageStore> CreateStoreAsync()
    {
        _originals = new SegmentMessageStore(System.IO.Path.Combine(_dir.Path, "originals"));
        _copies = new SegmentMessageStore(System.IO.Path.Combine(_dir.Path, "copies"));
        return Task.FromResult<IMessageStore>(new EmbeddedMessageStore(new FileMessageStore(System.IO.Path.Combine(_dir.Path, "messages")), _originals, _copies));
    }

    public void Dispose()
    {
        _originals?.Dispose();
        _copies?.Dispose();
        _dir.Dispose();
    }
}

public sealed class SpoolQueueContractTests : MessageQueueContract, IDisposable
{
    private readonly TempDir _dir = new();

    protected override Task<IMessageQueue> CreateQueueAsync() => Task.FromResult<IMessageQueue>(new SpoolQueue(_dir.Path, "inbound"));

    public void Dispose() => _dir.Dispose();
}

public sealed class SqliteStateStoreContractTests : StateStoreContract, IDisposable
{
    private readonly TempDir _dir = new();

    protected override Task<IStateStore> CreateStoreAsync() => Task.FromResult<IStateStore>(new SqliteStateStore(System.IO.Path.Combine(_dir.Path, "mail.db")));

    public void Dispose() => _dir.Dispose();
}

public sealed class SqliteMailboxStoreContractTests : MailboxStoreContract, IDisposable
{
    private readonly TempDir _dir = new();

    private readonly List<SegmentMessageStore> _segments = [];

    protected override Task<IMailboxStore> CreateStoreAsync() => Task.FromResult<IMailboxStore>(new SqliteMailboxStore(System.IO.Path.Combine(_dir.Path, "mail.db")));

    /// <summary>The messages in segments, as the server keeps mailbox copies (mailbox-messages/).</summary>
    protected override Task<(IMailboxStore Store, IMessageStore Messages)> CreateStoreWithMessagesAsync()
    {
        var segments = new SegmentMessageStore(System.IO.Path.Combine(_dir.Path, "mailbox-messages-" + _segments.Count));
        _segments.Add(segments);
        return Task.FromResult<(IMailboxStore, IMessageStore)>((new SqliteMailboxStore(System.IO.Path.Combine(_dir.Path, "mail.db"), messages: () => segments), segments));
    }

    public void Dispose()
    {
        foreach (var s in _segments) s.Dispose();
        _dir.Dispose();
    }
}

/// <summary>The contract holds with the directory cache on for every partition: this process's writes are read back at once.</summary>
public sealed class CachedSqliteStateStoreContractTests : StateStoreContract, IDisposable
{
    private readonly TempDir _dir = new();

    protected override Task<IStateStore> CreateStoreAsync()
    {
        var store = new SqliteStateStore(System.IO.Path.Combine(_dir.Path, "mail.db"), watched: _ => true);
        store.CacheReads(TimeSpan.FromHours(1));
        return Task.FromResult<IStateStore>(store);
    }

    public void Dispose() => _dir.Dispose();
}
