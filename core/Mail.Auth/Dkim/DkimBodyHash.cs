using System.Buffers;
using System.Security.Cryptography;
using MimeKit.Cryptography;

namespace Mail.Auth.Dkim;

/// <summary>
/// The body hash of RFC 6376 3.7 step 1 over the body as stored: canonicalized (3.4.3 simple, 3.4.4 relaxed) in one
/// span scan straight into the hash, at most l= bytes of it. A line ends at LF, with or without CR before it (a bare
/// LF counts as CRLF, as in dkimpy and MimeKit); a lone CR is an ordinary byte. Empty lines at the end are dropped;
/// a last line without a line ending gets one; an empty body is CRLF under simple and nothing under relaxed.
/// </summary>
public static class DkimBodyHash
{
    private static readonly SearchValues<byte> Wsp = SearchValues.Create(" \t"u8);

    /// <param name="limit">l=, or null for the whole body.</param>
    /// <param name="canonicalLength">The length of the whole canonical body (beyond l= too): when it exceeds l=,
    /// the message has unsigned content after the signed part.</param>
    public static byte[] Compute(ReadOnlySpan<byte> body, HashAlgorithmName algorithm, DkimCanonicalizationAlgorithm canonicalization,
        long? limit, out long canonicalLength)
    {
        using var writer = new CanonicalHashWriter(algorithm, limit ?? long.MaxValue);
        Canonicalize(body, canonicalization == DkimCanonicalizationAlgorithm.Relaxed, writer);
        canonicalLength = writer.Length;
        return writer.GetHash();
    }

    /// <summary>
    /// The body hash of a body that is written rather than held (the outbound signer's: the stored body is streamed
    /// from the message store, and one hash serves every key that signs with the same canonicalization).
    /// </summary>
    public static byte[] Compute(Action<Stream> writeBody, HashAlgorithmName algorithm, DkimCanonicalizationAlgorithm canonicalization)
    {
        using var writer = new CanonicalHashWriter(algorithm);
        using var stream = new LineStream(canonicalization == DkimCanonicalizationAlgorithm.Relaxed, writer);
        writeBody(stream);
        stream.Finish();
        return writer.GetHash();
    }

    internal static void Canonicalize(ReadOnlySpan<byte> body, bool relaxed, CanonicalHashWriter writer)
    {
        var state = default(State);
        Lines(body, relaxed, writer, ref state);
        End(relaxed, writer, state);
    }

    /// <summary>Where a scan stands between calls: empty lines held back, and whether any line was written.</summary>
    private struct State
    {
        public int EmptyLines;
        public bool Written;
    }

    /// <summary>Canonicalizes lines; a piece that does not end in LF is taken as a last line without a line ending.</summary>
    private static void Lines(ReadOnlySpan<byte> body, bool relaxed, CanonicalHashWriter writer, ref State state)
    {
        while (!body.IsEmpty)
        {
            ReadOnlySpan<byte> line;
            var lf = body.IndexOf((byte)'\n');
            if (lf < 0)
            {
                line = body;
                body = default;
            }
            else
            {
                line = body[..lf];
                body = body[(lf + 1)..];
                if (!line.IsEmpty && line[^1] == (byte)'\r') line = line[..^1];
            }
            if (relaxed) line = line.TrimEnd(" \t"u8);
            if (line.IsEmpty)
            {
                // Held back: empty lines count only when something follows them.
                state.EmptyLines++;
                continue;
            }
            for (; state.EmptyLines > 0; state.EmptyLines--) writer.Write("\r\n"u8);
            if (relaxed) WriteReduced(line, writer);
            else writer.Write(line);
            writer.Write("\r\n"u8);
            state.Written = true;
        }
    }

    private static void End(bool relaxed, CanonicalHashWriter writer, State state)
    {
        if (!state.Written && !relaxed) writer.Write("\r\n"u8);
    }

    /// <summary>
    /// A write-only stream that canonicalizes whole lines as they arrive: the bytes after the last LF of a write wait
    /// (in a pooled buffer) for the rest of their line, so a line split across writes is scanned as one.
    /// </summary>
    private sealed class LineStream(bool relaxed, CanonicalHashWriter writer) : Stream
    {
        private State _state;
        private byte[] _partial = [];
        private int _partialLength;

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (_partialLength > 0)
            {
                var lf = buffer.IndexOf((byte)'\n');
                var take = lf < 0 ? buffer.Length : lf + 1;
                Hold(buffer[..take]);
                buffer = buffer[take..];
                if (lf < 0) return;
                Lines(_partial.AsSpan(0, _partialLength), relaxed, writer, ref _state);
                _partialLength = 0;
            }
            var last = buffer.LastIndexOf((byte)'\n');
            if (last >= 0)
            {
                Lines(buffer[..(last + 1)], relaxed, writer, ref _state);
                buffer = buffer[(last + 1)..];
            }
            Hold(buffer);
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public void Finish()
        {
            Lines(_partial.AsSpan(0, _partialLength), relaxed, writer, ref _state);
            _partialLength = 0;
            End(relaxed, writer, _state);
        }

        private void Hold(ReadOnlySpan<byte> bytes)
        {
            if (bytes.IsEmpty) return;
            if (_partialLength + bytes.Length > _partial.Length)
            {
                var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_partialLength + bytes.Length, 4096));
                _partial.AsSpan(0, _partialLength).CopyTo(larger);
                if (_partial.Length > 0) ArrayPool<byte>.Shared.Return(_partial);
                _partial = larger;
            }
            bytes.CopyTo(_partial.AsSpan(_partialLength));
            _partialLength += bytes.Length;
        }

        protected override void Dispose(bool disposing)
        {
            if (_partial.Length > 0) ArrayPool<byte>.Shared.Return(_partial);
            _partial = [];
            base.Dispose(disposing);
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    // RFC 6376 3.4.4: every run of WSP inside a line becomes one SP (trailing WSP is already gone).
    private static void WriteReduced(ReadOnlySpan<byte> line, CanonicalHashWriter writer)
    {
        // Most lines are already canonical (single spaces, no TAB): two vectorized searches say so.
        if (line.IndexOf((byte)'\t') < 0 && line.IndexOf("  "u8) < 0)
        {
            writer.Write(line);
            return;
        }
        while (true)
        {
            var wsp = line.IndexOfAny(Wsp);
            if (wsp < 0)
            {
                writer.Write(line);
                return;
            }
            writer.Write(line[..wsp]);
            writer.Write((byte)' ');
            line = line[wsp..];
            var run = line.IndexOfAnyExcept(Wsp);
            line = line[run..]; // run >= 0: the line does not end in WSP
        }
    }
}
