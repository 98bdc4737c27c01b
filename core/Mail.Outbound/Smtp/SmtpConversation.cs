using MailKit;
using MailKit.Net.Smtp;

namespace Mail.Outbound.Smtp;

/// <summary>What the SMTP client is waiting for (the reply to a command, or the network to take the message).</summary>
internal enum SmtpStage
{
    Greeting,
    Ehlo,
    StartTls,
    /// <summary>After the 220 to STARTTLS, until the next EHLO.</summary>
    TlsHandshake,
    Auth,
    MailFrom,
    RcptTo,
    /// <summary>The DATA command, waiting for 354; also the moment between the RCPT replies and the data.</summary>
    Data,
    /// <summary>Writing the message content (after 354, or after a BDAT command).</summary>
    MessageBody,
    /// <summary>The reply after the final "." or the last BDAT chunk.</summary>
    EndOfData,
    Rset,
    Quit,
    Other,
}

internal static class SmtpStageText
{
    /// <summary>Postfix's words for where a conversation stopped ("timed out while sending RCPT TO").</summary>
    public static string Describe(this SmtpStage stage) => stage switch
    {
        SmtpStage.Greeting => "receiving the initial server greeting",
        SmtpStage.Ehlo => "performing the EHLO handshake",
        SmtpStage.StartTls => "sending STARTTLS",
        SmtpStage.TlsHandshake => "performing the TLS handshake",
        SmtpStage.Auth => "performing SASL authentication",
        SmtpStage.MailFrom => "sending MAIL FROM",
        SmtpStage.RcptTo => "sending RCPT TO",
        SmtpStage.Data => "sending DATA command",
        SmtpStage.MessageBody => "sending message body",
        SmtpStage.EndOfData => "sending end of data -- message may be sent more than once",
        SmtpStage.Rset => "sending RSET",
        SmtpStage.Quit => "sending QUIT",
        _ => "sending a command",
    };
}

/// <summary>
/// Follows one SMTP conversation from the bytes MailKit writes and reads, to know at every moment which stage the
/// client is in, so that each read and write gets its own RFC 5321 4.5.3.2 timeout and a failure can say where it
/// happened. MailKit has a single <c>Timeout</c> (the socket's read/write timeout, taken at each read and write) and
/// no hook between the commands of a pipelined transaction, but it hands every octet to its protocol logger right
/// after writing it or right after reading it: the logger is the one place that sees the conversation as it goes.
/// It sees plaintext (above TLS). Commands are counted as written (each line expects one reply, a SASL continuation
/// line too), replies as read (a reply ends with a line whose fourth octet is not "-"); after 354 the octets are the
/// dot-stuffed message until CRLF "." CRLF, after BDAT n the next n octets are the chunk.
/// It also refuses a reply longer than <see cref="MaxReplyOctets"/>: MailKit would buffer an endless line.
/// </summary>
internal sealed class SmtpConversation(OutboundTimeouts timeouts) : IProtocolLogger
{
    /// <summary>Longest reply accepted, all its lines together (RFC 5321 4.5.3.1.5 allows 512 octets per line; an EHLO
    /// reply has a few dozen lines). Longer is a broken or hostile server: the conversation is dropped.</summary>
    public const int MaxReplyOctets = 64 * 1024;

    private enum Mode { Commands, DotData, Chunk }

    private readonly Queue<SmtpStage> _awaiting = new([SmtpStage.Greeting]);
    private readonly byte[] _line = new byte[32];
    private readonly byte[] _replyStart = new byte[4];
    private Mode _mode = Mode.Commands;
    private int _lineLength;
    private int _replyLineLength;
    private int _replyOctets;
    private ulong _tail;
    private long _chunkLeft;
    private bool _lastChunk;
    private SmtpStage _idle = SmtpStage.Greeting;
    private SmtpStage _lastCommand = SmtpStage.Greeting;
    private int _appliedMs = -1;

    /// <summary>Sets the client's timeout (milliseconds); MailKit applies it to the next read or write.</summary>
    public Action<int>? TimeoutChanged { get; set; }

    /// <summary>MailKit took the connection (the greeting is being read): failures from here on are the conversation's.</summary>
    public bool Started { get; private set; }

    /// <summary>What the client waits for now.</summary>
    public SmtpStage Stage => _awaiting.Count > 0 ? _awaiting.Peek() : _mode != Mode.Commands ? SmtpStage.MessageBody : _idle;

    /// <summary>The timeout of the current stage, in milliseconds.</summary>
    public int TimeoutMs => (int)timeouts.For(Stage).TotalMilliseconds;

