using System.Buffers;

namespace Mail.Outbound;

/// <summary>
/// A small stored original read into one pooled array for the length of an outbound run: every pass over it (header,
/// 8-bit scan, body hash, sending, a notice's copy) reads memory instead of the store. The array goes back to the pool
/// when the run disposes the stream; views made with <see cref="MemoryStream.TryGetBuffer"/> must not outlive it.
/// </summary>
internal sealed class PooledOriginal : MemoryStream
{
    private byte[]? _rented;

    private PooledOriginal(byte[] rented, int length)
        : base(rented, 0, length, writable: false, publiclyVisible: true) => _rented = rented;

    public static async Task<PooledOriginal> ReadAsync(Stream source, int length, CancellationToken cancellationToken)
    {
        var rented = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            await source.ReadExactlyAsync(rented.AsMemory(0, length), cancellationToken);
            return new PooledOriginal(rented, length);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(rented);
            throw;
        }
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (Interlocked.Exchange(ref _rented, null) is { } rented) ArrayPool<byte>.Shared.Return(rented);
    }
}
