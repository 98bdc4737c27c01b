using System.Text;
using MailKit;
using MailKit.Net.Smtp;
using Mail.Core.Model;
using MimeKit.IO;
using Envelope = Mail.Core.Model.Envelope;
using MimeKit;

namespace Mail.Outbound.Smtp;

/// <summary>
/// MailKit's SMTP client (EHLO, PIPELINING, SIZE, 8BITMIME, SMTPUTF8, CHUNKING/BDAT, DSN, STARTTLS) with the hooks the
/// outbound stage needs: each RCPT TO reply is recorded per recipient instead of failing the whole message, the DSN
/// parameters (NOTIFY, RET, ENVID, ORCPT) come from the envelope (a transaction with an ORCPT is written by
/// <see cref="TrySendWithOriginalRecipientsAsync"/>, as MailKit cannot write it as received), the message is written byte for byte
/// (<see cref="RawMessage"/>) with no re-encoding (Prepare does nothing), BODY=8BITMIME is declared for an 8-bit
/// message, and each stage of the conversation has its own timeout (<see cref="SmtpConversation"/>).
/// </summary>
internal sealed class OutboundSmtpClient : SmtpClient
{
    private readonly Dictionary<string, SmtpResponse> _rcptReplies = new(StringComparer.OrdinalIgnoreCase);
    private readonly SmtpConversation _conversation;
    private Envelope? _envelope;
    private Dictionary<string, Recipient>? _recipients;

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

    /// <summary>BDAT whenever the server offers CHUNKING (RFC 3030): no dot-stuffing pass over the message.</summary>
    protected override bool PreferSendAsBinaryData => true;

    /// <summary>The RCPT TO replies of the last transaction, by address.</summary>
    public IReadOnlyDictionary<string, SmtpResponse> RecipientReplies => _rcptReplies;

    /// <summary>The MAIL FROM reply when the server refused the sender (then no RCPT was answered).</summary>
    public SmtpResponse? SenderRefused { get; private set; }

    /// <summary>Starts a transaction's bookkeeping: the envelope gives the DSN parameters.</summary>
    public void Begin(Envelope envelope, IReadOnlyList<Recipient> recipients)
    {
        _envelope = envelope;
        _recipients = recipients.ToDictionary(r => r.Address, StringComparer.OrdinalIgnoreCase);
        _rcptReplies.Clear();
        SenderRefused = null;
        DeliveryStatusNotificationType = envelope.MailFromParameters.Ret switch
        {
            DsnRet.Full => DeliveryStatusNotificationType.Full,
            DsnRet.Hdrs => DeliveryStatusNotificationType.HeadersOnly,
            _ => DeliveryStatusNotificationType.Unspecified,
        };
    }

    protected override void OnRecipientAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        _rcptReplies[mailbox.Address] = response;

    protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        _rcptReplies[mailbox.Address] = response;

