using Mail.Core.Messages;
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

    /// <summary>What MimeKit parsed when the stored octets needed masking; its bodies are read through it.</summary>
    private LeadingLinesMask? _mask;

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
        try
        {
            await parsed.ParseAsync(stream, ct);
        }
        catch (FormatException)
        {
            // MimeKit refuses a message whose first line is not a header field (but for an mbox "From " line): it is
            // parsed again with those lines seen as one field of white space, the same length, so that every offset
            // holds; what is read out afterwards (BODY[HEADER]) is the stored octets.
            stream.Position = 0;
            var header = await HeaderBlock.ReadAsync(stream, HeaderBlock.MaxHeaderBytes, ct);
            var mask = new LeadingLinesMask(stream, HeaderBlock.LeadingNonFields(header));
            parsed._mask = mask;
            stream.Position = 0;
            await parsed.ParseAsync(mask, ct);
            mask.Masking = false;
        }
        return parsed;
    }

    /// <summary>Parses <paramref name="parse"/> (the stored octets, or a mask over them), which MimeKit keeps for
    /// reading bodies.</summary>
    private async Task ParseAsync(Stream parse, CancellationToken ct)
    {
        _entities.Clear();
        _messages.Clear();
        var parser = new MimeParser(parse, MimeFormat.Entity, persistent: true);
        parser.MimeEntityEnd += (_, e) => _entities[e.Entity] = new Offsets(0, e.HeadersEndOffset, e.EndOffset, e.Lines);
        var begins = new Dictionary<object, long>(ReferenceEqualityComparer.Instance);
        parser.MimeEntityBegin += (_, e) => begins[e.Entity] = e.BeginOffset;
        parser.MimeMessageBegin += (_, e) => begins[e.Message] = e.BeginOffset;
        parser.MimeMessageEnd += (_, e) => _messages[e.Message] = new Offsets(begins.GetValueOrDefault(e.Message), e.HeadersEndOffset, e.EndOffset, 0);
        Message = await parser.ParseMessageAsync(ct);
        // Entity begin offsets were recorded separately (the End event does not carry them).
        foreach (var (entity, off) in _entities.ToList())
            _entities[entity] = off with { Begin = begins.GetValueOrDefault(entity) };
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

    public void Dispose()
    {
        _mask?.Dispose();
        _stream.Dispose();
    }

    /// <summary>
    /// The stored octets with the first <c>length</c> of them, lines that are not header fields, read while
    /// <see cref="Masking"/> as "X:" and white space (line endings kept): one field MimeKit accepts, folded over the
    /// same number of lines and octets. The stored stream stays the <see cref="ParsedMessage"/>'s to dispose.
    /// </summary>
    private sealed class LeadingLinesMask(Stream inner, int length) : Stream
    {
        public bool Masking { get; set; } = true;

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => inner.Length;

        public override long Position
        {
            get => inner.Position;
            set => inner.Position = value;
        }

        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var at = inner.Position;
            var n = inner.Read(buffer);
            Mask(at, buffer[..n]);
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var at = inner.Position;
            var n = await inner.ReadAsync(buffer, cancellationToken);
            Mask(at, buffer.Span[..n]);
            return n;
        }

        private void Mask(long at, Span<byte> read)
        {
            if (!Masking) return;
            for (var i = 0; i < read.Length && at + i < length; i++)
            {
                var offset = at + i;
                if (offset == 0) read[i] = (byte)'X';
                else if (offset == 1) read[i] = (byte)':';
                else if (read[i] is not ((byte)'\r' or (byte)'\n')) read[i] = (byte)' ';
            }
        }

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    }
}
