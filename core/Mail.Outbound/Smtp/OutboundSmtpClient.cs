using MailKit;
using MailKit.Net.Smtp;
using Mail.Core.Model;
using Envelope = Mail.Core.Model.Envelope;
using MimeKit;

namespace Mail.Outbound.Smtp;

/// <summary>
/// MailKit's SMTP client (EHLO, PIPELINING, SIZE, 8BITMIME, SMTPUTF8, CHUNKING/BDAT, DSN, STARTTLS) with the hooks the
/// outbound stage needs: each RCPT TO reply is recorded per recipient instead of failing the whole message, the DSN
/// parameters (NOTIFY, RET, ENVID, ORCPT) come from the envelope, the message is written byte for byte
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
        _swapped.Clear();
        SenderRefused = null;
        DeliveryStatusNotificationType = envelope.MailFromParameters.Ret switch
        {
            DsnRet.Full => DeliveryStatusNotificationType.Full,
            DsnRet.Hdrs => DeliveryStatusNotificationType.HeadersOnly,
            _ => DeliveryStatusNotificationType.Unspecified,
        };
    }

    protected override void OnRecipientAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        _rcptReplies[Restore(mailbox)] = response;

    protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        _rcptReplies[Restore(mailbox)] = response;

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
        PassOriginalRecipient(mailbox, r);
        return value;
    }

    // RCPT TO addresses swapped for their ORCPT while MailKit builds the command, by mailbox (each transaction makes its own).
    private readonly Dictionary<MailboxAddress, string> _swapped = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// RFC 3461 4.2: ORCPT carries the address the sender originally gave (an alias's, a list's), not ours after
    /// rewriting. MailKit 4.18 builds "ORCPT=rfc822;" privately from the RCPT mailbox, reading it again right after
    /// this hook (CreateRcptToCommand: RCPT TO address, then this hook, then ORCPT from the same mailbox): so the mailbox
    /// holds the original address for that one read, and <see cref="Restore"/> puts the recipient back before its reply
    /// is recorded. Only the rfc822 address type can go this way (MailKit writes that type); any other ORCPT is left
    /// as MailKit makes it, the recipient's own address.
    /// </summary>
    private void PassOriginalRecipient(MailboxAddress mailbox, Recipient r)
    {
        if (r.ORcpt is not { } orcpt) return;
        var semicolon = orcpt.IndexOf(';', StringComparison.Ordinal);
        if (semicolon <= 0 || !orcpt.AsSpan(0, semicolon).Trim().Equals("rfc822", StringComparison.OrdinalIgnoreCase)) return;
        var original = orcpt[(semicolon + 1)..].Trim();
        if (original.Length == 0 || original.Equals(mailbox.Address, StringComparison.OrdinalIgnoreCase)) return;
        var own = mailbox.Address;
        try
        {
            mailbox.Address = original;
        }
        catch (ParseException)
        {
            // Not an address MimeKit can hold (the sender may put anything there): the recipient's own, as before.
            return;
        }
        _swapped[mailbox] = own;
    }

    private string Restore(MailboxAddress mailbox)
    {
        if (_swapped.Remove(mailbox, out var own)) mailbox.Address = own;
        return mailbox.Address;
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
}
