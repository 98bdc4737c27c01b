namespace Mail.Outbound.Tls.MtaSts;

/// <summary>
/// The policy indicator at _mta-sts.DOMAIN (RFC 8461 3.1): "v=STSv1; id=ID;" where the id (1 to 32 letters and digits)
/// changes whenever the policy does. TXT records not starting with "v=STSv1" are someone else's; any number of STSv1
/// records but one, or one that does not parse, means the domain has no policy.
/// </summary>
public static class MtaStsTxtRecord
{
    public const string Prefix = "_mta-sts.";

    /// <summary>The policy id, or null with why there is none.</summary>
    public static (string? Id, string? Problem) Parse(IReadOnlyList<string> records)
    {
        var sts = records.Where(r => r.StartsWith("v=STSv1", StringComparison.Ordinal)).ToList();
        if (sts.Count == 0) return (null, "no v=STSv1 record");
        if (sts.Count > 1) return (null, $"{sts.Count} v=STSv1 records (RFC 8461 3.1 wants exactly one)");
        var fields = sts[0].Split(';').Select(f => f.Trim(' ', '\t')).ToList();
        if (fields[0] != "v=STSv1") return (null, $"'{sts[0]}' does not start with the field v=STSv1");
        var id = fields.Skip(1).FirstOrDefault(f => f.StartsWith("id=", StringComparison.Ordinal))?[3..];
        if (id is null) return (null, $"'{sts[0]}' has no id=");
        if (id.Length is 0 or > 32 || !id.All(char.IsAsciiLetterOrDigit)) return (null, $"id '{id}' is not 1 to 32 letters and digits");
        return (id, null);
    }
}
