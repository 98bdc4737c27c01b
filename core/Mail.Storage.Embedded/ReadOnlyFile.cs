using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Mail.Storage.Embedded;

/// <summary>
/// Stored message octets opened for reading: a whole message file or one record's window in a segment. On Linux the
/// file is opened with open(2) directly: a <see cref="FileStream"/> (or <see cref="File.OpenHandle"/>) emulates
/// <see cref="FileShare"/> with flock(2) (taken at open, dropped at close) and adds fstat and fadvise calls, twice the
/// system calls of the read itself for the small files IMAP serves one FETCH at a time. Nothing here relies on those
/// locks: stored files are immutable once committed, the segments' only exclusive flock is the owner's lock file, and
/// a file removed (deleted message, compacted segment) after it was opened stays readable through the open descriptor.
/// </summary>
internal static class ReadOnlyFile
{
    private const int ORdOnly = 0, OCloExec = 0x80000, ENoEnt = 2;

    /// <summary>The whole file; null when it does not exist.</summary>
    public static Stream? Open(string path)
    {
#pragma warning disable CA2000 // disposed below on failure, else owned by the slice
        var handle = OpenHandle(path);
#pragma warning restore CA2000
        if (handle is null) return null;
        try
        {
            // The slice owns the handle.
#pragma warning disable CA2000
            return new Slice(handle, 0, RandomAccess.GetLength(handle), null);
#pragma warning restore CA2000
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary><paramref name="length"/> octets from <paramref name="start"/>; null when the file does not exist.</summary>
    public static Stream? OpenSlice(string path, long start, long length)
    {
        // The slice owns the handle.
#pragma warning disable CA2000
        var handle = OpenHandle(path);
        return handle is null ? null : new Slice(handle, start, length, null);
#pragma warning restore CA2000
    }

    /// <summary>A window on a handle the stream takes over (closes when disposed).</summary>
    public static Stream Own(SafeFileHandle handle, long start, long length) => new Slice(handle, start, length, null);

    /// <summary>The file opened for reading, without the flock; null when it does not exist.</summary>
    public static SafeFileHandle? OpenHandle(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            try
            {
                return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            }
            catch (FileNotFoundException)
            {
                return null;
            }
        }
        var fd = DurableFile.Open(path, ORdOnly | OCloExec);
        if (fd >= 0) return new SafeFileHandle(fd, ownsHandle: true);
        var errno = Marshal.GetLastPInvokeError();
        if (errno == ENoEnt) return null;
        throw new IOException($"open({path}) failed: errno {errno}");
    }

    /// <summary>A read-only window on a file, read with pread(2) (<see cref="RandomAccess"/>): no buffer of its own,
    /// since every reader brings one (IMAP copies up to 64 KiB per read straight into the socket pipe).</summary>
    /// <summary>
    /// A file kept open for many readers (a segment's, by its owner): the keeper holds one reference, each stream on it
    /// (<see cref="Read"/>) another, and the file is closed when the last is released, so a keeper dropping it (the
    /// segment removed) never pulls it from under a read in progress. A <see cref="SafeHandle"/>'s own count does not
    /// do this: once disposed it refuses every further use, even with references outstanding.
    /// </summary>
    public sealed class Shared(SafeFileHandle handle)
    {
        private int _references = 1;

        /// <summary>A window on the file holding a reference until disposed. Only while the keeper holds its own.</summary>
        public Stream Read(long start, long length)
        {
            ObjectDisposedException.ThrowIf(Interlocked.Increment(ref _references) <= 1, this);
            return new Slice(handle, start, length, this);
        }

        /// <summary>The keeper's reference or a stream's.</summary>
        public void Release()
        {
            if (Interlocked.Decrement(ref _references) == 0) handle.Dispose();
        }
    }

    private sealed class Slice(SafeFileHandle file, long start, long length, Shared? shared) : Stream
    {
        private long _position;
        private bool _disposed;

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;

        public override long Position
        {
            get => _position;
            set => _position = Math.Clamp(value, 0, length);
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var n = (int)Math.Min(buffer.Length, length - _position);
            if (n <= 0) return 0;
            n = RandomAccess.Read(file, buffer[..n], start + _position);
            _position += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(buffer.AsSpan(offset, count)));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => length + offset,
        };

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_disposed)
            {
                _disposed = true;
                if (shared is not null) shared.Release();
                else file.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
