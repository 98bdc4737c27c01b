using Mail.Auth.Arc;
using Mail.Auth.Dkim;
using Mail.Auth.Dmarc;
using MimeKit;
using MimeKit.Cryptography;
using System.Buffers;
using System.Text;

namespace Mail.Auth.Results;

/// <summary>The SPF outcome as it goes into Authentication-Results (decoupled from the SPF library's types).</summary>
/// <param name="Result">RFC 8601 token: pass, fail, softfail, neutral, none, temperror, permerror.</param>
/// <param name="MailFrom">The MAIL FROM reverse-path checked, or null for the null sender (then <paramref name="Helo"/> was checked).</param>
public sealed record SpfSummary(string Result, string? MailFrom, string Helo, string? Comment = null);

/// <summary>Everything one Authentication-Results header field reports.</summary>
public sealed record AuthenticationSummary
{
    public SpfSummary? Spf { get; init; }
    public IReadOnlyList<DkimResult> Dkim { get; init; } = [];
    public DmarcResult? Dmarc { get; init; }
    /// <summary>Set when a trusted ARC sealer's chain overrode a DMARC failure ("arc:lists.example.org").</summary>
    public string? DmarcOverride { get; init; }
    public ArcResult? Arc { get; init; }
    public string? ClientAddress { get; init; }
    /// <summary>SASL identity for authenticated submission (RFC 8601 "auth" method).</summary>
    public string? AuthenticatedUser { get; init; }
}

/// <summary>
/// Writes and recognises Authentication-Results header fields (RFC 8601). The field we add is written as text in
/// one pass (it is added to every message; MimeKit's <see cref="AuthenticationResults"/> model, formatted and then
/// re-parsed by <see cref="Header"/> to fold it, cost more than all of DMARC); incoming fields are read with MimeKit.
/// </summary>
public static class AuthenticationResultsHeader
{
    /// <summary>The field's value on one line: "authserv-id; method=result (comment) ptype.property=value; ...",
    /// or "authserv-id; none" when nothing was checked. Property values are quoted where they are not MIME tokens,
    /// as MimeKit writes them.</summary>
    public static string Format(string authServId, AuthenticationSummary summary)
    {
        ArgumentNullException.ThrowIfNull(authServId);
        ArgumentNullException.ThrowIfNull(summary);
        var w = new Writer(authServId);
        if (summary.AuthenticatedUser is { } user)
            w.Method("auth", "pass", null).Property("smtp", "auth", user);
        if (summary.Spf is { } spf)
        {
            w.Method("spf", spf.Result, spf.Comment);
            if (spf.MailFrom is { Length: > 0 } mailFrom) w.Property("smtp", "mailfrom", mailFrom);
            else w.Property("smtp", "helo", spf.Helo);
        }
        if (summary.Dkim.Count == 0 && (summary.Spf is not null || summary.Dmarc is not null))
            w.Method("dkim", "none", null);
        foreach (var d in summary.Dkim)
        {
            w.Method("dkim", DkimResult.ToToken(d.Code), d.Reason);
            if (d.Domain is not null) w.Property("header", "d", d.Domain);
            if (d.Selector is not null) w.Property("header", "s", d.Selector);
            if (d.HeaderB is { Length: > 0 }) w.Property("header", "b", d.HeaderB);
        }
        if (summary.Dmarc is { } dmarc)
        {
            if (dmarc.Record is not { } record) w.Method("dmarc", DmarcResult.ToToken(dmarc.Code), dmarc.Reason);
            else
            {
                w.Method("dmarc", DmarcResult.ToToken(dmarc.Code), null).OpenComment()
                    .Comment("p=").Comment(DmarcRecord.ToToken(record.Policy));
                if (record.SubdomainPolicy is { } sp) w.Comment(" sp=").Comment(DmarcRecord.ToToken(sp));
                w.Comment(" dis=").Comment(summary.DmarcOverride is null ? DmarcRecord.ToToken(dmarc.AppliedPolicy) : "none");
                if (summary.DmarcOverride is { } o) w.Comment(" override=").Comment(o);
                if (dmarc.SampledOut) w.Comment(" pct-sampled-out");
                w.CloseComment();
            }
            if (dmarc.FromDomain is not null) w.Property("header", "from", dmarc.FromDomain);
        }
        if (summary.Arc is { } arc && (arc.Code != ArcResultCode.None || summary.Spf is not null))
        {
            w.Method("arc", ArcResult.ToToken(arc.Code), null);
            if (arc.Code != ArcResultCode.None)
            {
                w.OpenComment().Comment("i=").Comment(arc.Instances.ToString(System.Globalization.CultureInfo.InvariantCulture));
                if (arc.SealerDomain is not null) w.Comment(" d=").Comment(arc.SealerDomain);
                if (arc.Reason is not null) w.Comment(" ").Comment(arc.Reason);
                w.CloseComment();
            }
            if (summary.ClientAddress is not null) w.Property("smtp", "remote-ip", summary.ClientAddress);
        }
        return w.ToString();
    }