    protected override void OnSenderNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response)
    {
        if (message.Body is RawBody body) body.Undeclare();
        SenderRefused = response;
        base.OnSenderNotAccepted(message, mailbox, response);
    }

    protected override void OnNoRecipientsAccepted(MimeMessage message)
    {
        // MailKit then throws "No recipients were accepted" and resets; the per-recipient replies are what count.
    }

    protected override string GetEnvelopeId(MimeMessage message) => _envelope?.MailFromParameters.EnvId!;

    protected override DeliveryStatusNotification? GetDeliveryStatusNotifications(MimeMessage message, MailboxAddress mailbox)
    {
        if (_recipients is null || !_recipients.TryGetValue(mailbox.Address, out var r) || r.Notify is not { } notify) return null;
        if (notify == DsnNotify.Never) return DeliveryStatusNotification.Never;
        DeliveryStatusNotification value = 0;
        if ((notify & DsnNotify.Success) != 0) value |= DeliveryStatusNotification.Success;
        if ((notify & DsnNotify.Failure) != 0) value |= DeliveryStatusNotification.Failure;
        if ((notify & DsnNotify.Delay) != 0) value |= DeliveryStatusNotification.Delay;
        return value;
    }

    /// <summary>
    /// Sent as stored: no re-encoding, which would break the sender's signatures. An 8-bit message gets BODY=8BITMIME
    /// when the server offers 8BITMIME (RFC 6152): MailKit chooses that parameter right after this call from the parts'
    /// Content-Transfer-Encoding, so the raw body says "8bit" for that moment (<see cref="RawBody.DeclareEightBit"/>)
    /// and takes it back once MAIL FROM is answered, before any octet of the message is written
    /// (<see cref="OnSenderAccepted"/>). A server without 8BITMIME gets the octets as they are, as Postfix with
    /// disable_mime_output_conversion does (converting would break the DKIM signatures).
    /// </summary>
    protected override void Prepare(FormatOptions options, MimeMessage message, EncodingConstraint constraint, int maxLineLength)
    {
        if (message.Body is RawBody body) body.DeclareEightBit();
    }

    protected override void OnSenderAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response)
    {
        if (message.Body is RawBody body) body.Undeclare();
        base.OnSenderAccepted(message, mailbox, response);
    }

    protected override long GetSize(FormatOptions options, MimeMessage message, CancellationToken cancellationToken) =>
        message is RawMessage raw ? raw.Size : base.GetSize(options, message, cancellationToken);

    protected override Task<long> GetSizeAsync(FormatOptions options, MimeMessage message, CancellationToken cancellationToken) =>
        message is RawMessage raw ? Task.FromResult(raw.Size) : base.GetSizeAsync(options, message, cancellationToken);

    /// <summary>
    /// Whether this transaction must be written by <see cref="TrySendWithOriginalRecipientsAsync"/>: a recipient has an
    /// ORCPT (RFC 3461 4.2) and the server offers DSN. MailKit 4.18.2 writes ORCPT only with NOTIFY, only as "rfc822;"
    /// and from the RCPT TO mailbox (its RCPT TO builder is private); everything else goes through its SendAsync.
    /// </summary>
    public bool PassesOriginalRecipients(IReadOnlyList<Recipient> recipients) =>
        (Capabilities & SmtpCapabilities.Dsn) != 0 && recipients.Any(r => r.ORcpt is not null);

    /// <summary>
    /// MAIL FROM, RCPT TO (NOTIFY and ORCPT exactly as the envelope has them) and DATA or BDAT, written with MailKit's
    /// command API on this connection (which MailKit set up: EHLO, STARTTLS, AUTH, capabilities) and followed by the
    /// same conversation logger (stages, timeouts). One command and one reply at a time: that API reads the reply of
    /// each command it writes, so there is no PIPELINING here (only the transactions that carry an ORCPT take this
    /// way). The result is MailKit's: the final reply text, or an <see cref="SmtpCommandException"/> with the RCPT
    /// replies in <see cref="RecipientReplies"/> and a refused sender in <see cref="SenderRefused"/>.
    /// Returns Sent = false, having written nothing, when the message cannot go as a command string: MailKit encodes
    /// commands as UTF-8, so a body with octets that are not UTF-8 (or addresses needing SMTPUTF8 that the server does
    /// not offer) goes through MailKit's SendAsync instead.
    /// </summary>
    public async Task<(bool Sent, string? Text)> TrySendWithOriginalRecipientsAsync(Envelope envelope, IReadOnlyList<Recipient> recipients, RawMessage message,
        CancellationToken cancellationToken)
    {
        var international = !Ascii.IsValid(envelope.MailFrom) || recipients.Any(r => !Ascii.IsValid(r.Address));
        if (international && (Capabilities & SmtpCapabilities.UTF8) == 0) return (false, null);
        var chunking = (Capabilities & SmtpCapabilities.Chunking) != 0;
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        options.EnsureNewLine = true;
        options.International = international;
        string content;
        using (var buffer = new MemoryStream())
        {
            if (chunking)
            {
                await message.WriteToAsync(options, buffer, cancellationToken);
            }
            else
            {
                // The dot-stuffing of MailKit's own DATA (RFC 5321 4.5.2).
                using var stuffed = new FilteredStream(buffer);
                stuffed.Add(new SmtpDataFilter(false));
                await message.WriteToAsync(options, stuffed, cancellationToken);
                await stuffed.FlushAsync(cancellationToken);
            }
            try
            {
                content = new UTF8Encoding(false, true).GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
            }
            catch (DecoderFallbackException)
            {
                return (false, null);
            }
        }
        // A message that came in by BDAT may end without a line break; DATA needs one before its final dot.
        if (!content.EndsWith("\r\n", StringComparison.Ordinal)) content += "\r\n";

        var mail = new StringBuilder("MAIL FROM:<").Append(envelope.IsNullSender ? "" : envelope.MailFrom).Append('>');
        if ((Capabilities & SmtpCapabilities.Size) != 0) mail.Append(" SIZE=").Append(message.Size);
        if (message.Body is RawBody { HasEightBitOctets: true } && (Capabilities & SmtpCapabilities.EightBitMime) != 0) mail.Append(" BODY=8BITMIME");
        if (international) mail.Append(" SMTPUTF8");
        if (envelope.MailFromParameters.Ret is { } ret) mail.Append(" RET=").Append(ret.Keyword());
        if (envelope.MailFromParameters.EnvId is { } envId) mail.Append(" ENVID=").Append(Xtext.Encode(envId));
        var reply = await SendCommandAsync(mail.ToString(), cancellationToken);
        if ((int)reply.StatusCode >= 300)
        {
            SenderRefused = reply;
            throw new SmtpCommandException(SmtpErrorCode.SenderNotAccepted, reply.StatusCode, reply.Response);
        }

        var accepted = 0;
        foreach (var r in recipients)
        {
            var rcpt = new StringBuilder("RCPT TO:<").Append(r.Address).Append('>');
            if (r.Notify is { } notify) rcpt.Append(" NOTIFY=").Append(string.Join(',', notify.Keywords()));
            if (r.ORcpt is { } orcpt) rcpt.Append(" ORCPT=").Append(OriginalRecipient.Format(orcpt, international));
            var rcptReply = await SendCommandAsync(rcpt.ToString(), cancellationToken);
            _rcptReplies[r.Address] = rcptReply;
            if ((int)rcptReply.StatusCode < 300) accepted++;
        }
        if (accepted == 0)
        {
            await ResetAsync(cancellationToken);
            throw new SmtpCommandException(SmtpErrorCode.RecipientNotAccepted, SmtpStatusCode.MailboxUnavailable, "No recipients were accepted.");
        }

        SmtpResponse final;
        if (chunking)
        {
            // RFC 3030: one chunk, the octet count of the UTF-8 form the command API writes.
            // The command API ends a command with CRLF (MailKit's documentation: a command without one); the chunk's own
            // last CRLF is left for it to write, so the octet count holds however it does that.
            final = await SendCommandAsync($"BDAT {Encoding.UTF8.GetByteCount(content)} LAST\r\n{content[..^2]}", cancellationToken);
        }
        else
        {
            var data = await SendCommandAsync("DATA", cancellationToken);
            if (data.StatusCode != SmtpStatusCode.StartMailInput)
            {
                await ResetAsync(cancellationToken);
                throw new SmtpCommandException(SmtpErrorCode.MessageNotAccepted, data.StatusCode, data.Response);
            }
            // The content ends with CRLF; the command API ends the final dot's line (a second CRLF would be read as an
            // empty command line, and its reply as the answer to the next command on this kept connection).
            final = await SendCommandAsync(content + ".", cancellationToken);
        }
        if ((int)final.StatusCode >= 300)
        {
            await ResetAsync(cancellationToken);
            throw new SmtpCommandException(SmtpErrorCode.MessageNotAccepted, final.StatusCode, final.Response);
        }
        return (true, final.Response);
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
