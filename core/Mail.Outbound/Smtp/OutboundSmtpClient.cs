using System.Runtime.CompilerServices;
using System.Text;
using MailKit;
using MailKit.Net.Smtp;
using Mail.Core.Model;
using MimeKit.IO;
using Envelope = Mail.Core.Model.Envelope;
using MimeKit;

namespace Mail.Outbound.Smtp;

/// <summary>
/// MailKit's SMTP client for the connection (connect, EHLO, STARTTLS, AUTH, capabilities, RSET, QUIT) and our own
/// writer for every mail transaction (<see cref="SendTransactionAsync"/>) on MailKit's connection stream: each RCPT TO
/// reply is recorded per recipient instead of failing the whole message, the DSN parameters (NOTIFY, RET, ENVID,
/// ORCPT) go out exactly as the envelope has them, the message is written byte for byte (<see cref="OutgoingMessage"/>)
/// with no re-encoding, BODY=8BITMIME is declared for an 8-bit message, and each stage of the conversation has its own
/// timeout (<see cref="SmtpConversation"/>).
/// </summary>
internal sealed class OutboundSmtpClient : SmtpClient
{
    private readonly Dictionary<string, SmtpResponse> _rcptReplies = new(StringComparer.OrdinalIgnoreCase);
    private readonly SmtpConversation _conversation;

    public OutboundSmtpClient(OutboundTimeouts timeouts)
        : this(new SmtpConversation(timeouts))
    {
    }

    private OutboundSmtpClient(SmtpConversation conversation)
        : base(conversation)
    {
        _conversation = conversation;
        // The greeting's timeout is in force from the connect on; MailKit copies it to the stream it is given.
        Timeout = conversation.TimeoutMs;
        conversation.TimeoutChanged = ms => Timeout = ms;
    }

    /// <summary>Our address on this connection (TLS-RPT sending-mta-ip).</summary>
    public string? LocalAddress { get; set; }

    /// <summary>The stage the conversation is at (what a failure interrupted).</summary>
    public SmtpStage Stage => _conversation.Stage;

    /// <summary>MailKit has the connection: failures from here on happened in the SMTP conversation, not the TCP connect.</summary>
    public bool ConversationStarted => _conversation.Started;

