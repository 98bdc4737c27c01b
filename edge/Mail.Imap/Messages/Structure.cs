using System.Text;
using Mail.Core.Caching;
using Mail.Core.Messages;
using Mail.Imap.Protocol;
using MimeKit;
using MimeKit.Utils;

namespace Mail.Imap.Messages;

/// <summary>ENVELOPE and BODYSTRUCTURE text (RFC 9051 7.5.2) from MimeKit's view of a message.</summary>
internal static class Structure
{
    public static string Envelope(HeaderList headers, bool utf8)
    {
        var sb = new StringBuilder();
        AppendEnvelope(sb, EnvelopeFields.Of(headers), utf8);
        return sb.ToString();
    }

    /// <summary>ENVELOPE of a raw header block (<see cref="HeaderBlock.ReadAsync(Stream, int, CancellationToken)"/>):
    /// the same text as through MimeKit's header parser, without building its header list when the block is plain.</summary>
    public static string Envelope(byte[] header, bool utf8) =>
        EnvelopeFields.TryScan(header) is { } fields ? Envelope(fields, utf8) : Envelope(HeaderBlock.Parse(header), utf8);

    private static string Envelope(EnvelopeFields fields, bool utf8)
    {
        var sb = new StringBuilder(256);
        AppendEnvelope(sb, fields, utf8);
        return sb.ToString();
    }

    private static void AppendEnvelope(StringBuilder sb, EnvelopeFields f, bool utf8)
    {
        var from = Addresses(f, EnvelopeField.From, utf8);
        var sender = Addresses(f, EnvelopeField.Sender, utf8);
        var replyTo = Addresses(f, EnvelopeField.ReplyTo, utf8);
        sb.Append('(')
            .Append(Wire.NString(Raw(f, EnvelopeField.Date), utf8)).Append(' ')
            .Append(Wire.NString(Raw(f, EnvelopeField.Subject), utf8)).Append(' ')
            .Append(from).Append(' ')
            .Append(sender == "NIL" ? from : sender).Append(' ') // RFC 9051: default Sender and Reply-To to From
            .Append(replyTo == "NIL" ? from : replyTo).Append(' ')
            .Append(Addresses(f, EnvelopeField.To, utf8)).Append(' ')
            .Append(Addresses(f, EnvelopeField.Cc, utf8)).Append(' ')
            .Append(Addresses(f, EnvelopeField.Bcc, utf8)).Append(' ')
            .Append(Wire.NString(Raw(f, EnvelopeField.InReplyTo), utf8)).Append(' ')
            .Append(Wire.NString(Raw(f, EnvelopeField.MessageId), utf8))
            .Append(')');
    }

    /// <summary>Header value as sent (encoded-words left for the client), unfolded; null when absent.</summary>
    private static string? Raw(EnvelopeFields f, EnvelopeField field)
    {
        if (!f.TryGet(field, out var source, out var start, out var length)) return null;
        var raw = Encoding.UTF8.GetString(source, start, length);
        return raw.Replace("\r\n", "").Replace("\n", "").Trim();
    }

    // Formatted address lists by their raw octets and the client's UTF-8 mode, the only inputs of the text, so an
    // entry never goes stale. A mailbox repeats a few senders and its owner's address in To and Cc, and parsing address
    // lists was the largest part of an ENVELOPE once the header fields were found by a scan. Bounded, as EnvelopeCache.
    private static readonly ClearingCache<string, string> s_addressLists = new(4096, StringComparer.Ordinal);
    private const int MaxCachedAddressBytes = 512;

    private static string Addresses(EnvelopeFields f, EnvelopeField field, bool utf8)
    {
        if (!f.TryGet(field, out var source, out var start, out var length)) return "NIL";
        if (length > MaxCachedAddressBytes) return FormatAddresses(source, start, length, utf8);
        var key = string.Create(length + 1, (source, start, utf8), static (chars, a) =>
        {
            chars[0] = a.utf8 ? 'u' : 'a';
            Encoding.Latin1.GetChars(a.source.AsSpan(a.start, chars.Length - 1), chars[1..]); // one char per octet: the key is the octets
        });
        return s_addressLists.GetOrAdd(key, static (_, a) => FormatAddresses(a.source, a.start, a.length, a.utf8), (source, start, length, utf8));
    }

    private static string FormatAddresses(byte[] source, int start, int length, bool utf8)
    {
        if (!InternetAddressList.TryParse(ParserOptions.Default, source, start, length, out var list) || list.Count == 0) return "NIL";
        var sb = new StringBuilder("(");
        foreach (var a in list) AppendAddress(sb, a, utf8);
        return sb.Append(')').ToString();
    }

