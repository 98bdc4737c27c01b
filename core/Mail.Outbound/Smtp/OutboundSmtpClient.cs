using MailKit;
using MailKit.Net.Smtp;
using Mail.Core.Model;
using Envelope = Mail.Core.Model.Envelope;
using MimeKit;

namespace Mail.Outbound.Smtp;

/// <summary>
/// MailKit's SMTP client (EHLO, PIPELINING, SIZE, 8BITMIME, SMTPUTF8, CHUNKING/BDAT, DSN, STARTTLS) with the hooks the
/// outbound stage needs: each RCPT TO reply is recorded per recipient instead of failing the whole message, the DSN
/// parameters (NOTIFY, RET, ENVID) come from the envelope, and the message is written byte for byte
/// (<see cref="RawMessage"/>) with no re-encoding (Prepare does nothing).
/// </summary>
internal sealed class OutboundSmtpClient : SmtpClient
{
    private readonly Dictionary<string, SmtpResponse> _rcptReplies = new(StringComparer.OrdinalIgnoreCase);
    private Envelope? _envelope;
    private Dictionary<string, Recipient>? _recipients;

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
        DeliveryStatusNotificationType = envelope.MailFromParameters.Ret?.ToUpperInvariant() switch
        {
            "FULL" => DeliveryStatusNotificationType.Full,
            "HDRS" => DeliveryStatusNotificationType.HeadersOnly,
            _ => DeliveryStatusNotificationType.Unspecified,
        };
    }

    protected override void OnRecipientAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        _rcptReplies[mailbox.Address] = response;

    protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        _rcptReplies[mailbox.Address] = response;

    protected override void OnSenderNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response)
    {
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
        if (_recipients is null || !_recipients.TryGetValue(mailbox.Address, out var r) || r.Notify is not { Count: > 0 } notify) return null;
        DeliveryStatusNotification value = 0;
        foreach (var n in notify)
        {
            value |= n.ToUpperInvariant() switch
            {
                "NEVER" => DeliveryStatusNotification.Never,
                "SUCCESS" => DeliveryStatusNotification.Success,
                "FAILURE" => DeliveryStatusNotification.Failure,
                "DELAY" => DeliveryStatusNotification.Delay,
                _ => 0,
            };
        }
        return value;
    }

    /// <summary>Sent as stored: no re-encoding, which would break the sender's signatures.</summary>
    protected override void Prepare(FormatOptions options, MimeMessage message, EncodingConstraint constraint, int maxLineLength)
    {
    }

    protected override long GetSize(FormatOptions options, MimeMessage message, CancellationToken cancellationToken) =>
        message is RawMessage raw ? raw.Size : base.GetSize(options, message, cancellationToken);

    protected override Task<long> GetSizeAsync(FormatOptions options, MimeMessage message, CancellationToken cancellationToken) =>
        message is RawMessage raw ? Task.FromResult(raw.Size) : base.GetSizeAsync(options, message, cancellationToken);
}
