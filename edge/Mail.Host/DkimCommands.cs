using System.Globalization;
using Mail.Admin;

namespace Mail.Host;

/// <summary>
/// `mail dkim add|list|rotate`, over the <see cref="AdminService"/> (the console's Domains page calls the same).
/// Everything printed is zone-file text: the records to publish as lines, the rest as ';' comments, so the output can
/// go into a zone as it is. Bad input is one line, exit 65; no store for private keys names the setting (exit 78).
/// </summary>
public sealed class DkimCommands(AdminService admin, TextWriter output, string? dataRoot = null)
{
    private const string Prefix = "dkim: ";

    public Task<int> AddAsync(string domain, string? selector, string? algorithm) => AdminCommands.RunAsync(async () =>
    {
        var created = await admin.AddDkimKeyAsync(domain, selector, algorithm);
        await TellServerAsync();
        output.WriteLine($"; {created[0].Domain}: new DKIM key(s) {Names(created)}, signing now; publish:");
        foreach (var key in created) output.WriteLine(key.ZoneFileLine);
    }, Prefix);

    public Task<int> RotateAsync(string domain) => AdminCommands.RunAsync(async () =>
    {
        var (created, retired) = await admin.RotateDkimKeysAsync(domain);
        await TellServerAsync();
        output.WriteLine($"; {created[0].Domain}: new DKIM key(s) {Names(created)}, signing now; publish:");
        foreach (var key in created) output.WriteLine(key.ZoneFileLine);
        if (retired.Count > 0)
            output.WriteLine($"; retired {Names(retired)}: they sign no more; keep them published until {Day(retired[0].PublishedUntil)}, then remove them");
    }, Prefix);

    /// <summary>The records to publish now (active keys, and retired ones within their period), then those to remove.</summary>
    public Task<int> ListAsync(string? domain) => AdminCommands.RunAsync(async () =>
    {
        var all = await admin.ListDkimKeysAsync(domain);
        if (all.Count == 0)
        {
            output.WriteLine("; no DKIM keys (mail dkim add DOMAIN)");
            return;
        }
        output.WriteLine("; publish:");
        foreach (var key in all.Where(k => k.Published))
        {
            var state = key.Active ? $"active since {Day(key.Created)}" : $"retired {Day(key.Retired)}, published until {Day(key.PublishedUntil)}";
            output.WriteLine($"; {key.Domain} {key.Selector} {key.Algorithm} {state}");
            output.WriteLine(key.ZoneFileLine);
        }
        var withdrawn = all.Where(k => !k.Published).ToList();
        if (withdrawn.Count == 0) return;
        output.WriteLine("; remove from DNS (retired, published period over):");
        foreach (var key in withdrawn)
            output.WriteLine($"; {key.DnsName} {key.Algorithm} retired {Day(key.Retired)}, published until {Day(key.PublishedUntil)}");
    }, Prefix);

    /// <summary>"Signing now" holds for a running server too: told through its control socket, it reads the keys again
    /// instead of trusting its cache for Dkim:KeyCacheTtl (a server it cannot reach still does so after that time).</summary>
    private async Task TellServerAsync()
    {
        if (dataRoot is not null) await ControlSocket.RequestAsync(dataRoot, ControlCommand.Dkim, AdminCommands.ControlTimeout);
    }

    private static string Names(IEnumerable<DkimKeyInfo> keys) => string.Join(", ", keys.Select(k => $"{k.Selector} ({k.Algorithm})"));

    private static string Day(DateTimeOffset? at) => at?.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) ?? "-";
}
