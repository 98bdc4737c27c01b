using System.Text.RegularExpressions;
using Mail.Imap.Messages;
using Mail.Imap.Protocol;
using MimeKit;

namespace Mail.Imap.Session;

/// <summary>CATENATE (RFC 4469): a message built from literal text and parts of this user's messages named by
/// relative IMAP URLs (RFC 5092) "/mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s][/;PARTIAL=offset[.length]]".</summary>
internal sealed partial class ImapSession
{
    [GeneratedRegex(@"^/(?<mailbox>[^;]+?)(?:;UIDVALIDITY=(?<validity>\d+))?/;UID=(?<uid>\d+)(?:/;SECTION=(?<section>[^;/]*))?(?:/;PARTIAL=(?<offset>\d+)(?:\.(?<length>\d+))?)?$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex CatenateUrl();

    /// <summary>The joined octets, or null when a URL names nothing this user has.</summary>
    private async Task<byte[]?> CatenateAsync(List<(byte[]? Text, string? Url)> parts, CancellationToken ct)
    {
        using var joined = new MemoryStream();
        foreach (var (text, url) in parts)
        {
            var data = text ?? await UrlPartialAsync(url!, ct);
            if (data is null) return null;
            joined.Write(data);
        }
        return joined.ToArray();
    }

    private async Task<byte[]?> UrlPartialAsync(string url, CancellationToken ct)
    {
        var m = CatenateUrl().Match(url);
        if (!m.Success || await UrlDataAsync(m, ct) is not { } data) return null;
        if (!m.Groups["offset"].Success) return data;
        var offset = (int)Math.Min(long.Parse(m.Groups["offset"].Value, System.Globalization.CultureInfo.InvariantCulture), data.Length);
        var length = m.Groups["length"].Success
            ? (int)Math.Min(long.Parse(m.Groups["length"].Value, System.Globalization.CultureInfo.InvariantCulture), data.Length - offset)
            : data.Length - offset;
        return data[offset..(offset + length)];
    }

    private async Task<byte[]?> UrlDataAsync(Match m, CancellationToken ct)
    {
        string name;
        try
        {
            name = MailboxName.Decode(Uri.UnescapeDataString(m.Groups["mailbox"].Value), Utf8Names);
        }
        catch (InvalidMailboxNameException)
        {
            return null;
        }
        var info = await Mailboxes.GetMailboxAsync(_user, name, ct);
        if (info is null || (m.Groups["validity"].Success && m.Groups["validity"].Value != info.UidValidity.ToString(System.Globalization.CultureInfo.InvariantCulture))) return null;
        var uid = long.Parse(m.Groups["uid"].Value, System.Globalization.CultureInfo.InvariantCulture);
        var record = (await Mailboxes.ListMessagesAsync(_user, info.Name, null, ct)).FirstOrDefault(x => x.Uid == uid);
        if (record is null) return null;
        using var access = new MessageAccess(_services.Messages, record);
        var pm = await access.ParsedAsync(ct);
        var section = Uri.UnescapeDataString(m.Groups["section"].Value).ToUpperInvariant();
        if (section.Length == 0) return await pm.ReadAsync(0, pm.Length, ct);

        // "1.2", "1.2.MIME", "1.HEADER", "TEXT", "HEADER": part numbers, then what of the part.
        var words = section.Split('.');
        var numbers = words.TakeWhile(w => w.Length > 0 && w.All(char.IsAsciiDigit)).Select(int.Parse).ToArray();
        var suffix = string.Join('.', words.Skip(numbers.Length));
        var target = BodySectionWriter.Navigate(pm, numbers);
        switch (suffix, target)
        {
            case ("", MimeMessage msg):
                return await pm.ReadAsync(0, pm.Of(msg).End, ct);
            case ("", MimeEntity e):
                {
                    var off = pm.Of(e);
                    return await pm.ReadAsync(off.HeadersEnd, off.ContentLength, ct);
                }
            case ("MIME", MimeEntity e):
                {
                    var off = pm.Of(e);
                    return await pm.ReadAsync(off.Begin, off.HeadersEnd - off.Begin, ct);
                }
            case ("HEADER" or "TEXT", _):
                {
                    var message = target as MimeMessage ?? (target as MessagePart)?.Message;
                    if (message is null) return null;
                    var off = pm.Of(message);
                    return suffix == "HEADER"
                        ? await pm.ReadAsync(off.Begin, off.HeadersEnd - off.Begin, ct)
                        : await pm.ReadAsync(off.HeadersEnd, off.End - off.HeadersEnd, ct);
                }
            default:
                return null;
        }
    }
}
