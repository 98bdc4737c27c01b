using System.Globalization;
using System.Net;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.SmtpPolicy;
using Mail.Defences.DnsChecks;

namespace Mail.Defences.Restrictions;

/// <summary>The restrictions this system knows, by their Postfix names.</summary>
internal static class Builtins
{
    internal delegate Restriction Factory(string text, string? argument, RestrictionOptions options, string setting);

    internal sealed record Entry(bool TakesArgument, Factory Create);

    private static readonly RestrictionResult Dunno = RestrictionResult.Dunno;

    private static ValueTask<RestrictionResult> D(RestrictionResult r) => ValueTask.FromResult(r);

    private static Restriction Sync(string text, Func<RestrictionContext, RestrictionResult> f) =>
        new DelegateRestriction(text, (c, _) => D(f(c)));

    internal static readonly IReadOnlyDictionary<string, Entry> Catalog = new Dictionary<string, Entry>(StringComparer.OrdinalIgnoreCase)
    {
        // generic
        ["permit"] = new(false, (t, _, _, _) => Sync(t, _ => RestrictionResult.Permit(t))),
        ["reject"] = new(false, (t, _, o, _) => Sync(t, c => AccessAction.Reply(o.RejectCode, "Access denied", Subject(c), t))),
        ["defer"] = new(false, (t, _, o, _) => Sync(t, c => AccessAction.Reply(o.DeferCode, "Access denied", Subject(c), t))),
        ["warn_if_reject"] = new(false, (t, _, _, _) => new ModifierRestriction(t)),
        ["defer_if_permit"] = new(false, (t, _, _, _) => Sync(t, c => { c.DeferIfPermit ??= "Service unavailable"; return Dunno; })),
        ["defer_if_reject"] = new(false, (t, _, _, _) => Sync(t, c => { c.DeferIfReject ??= "Service unavailable"; return Dunno; })),
        ["sleep"] = new(true, Sleep),
        ["reject_unauth_pipelining"] = new(false, (t, _, _, _) => Sync(t, c => c.Facts.Pipelined
            ? RestrictionResult.Reject(503, "5.5.0", $"<{c.ClientLabel}>: Improper use of SMTP command pipelining", t)
            : Dunno)),

        // client
        ["permit_mynetworks"] = new(false, (t, _, o, _) => Sync(t, c => o.MyNetworks.Any(n => n.Contains(c.Facts.ClientAddress)) ? RestrictionResult.Permit(t) : Dunno)),
        ["permit_sasl_authenticated"] = new(false, (t, _, _, _) => Sync(t, c => string.IsNullOrEmpty(c.Facts.SaslUsername) ? Dunno : RestrictionResult.Permit(t))),
        ["reject_unknown_client_hostname"] = new(false, (t, _, o, s) => new DelegateRestriction(Need(o.Dns, t, s), (c, ct) => UnknownClient(c, t, reverseOnly: false, ct))),
        ["reject_unknown_reverse_client_hostname"] = new(false, (t, _, o, s) => new DelegateRestriction(Need(o.Dns, t, s), (c, ct) => UnknownClient(c, t, reverseOnly: true, ct))),
        ["reject_rbl_client"] = new(true, (t, a, o, s) => RblClient(t, Site(a!, t, s), o, s, permit: false)),
        ["permit_dnswl_client"] = new(true, (t, a, o, s) => RblClient(t, Site(a!, t, s), o, s, permit: true)),
        ["reject_rhsbl_client"] = new(true, (t, a, o, s) => Rhsbl(t, Site(a!, t, s), o, s, RhsblTarget.Client)),
        ["reject_rhsbl_reverse_client"] = new(true, (t, a, o, s) => Rhsbl(t, Site(a!, t, s), o, s, RhsblTarget.ReverseClient)),
        ["reject_rhsbl_helo"] = new(true, (t, a, o, s) => Rhsbl(t, Site(a!, t, s), o, s, RhsblTarget.Helo)),
        ["reject_rhsbl_sender"] = new(true, (t, a, o, s) => Rhsbl(t, Site(a!, t, s), o, s, RhsblTarget.Sender)),
        ["reject_rhsbl_recipient"] = new(true, (t, a, o, s) => Rhsbl(t, Site(a!, t, s), o, s, RhsblTarget.Recipient)),
        ["check_client_access"] = new(true, (t, a, _, _) => ClientAccess(t, AccessTable.Open(a!))),

        // helo
        ["reject_invalid_helo_hostname"] = new(false, (t, _, o, _) => Sync(t, c => c.Facts.Helo is { } h && !HostnameSyntax.IsValidHeloArgument(h)
            ? RestrictionResult.Reject(o.InvalidHostnameRejectCode, "5.5.2", $"<{h}>: Helo command rejected: Invalid name", t)
            : Dunno)),
        ["reject_non_fqdn_helo_hostname"] = new(false, (t, _, o, _) => Sync(t, c => c.Facts.Helo is { } h && !h.StartsWith('[') && !HostnameSyntax.IsFqdn(h)
            ? RestrictionResult.Reject(o.NonFqdnRejectCode, "5.5.2", $"<{h}>: Helo command rejected: need fully-qualified hostname", t)
            : Dunno)),
        ["reject_unknown_helo_hostname"] = new(false, (t, _, o, s) => new DelegateRestriction(Need(o.Dns, t, s), (c, ct) => UnknownHelo(c, t, ct))),
        ["check_helo_access"] = new(true, (t, a, _, _) => DomainAccess(t, AccessTable.Open(a!), c => c.Facts.Helo, h => $"<{h}>: Helo command rejected")),

        // sender
        ["reject_non_fqdn_sender"] = new(false, (t, _, o, _) => Sync(t, c => NonFqdn(c.Facts.MailFrom, "Sender", o, t))),
        ["reject_unknown_sender_domain"] = new(false, (t, _, o, s) => new DelegateRestriction(Need(o.Dns, t, s), (c, ct) => UnknownDomain(c, c.Facts.MailFrom, sender: true, t, ct))),
        ["check_sender_access"] = new(true, (t, a, _, _) => AddressAccess(t, AccessTable.Open(a!), c => c.Facts.MailFrom, "Sender address rejected")),
        ["reject_spf_fail"] = new(false, (t, _, _, _) => Sync(t, c => string.Equals(c.Facts.SpfResult, "fail", StringComparison.OrdinalIgnoreCase) && c.Facts.MailFrom is not null
            ? RestrictionResult.Reject(550, "5.7.23", $"<{c.Facts.MailFrom}>: Sender address rejected: SPF check failed for {c.Facts.SpfDomain ?? "the sender domain"}", t)
            : Dunno)),

        // recipient
        ["reject_non_fqdn_recipient"] = new(false, (t, _, o, _) => Sync(t, c => NonFqdn(c.Facts.RcptTo, "Recipient", o, t))),
        ["reject_unknown_recipient_domain"] = new(false, (t, _, o, s) => new DelegateRestriction(Need(o.Dns, t, s), (c, ct) => UnknownDomain(c, c.Facts.RcptTo, sender: false, t, ct))),
        ["check_recipient_access"] = new(true, (t, a, _, _) => AddressAccess(t, AccessTable.Open(a!), c => c.Facts.RcptTo, "Recipient address rejected")),
        ["reject_unauth_destination"] = new(false, (t, _, o, _) => Sync(t, c => Destination(c, t, o.RelayDomainsRejectCode, permitIfOurs: false))),
        ["defer_unauth_destination"] = new(false, (t, _, o, _) => Sync(t, c => Destination(c, t, o.DeferCode, permitIfOurs: false))),
        ["permit_auth_destination"] = new(false, (t, _, _, _) => Sync(t, c => Destination(c, t, 0, permitIfOurs: true))),
        ["check_greylist"] = new(false, (t, _, o, s) => new DelegateRestriction(Need(o.Greylist, t, s), (c, ct) => GreylistCheck(c, t, ct))),
        ["check_policy_service"] = new(true, (t, a, o, _) => new PolicyServiceRestriction(t, PolicyServiceClient.Create(a!, o.PolicyServiceTimeout))),
    };

