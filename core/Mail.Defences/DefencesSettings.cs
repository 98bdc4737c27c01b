using System.Net;
using Mail.Core.Ports;
using Mail.Defences.ContentChecks;
using Mail.Defences.DnsChecks;
using Mail.Defences.Greylisting;
using Mail.Defences.RegexpTables;
using Mail.Defences.Restrictions;
using Mail.Defences.SmtpEdge;

namespace Mail.Defences;

/// <summary>
/// The defences as configuration (appsettings section "Defences", or environment "Defences__..."), in main.cf words
/// where Postfix has them. Bindable with IConfiguration.Bind (plain get/set properties); <see cref="Validate"/>
/// and the Build methods turn mistakes into a startup error naming the setting.
/// </summary>
public sealed class DefencesSettings
{
    public const string SectionName = "Defences";

    /// <summary>smtpd_client_restrictions, smtpd_helo_restrictions, smtpd_sender_restrictions, smtpd_relay_restrictions,
    /// smtpd_recipient_restrictions, smtpd_data_restrictions, smtpd_end_of_data_restrictions → list in main.cf words.</summary>
    public Dictionary<string, string> Restrictions { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>smtpd_restriction_classes: class name → restriction list (usable as an access table result).</summary>
    public Dictionary<string, string> RestrictionClasses { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>mynetworks (CIDR). Null (not configured): 127.0.0.0/8 and ::1/128. (Null rather than a list default because
    /// configuration binding appends to a list instead of replacing it.)</summary>
    public List<string>? MyNetworks { get; set; }

    /// <summary>Domains we receive or relay for (mydestination + relay_domains; ".example.com" covers subdomains).</summary>
    public List<string> AuthorizedDestinations { get; set; } = [];

    /// <summary>smtpd_delay_reject.</summary>
    public bool DelayReject { get; set; } = true;

    /// <summary>Postfix unknown_client_reject_code (permanent FCrDNS failures).</summary>
    public int UnknownClientRejectCode { get; set; } = 550;

    /// <summary>Postfix unknown_address_reject_code (reject_unknown_sender_domain, reject_unknown_recipient_domain and
    /// reject_unknown_helo_hostname when DNS said the domain does not exist). Postfix's default is 450.</summary>
    public int UnknownAddressRejectCode { get; set; } = 550;

    /// <summary>postscreen_dnsbl_sites, e.g. "zen.example*3 bl.example*2"; empty: no connect-time scoring.</summary>
    public string? DnsblSites { get; set; }

    /// <summary>postscreen_dnsbl_threshold.</summary>
    public int DnsblThreshold { get; set; } = 1;

    /// <summary>postscreen_dnsbl_allowlist_threshold (negative), null: off.</summary>
    public int? DnsblAllowlistThreshold { get; set; }

    /// <summary>Greylisting used by check_greylist; null leaves it off (check_greylist is then a startup error).</summary>
    public GreylistSettings? Greylist { get; set; }

    /// <summary>Not supported any more: the SMTP edge has the one rate limiter (Smtp:RateLimits). Kept only so that an old
    /// configuration is a startup error naming the new place instead of silently losing its limits.</summary>
    public Dictionary<string, string>? RateLimits { get; set; }

    /// <summary>header_checks / mime_header_checks / body_checks: a regexp table file ("regexp:/path" or "/path").</summary>
    public string? HeaderChecks { get; set; }
    public string? MimeHeaderChecks { get; set; }
    public string? BodyChecks { get; set; }

    /// <summary>Also match content checks against the Unicode-folded text (catches "Viagr^á", Cyrillic look-alikes).</summary>
    public bool NormalizeContent { get; set; }

    /// <summary>The pipeline's spam score (X-Spam-Status/X-Spam-Score); null: scoring off.</summary>
    public SpamScoreSettings? SpamScore { get; set; }

    public sealed class SpamScoreSettings
    {
        /// <summary>Extra or changed "name=value" → points, on top of the defaults (see SpamScoreOptions.Weights).</summary>
        public Dictionary<string, double> Weights { get; set; } = new(StringComparer.OrdinalIgnoreCase);
        public double DnsblPointWeight { get; set; } = 1.0;
        public double JunkThreshold { get; set; } = 5.0;
        public double? QuarantineThreshold { get; set; } = 10.0;
        public double? DiscardThreshold { get; set; }
    }

    /// <summary>The scoring check to run last in the pipeline, or null when <see cref="SpamScore"/> is not configured.</summary>
    public Scoring.SpamScoreCheck? BuildSpamScoreCheck()
    {
        if (SpamScore is not { } s) return null;
        var options = new Scoring.SpamScoreOptions { DnsblPointWeight = s.DnsblPointWeight, JunkThreshold = s.JunkThreshold, QuarantineThreshold = s.QuarantineThreshold, DiscardThreshold = s.DiscardThreshold };
        foreach (var (k, v) in s.Weights)
        {
            if (!k.Contains('=', StringComparison.Ordinal)) throw new RestrictionConfigException($"Defences:SpamScore:Weights: '{k}' is not name=value");
            options.Weights[k] = v;
        }
        return Wrap("Defences:SpamScore", () => new Scoring.SpamScoreCheck(options));
    }

    public sealed class GreylistSettings
    {
        public TimeSpan Delay { get; set; } = TimeSpan.FromMinutes(5);
        public TimeSpan RetryWindow { get; set; } = TimeSpan.FromDays(2);
        public TimeSpan Lifetime { get; set; } = TimeSpan.FromDays(35);
        public int AutoWhitelistAfter { get; set; } = 5;
        public List<string> WhitelistNetworks { get; set; } = [];
        public List<string> WhitelistSenderDomains { get; set; } = [];
        public List<string> WhitelistRecipients { get; set; } = [];
    }

    /// <summary>Builds the SMTP edge policy (restriction lists, greylisting, rate limits, DNSBL scoring).
    /// Throws <see cref="RestrictionConfigException"/> naming the bad setting.</summary>
    /// <param name="messageStore">When given and content checks are configured, REJECT rules answer at end of data.</param>
    /// <param name="logger">Receives warn_if_reject warnings and rejects.</param>
    public RestrictionPolicy BuildSmtpPolicy(IDnsResolver dns, IStateStore state, TimeProvider time, Func<string, CancellationToken, ValueTask<bool>>? isLocalDomain = null,
        IMessageStore? messageStore = null, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        var myNetworks = Networks(MyNetworks ?? ["127.0.0.0/8", "::1/128"], "Defences:MyNetworks");
        Greylist? greylist = null;
        if (Greylist is { } g)
        {
            greylist = Wrap("Defences:Greylist", () => new Greylist(state, new GreylistOptions
            {
                Delay = g.Delay,
                RetryWindow = g.RetryWindow,
                Lifetime = g.Lifetime,
                AutoWhitelistAfter = g.AutoWhitelistAfter,
                WhitelistNetworks = Networks(g.WhitelistNetworks, "Defences:Greylist:WhitelistNetworks"),
                WhitelistSenderDomains = g.WhitelistSenderDomains,
                WhitelistRecipients = g.WhitelistRecipients,
            }, time));
        }
        var options = new RestrictionOptions
        {
            MyNetworks = myNetworks,
            RestrictionClasses = RestrictionClasses,
            AuthorizedDestinations = AuthorizedDestinations,
            Dns = dns,
            Greylist = greylist,
            UnknownClientRejectCode = UnknownClientRejectCode is >= 400 and < 600 ? UnknownClientRejectCode
                : throw new RestrictionConfigException("Defences:UnknownClientRejectCode must be a 4xx or 5xx code"),
            UnknownAddressRejectCode = UnknownAddressRejectCode is >= 400 and < 600 ? UnknownAddressRejectCode
                : throw new RestrictionConfigException("Defences:UnknownAddressRejectCode must be a 4xx or 5xx code"),
        };
        var set = RestrictionSet.FromSettings(Restrictions, options);
        DnsblScoring? scoring = null;
        if (!string.IsNullOrWhiteSpace(DnsblSites))
        {
            scoring = Wrap("Defences:DnsblSites", () => new DnsblScoring(dns, new DnsblScoringOptions
            {
                Sites = DnsblScoringOptions.ParseSites(DnsblSites),
                Threshold = DnsblThreshold,
                AllowlistThreshold = DnsblAllowlistThreshold,
            }));
        }
        if (RateLimits is { Count: > 0 })
            throw new RestrictionConfigException("Defences:RateLimits is not supported: rate limits are set in Smtp:RateLimits "
                + "(Window, ConnectionsPerClient, MessagesPerClient, RecipientsPerClient, ConnectionsPerNetwork, MessagesPerNetwork, RecipientsPerNetwork)");
        return new RestrictionPolicy(set, new RestrictionPolicyOptions
        {
            DelayReject = DelayReject,
            DnsblScoring = scoring,
            IsLocalDomain = isLocalDomain,
            EndOfDataContentChecks = messageStore is null ? null : BuildContentChecks(),
            MessageStore = messageStore,
            Logger = logger,
        });
    }

    /// <summary>The pipeline's header/body checks, or null when no table is configured. A bad table is a
    /// <see cref="RegexpTableException"/> naming file and line; a missing file names the setting.</summary>
    public ContentChecks.ContentChecks? BuildContentChecks()
    {
        if (HeaderChecks is null && MimeHeaderChecks is null && BodyChecks is null) return null;
        return new ContentChecks.ContentChecks(new ContentChecksOptions
        {
            HeaderChecks = Table(HeaderChecks, "Defences:HeaderChecks"),
            MimeHeaderChecks = Table(MimeHeaderChecks, "Defences:MimeHeaderChecks"),
            BodyChecks = Table(BodyChecks, "Defences:BodyChecks"),
            Normalize = NormalizeContent,
        });
    }

    private static RegexpTable? Table(string? spec, string setting)
    {
        if (string.IsNullOrWhiteSpace(spec)) return null;
        var path = spec.StartsWith("regexp:", StringComparison.OrdinalIgnoreCase) ? spec[7..] : spec;
        if (spec.Contains(':', StringComparison.Ordinal) && !spec.StartsWith("regexp:", StringComparison.OrdinalIgnoreCase) && !Path.IsPathRooted(spec))
            throw new RestrictionConfigException($"{setting}: only regexp: tables are supported, got '{spec}'");
        if (!File.Exists(path)) throw new RestrictionConfigException($"{setting}: file {path} does not exist");
        return RegexpTable.Load(path);
    }

    private static List<IPNetwork> Networks(IEnumerable<string> values, string setting)
    {
        var list = new List<IPNetwork>();
        var i = 0;
        foreach (var v in values)
        {
            var text = v.Trim();
            if (IPNetwork.TryParse(text, out var n)) list.Add(n);
            else if (IPAddress.TryParse(text, out var a)) list.Add(new IPNetwork(a, a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128));
            else throw new RestrictionConfigException($"{setting}:{i}: '{v}' is not a network (CIDR) or address");
            i++;
        }
        return list;
    }

    private static T Wrap<T>(string setting, Func<T> create)
    {
        try
        {
            return create();
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            throw new RestrictionConfigException($"{setting}: {e.Message}");
        }
    }
}
