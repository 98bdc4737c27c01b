using MimeKit;

namespace Mail.Sieve;

/// <summary>What a script runs against: the parsed message, its size, the envelope (RFC 5228 5.4: "from" is the
/// reverse-path, "" for the null sender; "to" the recipient as given, with its subaddress), the subaddress
/// delimiters (Smtp:RecipientDelimiter), which mailboxes exist, and the clock.</summary>
public sealed class SieveMessage(MimeMessage message, long size, string envelopeFrom, string envelopeTo)
{
    public MimeMessage Message => message;
    public long Size => size;
    public string EnvelopeFrom => envelopeFrom;
    public string EnvelopeTo => envelopeTo;

    /// <summary>The body as received (after the header), for body :raw; when null, MimeKit's rendering of it is used.</summary>
    public string? RawBody { get; init; }

    public string Delimiters { get; init; } = "+";
    public Func<string, bool> MailboxExists { get; init; } = _ => false;
    public DateTimeOffset Now { get; init; } = DateTimeOffset.Now;

    /// <summary>The zone date and currentdate convert to without :zone (the server's).</summary>
    public TimeSpan LocalOffset { get; init; } = TimeZoneInfo.Local.GetUtcOffset(DateTimeOffset.UtcNow);
}
