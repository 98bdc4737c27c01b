namespace Mail.Smtp.Session;

/// <summary>
/// The connection as the session's <see cref="System.IO.Pipelines.PipeReader"/> reads it. The pipe reader makes a
/// zero-byte read before renting a buffer, so an idle client holds a socket and no memory (5,000 idle connections
/// cost a few KiB each). That wait is worth a receive only while the client may stay silent: between transactions.
/// Inside one, the next command or data line is due at once, and the extra receive on every read was a measurable
/// part of the edge's CPU under load. So a zero-byte read reaches the socket only while <c>waitForData</c> says so;
/// otherwise it returns at once and the reader goes straight to a real read.
/// </summary>
internal sealed class WaitForDataStream(Stream inner, Func<bool> waitForData) : Stream
{
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        buffer.IsEmpty && !waitForData() ? ValueTask.FromResult(0) : inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