    private static string Need(object? service, string text, string setting) => service is not null
        ? text
        : throw new RestrictionConfigException($"{setting}: '{text}' needs {(text.Contains("greylist", StringComparison.Ordinal) ? "greylisting configured" : "a DNS resolver")}");


    internal static string Subject(RestrictionContext c) => c.Stage switch
    {
        SmtpStage.Client => $"<{c.ClientLabel}>: Client host rejected",
        SmtpStage.Helo when c.Facts.Helo is not null => $"<{c.Facts.Helo}>: Helo command rejected",
        SmtpStage.Sender when c.Facts.MailFrom is not null => $"<{c.Facts.MailFrom}>: Sender address rejected",
        SmtpStage.Recipient or SmtpStage.Relay when c.Facts.RcptTo is not null => $"<{c.Facts.RcptTo}>: Recipient address rejected",
        SmtpStage.Data => "<DATA>: Data command rejected",
        SmtpStage.EndOfData => "<END-OF-MESSAGE>: End-of-data rejected",
        _ => $"<{c.ClientLabel}>: Client host rejected",
    };

    private static DnsblSite Site(string arg, string text, string setting)
    {
        try
        {
            return DnsblSite.Parse(arg);
        }
        catch (FormatException e)
        {
            throw new RestrictionConfigException($"{setting}: '{text}': {e.Message}");
        }
    }

