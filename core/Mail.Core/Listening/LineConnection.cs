using System.Buffers;
using System.IO.Pipelines;
using System.Text;

namespace Mail.Core.Listening;

/// <summary>
/// The byte level of one line-based connection (IMAP, POP3): CRLF lines and literals in, responses out, over pipes
/// (no copy per line; back-pressure on writes). The stream can be swapped once for STARTTLS.
/// </summary>
public sealed class LineConnection : IAsyncDisposable
{
    private Stream _stream;
    private PipeReader _reader;
    private PipeWriter _writer;

    public LineConnection(Stream stream)
    {
        _stream = stream;
        _reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        _writer = CreateWriter(stream);
    }

    /// <summary>
    /// The flush of a pipe writes each of its buffers with one write (one send). With the default 4 KiB buffers a
    /// response with a literal (a FETCH BODY[] of a 5-10 KB message) left in three sends: the literal's announcement,
    /// its octets and the tagged reply; the client woke up for each. 64 KiB buffers (rented only until the flush, as
    /// before) put a typical response in one send, and a long FETCH (flushed every 64 KiB) in one send per flush.
    /// </summary>
    private static PipeWriter CreateWriter(Stream stream) =>
        PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true));

    public Stream Stream => _stream;

    /// <summary>True when the client has sent bytes we have not read yet (pipelined after STARTTLS: refused).</summary>
    public bool HasBufferedInput { get; private set; }

    /// <summary>
    /// One line without its CRLF (a bare LF is accepted too). Null at end of stream.
    /// A line longer than <paramref name="maxLength"/> is discarded up to its end and reported as TooLong.
    /// </summary>
    public async ValueTask<LineResult> ReadLineAsync(int maxLength, CancellationToken ct)
    {
        var discarding = false;
        while (true)
        {
            var result = await _reader.ReadAsync(ct);
            var buffer = result.Buffer;
            var lf = buffer.PositionOf((byte)'\n');
            if (lf is { } pos)
            {
                var lineSeq = buffer.Slice(0, pos);
                var next = buffer.GetPosition(1, pos);
                string? text = null;
                if (!discarding && lineSeq.Length <= maxLength)
                {
                    var len = lineSeq.Length;
                    if (len > 0 && LastByte(lineSeq) == (byte)'\r') lineSeq = lineSeq.Slice(0, len - 1);
                    text = Encoding.UTF8.GetString(lineSeq);
                }
                _reader.AdvanceTo(next);
                HasBufferedInput = buffer.Slice(next).Length > 0;
                return text is null ? LineResult.TooLong : new LineResult(text, false);
            }
            if (buffer.Length > maxLength)
            {
                discarding = true;
                _reader.AdvanceTo(buffer.End);
            }
            else
            {
                _reader.AdvanceTo(buffer.Start, buffer.End);
            }
            if (result.IsCompleted) return LineResult.EndOfStream;
        }
    }

    /// <summary>The start of what the client already sent but was not read yet (at most <paramref name="maxBytes"/>,
    /// as Latin-1), without waiting for more and without consuming it: the commands it pipelined.</summary>
    public string PeekBuffered(int maxBytes)
    {
        if (!_reader.TryRead(out var result)) return "";
        var buffer = result.Buffer;
        var text = Encoding.Latin1.GetString(buffer.Slice(0, Math.Min(maxBytes, buffer.Length)));
        _reader.AdvanceTo(buffer.Start, buffer.Start);
        return text;
    }

    /// <summary>Completes when the client has sent something (or closed the connection), consuming nothing: the
    /// next read returns the same bytes. No other read may run until it completes.</summary>
    public async ValueTask WaitForInputAsync(CancellationToken ct)
    {
        var result = await _reader.ReadAsync(ct);
        _reader.AdvanceTo(result.Buffer.Start, result.Buffer.Start);
    }

    private static byte LastByte(ReadOnlySequence<byte> seq) => seq.Slice(seq.Length - 1).FirstSpan[0];

    /// <summary>Exactly <paramref name="count"/> bytes (a literal); null when the stream ends first.</summary>
    public async ValueTask<byte[]?> ReadBytesAsync(long count, CancellationToken ct)
    {
        var data = new byte[count];
        long got = 0;
        while (got < count)
        {
            var result = await _reader.ReadAsync(ct);
            var buffer = result.Buffer;
            var take = Math.Min(buffer.Length, count - got);
            buffer.Slice(0, take).CopyTo(data.AsSpan((int)got));
            got += take;
            _reader.AdvanceTo(buffer.GetPosition(take));
            if (got < count && result.IsCompleted) return null;
        }
        return data;
    }

    public void Write(string text) => Write(text.AsSpan());

    /// <summary>Writes text kept elsewhere than in a string (an IMAP cache file's bytes) without copying it into one.</summary>
    public void Write(ReadOnlySpan<char> text)
    {
        var max = Encoding.UTF8.GetMaxByteCount(text.Length);
        var span = _writer.GetSpan(max);
        var n = Encoding.UTF8.GetBytes(text, span);
        _writer.Advance(n);
    }

    public void WriteLine(string text)
    {
        Write(text);
        Write("\r\n");
    }

    public void Write(ReadOnlySpan<byte> bytes) => _writer.Write(bytes);

    /// <summary>Copies <paramref name="length"/> bytes of <paramref name="source"/> out, flushing as it goes so a
    /// large body is never whole in memory.</summary>
    public async Task CopyFromAsync(Stream source, long length, CancellationToken ct)
    {
        // A seekable source is a stored file (or memory). On Unix a file's ReadAsync is the same synchronous read,
        // queued to the thread pool and awaited: read it here instead, without the hop.
        var inline = source.CanSeek;
        var remaining = length;
        while (remaining > 0)
        {
            var mem = _writer.GetMemory((int)Math.Min(remaining, 64 * 1024));
            var want = mem[..(int)Math.Min(mem.Length, remaining)];
            var n = inline ? source.Read(want.Span) : await source.ReadAsync(want, ct);
            if (n == 0) break;
            _writer.Advance(n);
            remaining -= n;
            if (_writer.UnflushedBytes >= 256 * 1024) await _writer.FlushAsync(ct);
        }
        // The literal announced its length: pad if the source came up short, rather than desynchronise the client.
        while (remaining > 0)
        {
            var chunk = (int)Math.Min(remaining, 4096);
            _writer.GetSpan(chunk)[..chunk].Fill((byte)' ');
            _writer.Advance(chunk);
            remaining -= chunk;
        }
    }

    public async ValueTask FlushAsync(CancellationToken ct)
    {
        await _writer.FlushAsync(ct);
    }

    /// <summary>A last line before the connection closes (shutdown, autologout), written if the client still reads
    /// within 5 s; a client already gone is no error.</summary>
    public async Task SayLastAsync(string line)
    {
        try
        {
            WriteLine(line);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await FlushAsync(cts.Token);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }

    /// <summary>Flushes when much is buffered (keeps long FETCH responses streaming).</summary>
    public ValueTask MaybeFlushAsync(CancellationToken ct) =>
        _writer.UnflushedBytes >= 64 * 1024 ? FlushAsync(ct) : ValueTask.CompletedTask;

    /// <summary>Replaces the transport (after the STARTTLS handshake) with fresh pipes over the new stream.</summary>
    public async Task SwitchStreamAsync(Func<Stream, Task<Stream>> upgrade)
    {
        await _writer.FlushAsync();
        await _reader.CompleteAsync();
        await _writer.CompleteAsync();
        _stream = await upgrade(_stream);
        _reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
        _writer = CreateWriter(_stream);
        HasBufferedInput = false;
    }

    public async ValueTask DisposeAsync()
    {
        try { await _writer.CompleteAsync(); } catch (IOException) { } catch (ObjectDisposedException) { }
        try { await _reader.CompleteAsync(); } catch (IOException) { } catch (ObjectDisposedException) { }
        await _stream.DisposeAsync();
    }
}

public readonly record struct LineResult(string? Text, bool IsTooLong)
{
    public static LineResult TooLong => new(null, true);
    public static LineResult EndOfStream => new(null, false);
    public bool IsEnd => Text is null && !IsTooLong;
}