    private static void AppendAddress(StringBuilder sb, InternetAddress a, bool utf8)
    {
        if (a is GroupAddress g)
        {
            sb.Append("(NIL NIL ").Append(Wire.String(Phrase(g.Name, utf8) ?? "", utf8)).Append(" NIL)");
            foreach (var m in g.Members) AppendAddress(sb, m, utf8);
            sb.Append("(NIL NIL NIL NIL)");
            return;
        }
        if (a is not MailboxAddress mb) return;
        var at = mb.Address.LastIndexOf('@');
        var local = at < 0 ? mb.Address : mb.Address[..at];
        var host = at < 0 ? null : mb.Address[(at + 1)..];
        // The source route (RFC 5322 obs-route, "@a,@b:") is the envelope's "adl".
        var route = mb.Route.Count == 0 ? null : "@" + string.Join(",@", mb.Route);
        sb.Append('(').Append(Wire.NString(Phrase(mb.Name, utf8), utf8)).Append(' ').Append(Wire.NString(route, utf8)).Append(' ')
            .Append(Wire.String(local, utf8)).Append(' ').Append(Wire.NString(host, utf8)).Append(')');
    }

    private static string? Phrase(string? name, bool utf8)
    {
        if (string.IsNullOrEmpty(name)) return null;
        if (utf8 || name.All(c => c < 0x80)) return name;
        return Encoding.ASCII.GetString(Rfc2047.EncodePhrase(Encoding.UTF8, name));
    }

    /// <summary>BODYSTRUCTURE (extensible) or BODY (non-extensible) of the message's body.</summary>
    public static string Body(ParsedMessage pm, bool extensible, bool utf8)
    {
        var sb = new StringBuilder();
        AppendBody(sb, pm, pm.Message.Body, extensible, utf8);
        return sb.ToString();
    }

    private static void AppendBody(StringBuilder sb, ParsedMessage pm, MimeEntity? entity, bool ext, bool utf8)
    {
        if (entity is null)
        {
            sb.Append("(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)");
            return;
        }
        var ct = entity.ContentType;
        if (entity is Multipart mp)
        {
            sb.Append('(');
            if (mp.Count == 0) sb.Append("(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)");
            foreach (var child in mp) AppendBody(sb, pm, child, ext, utf8);
            sb.Append(' ').Append(Wire.String(ct.MediaSubtype.ToUpperInvariant(), utf8));
            if (ext)
            {
                sb.Append(' ').Append(Params(ct.Parameters, utf8));
                AppendExtension(sb, entity, utf8);
            }
            sb.Append(')');
            return;
        }
        var off = pm.Of(entity);
        sb.Append('(')
            .Append(Wire.String(ct.MediaType.ToUpperInvariant(), utf8)).Append(' ')
            .Append(Wire.String(ct.MediaSubtype.ToUpperInvariant(), utf8)).Append(' ')
            .Append(Params(ct.Parameters, utf8, ct.IsMimeType("text", "*") ? "US-ASCII" : null)).Append(' ')
            .Append(Wire.NString(HeaderValue(entity, HeaderId.ContentId), utf8)).Append(' ')
            .Append(Wire.NString(HeaderValue(entity, HeaderId.ContentDescription), utf8)).Append(' ')
            .Append(Wire.String((HeaderValue(entity, HeaderId.ContentTransferEncoding) ?? "7BIT").ToUpperInvariant(), utf8)).Append(' ')
            .Append(Wire.Number(off.ContentLength));
        if (entity is MessagePart { Message: { } inner })
        {
            sb.Append(' ');
            AppendEnvelope(sb, EnvelopeFields.Of(inner.Headers), utf8);
            sb.Append(' ');
            AppendBody(sb, pm, inner.Body, ext, utf8);
            sb.Append(' ').Append(Wire.Number(off.Lines));
        }
        else if (ct.IsMimeType("text", "*"))
        {
            sb.Append(' ').Append(Wire.Number(off.Lines));
        }
        if (ext)
        {
            sb.Append(' ').Append(Wire.NString(HeaderValue(entity, HeaderId.ContentMd5), utf8));
            AppendExtension(sb, entity, utf8);
        }
        sb.Append(')');
    }

    private static void AppendExtension(StringBuilder sb, MimeEntity entity, bool utf8)
    {
        var d = entity.ContentDisposition;
        sb.Append(' ');
        if (d is null) sb.Append("NIL");
        else sb.Append('(').Append(Wire.String(d.Disposition.ToUpperInvariant(), utf8)).Append(' ').Append(Params(d.Parameters, utf8)).Append(')');
        var lang = HeaderValue(entity, HeaderId.ContentLanguage);
        sb.Append(' ').Append(lang is null ? "NIL" : Wire.String(lang, utf8));
        sb.Append(' ').Append(Wire.NString(HeaderValue(entity, HeaderId.ContentLocation), utf8));
    }

    private static string Params(ParameterList ps, bool utf8, string? defaultCharset = null)
    {
        if (ps.Count == 0)
            return defaultCharset is null ? "NIL" : $"(\"CHARSET\" \"{defaultCharset}\")";
        var sb = new StringBuilder("(");
        var first = true;
        foreach (var p in ps)
        {
            if (!first) sb.Append(' ');
            first = false;
            sb.Append(Wire.String(p.Name.ToUpperInvariant(), utf8)).Append(' ').Append(Wire.String(p.Value ?? "", utf8));
        }
        return sb.Append(')').ToString();
    }

    private static string? HeaderValue(MimeEntity e, HeaderId id)
    {
        var v = e.Headers[id];
        return string.IsNullOrWhiteSpace(v) ? null : v.Trim();
    }
}
