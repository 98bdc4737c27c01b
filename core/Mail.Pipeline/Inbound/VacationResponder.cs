using System.Text;
using Mail.Core.Accounts;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Text;
using Mail.Sieve;
using MimeKit;
using MimeKit.Utils;

namespace Mail.Pipeline.Inbound;

/// <summary>
/// The vacation auto-reply (RFC 5230) under RFC 3834's rules: never to the null sender, a list (List-Id or any List-*
/// field), bulk (Precedence bulk, list or junk), an automatic message (Auto-Submitted other than "no"), a mailer
/// daemon or list manager (MAILER-DAEMON, LISTSERV, majordomo, owner-*, *-request), the user's own addresses, a
/// message that does not name the user in To/Cc/Bcc (RFC 5230 4.5), or what our checks called spam. One reply per
/// sender per :days (per :handle): a record in the state store with that expiry, written before the reply is queued,
/// so a re-run after a crash never sends a second one (at the price of none if the crash falls between the two).
/// The reply: null reverse-path, Auto-Submitted: auto-replied, In-Reply-To/References of the original.
/// </summary>
internal static class VacationResponder
{
    private static readonly string[] ListFields = ["List-Id", "List-Help", "List-Subscribe", "List-Unsubscribe", "List-Post", "List-Owner", "List-Archive"];

    /// <summary>Why no reply is due, or null when one is (before the :days record).</summary>
    public static string? WhyNot(Envelope envelope, string user, VacationAction vacation, MimeMessage message, RecipientRules rules, bool junk)
    {
        if (envelope.IsNullSender) return "the null sender";
        if (junk) return "a message filed as spam";
        var sender = envelope.MailFrom;
        var local = sender[..Math.Max(0, sender.LastIndexOf('@'))].ToLowerInvariant();
        if (local is "mailer-daemon" or "listserv" or "majordomo" || local.StartsWith("owner-", StringComparison.Ordinal) || local.EndsWith("-request", StringComparison.Ordinal))
            return "a mailer daemon or list manager";
        var own = new HashSet<string>([user, .. vacation.Addresses.Select(a => MailDirectory.Canonical(a) ?? a.ToLowerInvariant())], StringComparer.OrdinalIgnoreCase);
        if (own.Contains(Base(sender, rules))) return "one of the user's own addresses";
        if (message.Headers[HeaderId.AutoSubmitted] is { } auto && !auto.Trim().StartsWith("no", StringComparison.OrdinalIgnoreCase)) return "an automatic message (Auto-Submitted)";
        if (message.Headers[HeaderId.Precedence]?.Trim().ToLowerInvariant() is "bulk" or "list" or "junk") return "bulk mail (Precedence)";
        if (ListFields.Any(f => message.Headers.Contains(f))) return "a mailing list message";
        var named = new[] { "To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc" }
            .SelectMany(f => message.Headers.Where(h => h.Field.Equals(f, StringComparison.OrdinalIgnoreCase)))
            .SelectMany(h => InternetAddressList.TryParse(h.Value, out var list) ? list.Mailboxes.Select(m => m.Address) : [])
            .Any(a => own.Contains(Base(a, rules)));
        return named ? null : "the user is not named in To, Cc or Bcc";
    }

    /// <summary>The address without its subaddress, lower case.</summary>
    private static string Base(string address, RecipientRules rules)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? address.ToLowerInvariant() : (rules.BaseLocalPart(address[..at]) + address[at..]).ToLowerInvariant();
    }

    /// <summary>The state-store key of the :days record: the sender and the handle (RFC 5230 4.2; without :handle, the
    /// reason, subject and from, as Pigeonhole derives it).</summary>
    public static string RecordKey(string sender, VacationAction vacation)
    {
        var handle = vacation.Handle ?? vacation.Reason + "\n" + vacation.Subject + "\n" + vacation.From + (vacation.Mime ? "\nmime" : "");
        return sender.ToLowerInvariant() + "|" + Sha256Hex.Of(handle, 16);
    }

    /// <summary>The reply as RFC 5322 bytes.</summary>
    public static byte[] Build(Envelope envelope, string user, VacationAction vacation, MimeMessage original, DateTimeOffset now)
    {
        using var reply = new MimeMessage();
        reply.From.Add(vacation.From is { } from && InternetAddressList.TryParse(from, out var fromList) && fromList.Mailboxes.Any() ? fromList.Mailboxes.First() : MailboxAddress.Parse(user));
        reply.To.Add(MailboxAddress.Parse(envelope.MailFrom));
        var subject = original.Subject ?? "";
        reply.Subject = vacation.Subject ?? "Auto: " + subject;
        reply.Date = now;
        var domain = user[(user.LastIndexOf('@') + 1)..];
        reply.MessageId = MimeUtils.GenerateMessageId(domain);
        if (original.MessageId is { } id)
        {
            reply.InReplyTo = id;
            reply.References.AddRange(original.References);
            reply.References.Add(id);
        }
        reply.Headers.Add("Auto-Submitted", "auto-replied (vacation)");
        reply.Headers.Add("Precedence", "bulk");
        if (vacation.Mime)
        {
            using var stream = new MemoryStream(Encoding.UTF8.GetBytes(vacation.Reason));
            reply.Body = MimeEntity.Load(stream);
        }
        else
        {
            reply.Body = new TextPart("plain") { Text = vacation.Reason };
        }
        using var output = new MemoryStream();
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        reply.WriteTo(options, output);
        return output.ToArray();
    }
}
