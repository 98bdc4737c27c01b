using System.Globalization;
using System.Text;
using MimeKit.Cryptography;

namespace Mail.Auth.Dkim;

/// <summary>The tags of one DKIM-Signature header field (RFC 6376 3.5), validated.</summary>
public sealed record DkimSignatureFields
{
    /// <summary>a= as written (e.g. "rsa-sha256").</summary>
    public required string AlgorithmName { get; init; }
    /// <summary>Null when a= names an algorithm we do not know.</summary>
    public DkimSignatureAlgorithm? Algorithm { get; init; }
    public required string Signature { get; init; }
    public required string BodyHash { get; init; }
    public DkimCanonicalizationAlgorithm HeaderCanonicalization { get; init; }
    public DkimCanonicalizationAlgorithm BodyCanonicalization { get; init; }
    /// <summary>d=, lower case.</summary>
    public required string Domain { get; init; }
    public required string Selector { get; init; }
    public required string[] SignedHeaders { get; init; }
    /// <summary>i= (AUID); defaults to "@" + d.</summary>
    public required string Identity { get; init; }
    /// <summary>l= body length limit, or null when the whole body is signed.</summary>
    public long? BodyLength { get; init; }
    public string QueryMethods { get; init; } = "dns/txt";
    public DateTimeOffset? Timestamp { get; init; }
    public DateTimeOffset? Expiration { get; init; }

    /// <summary>Parses and validates the value of a DKIM-Signature field; null with an error (a permerror) when malformed.</summary>
    public static DkimSignatureFields? Parse(string value, out string? error) => Parse(value.AsSpan(), out error);

    /// <inheritdoc cref="Parse(string, out string?)"/>
    public static DkimSignatureFields? Parse(ReadOnlySpan<char> value, out string? error)
    {
        // One scan over the tags into spans; strings are made only for what the result keeps.
        error = null;
        ReadOnlySpan<char> v = default, a = default, b = default, bh = default, c = default, d = default, h = default,
            s = default, i = default, l = default, t = default, x = default, q = default;
        bool hasC = false, hasI = false, hasL = false, hasT = false, hasX = false, hasQ = false;
        var tags = new TagList.Scanner(value);
        while (tags.MoveNext())
        {
            var tag = tags.Value;
            switch (tags.Name)
            {
                case "v": v = tag; break;
                case "a": a = tag; break;
                case "b": b = tag; break;
                case "bh": bh = tag; break;
                case "c": c = tag; hasC = true; break;
                case "d": d = tag; break;
                case "h": h = tag; break;
                case "s": s = tag; break;
                case "i": i = tag; hasI = true; break;
                case "l": l = tag; hasL = true; break;
                case "t": t = tag; hasT = true; break;
                case "x": x = tag; hasX = true; break;
                case "q": q = tag; hasQ = true; break;
            }
        }
        if (tags.Error is { } malformed) { error = malformed; return null; }

        if (v.IsEmpty) { error = "missing v= tag"; return null; }
        if (!v.SequenceEqual("1")) { error = $"unsupported version v={v}"; return null; }
        if (a.IsEmpty) { error = "missing a= tag"; return null; }
        if (b.IsEmpty) { error = "missing b= tag"; return null; }
        if (bh.IsEmpty) { error = "missing bh= tag"; return null; }
        if (d.IsEmpty) { error = "missing d= tag"; return null; }
        if (h.IsEmpty) { error = "missing h= tag"; return null; }
        if (s.IsEmpty) { error = "missing s= tag"; return null; }

        DkimSignatureAlgorithm? algorithm = null;
        string algorithmName;
        if (LowersTo(a, "rsa-sha256")) (algorithm, algorithmName) = (DkimSignatureAlgorithm.RsaSha256, "rsa-sha256");
        else if (LowersTo(a, "rsa-sha1")) (algorithm, algorithmName) = (DkimSignatureAlgorithm.RsaSha1, "rsa-sha1");
        else if (LowersTo(a, "ed25519-sha256")) (algorithm, algorithmName) = (DkimSignatureAlgorithm.Ed25519Sha256, "ed25519-sha256");
        else algorithmName = a.ToString().ToLowerInvariant();

        var canonHeader = DkimCanonicalizationAlgorithm.Simple;
        var canonBody = DkimCanonicalizationAlgorithm.Simple;
        if (hasC)
        {
            var slash = c.IndexOf('/');
            var valid = slash < 0
                ? TryCanon(c, out canonHeader)
                : c[(slash + 1)..].IndexOf('/') < 0 && TryCanon(c[..slash], out canonHeader) && TryCanon(c[(slash + 1)..], out canonBody);
            if (!valid)
            {
                error = $"invalid canonicalization c={c}";
                return null;
            }
        }

        var domain = Lower(d.TrimEnd('.'));
        var headerCount = h.Count(':') + 1;
        var headers = new string[headerCount];
        var from = false;
        var n = 0;
        foreach (var range in h.Split(':'))
        {
            var name = h[range].Trim(" \t\r\n");
            if (name.IsEmpty) { error = "empty header name in h="; return null; }
            from |= name.Equals("from", StringComparison.OrdinalIgnoreCase);
            headers[n++] = HeaderName(name);
        }
        if (!from)
        {
            error = "From is not among the signed header fields";
            return null;
        }

        string identity;
        if (hasI)
        {
            var at = i.LastIndexOf('@');
            if (at < 0) { error = "i= has no @"; return null; }
            var iDomain = i[(at + 1)..].TrimEnd('.');
            // Compared lower-cased (d= is lower case already): i= may be a subdomain of d=.
            var under = iDomain.Length > domain.Length && iDomain[^(domain.Length + 1)] == '.' && LowersTo(iDomain[^domain.Length..], domain);
            if (!LowersTo(iDomain, domain) && !under)
            {
                error = "i= domain is not d= or a subdomain of it";
                return null;
            }
            identity = i.ToString();
        }
        else identity = "@" + domain;

        long? length = null;
        if (hasL)
        {
            if (!long.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || l.Length > 76)
            {
                error = $"invalid body length l={l}";
                return null;
            }
            length = count;
        }

        DateTimeOffset? timestamp = null, expiration = null;
        if (hasT)
        {
            if (!TryUnixTime(t, out var ts)) { error = $"invalid timestamp t={t}"; return null; }
            timestamp = ts;
        }
        if (hasX)
        {
            if (!TryUnixTime(x, out var xs)) { error = $"invalid expiration x={x}"; return null; }
            expiration = xs;
            if (timestamp is { } signed && xs < signed) { error = "x= is earlier than t="; return null; }
        }

        var methods = "dns/txt";
        if (hasQ)
        {
            var found = false;
            foreach (var range in q.Split(':')) found |= q[range].Trim().Equals("dns/txt", StringComparison.OrdinalIgnoreCase);
            if (!found)
            {
                error = $"unsupported query method q={q}";
                return null;
            }
            if (!q.SequenceEqual(methods)) methods = q.ToString();
        }

        return new DkimSignatureFields
        {
            AlgorithmName = algorithmName,
            Algorithm = algorithm,
            Signature = TagList.StripWhitespace(b),
            BodyHash = TagList.StripWhitespace(bh),
            HeaderCanonicalization = canonHeader,
            BodyCanonicalization = canonBody,
            Domain = domain,
            Selector = s.Trim().ToString(),
            SignedHeaders = headers,
            Identity = identity,
            BodyLength = length,
            QueryMethods = methods,
            Timestamp = timestamp,
            Expiration = expiration,
        };
    }