    private static Restriction Sleep(string text, string? arg, RestrictionOptions o, string setting)
    {
        if (!int.TryParse(arg, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > 3600)
            throw new RestrictionConfigException($"{setting}: 'sleep' needs a number of seconds, got '{arg}'");
        return new DelegateRestriction(text, async (_, ct) =>
        {
            await o.Sleep(TimeSpan.FromSeconds(seconds), ct);
            return RestrictionResult.Dunno;
        });
    }

    private static async ValueTask<RestrictionResult> UnknownClient(RestrictionContext c, string t, bool reverseOnly, CancellationToken ct)
    {
        var r = await c.ClientHostnameAsync(ct);
        var ip = c.Facts.ClientAddress;
        if (reverseOnly)
        {
            if (r.ReverseName is not null) return Dunno;
            return r.ReverseTempFail
                ? RestrictionResult.Reject(450, "4.7.25", $"Client host rejected: cannot find your reverse hostname, [{ip}]", t)
                : RestrictionResult.Reject(c.Options.UnknownClientRejectCode, "5.7.25", $"Client host rejected: cannot find your reverse hostname, [{ip}]", t);
        }
        return r.Status switch
        {
            ClientHostnameStatus.Verified => Dunno,
            ClientHostnameStatus.TempFail => RestrictionResult.Reject(450, "4.7.25", $"Client host rejected: cannot find your hostname, [{ip}]", t),
            _ => RestrictionResult.Reject(c.Options.UnknownClientRejectCode, "5.7.25", $"Client host rejected: cannot find your hostname, [{ip}]", t),
        };
    }

    private static Restriction RblClient(string t, DnsblSite site, RestrictionOptions o, string setting, bool permit)
    {
        var dns = o.Dns ?? throw new RestrictionConfigException($"{setting}: '{t}' needs a DNS resolver");
        var client = new DnsblClient(dns);
        return new DelegateRestriction(t, async (c, ct) =>
        {
            var r = await client.LookupAddressAsync(site, c.Facts.ClientAddress, ct);
            if (!r.IsListed) return Dunno; // a list that does not answer never blocks (Postfix does the same)
            if (permit) return RestrictionResult.Permit(t);
            var why = r.Text is null ? "" : "; " + r.Text;
            return RestrictionResult.Reject(o.MapsRblRejectCode, "5.7.1", $"Service unavailable; Client host [{c.Facts.ClientAddress}] blocked using {site.Zone}{why}", t);
        });
    }

    private enum RhsblTarget { Client, ReverseClient, Helo, Sender, Recipient }

    private static Restriction Rhsbl(string t, DnsblSite site, RestrictionOptions o, string setting, RhsblTarget target)
    {
        var dns = o.Dns ?? throw new RestrictionConfigException($"{setting}: '{t}' needs a DNS resolver");
        var client = new DnsblClient(dns);
        return new DelegateRestriction(t, async (c, ct) =>
        {
            string? domain;
            string what;
            switch (target)
            {
                case RhsblTarget.Client:
                    domain = (await c.ClientHostnameAsync(ct)).VerifiedName;
                    what = $"Client host [{domain}]";
                    break;
                case RhsblTarget.ReverseClient:
                    domain = (await c.ClientHostnameAsync(ct)).ReverseName;
                    what = $"Unverified Client host [{domain}]";
                    break;
                case RhsblTarget.Helo:
                    domain = c.Facts.Helo is { } h && !h.StartsWith('[') ? h : null;
                    what = $"Helo command [{domain}]";
                    break;
                case RhsblTarget.Sender:
                    domain = c.Facts.MailFrom is { Length: > 0 } f && Address.TryParse(f, out var fa) ? fa.Domain : null;
                    what = $"Sender address [{c.Facts.MailFrom}]";
                    break;
                default:
                    domain = c.Facts.RcptTo is { } rc && Address.TryParse(rc, out var ra) ? ra.Domain : null;
                    what = $"Recipient address [{c.Facts.RcptTo}]";
                    break;
            }
            if (domain is null || domain.StartsWith('[')) return Dunno;
            var r = await client.LookupDomainAsync(site, domain, ct);
            if (!r.IsListed) return Dunno;
            var why = r.Text is null ? "" : "; " + r.Text;
            return RestrictionResult.Reject(o.MapsRblRejectCode, "5.7.1", $"Service unavailable; {what} blocked using {site.Zone}{why}", t);
        });
    }

    private static Restriction ClientAccess(string t, IAccessTable table) => new DelegateRestriction(t, async (c, ct) =>
    {
        var keys = new List<string>();
        if (c.Facts.ClientHostname is not null || c.Options.Dns is not null)
        {
            var name = (await c.ClientHostnameAsync(ct)).VerifiedName;
            if (name is not null) keys.AddRange(table.IsPattern ? [name] : AccessTable.DomainKeys(name));
        }
        keys.AddRange(table.IsPattern ? [AccessTable.AddressKeys(c.Facts.ClientAddress).First()] : AccessTable.AddressKeys(c.Facts.ClientAddress));
        foreach (var k in keys)
            if (table.Find(k) is { } action)
            {
                var r = await AccessAction.EvaluateAsync(action, $"<{c.ClientLabel}>: Client host rejected", t, c, ct);
                // DUNNO stops the search in this table (access(5)), and so does every other result.
                return r;
            }
        return Dunno;
    });

    private static Restriction DomainAccess(string t, IAccessTable table, Func<RestrictionContext, string?> pick, Func<string, string> subject) =>
        new DelegateRestriction(t, async (c, ct) =>
        {
            var name = pick(c);
            if (string.IsNullOrEmpty(name)) return Dunno;
            var keys = table.IsPattern ? [name] : name.StartsWith('[') ? [name, name.Trim('[', ']')] : AccessTable.DomainKeys(name);
            foreach (var k in keys)
                if (table.Find(k) is { } action)
                    return await AccessAction.EvaluateAsync(action, subject(name), t, c, ct);
            return Dunno;
        });

    /// <summary>access(5) address lookups: user@domain, then domain and parents, then user@; "&lt;&gt;" for the null sender.</summary>
    private static Restriction AddressAccess(string t, IAccessTable table, Func<RestrictionContext, string?> pick, string rejected) =>
        new DelegateRestriction(t, async (c, ct) =>
        {
            var addr = pick(c);
            if (addr is null) return Dunno;
            var keys = new List<string>();
            if (addr.Length == 0) keys.Add("<>");
            else if (Address.TryParse(addr, out var a))
            {
                keys.Add($"{a.LocalPart}@{a.Domain}");
                if (!table.IsPattern)
                {
                    keys.AddRange(AccessTable.DomainKeys(a.Domain));
                    keys.Add(a.LocalPart + "@");
                }
            }
            else keys.Add(addr);
            foreach (var k in keys)
                if (table.Find(k) is { } action)
                    return await AccessAction.EvaluateAsync(action, $"<{addr}>: {rejected}", t, c, ct);
            return Dunno;
        });

    private static RestrictionResult NonFqdn(string? address, string what, RestrictionOptions o, string t)
    {
        if (string.IsNullOrEmpty(address)) return Dunno; // null sender, or not known yet
        var at = address.LastIndexOf('@');
        var domain = at < 0 ? "" : address[(at + 1)..];
        if (domain.StartsWith('[') || HostnameSyntax.IsFqdn(domain)) return Dunno;
        return RestrictionResult.Reject(o.NonFqdnRejectCode, "5.5.2", $"<{address}>: {what} address rejected: need fully-qualified address", t);
    }

    private static async ValueTask<RestrictionResult> UnknownHelo(RestrictionContext c, string t, CancellationToken ct)
    {
        var h = c.Facts.Helo;
        if (h is null || h.StartsWith('[') || !HostnameSyntax.IsValidHostname(h)) return Dunno; // syntax is reject_invalid_helo_hostname's job
        var status = await DomainLookup.ExistsAsync(c.Options.Dns!, h, ct);
        return status switch
        {
            DomainStatus.Exists or DomainStatus.NullMx => Dunno,
            DomainStatus.TempFail => RestrictionResult.Reject(450, "4.7.1", $"<{h}>: Helo command rejected: Host not found", t),
            _ => RestrictionResult.Reject(c.Options.UnknownAddressRejectCode, "5.7.1", $"<{h}>: Helo command rejected: Host not found", t),
        };
    }

    private static async ValueTask<RestrictionResult> UnknownDomain(RestrictionContext c, string? address, bool sender, string t, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(address) || !Address.TryParse(address, out var a) || a.Domain.StartsWith('[')) return Dunno;
        // Postfix looks up a recipient domain only when it is not the final destination: our own domains need no MX.
        if (!sender && c.Options.IsAuthorizedDestination(a.Domain)) return Dunno;
        var status = await DomainLookup.ExistsAsync(c.Options.Dns!, a.Domain, ct);
        var what = sender ? "Sender" : "Recipient";
        return status switch
        {
            DomainStatus.Exists => Dunno,
            DomainStatus.TempFail => RestrictionResult.Reject(450, sender ? "4.1.8" : "4.1.2", $"<{address}>: {what} address rejected: Domain not found", t),
            DomainStatus.NullMx => sender
                ? RestrictionResult.Reject(550, "5.7.27", $"<{address}>: Sender address rejected: Domain {a.Domain} does not accept mail (nullMX)", t)
                : RestrictionResult.Reject(556, "5.1.10", $"<{address}>: Recipient address rejected: Domain {a.Domain} does not accept mail (nullMX)", t),
            _ => RestrictionResult.Reject(c.Options.UnknownAddressRejectCode, sender ? "5.1.8" : "5.1.2", $"<{address}>: {what} address rejected: Domain not found", t),
        };
    }

