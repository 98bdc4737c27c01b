using System.Text;
using System.Text.RegularExpressions;
using Mail.Auth.Dkim.Signing;
using Mail.Core.Accounts;
using Mail.Storage.Embedded;
using Mail.Testing;

namespace Mail.Host.Tests;

/// <summary>`mail dkim add|list|rotate` through the real executable; the keys it makes sign messages that dkimpy
/// verifies with the DNS records it printed.</summary>
[Collection("host")]
public sealed partial class DkimHostTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Keys_only_for_our_domains()
    {
        var r = await HostProcess.AdminAsync(_data.Path, "dkim", "add", "example.org");

        Assert.Equal(65, r.ExitCode); // EX_DATAERR
        Assert.Equal("mail: dkim: example.org is not one of our domains (add it first: mail domain add example.org)", r.StdErr.Trim());
        var bad = await HostProcess.AdminAsync(_data.Path, "dkim", "add", "example.org", "--algorithm", "dsa");
        Assert.Equal("mail: dkim: algorithm 'dsa' is not rsa or ed25519", bad.StdErr.Trim());
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Added_keys_sign_mail_that_dkimpy_verifies_with_the_printed_records()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");

        var added = await HostProcess.AdminOkAsync(_data.Path, "dkim", "add", "example.org");

        var records = ZoneRecords(added.StdOut);
        Assert.Equal(2, records.Count);
        var stem = DateTime.UtcNow.ToString("yyyyMM", System.Globalization.CultureInfo.InvariantCulture);
        Assert.StartsWith("v=DKIM1; k=rsa; p=", records[$"{stem}r._domainkey.example.org"], StringComparison.Ordinal);
        Assert.StartsWith("v=DKIM1; k=ed25519; p=", records[$"{stem}e._domainkey.example.org"], StringComparison.Ordinal);
        foreach (var selector in new[] { stem + "r", stem + "e" })
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_data.Path, "dkim", "example.org", selector + ".pem")));

        var verdicts = await VerifyAsync(await SignAsync(), records);
        Assert.Equal([$"d=example.org s={stem}e a=ed25519-sha256 pass", $"d=example.org s={stem}r a=rsa-sha256 pass"], verdicts.Order());

        var one = await HostProcess.AdminOkAsync(_data.Path, "dkim", "add", "example.org", "--selector", "mx1", "--algorithm", "ed25519");
        Assert.Contains("mx1._domainkey.example.org. IN TXT \"v=DKIM1; k=ed25519; p=", one.StdOut, StringComparison.Ordinal);
        Assert.Equal(3, ZoneRecords((await HostProcess.AdminOkAsync(_data.Path, "dkim", "list")).StdOut).Count);
    }

    [Fact]
    public async Task Rotate_signs_with_new_keys_and_lists_the_old_until_their_period_ends()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        var first = ZoneRecords((await HostProcess.AdminOkAsync(_data.Path, "dkim", "add", "example.org")).StdOut);

        var rotated = await HostProcess.AdminOkAsync(_data.Path, "dkim", "rotate", "example.org");

        var fresh = ZoneRecords(rotated.StdOut);
        Assert.Equal(2, fresh.Count);
        Assert.Empty(fresh.Keys.Intersect(first.Keys));
        Assert.Matches(@"; retired \S+ \(rsa\), \S+ \(ed25519\): they sign no more; keep them published until \d{4}-\d\d-\d\d", rotated.StdOut);
        var verdicts = await VerifyAsync(await SignAsync(), fresh);
        Assert.Equal(2, verdicts.Count);
        Assert.All(verdicts, v => Assert.EndsWith(" pass", v, StringComparison.Ordinal));

        var list = await HostProcess.AdminOkAsync(_data.Path, "dkim", "list", "example.org");
        Assert.Equal(4, ZoneRecords(list.StdOut).Count);
        Assert.Contains("published until", list.StdOut, StringComparison.Ordinal);

        // With no published period, the next rotation's retired keys leave the publish section at once.
        await HostProcess.AdminOkAsync(_data.Path, "dkim", "rotate", "example.org", "--Dkim:RetiredKeyDays=0");
        var after = await HostProcess.AdminOkAsync(_data.Path, "dkim", "list", "example.org");
        var published = ZoneRecords(after.StdOut[..after.StdOut.IndexOf("; remove from DNS", StringComparison.Ordinal)]);
        Assert.Equal(4, published.Count); // the 2 newest, and the 2 first still within their 7 days
        Assert.DoesNotContain(fresh.Keys, published.Keys.Contains);
        Assert.All(fresh.Keys, name => Assert.Contains("; " + name + " ", after.StdOut, StringComparison.Ordinal));
    }

    /// <summary>Signs as the running host would: the signer over the data directory the commands wrote.</summary>
    private async Task<string> SignAsync()
    {
        const string message = "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: hi\r\n" +
                               "Date: Fri, 4 Dec 2026 12:00:00 +0000\r\nMessage-ID: <dkim-host@example.org>\r\n\r\nHello.\r\n";
        var state = new SqliteStateStore(Path.Combine(_data.Path, "mail.db"));
        var keys = new DkimKeyStore(state, new FileSecretStore(_data.Path), new MailDirectory(state), TimeSpan.FromDays(7));
        var headers = await new DkimMessageSigner(keys).SignAsync(new MemoryStream(Encoding.UTF8.GetBytes(message)), default);
        return headers + message;
    }

    /// <summary>dkimpy's verdict on each DKIM-Signature of the message, with <paramref name="txt"/> as DNS: one line each.</summary>
    internal static async Task<IReadOnlyList<string>> VerifyAsync(string message, IReadOnlyDictionary<string, string> txt)
    {
        var tool = Path.Combine(AppContext.BaseDirectory, "Tools", "dkimtool.py");
        var env = new Dictionary<string, string> { ["DKIMTOOL_TXT"] = string.Join('|', txt.Select(kv => kv.Key + "=" + kv.Value)) };
        var r = await ExternalProcess.RunAsync("/usr/bin/python3", [tool, "verify"], message, TimeSpan.FromSeconds(60), env);
        Assert.True(r.ExitCode == 0, r.StdErr);
        return r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>The zone-file lines of the output as DNS would serve them: name (without the root dot) -> joined strings.</summary>
    internal static Dictionary<string, string> ZoneRecords(string output) =>
        output.Split('\n', StringSplitOptions.TrimEntries).Where(l => l.Contains(". IN TXT ", StringComparison.Ordinal) && !l.StartsWith(';'))
            .ToDictionary(l => l[..l.IndexOf(". IN TXT ", StringComparison.Ordinal)], l => string.Concat(Quoted().Matches(l).Select(m => m.Groups[1].Value)));

    [GeneratedRegex("\"([^\"]*)\"")]
    private static partial Regex Quoted();
}
