using Mail.Auth.Arc;
using Mail.Auth.Dkim;
using Mail.Auth.Dmarc;
using MimeKit;
using MimeKit.Cryptography;

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
/// Builds and recognises Authentication-Results header fields (RFC 8601) with MimeKit's
/// <see cref="AuthenticationResults"/> model.
/// </summary>
public static class AuthenticationResultsHeader
{
    public static AuthenticationResults Build(string authServId, AuthenticationSummary summary)
    {
        var ar = new AuthenticationResults(authServId);
        if (summary.AuthenticatedUser is { } user)
        {
            ar.Results.Add(Method("auth", "pass", null, ("smtp", "auth", user)));
        }
        if (summary.Spf is { } spf)
        {
            ar.Results.Add(spf.MailFrom is { Length: > 0 } mailFrom
                ? Method("spf", spf.Result, spf.Comment, ("smtp", "mailfrom", mailFrom))
                : Method("spf", spf.Result, spf.Comment, ("smtp", "helo", spf.Helo)));
        }
        if (summary.Dkim.Count == 0 && (summary.Spf is not null || summary.Dmarc is not null))
        {
            ar.Results.Add(Method("dkim", "none", null));
        }
        foreach (var d in summary.Dkim)
        {
            var props = new List<(string, string, string)>();
            if (d.Domain is not null) props.Add(("header", "d", d.Domain));
            if (d.Selector is not null) props.Add(("header", "s", d.Selector));
            if (d.HeaderB is { Length: > 0 }) props.Add(("header", "b", d.HeaderB));
            ar.Results.Add(Method("dkim", DkimResult.ToToken(d.Code), d.Reason, [.. props]));
        }
        if (summary.Dmarc is { } dmarc)
        {
            var comment = dmarc.Record is null
                ? dmarc.Reason
                : $"p={DmarcRecord.ToToken(dmarc.Record.Policy)}"
                  + (dmarc.Record.SubdomainPolicy is { } sp ? $" sp={DmarcRecord.ToToken(sp)}" : "")
                  + $" dis={(summary.DmarcOverride is null ? DmarcRecord.ToToken(dmarc.AppliedPolicy) : "none")}"
                  + (summary.DmarcOverride is { } o ? $" override={o}" : "")
                  + (dmarc.SampledOut ? " pct-sampled-out" : "");
            var result = Method("dmarc", DmarcResult.ToToken(dmarc.Code), comment,
                dmarc.FromDomain is null ? [] : [("header", "from", dmarc.FromDomain)]);
            ar.Results.Add(result);
        }
        if (summary.Arc is { } arc && (arc.Code != ArcResultCode.None || summary.Spf is not null))
        {
            var comment = arc.Code == ArcResultCode.None ? null
                : $"i={arc.Instances}" + (arc.SealerDomain is null ? "" : $" d={arc.SealerDomain}") + (arc.Reason is null ? "" : $" {arc.Reason}");
            ar.Results.Add(Method("arc", ArcResult.ToToken(arc.Code), comment,
                summary.ClientAddress is null ? [] : [("smtp", "remote-ip", summary.ClientAddress)]));
        }
        return ar;
    }

    /// <summary>The header field to prepend; MimeKit folds it when the message is written.</summary>
    public static Header ToHeader(AuthenticationResults results) => new(HeaderId.AuthenticationResults, results.ToString());

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

    private static AuthenticationMethodResult Method(string method, string result, string? comment, params (string Type, string Name, string Value)[] properties)
    {
        var r = new AuthenticationMethodResult(method, result);
        if (!string.IsNullOrEmpty(comment)) r.ResultComment = Sanitize(comment);
        foreach (var (type, name, value) in properties) r.Properties.Add(new AuthenticationMethodProperty(type, name, PropertyValue(value)));
        return r;
    }

    // Property values (d=, s=, b= prefixes, MAIL FROM) come from the sender: keep them one printable token so a
    // space or a ';' cannot break the field or inject a fake result.
    private static string PropertyValue(string s)
    {
        if (s.Length == 0) return "_";
        return string.Create(s.Length, s, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                var c = source[i];
                span[i] = c is > ' ' and < (char)0x7f and not ('(' or ')' or ';' or '"' or '\\') ? c : '_';
            }
        });
    }

    // Comments are ours, but reasons can quote sender data; keep them one line and balanced.
    private static string Sanitize(string s) =>
        string.Create(s.Length, s, static (span, source) =>
        {
            for (var i = 0; i < source.Length; i++)
            {
                var c = source[i];
                span[i] = c is '(' or ')' or '\\' or '\r' or '\n' ? ' ' : c;
            }
        });
}
