using System.Globalization;
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
    public static DkimSignatureFields? Parse(string value, out string? error)
    {
        var tags = TagList.Parse(value, out error);
        if (tags is null) return null;

        string? Required(string name)
        {
            if (tags.TryGetValue(name, out var v) && v.Length > 0) return v;
            return null;
        }

        if (Required("v") is not { } v) { error = "missing v= tag"; return null; }
        if (v != "1") { error = $"unsupported version v={v}"; return null; }
        foreach (var name in new[] { "a", "b", "bh", "d", "h", "s" })
        {
            if (Required(name) is null) { error = $"missing {name}= tag"; return null; }
        }

        var a = tags["a"].ToLowerInvariant();
        DkimSignatureAlgorithm? algorithm = a switch
        {
            "rsa-sha256" => DkimSignatureAlgorithm.RsaSha256,
            "rsa-sha1" => DkimSignatureAlgorithm.RsaSha1,
            "ed25519-sha256" => DkimSignatureAlgorithm.Ed25519Sha256,
            _ => null,
        };

        var canonHeader = DkimCanonicalizationAlgorithm.Simple;
        var canonBody = DkimCanonicalizationAlgorithm.Simple;
        if (tags.TryGetValue("c", out var c))
        {
            var parts = c.ToLowerInvariant().Split('/');
            if (parts.Length > 2 || !TryCanon(parts[0], out canonHeader) || (parts.Length == 2 && !TryCanon(parts[1], out canonBody)))
            {
                error = $"invalid canonicalization c={c}";
                return null;
            }
        }

        var d = tags["d"].ToLowerInvariant().TrimEnd('.');
        var headers = tags["h"].Split(':').Select(h => h.Trim(' ', '\t', '\r', '\n')).ToArray();
        if (headers.Any(h => h.Length == 0)) { error = "empty header name in h="; return null; }
        if (!headers.Any(h => h.Equals("from", StringComparison.OrdinalIgnoreCase)))
        {
            error = "From is not among the signed header fields";
            return null;
        }

        var identity = tags.TryGetValue("i", out var i) ? i : "@" + d;
        var at = identity.LastIndexOf('@');
        if (at < 0) { error = "i= has no @"; return null; }
        var iDomain = identity[(at + 1)..].ToLowerInvariant().TrimEnd('.');
        if (iDomain != d && !iDomain.EndsWith("." + d, StringComparison.Ordinal))
        {
            error = "i= domain is not d= or a subdomain of it";
            return null;
        }

        long? length = null;
        if (tags.TryGetValue("l", out var l))
        {
            if (!long.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || l.Length > 76)
            {
                error = $"invalid body length l={l}";
                return null;
            }
            length = n;
        }

        DateTimeOffset? timestamp = null, expiration = null;
        if (tags.TryGetValue("t", out var t))
        {
            if (!TryUnixTime(t, out var ts)) { error = $"invalid timestamp t={t}"; return null; }
            timestamp = ts;
        }
        if (tags.TryGetValue("x", out var x))
        {
            if (!TryUnixTime(x, out var xs)) { error = $"invalid expiration x={x}"; return null; }
            expiration = xs;
            if (timestamp is { } signed && xs < signed) { error = "x= is earlier than t="; return null; }
        }

        var q = tags.TryGetValue("q", out var qv) ? qv : "dns/txt";
        if (!q.Split(':').Any(m => m.Trim().Equals("dns/txt", StringComparison.OrdinalIgnoreCase)))
        {
            error = $"unsupported query method q={q}";
            return null;
        }

        return new DkimSignatureFields
        {
            AlgorithmName = a,
            Algorithm = algorithm,
            Signature = TagList.StripWhitespace(tags["b"]),
            BodyHash = TagList.StripWhitespace(tags["bh"]),
            HeaderCanonicalization = canonHeader,
            BodyCanonicalization = canonBody,
            Domain = d,
            Selector = tags["s"].Trim(),
            SignedHeaders = headers,
            Identity = identity,
            BodyLength = length,
            QueryMethods = q,
            Timestamp = timestamp,
            Expiration = expiration,
        };
    }

    private static bool TryCanon(string s, out DkimCanonicalizationAlgorithm algorithm)
    {
        switch (s)
        {
            case "simple": algorithm = DkimCanonicalizationAlgorithm.Simple; return true;
            case "relaxed": algorithm = DkimCanonicalizationAlgorithm.Relaxed; return true;
            default: algorithm = default; return false;
        }
    }

    private static bool TryUnixTime(string s, out DateTimeOffset time)
    {
        time = default;
        // RFC 6376 allows up to 12 digits; anything beyond the DateTimeOffset range is treated as "far future".
        if (s.Length == 0 || s.Length > 12 || !long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)) return false;
        time = seconds > 253402300799 ? DateTimeOffset.MaxValue : DateTimeOffset.FromUnixTimeSeconds(seconds);
        return true;
    }
}