    /// <summary>The header field to prepend, folded.</summary>
    public static Header ToHeader(string value) => FoldedHeader.Create("Authentication-Results", value);

    /// <summary>One pass over a pooled builder (one per thread): the value is the only string made.</summary>
    private readonly struct Writer
    {
        [ThreadStatic]
        private static StringBuilder? t_builder;

        private readonly StringBuilder _sb;

        public Writer(string authServId)
        {
            _sb = t_builder ?? new StringBuilder(512);
            t_builder = null;
            _sb.Clear().Append(authServId).Append(';');
        }

        public Writer Method(string method, string result, string? comment)
        {
            if (_sb[^1] != ';') _sb.Append(';');
            _sb.Append(' ').Append(method).Append('=').Append(result);
            if (!string.IsNullOrEmpty(comment)) OpenComment().Comment(comment).CloseComment();
            return this;
        }

        public Writer OpenComment()
        {
            _sb.Append(" (");
            return this;
        }

        // Comments are ours, but reasons can quote sender data; keep them one line and balanced.
        public Writer Comment(string text)
        {
            foreach (var c in text) _sb.Append(c is '(' or ')' or '\\' or '\r' or '\n' ? ' ' : c);
            return this;
        }

        public Writer CloseComment()
        {
            _sb.Append(')');
            return this;
        }

        // Property values (d=, s=, b= prefixes, MAIL FROM) come from the sender: keep them one printable token so a
        // space or a ';' cannot break the field or inject a fake result; quoted when not a MIME token (RFC 2045).
        public Writer Property(string type, string name, string value)
        {
            _sb.Append(' ').Append(type).Append('.').Append(name).Append('=');
            if (value.Length == 0)
            {
                _sb.Append('_');
                return this;
            }
            var quote = value.AsSpan().IndexOfAny(TokenSpecials) >= 0;
            if (quote) _sb.Append('"');
            foreach (var c in value) _sb.Append(c is > ' ' and < (char)0x7f and not ('(' or ')' or ';' or '"' or '\\') ? c : '_');
            if (quote) _sb.Append('"');
            return this;
        }

        public override string ToString()
        {
            if (_sb[^1] == ';') _sb.Append(" none");
            var value = _sb.ToString();
            if (_sb.Capacity <= 4096) t_builder = _sb;
            return value;
        }
    }

    // RFC 2045 tspecials that survive the sanitizing above (the others became '_', a token character).
    private static readonly SearchValues<char> TokenSpecials = SearchValues.Create("<>@,:/[]?=");

    /// <summary>
    /// True when an Authentication-Results field claims <paramref name="authServId"/>: such a field did not come
    /// from us (we add ours after this check) and must be removed (RFC 8601 5).
    /// </summary>
    public static bool ClaimsAuthServId(Header header, string authServId)
    {
        if (header.Id != HeaderId.AuthenticationResults) return false;
        if (AuthenticationResults.TryParse(header.RawValue, out var parsed))
            return string.Equals(parsed.AuthenticationServiceIdentifier, authServId, StringComparison.OrdinalIgnoreCase);
        // Unparseable: compare the first token before ';' (ignoring a version number) so junk cannot slip past.
        var value = header.Value.Trim();
        var semi = value.IndexOf(';');
        var id = (semi < 0 ? value : value[..semi]).Trim().Split(' ', '\t')[0];
        return string.Equals(id, authServId, StringComparison.OrdinalIgnoreCase);
    }
}