    /// <summary>
    /// A conversation that ended without a reply, in Postfix's words: "conversation with H[A] timed out while sending
    /// RCPT TO", "lost connection with H[A] while sending end of data -- message may be sent more than once". Always
    /// 4.4.2: nothing is known about the recipients, so they are tried again.
    /// </summary>
    public RemoteReply Failure(Exception e, string host, string where)
    {
        var stage = Stage.Describe();
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is TimeoutException) return SmtpReplies.Local("4.4.2", $"conversation with {host}[{where}] timed out while {stage}", host, where);
        }
        if (e is IOException or ServiceNotConnectedException || (e is SmtpProtocolException && e.Message.Contains("disconnected", StringComparison.Ordinal)))
            return SmtpReplies.Local("4.4.2", $"lost connection with {host}[{where}] while {stage}", host, where);
        return SmtpReplies.Local("4.4.2", $"conversation with {host}[{where}] failed while {stage}: {e.Message}", host, where);
    }

    /// <summary>The RCPT TO replies of the last transaction, by address.</summary>
    public IReadOnlyDictionary<string, SmtpResponse> RecipientReplies => _rcptReplies;

    /// <summary>The MAIL FROM reply when the server refused the sender (then no RCPT was answered).</summary>
    public SmtpResponse? SenderRefused { get; private set; }

    // MailKit's connection stream (internal SmtpStream: buffered writes and its reply parser, both reported to the
    // protocol logger). The command API (SendCommandAsync) encodes a command as UTF-8 and reads one reply per command,
    // so it can carry neither a body that is not UTF-8 nor a pipelined group; the stream itself can. Bound at compile
    // time (no reflection, fine for Native AOT); a MailKit that renames them fails OutboundClientHostTests' ORCPT tests.
    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "get_Stream")]
    [return: UnsafeAccessorType("MailKit.Net.Smtp.SmtpStream, MailKit")]
    private static extern object GetSmtpStream(SmtpClient client);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "ReadResponseAsync")]
    private static extern Task<SmtpResponse> ReadResponseAsync([UnsafeAccessorType("MailKit.Net.Smtp.SmtpStream, MailKit")] object stream,
        CancellationToken cancellationToken);

    /// <summary>
    /// One mail transaction: MAIL FROM, RCPT TO and DATA or BDAT, written on MailKit's connection (which MailKit set
    /// up: EHLO, STARTTLS, AUTH, capabilities) through its own stream, so the conversation logger follows it as before
    /// (stages, timeouts). With PIPELINING (RFC 2920) MAIL FROM, every RCPT TO and DATA (or the BDAT command with its
    /// one chunk) go out in one write and the replies are read in order; without it, one command, one reply. BDAT
    /// whenever the server offers CHUNKING (RFC 3030: no dot-stuffing pass), else DATA. The message goes out as octets
    /// (any 8-bit body, UTF-8 or not); an 8-bit one is declared BODY=8BITMIME to a server that offers 8BITMIME (RFC
    /// 6152) and sent as it is to one that does not, as Postfix with disable_mime_output_conversion does (converting
    /// would break the DKIM signatures). SIZE= (RFC 1870) to a server that offers SIZE. To a server that offers DSN
    /// (RFC 3461) RET, ENVID, NOTIFY and ORCPT exactly as the envelope has them; to one that does not, none of them.
    /// A utf-8 ORCPT goes out as utf-8-addr-unitext only in a transaction that uses SMTPUTF8; otherwise (the server does
    /// not offer SMTPUTF8, or no address of the envelope needs it) as utf-8-addr-xtext, RFC 6533 3's downgrade.
    /// The result: the final reply text, or an <see cref="SmtpCommandException"/> with the RCPT replies in
    /// <see cref="RecipientReplies"/> and a refused sender in <see cref="SenderRefused"/>.
    /// </summary>
    public async Task<string> SendTransactionAsync(Envelope envelope, IReadOnlyList<Recipient> recipients, OutgoingMessage message,
        CancellationToken cancellationToken)
    {
        if (!IsConnected) throw new ServiceNotConnectedException("The SMTP client is not connected.");
        _rcptReplies.Clear();
        SenderRefused = null;
        var dsn = (Capabilities & SmtpCapabilities.Dsn) != 0;
        var international = !Ascii.IsValid(envelope.MailFrom) || recipients.Any(r => !Ascii.IsValid(r.Address));
        var utf8Offered = (Capabilities & SmtpCapabilities.UTF8) != 0;
        var smtpUtf8 = international && utf8Offered;
        var chunking = (Capabilities & SmtpCapabilities.Chunking) != 0;
        var pipelining = (Capabilities & SmtpCapabilities.Pipelining) != 0;
        var content = Content(message, dotStuffed: !chunking);

        // As MailKit's own builder: without SMTPUTF8 a domain goes out IDN-encoded (A-labels).
        var mail = new StringBuilder("MAIL FROM:<").Append(envelope.IsNullSender ? "" : WireAddress(envelope.MailFrom, utf8Offered)).Append('>');
        if ((Capabilities & SmtpCapabilities.Size) != 0) mail.Append(" SIZE=").Append(message.Size);
        if (message.HasEightBitOctets && (Capabilities & SmtpCapabilities.EightBitMime) != 0) mail.Append(" BODY=8BITMIME");
        if (smtpUtf8) mail.Append(" SMTPUTF8");
        if (dsn && envelope.MailFromParameters.Ret is { } ret) mail.Append(" RET=").Append(ret.Keyword());
        if (dsn && envelope.MailFromParameters.EnvId is { } envId) mail.Append(" ENVID=").Append(Xtext.Encode(envId));

        var stream = (Stream)GetSmtpStream(this);
        try
        {
            await WriteLineAsync(stream, mail.ToString(), cancellationToken);
            if (!pipelining && !SenderAccepted(await FlushAndReadAsync(stream, cancellationToken))) throw SenderNotAccepted();
            var accepted = 0;
            foreach (var r in recipients)
            {
                var rcpt = new StringBuilder("RCPT TO:<").Append(WireAddress(r.Address, utf8Offered)).Append('>');
                if (dsn && r.Notify is { } notify) rcpt.Append(" NOTIFY=").Append(string.Join(',', notify.Keywords()));
                if (dsn && (r.ORcpt ?? Implied(r)) is { } orcpt) rcpt.Append(" ORCPT=").Append(OriginalRecipient.Format(orcpt, smtpUtf8));
                await WriteLineAsync(stream, rcpt.ToString(), cancellationToken);
                if (!pipelining) accepted += Recipient(r, await FlushAndReadAsync(stream, cancellationToken));
            }
            if (!pipelining && accepted == 0) throw await NoRecipientsAsync(stream, null, cancellationToken);

            if (chunking)
            {
                // RFC 3030: the whole message as one chunk, its octet count in the command.
                await WriteLineAsync(stream, $"BDAT {content.Length} LAST", cancellationToken);
                await stream.WriteAsync(content, cancellationToken);
            }
            else await WriteLineAsync(stream, "DATA", cancellationToken);
            await stream.FlushAsync(cancellationToken);
            if (pipelining)
            {
                // RFC 2920 3.1: the replies come in the order of the commands.
                var senderAccepted = SenderAccepted(await ReadResponseAsync(stream, cancellationToken));
                foreach (var r in recipients)
                {
                    var reply = await ReadResponseAsync(stream, cancellationToken);
                    if (senderAccepted) accepted += Recipient(r, reply);
                }
                if (!senderAccepted)
                {
                    await AbandonAsync(stream, await ReadResponseAsync(stream, cancellationToken), cancellationToken);
                    throw SenderNotAccepted();
                }
            }
            var last = await ReadResponseAsync(stream, cancellationToken);
            // RFC 2920 3.1: a server may answer DATA with 354 although no recipient was accepted; "." alone ends it.
            if (accepted == 0) throw await NoRecipientsAsync(stream, last, cancellationToken);
            if (!chunking)
            {
                if (last.StatusCode != SmtpStatusCode.StartMailInput)
                {
                    await ResetAsync(cancellationToken);
                    throw new SmtpCommandException(SmtpErrorCode.MessageNotAccepted, last.StatusCode, last.Response);
                }
                await stream.WriteAsync(content, cancellationToken);
                await WriteLineAsync(stream, ".", cancellationToken);
                last = await FlushAndReadAsync(stream, cancellationToken);
            }
            if (!last.IsPositive())
            {
                await ResetAsync(cancellationToken);
                throw new SmtpCommandException(SmtpErrorCode.MessageNotAccepted, last.StatusCode, last.Response);
            }
            return last.Response;
        }
        catch (Exception e) when (e is not SmtpCommandException)
        {
            // Where the conversation stands is unknown (a timeout, a lost or garbled reply): the connection is not kept,
            // as MailKit drops it when its own command fails.
            await DisconnectAsync(false, CancellationToken.None);
            throw;
        }
    }

    /// <summary>The message as it goes out: CRLF line ends, dot-stuffed for DATA (RFC 5321 4.5.2), ending in CRLF.</summary>
    private static ReadOnlyMemory<byte> Content(OutgoingMessage message, bool dotStuffed)
    {
        var buffer = new MemoryStream((int)Math.Min(message.Size + 64, int.MaxValue));
        if (dotStuffed)
        {
            // The dot-stuffing of MailKit's own DATA.
            using var stuffed = new FilteredStream(buffer);
            stuffed.Add(new SmtpDataFilter(false));
            message.WriteOctets(stuffed);
            stuffed.Flush();
        }
        else message.WriteOctets(buffer);
        // A message that came in by BDAT may end without a line break; DATA needs one before its final dot, and it is
        // kept for BDAT too so that both carry the same octets.
        var length = buffer.Length;
        if (length < 2 || buffer.GetBuffer()[length - 2] != '\r' || buffer.GetBuffer()[length - 1] != '\n') buffer.Write("\r\n"u8);
        // The stream's own array, not a second copy of the message (GetBuffer still works once the stream is closed).
        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    /// <summary>RFC 3461 4.2: a relay that received no ORCPT may add one naming the recipient; added (as MailKit did
    /// on its own path) for a recipient that asks for notices, so its DSNs name the address it was sent to.</summary>
    private static string? Implied(Recipient r) =>
        r.Notify is null ? null : (Ascii.IsValid(r.Address) ? "rfc822;" : "utf-8;") + r.Address;

    private static string WireAddress(string address, bool utf8Offered) =>
        utf8Offered ? address : new MailboxAddress("", address).GetAddress(idnEncode: true);

    private static async Task WriteLineAsync(Stream stream, string line, CancellationToken cancellationToken) =>
        await stream.WriteAsync(Encoding.UTF8.GetBytes(line + "\r\n"), cancellationToken);

    private static async Task<SmtpResponse> FlushAndReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        await stream.FlushAsync(cancellationToken);
        return await ReadResponseAsync(stream, cancellationToken);
    }

    private bool SenderAccepted(SmtpResponse reply)
    {
        if (reply.IsPositive()) return true;
        SenderRefused = reply;
        return false;
    }

    private SmtpCommandException SenderNotAccepted() =>
        new(SmtpErrorCode.SenderNotAccepted, SenderRefused!.StatusCode, SenderRefused.Response);

    private int Recipient(Recipient r, SmtpResponse reply)
    {
        _rcptReplies[r.Address] = reply;
        return reply.IsPositive() ? 1 : 0;
    }

    private async Task<SmtpCommandException> NoRecipientsAsync(Stream stream, SmtpResponse? dataReply, CancellationToken cancellationToken)
    {
        if (dataReply is { } reply) await AbandonAsync(stream, reply, cancellationToken);
        else await ResetAsync(cancellationToken);
        return new SmtpCommandException(SmtpErrorCode.RecipientNotAccepted, SmtpStatusCode.MailboxUnavailable, "No recipients were accepted.");
    }

    /// <summary>Ends a pipelined transaction that will not carry the message: "." after a 354, then RSET.</summary>
    private async Task AbandonAsync(Stream stream, SmtpResponse dataReply, CancellationToken cancellationToken)
    {
        if (dataReply.StatusCode == SmtpStatusCode.StartMailInput)
        {
            await WriteLineAsync(stream, ".", cancellationToken);
            await FlushAndReadAsync(stream, cancellationToken);
        }
        await ResetAsync(cancellationToken);
    }

    /// <summary>RSET after a refused transaction, so that the kept connection starts the next one clean.</summary>
    private async Task ResetAsync(CancellationToken cancellationToken)
    {
        try
        {
            await SendCommandAsync("RSET", cancellationToken);
        }
        catch (Exception e) when (e is SmtpProtocolException or IOException)
        {
            // The connection is gone (MailKit disconnected it): it is not kept.
        }
    }
}
