using System.Buffers;

namespace Mail.Smtp.Protocol;

/// <summary>What the DATA reader found once the end of data arrived.</summary>
internal readonly record struct DataOutcome(long Size, bool TooBig, bool BareLineEnding, bool LineTooLong);

/// <summary>
/// Reads DATA (RFC 5321 4.1.1.4) up to and including the terminating "." line, streaming the unstuffed octets to
/// the sink through one pooled buffer. SIZE is enforced while reading: past the limit nothing more is written,
/// but the data is read to its end so the session stays in step with the client.
/// </summary>
internal sealed class DataReader
{
    private const int OutputBufferSize = 16 * 1024;
    private readonly DataTerminatorScanner _scanner = new();

    /// <returns>Null when the connection ended (or timed out) before the end of data.</returns>
    public async ValueTask<DataOutcome?> ReadAsync(ISmtpInput input, TimeSpan timeout, IMessageSink sink, long maxSize, int maxLineLength)
    {
        var scanner = _scanner;
        scanner.Reset();
        scanner.MaxLineLength = maxLineLength;
        var output = ArrayPool<byte>.Shared.Rent(OutputBufferSize);
        var outLength = 0;
        long size = 0;
        var tooBig = false;
        try
        {
            while (true)
            {
                var read = await input.ReadAsync(timeout);
                if (read is null) return null;
                var result = read.Value;
                var buffer = result.Buffer;
                long consumed = 0;
                foreach (var segment in buffer)
                {
                    var offset = 0;
                    while (offset < segment.Length && !scanner.Ended)
                    {
                        if (outLength == output.Length)
                        {
                            if (!tooBig) await sink.WriteAsync(output.AsMemory(0, outLength));
                            outLength = 0;
                        }
                        // The output never grows past the input (unstuffing only removes), so a slice this size always fits.
                        var n = Math.Min(segment.Length - offset, output.Length - outLength);
                        var used = scanner.Process(segment.Span.Slice(offset, n), output.AsSpan(outLength), out var written);
                        offset += used;
                        consumed += used;
                        size += written;
                        if (size > maxSize) tooBig = true;
                        if (!tooBig) outLength += written;
                    }
                    if (scanner.Ended) break;
                }
                if (scanner.Ended)
                {
                    // Whatever follows the terminator (pipelined commands) stays in the pipe for the session.
                    input.Reader.AdvanceTo(buffer.GetPosition(consumed));
                    break;
                }
                input.Reader.AdvanceTo(buffer.End);
                if (result.IsCompleted) return null;
            }
            if (!tooBig && outLength > 0) await sink.WriteAsync(output.AsMemory(0, outLength));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(output);
        }
        return new DataOutcome(size, tooBig, scanner.BareLineEnding, scanner.LineTooLong);
    }
}
