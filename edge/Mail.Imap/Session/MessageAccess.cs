using Mail.Core.Ports;
using Mail.Imap.Messages;

namespace Mail.Imap.Session;

/// <summary>Lazily reads one stored message for a FETCH or SEARCH: only the header when that is all that is asked,
/// the parsed structure (bodies left in the store's stream) when parts are needed.</summary>
internal sealed class MessageAccess(IMessageStore store, MessageRecord record) : IDisposable
{
    private const int MaxHeader = 1024 * 1024;
    private byte[]? _header;
    private ParsedMessage? _parsed;
    private bool _missing;

    public MessageRecord Record => record;

    /// <summary>True once we found the store has no content for this record.</summary>
    public bool Missing => _missing;

    public async Task<byte[]> HeaderAsync(CancellationToken ct)
    {
        if (_header is not null) return _header;
        if (_parsed is not null)
        {
            var top = _parsed.Of(_parsed.Message);
            return _header = await _parsed.ReadAsync(top.Begin, top.HeadersEnd - top.Begin, ct);
        }
        await using var stream = await store.OpenReadAsync(record.MessageRef, ct);
        if (stream is null)
        {
            _missing = true;
            return _header = [];
        }
        return _header = await HeaderBlock.ReadAsync(stream, MaxHeader, ct);
    }

    public async Task<ParsedMessage> ParsedAsync(CancellationToken ct)
    {
        if (_parsed is not null) return _parsed;
        var stream = await store.OpenReadAsync(record.MessageRef, ct);
        if (stream is null)
        {
            _missing = true;
            stream = new MemoryStream("\r\n"u8.ToArray());
        }
        return _parsed = await ParsedMessage.LoadAsync(stream, ct);
    }

    /// <summary>The raw message stream (caller disposes); an empty stream when the content is missing.</summary>
    public async Task<Stream> OpenAsync(CancellationToken ct)
    {
        var stream = await store.OpenReadAsync(record.MessageRef, ct);
        if (stream is null)
        {
            _missing = true;
            return new MemoryStream();
        }
        return stream;
    }

    public void Dispose() => _parsed?.Dispose();
}
