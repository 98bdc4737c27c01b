using System.Buffers;
using System.Security.Cryptography;

namespace Mail.Auth.Dkim;

/// <summary>
/// Collects canonicalized bytes in a pooled buffer and hands them to an <see cref="IncrementalHash"/> (OpenSSL) in
/// large blocks: the canonicalizers write a token or a line at a time, and one native call per token would cost
/// more than the hashing. Counts every byte offered, and hashes at most <c>limit</c> of them (DKIM l=).
/// </summary>
internal sealed class CanonicalHashWriter : IDisposable
{
    private readonly IncrementalHash _hash;
    private readonly long _limit;
    private byte[] _buffer;
    private int _used;
    private byte _last;
    private bool _finished;

    public CanonicalHashWriter(HashAlgorithmName algorithm, long limit = long.MaxValue)
    {
        // One OpenSSL digest context per thread and algorithm, reset after each use: creating one costs more than
        // hashing a small message's header fields.
        // (A writer lives inside one synchronous call, so it is disposed on the thread that took the context.)
        if (algorithm == HashAlgorithmName.SHA256 && t_sha256 is { } cached)
        {
            t_sha256 = null;
            _hash = cached;
        }
        else _hash = IncrementalHash.CreateHash(algorithm);
        _limit = limit;
        _buffer = ArrayPool<byte>.Shared.Rent(8192);
    }

    /// <summary>Bytes offered so far (the canonical length, beyond the limit too).</summary>
    public long Length { get; private set; }

    public void Write(ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return;
        var room = _limit - Length;
        Length += data.Length;
        if (room <= 0) return;
        if (data.Length > room) data = data[..(int)room];
        _last = data[^1];
        if (data.Length > _buffer.Length - _used)
        {
            Flush();
            if (data.Length >= _buffer.Length)
            {
                _hash.AppendData(data);
                return;
            }
        }
        data.CopyTo(_buffer.AsSpan(_used));
        _used += data.Length;
    }

    public void Write(byte value)
    {
        if (Length++ >= _limit) return;
        _last = value;
        if (_used == _buffer.Length) Flush();
        _buffer[_used++] = value;
    }

    /// <summary>Writes <paramref name="data"/> with every bare LF (one not after CR, across writes too) as CRLF.</summary>
    public void WriteCrlf(ReadOnlySpan<byte> data)
    {
        var start = 0;
        var previous = _last;
        for (var lf = data.IndexOf((byte)'\n'); lf >= 0; lf = NextLf(data, lf + 1))
        {
            var before = lf > 0 ? data[lf - 1] : previous;
            if (before == (byte)'\r') continue;
            Write(data[start..lf]);
            Write((byte)'\r');
            start = lf; // the LF goes out with the next piece
        }
        Write(data[start..]);
    }

    private static int NextLf(ReadOnlySpan<byte> data, int from)
    {
        var i = data[from..].IndexOf((byte)'\n');
        return i < 0 ? -1 : from + i;
    }

    public byte[] GetHash()
    {
        Flush();
        _finished = true;
        return _hash.GetHashAndReset();
    }

    private void Flush()
    {
        if (_used == 0) return;
        _hash.AppendData(_buffer, 0, _used);
        _used = 0;
    }

    [ThreadStatic]
    private static IncrementalHash? t_sha256;

    public void Dispose()
    {
        if (_finished && _hash.AlgorithmName == HashAlgorithmName.SHA256 && t_sha256 is null) t_sha256 = _hash;
        else _hash.Dispose();
        if (_buffer.Length > 0) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }
}
