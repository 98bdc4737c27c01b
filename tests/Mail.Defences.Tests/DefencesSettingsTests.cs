using System.Net;
using System.Text;
using Mail.Defences.Restrictions;
using Mail.Defences.RegexpTables;
using Mail.Dns;
using Mail.Storage.Embedded;
using Microsoft.Extensions.Configuration;

namespace Mail.Defences.Tests;

public sealed class DefencesSettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("defences-settings-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, true);
    }

    private static DefencesSettings Bind(string json, IDictionary<string, string?>? overrides = null)
    {
        var config = new ConfigurationBuilder()
            .AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes(json)))
            .AddInMemoryCollection(overrides ?? new Dictionary<string, string?>())
            .Build();
        var s = new DefencesSettings();
        config.GetSection(DefencesSettings.SectionName).Bind(s);
        return s;
    }

    private (DnsResolver, SqliteStateStore) Services() =>
        (new DnsResolver(new DnsResolverOptions { NameServers = [new IPEndPoint(IPAddress.Loopback, 9)], Timeout = TimeSpan.FromMilliseconds(200), Retries = 0 }),
         new SqliteStateStore(Path.Combine(_dir, "state.db")));

    [Fact]
    public async Task Main_cf_words_from_appsettings_build_a_working_policy_and_content_checks()
    {
        var hc = Path.Combine(_dir, "header_checks");
        File.WriteAllText(hc, "/^Subject:.*viagra/ JUNK\n");
        var settings = Bind($$"""
            { "Defences": {
                "Restrictions": { "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination, check_greylist" },
                "MyNetworks": [ "192.0.2.0/24" ],
                "AuthorizedDestinations": [ "example.test" ],
                "Greylist": { "Delay": "00:01:00", "AutoWhitelistAfter": 0 },
                "DnsblSites": "zen.test*2 bl.test",
                "DnsblThreshold": 2,
                "HeaderChecks": "regexp:{{hc}}",
                "NormalizeContent": true
            } }
            """, new Dictionary<string, string?> { ["Defences:DelayReject"] = "false" });
        Assert.False(settings.DelayReject);
        Assert.Equal(TimeSpan.FromMinutes(1), settings.Greylist!.Delay);
        var (dns, state) = Services();
        Assert.NotNull(settings.BuildSmtpPolicy(dns, state, TimeProvider.System));
        var content = settings.BuildContentChecks();
        Assert.NotNull(content);
        var msg = new MimeKit.MimeMessage { Subject = "VIАGRA".Replace("А", "\u0410", StringComparison.Ordinal) };
        Assert.Single(content.Inspect(msg));
        await Task.CompletedTask;
    }

    [Theory]
    [InlineData("""{ "Defences": { "MyNetworks": [ "not-a-net" ] } }""", "Defences:MyNetworks:0: 'not-a-net' is not a network")]
    [InlineData("""{ "Defences": { "Restrictions": { "smtpd_recipient_restrictions": "check_greylist" } } }""", "smtpd_recipient_restrictions: 'check_greylist' needs greylisting configured")]
    [InlineData("""{ "Defences": { "Greylist": { "Delay": "03:00:00", "RetryWindow": "01:00:00" } } }""", "Defences:Greylist: Greylist RetryWindow must be longer than Delay.")]
    [InlineData("""{ "Defences": { "DnsblSites": "zen.test*x" } }""", "Defences:DnsblSites: DNS list 'zen.test*x'")]
    [InlineData("""{ "Defences": { "RateLimits": { "MessageRateLimit": 5 } } }""", "Defences:RateLimits is not supported: rate limits are set in Smtp:RateLimits")]
    [InlineData("""{ "Defences": { "Restrictions": { "smtpd_sender_restriction": "permit" } } }""", "unknown setting 'smtpd_sender_restriction'")]
    public void Bad_settings_are_startup_errors_naming_the_setting(string json, string message)
    {
        var (dns, state) = Services();
        var e = Assert.Throws<RestrictionConfigException>(() => Bind(json).BuildSmtpPolicy(dns, state, TimeProvider.System));
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_content_tables_name_the_setting_or_the_file_and_line()
    {
        var missing = Assert.Throws<RestrictionConfigException>(() => Bind("""{ "Defences": { "BodyChecks": "/nonexistent/body_checks" } }""").BuildContentChecks());
        Assert.Equal("Defences:BodyChecks: file /nonexistent/body_checks does not exist", missing.Message);
        var bad = Path.Combine(_dir, "bad_checks");
        File.WriteAllText(bad, "/ok/ WARN\n/(unclosed/ REJECT\n");
        var e = Assert.Throws<RegexpTableException>(() => Bind($$"""{ "Defences": { "HeaderChecks": "{{bad}}" } }""").BuildContentChecks());
        Assert.StartsWith($"{bad}, line 2: bad pattern", e.Message, StringComparison.Ordinal);
        Assert.Null(Bind("{}").BuildContentChecks());
    }
    [Fact]
    public void Spam_score_settings_bind_and_bad_thresholds_name_the_setting()
    {
        Assert.Null(Bind("{}").BuildSpamScoreCheck());
        Assert.NotNull(Bind("""{ "Defences": { "SpamScore": { "JunkThreshold": 4, "Weights": { "dnsbl=listed": 3 } } } }""").BuildSpamScoreCheck());
        var e = Assert.Throws<RestrictionConfigException>(() => Bind("""{ "Defences": { "SpamScore": { "JunkThreshold": 12 } } }""").BuildSpamScoreCheck());
        Assert.StartsWith("Defences:SpamScore: SpamScore QuarantineThreshold must not be below JunkThreshold", e.Message, StringComparison.Ordinal);
        var w = Assert.Throws<RestrictionConfigException>(() => Bind("""{ "Defences": { "SpamScore": { "Weights": { "dnsbl": 3 } } } }""").BuildSpamScoreCheck());
        Assert.Contains("'dnsbl' is not name=value", w.Message, StringComparison.Ordinal);
    }
}
