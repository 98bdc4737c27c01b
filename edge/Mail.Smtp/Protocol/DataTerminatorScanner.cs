namespace Mail.Smtp.Protocol;

/// <summary>
/// The DATA reader's state machine (RFC 5321 4.5.2, 4.1.1.4): removes dot-stuffing, finds the end of data,
/// and refuses the SMTP-smuggling tricks (CVE-2023-51764). Only CRLF "." CRLF ends the data, where the first
/// CRLF is a real line end (or the data's start): a bare LF or bare CR never starts a line, so
/// &lt;LF&gt;.&lt;CR&gt;&lt;LF&gt;, &lt;CR&gt;.&lt;CR&gt;, &lt;LF&gt;.&lt;LF&gt; and friends are just data, and any bare CR or LF marks the
/// message as bad (<see cref="BareLineEnding"/>) so it is refused once the real end arrives.
/// Works on spans of any size; keeps its state between calls (a CRLF may be split across reads).
/// </summary>
internal sealed class DataTerminatorScanner
{
    private enum State
    {
        LineStart,
        LineStartDot,
        LineStartDotCr,
        Text,
        TextCr,
    }

    private State _state = State.LineStart;
    private int _lineLength;

    /// <summary>Longest line allowed, CRLF included.</summary>
    public int MaxLineLength { get; set; } = 1000;

    /// <summary>A bare CR or bare LF was seen.</summary>
    public bool BareLineEnding { get; private set; }

    /// <summary>A line longer than <see cref="MaxLineLength"/> was seen.</summary>
    public bool LineTooLong { get; private set; }

    /// <summary>The terminating "." line was found.</summary>
    public bool Ended { get; private set; }

    public void Reset()
    {
        _state = State.LineStart;
        _lineLength = 0;
        BareLineEnding = false;
        LineTooLong = false;
        Ended = false;
    }

    /// <summary>
    /// Copies message octets from <paramref name="input"/> to <paramref name="output"/> (which must be at least
    /// as long as the input) and returns how many input octets were consumed: all of them, or up to and
    /// including the terminator when it is found (<see cref="Ended"/>).
    /// </summary>
    public int Process(ReadOnlySpan<byte> input, Span<byte> output, out int written)
    {
        var i = 0;
        var o = 0;
        while (i < input.Length)
        {
            switch (_state)
            {
                case State.LineStart:
                    _lineLength = 0;
                    if (input[i] == (byte)'.')
                    {
                        _state = State.LineStartDot;
                        _lineLength = 1;
                        i++;
                    }
                    else _state = State.Text;
                    break;

                case State.LineStartDot:
                    if (input[i] == (byte)'\r')
                    {
                        _state = State.LineStartDotCr;
                        i++;
                    }
                    else
                    {
                        // A leading dot is removed (transparency); ".\n" is a bare LF handled in Text.
                        _state = State.Text;
                    }
                    break;

                case State.LineStartDotCr:
                    if (input[i] == (byte)'\n')
                    {
                        Ended = true;
                        written = o;
                        return i + 1;
                    }
                    // ".<CR>x": the CR was bare. Keep it as data; the message is refused anyway.
                    BareLineEnding = true;
                    output[o++] = (byte)'\r';
                    _state = State.Text;
                    break;

                case State.Text:
                {
                    var rest = input[i..];
                    var k = rest.IndexOfAny((byte)'\r', (byte)'\n');
                    var run = k < 0 ? rest.Length : k;
                    rest[..run].CopyTo(output[o..]);
                    o += run;
                    i += run;
                    _lineLength += run;
                    if (_lineLength > MaxLineLength - 2) LineTooLong = true;
                    if (k < 0) break;
                    if (input[i] == (byte)'\n')
                    {
                        // Bare LF: data, not a line end; the next octet does not start a line.
                        BareLineEnding = true;
                        output[o++] = (byte)'\n';
                        _lineLength++;
                        i++;
                    }
                    else
                    {
                        output[o++] = (byte)'\r';
                        i++;
                        _state = State.TextCr;
                    }
                    break;
                }

                case State.TextCr:
                    if (input[i] == (byte)'\n')
                    {
                        output[o++] = (byte)'\n';
                        i++;
                        _state = State.LineStart;
                    }
                    else
                    {
                        BareLineEnding = true;
                        _lineLength++;
                        _state = State.Text;
                    }
                    break;
            }
        }
        written = o;
        return i;
    }
}
