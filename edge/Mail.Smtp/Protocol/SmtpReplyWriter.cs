using System.Buffers;
using System.IO.Pipelines;
using System.Text;

namespace Mail.Smtp.Protocol;

/// <summary>
/// Formats replies straight into the connection's <see cref="PipeWriter"/> (no string per reply).
/// Nothing is sent until <see cref="FlushAsync"/>: the session flushes only when it has no more
/// pipelined input to answer (RFC 2920), so a batch of commands gets one batch of replies.
/// </summary>
internal sealed class SmtpReplyWriter(PipeWriter writer)
{
    /// <summary>Writes one line "CODE[-| ]ENH TEXT\r\n"; <paramref name="enhancedCode"/> null for replies that carry none (RFC 2034 section 3).</summary>
    public void Write(int code, string? enhancedCode, string text, bool last = true)
    {
        var max = 4 + (enhancedCode?.Length + 1 ?? 0) + Encoding.UTF8.GetMaxByteCount(text.Length) + 2;
        var span = writer.GetSpan(max);
        span[0] = (byte)('0' + code / 100);
        span[1] = (byte)('0' + code / 10 % 10);
        span[2] = (byte)('0' + code % 10);
        span[3] = last ? (byte)' ' : (byte)'-';
        var n = 4;
        if (enhancedCode is not null)
        {
            n += Encoding.ASCII.GetBytes(enhancedCode, span[n..]);
            span[n++] = (byte)' ';
        }
        n += Encoding.UTF8.GetBytes(text, span[n..]);
        span[n++] = (byte)'\r';
        span[n++] = (byte)'\n';
        writer.Advance(n);
    }

    /// <summary>Writes one reply from the catalogue (<see cref="SmtpReplies"/>): its bytes when its text is fixed, else formatted.</summary>
    public void Write(in SmtpReply reply)
    {
        if (reply.IsEncoded) writer.Write(reply.Encoded);
        else Write(reply.Code, reply.EnhancedCode, reply.Text, last: !reply.Continues);
    }

    public bool HasPending => writer.UnflushedBytes > 0;

    public async ValueTask FlushAsync(CancellationToken cancellationToken = default)
    {
        if (writer.UnflushedBytes > 0) await writer.FlushAsync(cancellationToken);
    }
}
