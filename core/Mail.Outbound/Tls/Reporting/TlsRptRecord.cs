namespace Mail.Outbound.Tls.Reporting;

/// <summary>
/// The reporting policy at _smtp._tls.DOMAIN (RFC 8460 3): "v=TLSRPTv1; rua=URI[,URI]" where each URI is mailto: or
/// https:. Records not starting with "v=TLSRPTv1" are someone else's; more than one TLSRPTv1 record, or one without a
/// usable rua, means the domain asks for no reports.
/// </summary>
public static class TlsRptRecord
{
    public const string Prefix = "_smtp._tls.";

    /// <summary>The report addresses (mailto: and https: URIs), or none with why.</summary>
    public static (IReadOnlyList<Uri> Rua, string? Problem) Parse(IReadOnlyList<string> records)
    {
        var rpt = records.Where(r => r.StartsWith("v=TLSRPTv1", StringComparison.Ordinal)).ToList();
        if (rpt.Count == 0) return ([], "no v=TLSRPTv1 record");
        if (rpt.Count > 1) return ([], $"{rpt.Count} v=TLSRPTv1 records (RFC 8460 3 wants exactly one)");
        var fields = rpt[0].Split(';').Select(f => f.Trim(' ', '\t')).ToList();
        if (fields[0] != "v=TLSRPTv1") return ([], $"'{rpt[0]}' does not start with the field v=TLSRPTv1");
        var rua = fields.Skip(1).FirstOrDefault(f => f.StartsWith("rua=", StringComparison.Ordinal))?[4..];
        if (rua is null) return ([], $"'{rpt[0]}' has no rua=");
        var uris = new List<Uri>();
        foreach (var item in rua.Split(','))
        {
            // RFC 8460 3: commas and semicolons inside a URI are %-encoded, so a plain split is right.
            if (Uri.TryCreate(item.Trim(), UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeMailto || uri.Scheme == Uri.UriSchemeHttps)) uris.Add(uri);
        }
        return uris.Count == 0 ? ([], $"'{rua}' names no mailto: or https: URI") : (uris, null);
    }
}