    private static RestrictionResult Destination(RestrictionContext c, string t, int code, bool permitIfOurs)
    {
        var rcpt = c.Facts.RcptTo;
        if (rcpt is null) return Dunno;
        var ours = Address.TryParse(rcpt, out var a) && c.Options.IsAuthorizedDestination(a.Domain);
        if (permitIfOurs) return ours ? RestrictionResult.Permit(t) : Dunno;
        if (ours) return Dunno;
        return code >= 500
            ? RestrictionResult.Reject(code, "5.7.1", $"<{rcpt}>: Relay access denied", t)
            : RestrictionResult.Reject(code, "4.7.1", $"<{rcpt}>: Relay access denied", t);
    }

    private static async ValueTask<RestrictionResult> GreylistCheck(RestrictionContext c, string t, CancellationToken ct)
    {
        var f = c.Facts;
        if (f.RcptTo is null || f.MailFrom is null) return Dunno;
        var spfDomain = string.Equals(f.SpfResult, "pass", StringComparison.OrdinalIgnoreCase) ? f.SpfDomain : null;
        var d = await c.Options.Greylist!.CheckAsync(f.ClientAddress, f.MailFrom, f.RcptTo, spfDomain, ct);
        if (!d.Deferred) return Dunno;
        return AccessAction.Reply(450, d.ReplyText, $"<{f.RcptTo}>: Recipient address rejected", t);
    }
}

