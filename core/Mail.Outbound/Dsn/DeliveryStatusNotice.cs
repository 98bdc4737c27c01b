using System.Globalization;
using System.Text;
using Mail.Core.Model;
using MimeKit;

namespace Mail.Outbound.Dsn;

/// <summary>RFC 3464 Action values.</summary>
public enum DsnAction
{
    Failed,
    Delayed,
    Delivered,
    Relayed,
    Expanded,
}

/// <summary>One recipient's line in a DSN.</summary>
public sealed record DsnRecipient(Recipient Recipient, DsnAction Action, RemoteReply Reply);

/// <summary>
/// Builds delivery status notifications (RFC 3464 multipart/report; report-type=delivery-status) to the envelope
/// sender: a human-readable part, the machine-readable message/delivery-status (per message: Reporting-MTA,
/// Original-Envelope-Id, Arrival-Date; per recipient: Original-Recipient, Final-Recipient, Action, Status, Remote-MTA,
/// Diagnostic-Code, Last-Attempt-Date), and the original's header (text/rfc822-headers) or, with RET=FULL, all of it
/// (message/rfc822).
/// </summary>
public static class DeliveryStatusNotice
{
    public static MimeMessage Build(Envelope envelope, IReadOnlyList<DsnRecipient> recipients, Stream original, string reportingMta, DateTimeOffset now)
    {
        var notice = new MimeMessage();
        notice.From.Add(new MailboxAddress("Mail Delivery System", "MAILER-DAEMON@" + reportingMta));
        notice.To.Add(MailboxAddress.Parse(envelope.MailFrom));
        var failed = recipients.Any(r => r.Action == DsnAction.Failed);
        var delayed = recipients.Any(r => r.Action == DsnAction.Delayed);
        notice.Subject = failed ? "Undelivered Mail Returned to Sender" : delayed ? "Delayed Mail (still being retried)" : "Successful Mail Delivery Report";
        notice.Date = now;
        notice.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(reportingMta);
        notice.Headers.Add("Auto-Submitted", "auto-replied");

        var report = new MultipartReport("delivery-status");
        report.Add(new TextPart("plain") { Text = HumanReadable(envelope, recipients, reportingMta) });

        var status = new MessageDeliveryStatus();
        var perMessage = new HeaderList
        {
            { "Reporting-MTA", "dns; " + reportingMta },
        };
        if (envelope.MailFromParameters.EnvId is { } envId) perMessage.Add("Original-Envelope-Id", envId);
        perMessage.Add("X-Mail-Queue-ID", envelope.QueueId);
        perMessage.Add("Arrival-Date", MimeKit.Utils.DateUtils.FormatDate(envelope.ReceivedAt));
        status.StatusGroups.Add(perMessage);
        foreach (var r in recipients)
        {
            var fields = new HeaderList();
            if (r.Recipient.ORcpt is { } orcpt) fields.Add("Original-Recipient", OriginalRecipient.ForDeliveryStatus(orcpt));
            fields.Add("Final-Recipient", OriginalRecipient.FinalRecipient(r.Recipient.Address));
            fields.Add("Action", r.Action.ToString().ToLowerInvariant());
            fields.Add("Status", r.Reply.EnhancedCode);
            if (r.Reply.Host is { } host) fields.Add("Remote-MTA", "dns; " + host);
            if (r.Reply.Code != 0) fields.Add("Diagnostic-Code", "smtp; " + r.Reply.Code.ToString(CultureInfo.InvariantCulture) + " " + r.Reply.EnhancedCode + " " + r.Reply.Text);
            else fields.Add("Diagnostic-Code", "X-Mail; " + r.Reply.Text);
            fields.Add("Last-Attempt-Date", MimeKit.Utils.DateUtils.FormatDate(now));
            if (r.Action == DsnAction.Delayed && r.Recipient.Delivery is { } d)
                fields.Add("Will-Retry-Until", MimeKit.Utils.DateUtils.FormatDate(d.ExpiresAt));
            status.StatusGroups.Add(fields);
        }
        report.Add(status);

        original.Position = 0;
        if (envelope.MailFromParameters.Ret == DsnRet.Full && failed)
        {
            report.Add(new MessagePart("rfc822") { Message = MimeMessage.Load(original) });
        }
        else
        {
            var headers = HeaderBytes(original);
            report.Add(new MimePart("text", "rfc822-headers") { Content = new MimeContent(new MemoryStream(headers)), ContentTransferEncoding = ContentEncoding.SevenBit });
        }
        notice.Body = report;
        return notice;
    }

    private static string HumanReadable(Envelope envelope, IReadOnlyList<DsnRecipient> recipients, string reportingMta)
    {
        var text = new StringBuilder();
        text.Append("This is the mail system at host ").Append(reportingMta).Append(".\n\n");
        if (recipients.Any(r => r.Action == DsnAction.Failed))
            text.Append("I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients. It's attached below.\n\n");
        else if (recipients.Any(r => r.Action == DsnAction.Delayed))
            text.Append("Your message could not be delivered for some time. It will be retried\nuntil it is too old; you do not need to send it again.\n\n");
        else
            text.Append("Your message was successfully delivered to the destination(s) listed below.\n\n");
        foreach (var r in recipients)
            text.Append('<').Append(r.Recipient.Address).Append(">: ").Append(r.Action.ToString().ToLowerInvariant()).Append(": ").Append(r.Reply.Describe()).Append('\n');
        text.Append("\nQueue ID: ").Append(envelope.QueueId).Append('\n');
        return text.ToString();
    }

    private static string Describe(this RemoteReply r) => r.Code == 0 ? r.Text : $"{r.Host} said: {r.Code} {r.EnhancedCode} {r.Text}";

    /// <summary>The original's header block as bytes (up to the blank line), at most 64 KiB.</summary>
    private static byte[] HeaderBytes(Stream original)
    {
        var buffer = new MemoryStream();
        var prev = new byte[3];
        int b;
        while ((b = original.ReadByte()) >= 0 && buffer.Length < 64 * 1024)
        {
            buffer.WriteByte((byte)b);
            if (b == '\n' && prev[2] == '\r' && prev[1] == '\n') break;
            if (b == '\n' && prev[2] == '\n') break;
            (prev[0], prev[1], prev[2]) = (prev[1], prev[2], (byte)b);
        }
        return buffer.ToArray();
    }
}