    public IAuthenticationSecretDetector? AuthenticationSecretDetector { get; set; }

    public void LogConnect(Uri uri) => Started = true;

    public void LogClient(byte[] buffer, int offset, int count)
    {
        var end = offset + count;
        for (var i = offset; i < end; i++)
        {
            switch (_mode)
            {
                case Mode.Commands:
                    var b = buffer[i];
                    if (_lineLength < _line.Length) _line[_lineLength] = b;
                    _lineLength++;
                    if (b == '\n')
                    {
                        Command();
                        _lineLength = 0;
                    }
                    break;
                case Mode.DotData:
                    // RFC 5321 4.5.2: after dot-stuffing, CRLF "." CRLF only ever ends the data.
                    _tail = (_tail << 8) | buffer[i];
                    if ((_tail & 0xFF_FFFF_FFFF) == 0x0D_0A2E_0D0A) Expect(SmtpStage.EndOfData);
                    break;
                case Mode.Chunk:
                    var take = (int)Math.Min(_chunkLeft, end - i);
                    _chunkLeft -= take;
                    i += take - 1;
                    if (_chunkLeft == 0) Expect(_lastChunk ? SmtpStage.EndOfData : SmtpStage.MessageBody);
                    break;
            }
        }
        Apply();
    }

    public void LogServer(byte[] buffer, int offset, int count)
    {
        for (var i = offset; i < offset + count; i++)
        {
            if (++_replyOctets > MaxReplyOctets)
                throw new SmtpProtocolException($"the server's reply is longer than {MaxReplyOctets} octets");
            var b = buffer[i];
            if (_replyLineLength < _replyStart.Length) _replyStart[_replyLineLength] = b;
            _replyLineLength++;
            if (b != '\n') continue;
            // "250-..." continues the reply; "250 ...", "250" CRLF end it.
            if (_replyLineLength < 4 || _replyStart[3] != '-') Replied();
            _replyLineLength = 0;
        }
        Apply();
    }

    private void Command()
    {
        var text = System.Text.Encoding.ASCII.GetString(_line, 0, Math.Min(_lineLength, _line.Length)).TrimEnd('\r', '\n');
        var space = text.IndexOf(' ');
        var verb = (space < 0 ? text : text[..space]).ToUpperInvariant();
        var stage = verb switch
        {
            "EHLO" or "HELO" or "LHLO" => SmtpStage.Ehlo,
            "STARTTLS" => SmtpStage.StartTls,
            "AUTH" => SmtpStage.Auth,
            "MAIL" => SmtpStage.MailFrom,
            "RCPT" => SmtpStage.RcptTo,
            "DATA" => SmtpStage.Data,
            "BDAT" => SmtpStage.MessageBody,
            "RSET" => SmtpStage.Rset,
            "QUIT" => SmtpStage.Quit,
            // A SASL response line answers a 334: part of AUTH.
            _ => _lastCommand == SmtpStage.Auth ? SmtpStage.Auth : SmtpStage.Other,
        };
        _lastCommand = stage;
        if (stage != SmtpStage.MessageBody)
        {
            Expect(stage);
            return;
        }
        // BDAT <size> [LAST] (RFC 3030): the reply comes after the chunk.
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        _chunkLeft = parts.Length > 1 && long.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var size) ? size : 0;
        _lastChunk = parts.Length > 2 && parts[2].Equals("LAST", StringComparison.OrdinalIgnoreCase);
        if (_chunkLeft > 0) _mode = Mode.Chunk;
        else Expect(_lastChunk ? SmtpStage.EndOfData : SmtpStage.MessageBody);
    }

    private void Expect(SmtpStage stage)
    {
        _mode = Mode.Commands;
        _awaiting.Enqueue(stage);
    }

    private void Replied()
    {
        _replyOctets = 0;
        if (_awaiting.Count == 0) return;
        var stage = _awaiting.Dequeue();
        if (stage == SmtpStage.Data && _replyStart[0] == '3')
        {
            _mode = Mode.DotData;
            _tail = 0x0D0A; // as if after a line break: a first line "." is the end too
        }
        // Between replies the next thing is a write: after STARTTLS the handshake, after the recipients the data.
        _idle = stage switch
        {
            SmtpStage.StartTls => SmtpStage.TlsHandshake,
            SmtpStage.RcptTo => SmtpStage.Data,
            _ => stage,
        };
    }

    private void Apply()
    {
        var ms = TimeoutMs;
        if (ms == _appliedMs) return;
        _appliedMs = ms;
        TimeoutChanged?.Invoke(ms);
    }

    public void Dispose()
    {
    }
}