public enum DomainStatus { Exists, NotFound, NullMx, TempFail }

/// <summary>"Does this domain exist for mail?": MX, else A, else AAAA (RFC 5321 5.1), with RFC 7505 null MX.</summary>
public static class DomainLookup
{
    public static async Task<DomainStatus> ExistsAsync(IDnsResolver dns, string domain, CancellationToken cancellationToken)
    {
        var mx = await dns.MxAsync(domain, cancellationToken);
        if (mx.Status == DnsStatus.Ok)
            return mx.Records.Count == 1 && mx.Records[0].Exchange.Trim('.').Length == 0 ? DomainStatus.NullMx : DomainStatus.Exists;
        if (mx.Status == DnsStatus.NxDomain) return DomainStatus.NotFound;
        var a = await dns.AAsync(domain, cancellationToken);
        if (a.Status == DnsStatus.Ok) return DomainStatus.Exists;
        var aaaa = await dns.AaaaAsync(domain, cancellationToken);
        if (aaaa.Status == DnsStatus.Ok) return DomainStatus.Exists;
        return mx.Status == DnsStatus.Failed || a.Status == DnsStatus.Failed || aaaa.Status == DnsStatus.Failed ? DomainStatus.TempFail : DomainStatus.NotFound;
    }
}

/// <summary>Host name syntax as Postfix's valid_hostname/valid_hostaddr judge it.</summary>
public static class HostnameSyntax
{
    /// <summary>Letters, digits, '-' and '_' in labels of 1..63, no label starting or ending with '-', at most 255 long,
    /// not all-numeric (that would be an address without brackets). A trailing dot is allowed.</summary>
    public static bool IsValidHostname(string name)
    {
        var n = name.EndsWith('.') ? name[..^1] : name;
        if (n.Length is 0 or > 255) return false;
        var allNumeric = true;
        foreach (var label in n.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-') return false;
            foreach (var ch in label)
            {
                if (!(char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_')) return false;
                if (!char.IsAsciiDigit(ch)) allNumeric = false;
            }
        }
        return !allNumeric;
    }

    /// <summary>A host name, or an address literal [1.2.3.4] / [IPv6:2001:db8::1].</summary>
    public static bool IsValidHeloArgument(string helo)
    {
        if (helo.StartsWith('[') && helo.EndsWith(']'))
        {
            var inner = helo[1..^1];
            if (inner.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
                return IPAddress.TryParse(inner[5..], out var v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
            return IPAddress.TryParse(inner, out var v4) && v4.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && inner.Count(ch => ch == '.') == 3;
        }
        return IsValidHostname(helo);
    }

    /// <summary>Fully qualified: a valid host name with at least two labels.</summary>
    public static bool IsFqdn(string name) => IsValidHostname(name) && name.TrimEnd('.').Contains('.', StringComparison.Ordinal);
}
