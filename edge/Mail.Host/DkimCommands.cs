using System.Globalization;
using Mail.Auth.Dkim.Signing;

namespace Mail.Host;

/// <summary>
/// `mail dkim add|list|rotate`. Everything printed is zone-file text: the records to publish as lines, the rest as
/// ';' comments, so the output can go into a zone as it is. A command that cannot be done throws
/// <see cref="DkimKeyException"/>, which <see cref="Failure"/> reports like every other failure.
/// </summary>
public sealed class DkimCommands(DkimKeyStore keys, TextWriter output)
{
    public async Task<int> AddAsync(string domain, string? selector, string? algorithm)
    {
        DkimKeyAlgorithm? alg = null;
        if (algorithm is not null && (alg = DkimKeyAlgorithms.Parse(algorithm)) is null)
            throw new DkimKeyException($"--algorithm '{algorithm}' is not rsa or ed25519");
        var created = await keys.AddAsync(domain, selector, alg);
        output.WriteLine($"; {created[0].Domain}: new DKIM key(s) {Names(created)}, signing now; publish:");
        foreach (var key in created) output.WriteLine(key.ZoneFileLine);
        return ExitCodes.Ok;
    }

    public async Task<int> RotateAsync(string domain)
    {
        var (created, retired) = await keys.RotateAsync(domain);
        output.WriteLine($"; {created[0].Domain}: new DKIM key(s) {Names(created)}, signing now; publish:");
        foreach (var key in created) output.WriteLine(key.ZoneFileLine);
        if (retired.Count > 0)
            output.WriteLine($"; retired {Names(retired)}: they sign no more; keep them published until {Day(retired[0].PublishedUntil)}, then remove them");
        return ExitCodes.Ok;
    }

    /// <summary>The records to publish now (active keys, and retired ones within their period), then those to remove.</summary>
    public async Task<int> ListAsync(string? domain)
    {
        var all = domain is null ? await keys.ListAllAsync() : await keys.ListAsync(domain);
        if (all.Count == 0)
        {
            output.WriteLine("; no DKIM keys (mail dkim add DOMAIN)");
            return ExitCodes.Ok;
        }
        output.WriteLine("; publish:");
        foreach (var key in all.Where(keys.IsPublished))
        {
            var state = key.IsActive ? $"active since {Day(key.Created)}" : $"retired {Day(key.Retired)}, published until {Day(key.PublishedUntil)}";
            output.WriteLine($"; {key.Domain} {key.Selector} {key.Algorithm.Name()} {state}");
            output.WriteLine(key.ZoneFileLine);
        }
        var withdrawn = all.Where(k => !keys.IsPublished(k)).ToList();
        if (withdrawn.Count == 0) return ExitCodes.Ok;
        output.WriteLine("; remove from DNS (retired, published period over):");
        foreach (var key in withdrawn)
            output.WriteLine($"; {key.DnsName} {key.Algorithm.Name()} retired {Day(key.Retired)}, published until {Day(key.PublishedUntil)}");
        return ExitCodes.Ok;
    }

    private static string Names(IEnumerable<DkimKey> keys) => string.Join(", ", keys.Select(k => $"{k.Selector} ({k.Algorithm.Name()})"));

    private static string Day(DateTimeOffset? at) => at?.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) ?? "-";
}