    // The field names most signers list (RFC 6376 5.4.1, as dkimpy and OpenDKIM write them): handed out as shared
    // strings instead of a new one per name per message. Matched exactly; any other spelling gets its own string.
    private static readonly System.Collections.Frozen.FrozenSet<string> CommonHeaders = System.Collections.Frozen.FrozenSet.Create(StringComparer.Ordinal,
        "from", "to", "cc", "subject", "date", "message-id", "reply-to", "sender", "in-reply-to", "references",
        "mime-version", "content-type", "content-transfer-encoding", "content-id", "content-description",
        "resent-date", "resent-from", "resent-sender", "resent-to", "resent-cc", "resent-message-id",
        "list-id", "list-help", "list-unsubscribe", "list-subscribe", "list-post", "list-owner", "list-archive",
        "list-unsubscribe-post", "feedback-id",
        "From", "To", "Cc", "Subject", "Date", "Message-ID", "Message-Id", "Reply-To", "Sender", "In-Reply-To", "References",
        "MIME-Version", "Mime-Version", "Content-Type", "Content-Transfer-Encoding", "List-Id", "List-Unsubscribe",
        "List-Unsubscribe-Post", "Feedback-ID");

    private static readonly System.Collections.Frozen.FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> CommonHeaderLookup =
        CommonHeaders.GetAlternateLookup<ReadOnlySpan<char>>();

    private static string HeaderName(ReadOnlySpan<char> name) =>
        CommonHeaderLookup.TryGetValue(name, out var shared) ? shared : name.ToString();

    /// <summary>Whether <paramref name="s"/> lower-cased (invariant, as <see cref="string.ToLowerInvariant()"/>) is
    /// <paramref name="lower"/>; without a string for the usual ASCII text.</summary>
    private static bool LowersTo(ReadOnlySpan<char> s, string lower) =>
        Ascii.IsValid(s) ? Ascii.EqualsIgnoreCase(s, lower) : s.ToString().ToLowerInvariant() == lower;

    private static string Lower(ReadOnlySpan<char> s)
    {
        if (!s.ContainsAnyInRange('A', 'Z') && Ascii.IsValid(s)) return s.ToString();
        return s.ToString().ToLowerInvariant();
    }

    private static bool TryCanon(ReadOnlySpan<char> s, out DkimCanonicalizationAlgorithm algorithm)
    {
        algorithm = default;
        if (LowersTo(s, "simple")) algorithm = DkimCanonicalizationAlgorithm.Simple;
        else if (LowersTo(s, "relaxed")) algorithm = DkimCanonicalizationAlgorithm.Relaxed;
        else return false;
        return true;
    }

    private static bool TryUnixTime(ReadOnlySpan<char> s, out DateTimeOffset time)
    {
        time = default;
        // RFC 6376 allows up to 12 digits; anything beyond the DateTimeOffset range is treated as "far future".
        if (s.Length == 0 || s.Length > 12 || !long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)) return false;
        time = seconds > 253402300799 ? DateTimeOffset.MaxValue : DateTimeOffset.FromUnixTimeSeconds(seconds);
        return true;
    }
}
