using MimeKit;

namespace Mail.Imap.Messages;

/// <summary>Where an entity sits in the raw message: [Begin, HeadersEnd) is its header block (with the empty line),
/// [HeadersEnd, End) its content. Content of a part excludes the CRLF that belongs to the next boundary.</summary>
internal readonly record struct Offsets(long Begin, long HeadersEnd, long End, int Lines)
{
    public long ContentLength => End - HeadersEnd;
}

/// <summary>
/// A stored message parsed by MimeKit with persistent content: bodies stay in the store's stream and are read
/// by offset, so BODY[section] and partial fetches copy only the octets asked for.
/// </summary>
internal sealed class ParsedMessage : IDisposable
{
    private readonly Stream _stream;
    private readonly Dictionary<MimeEntity, Offsets> _entities = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<MimeMessage, Offsets> _messages = new(ReferenceEqualityComparer.Instance);

    private ParsedMessage(Stream stream) => _stream = stream;

    public MimeMessage Message { get; private set; } = null!;

    public static async Task<ParsedMessage> LoadAsync(Stream source, CancellationToken ct)
    {
        var stream = source;
        if (!source.CanSeek)
        {
            // Persistent parsing needs to seek; a non-seekable store stream is spooled to a temp file, not to memory.
            var tmp = new FileStream(Path.GetTempFileName(), FileMode.Create, FileAccess.ReadWrite, FileShare.None, 81920, FileOptions.DeleteOnClose);
            await source.CopyToAsync(tmp, ct);
            await source.DisposeAsync();
            tmp.Position = 0;
            stream = tmp;
        }
        var parsed = new ParsedMessage(stream);
        var parser = new MimeParser(stream, MimeFormat.Entity, persistent: true);
        parser.MimeEntityEnd += (_, e) => parsed._entities[e.Entity] = new Offsets(0, e.HeadersEndOffset, e.EndOffset, e.Lines);
        var begins = new Dictionary<object, long>(ReferenceEqualityComparer.Instance);
        parser.MimeEntityBegin += (_, e) => begins[e.Entity] = e.BeginOffset;
        parser.MimeMessageBegin += (_, e) => begins[e.Message] = e.BeginOffset;
        parser.MimeMessageEnd += (_, e) => parsed._messages[e.Message] = new Offsets(begins.GetValueOrDefault(e.Message), e.HeadersEndOffset, e.EndOffset, 0);
        parsed.Message = await parser.ParseMessageAsync(ct);
        // Entity begin offsets were recorded separately (the End event does not carry them).
        foreach (var (entity, off) in parsed._entities.ToList())
            parsed._entities[entity] = off with { Begin = begins.GetValueOrDefault(entity) };
        return parsed;
    }

    public Offsets Of(MimeEntity entity) => _entities[entity];

    public Offsets Of(MimeMessage message) => _messages[message];

    public long Length => _stream.Length;

    /// <summary>Reads a byte range of the raw message into memory (for small sections and header filters).</summary>
    public async Task<byte[]> ReadAsync(long start, long length, CancellationToken ct)
    {
        var data = new byte[length];
        _stream.Position = start;
        await _stream.ReadExactlyAsync(data, ct);
        return data;
    }

    /// <summary>Positions the raw stream at <paramref name="start"/> for streaming a section out.</summary>
    public Stream At(long start)
    {
        _stream.Position = start;
        return _stream;
    }

    public void Dispose() => _stream.Dispose();
}
