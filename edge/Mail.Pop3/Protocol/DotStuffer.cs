namespace Mail.Pop3.Protocol;

/// <summary>
/// Turns stored message octets into a POP3 multi-line response body (RFC 1939 section 3): a bare LF becomes CRLF,
/// a line that starts with "." gets a second one, and for TOP the output stops after the header, its blank line and
/// the first N body lines. Fed in chunks, so a large message is never whole in memory. Messages stored from SMTP
/// already end their lines with CRLF, so RETR sends exactly the stored octets plus the stuffed dots.
/// </summary>
internal sealed class DotStuffer(long? bodyLines = null)
{
    private bool _lineStart = true;
    private bool _afterCr;
    private bool _inBody;
    private bool _lineEmpty = true;
    private long _bodyLinesLeft = bodyLines ?? long.MaxValue;

    /// <summary>True once TOP has what it asked for: the rest of the message need not be read.</summary>
    public bool Done => _inBody && _bodyLinesLeft <= 0 && _lineStart;

    /// <summary>Writes what <paramref name="input"/> contributes into <paramref name="output"/>.</summary>
    public void Feed(ReadOnlySpan<byte> input, Action<ReadOnlySpan<byte>> output)
    {
        var runStart = 0;
        for (var i = 0; i < input.Length; i++)
        {
            if (Done)
            {
                output(input[runStart..i]);
                return;
            }
            var b = input[i];
            if (_lineStart && b == (byte)'.')
            {
                output(input[runStart..i]);
                output("."u8);
                runStart = i;
            }
            if (b == (byte)'\n')
            {
                if (!_afterCr)
                {
                    output(input[runStart..i]);
                    output("\r"u8);
                    runStart = i;
                }
                EndLine();
                _afterCr = false;
                continue;
            }
            _lineStart = false;
            _afterCr = b == (byte)'\r';
            if (!_afterCr) _lineEmpty = false;
        }
        output(input[runStart..]);
    }

    private void EndLine()
    {
        if (_inBody) _bodyLinesLeft--;
        else if (_lineEmpty) _inBody = true;
        _lineStart = true;
        _lineEmpty = true;
    }

    /// <summary>Ends the body: a last line without a line end gets one (or a stray CR its LF).</summary>
    public void Finish(Action<ReadOnlySpan<byte>> output)
    {
        if (_lineStart) return;
        output(_afterCr ? "\n"u8 : "\r\n"u8);
        _lineStart = true;
    }
}
