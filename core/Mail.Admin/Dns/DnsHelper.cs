using System.Net;
using Mail.Auth.Dkim;
using Mail.Auth.Dmarc;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Text;
using Mail.Outbound.Tls.MtaSts;
using Mail.Spf;

namespace Mail.Admin.Dns;

/// <summary>
/// The DNS helper: for one of our domains, the records to publish (MX, SPF, DKIM from the domain's keys, DMARC, MTA-STS,
/// TLS-RPT, the autoconfig names and the RFC 6186 SRV records) and what DNS answers for each now, through the project's
/// resolver (Dns:NameServers), each marked right or wrong with the reason. SPF is judged by evaluating it (RFC 7208
/// check_host) for the addresses of our MX host, so an include: chain that covers us is right and a record that
/// merely mentions the name is not. `mail dns check DOMAIN` prints it; the console shows it.
/// </summary>
/// <param name="policies">Fetches the MTA-STS policy the way senders do (the outbound stage's client: Outbound:MtaSts,
/// Outbound:TlsCaFile); null: the helper checks the TXT record only.</param>
public sealed class DnsHelper(IDnsResolver dns, MailHostProfile host, AdminService admin, MtaStsPolicyClient? policies = null)
{
    public MailHostProfile Host => host;

    public async Task<DomainDnsReport> CheckAsync(string domain, CancellationToken cancellationToken = default)
    {
        var d = Address.NormalizeDomain(domain) is { } n && !n.StartsWith('[') ? n : throw new AdminException($"'{domain}' is not a domain name");
        if (!(await admin.ListDomainsAsync(cancellationToken)).Contains(d, StringComparer.OrdinalIgnoreCase))
            throw new AdminException($"{d} is not one of our domains (mail domain list)", notFound: true);
        var mx = Trim(host.MxHost);
        var list = new List<DnsRecordCheck>
        {
            await MxAsync(d, mx, cancellationToken),
            await HostAddressAsync(mx, cancellationToken),
            await SpfAsync(d, mx, cancellationToken),
        };
        list.AddRange(await DkimAsync(d, cancellationToken));
        list.Add(await DmarcAsync(d, cancellationToken));
        var policy = host.MtaStsPolicies.For(d).ToText();
        list.Add(await MtaStsAsync(d, policy, cancellationToken));
        list.Add(await NameAsync("MTA-STS policy host (serve the policy here over HTTPS)", "mta-sts." + d, mx, cancellationToken));
        list.Add(await TlsRptAsync(d, cancellationToken));
        if (host.Autoconfig) list.Add(await NameAsync("Thunderbird autoconfig", "autoconfig." + d, mx, cancellationToken));
        foreach (var s in host.Services) list.Add(await SrvAsync(d, s, cancellationToken));
        return new DomainDnsReport(d, list, policy);
    }

    /// <summary>A policy id (RFC 8461 3.1: 1 to 32 letters and digits) that changes when the policy does.</summary>
    public static string MtaStsId(string policy) => Sha256Hex.Of(policy, 16);

    private static string Trim(string name) => name.Trim().TrimEnd('.').ToLowerInvariant();

    private static bool SameName(string a, string b) => string.Equals(Trim(a), Trim(b), StringComparison.OrdinalIgnoreCase);

    private static string Quote(string text) => "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static DnsRecordCheck Failed<T>(string purpose, string name, string type, string expected, string zone, DnsResult<T> r) =>
        new(purpose, name, type, expected, zone, [], DnsVerdict.Unknown, $"DNS did not answer: {r.Error}");

    /// <summary>The TXT records at <paramref name="name"/>, for the check that expects <paramref name="expected"/> there.</summary>
    private async Task<(TxtCheck Check, DnsResult<string> Found)> LookUpTxtAsync(string purpose, string name, string expected, CancellationToken ct) =>
        (new TxtCheck(purpose, name, expected), await dns.TxtAsync(name, ct));

    /// <summary>A TXT record a check expects at a name: its zone-file line, and the check's verdicts on what was found.</summary>
    private sealed record TxtCheck(string Purpose, string Name, string Expected)
    {
        private string Zone => $"{Name}. IN TXT {Quote(Expected)}";

        public DnsRecordCheck Say(IReadOnlyList<string> found, DnsVerdict verdict, string text) => new(Purpose, Name, "TXT", Expected, Zone, found, verdict, text);

        public DnsRecordCheck Failed<T>(DnsResult<T> r) => DnsHelper.Failed(Purpose, Name, "TXT", Expected, Zone, r);
    }

    private async Task<DnsRecordCheck> MxAsync(string d, string mx, CancellationToken ct)
    {
        const string purpose = "MX: where other servers deliver mail for the domain";
        var expected = $"10 {mx}";
        var zone = $"{d}. IN MX 10 {mx}.";
        var r = await dns.MxAsync(d, ct);
        if (r.Status == DnsStatus.Failed) return Failed(purpose, d, "MX", expected, zone, r);
        var found = r.Records.Select(m => $"{m.Preference} {(m.Exchange.Length == 0 ? "." : m.Exchange)}").ToList();
        if (r.Records.Count == 0) return new(purpose, d, "MX", expected, zone, found, DnsVerdict.Missing, "no MX record: other servers fall back to the domain's address, if any");
        if (r.Records.Any(m => m.Exchange.Length == 0 || m.Exchange == "."))
            return new(purpose, d, "MX", expected, zone, found, DnsVerdict.Wrong, "a null MX (RFC 7505): the domain says it takes no mail");
        if (!r.Records.Any(m => SameName(m.Exchange, mx)))
            return new(purpose, d, "MX", expected, zone, found, DnsVerdict.Wrong, $"different value: the MX points to {string.Join(", ", r.Records.Select(m => m.Exchange))}, not {mx}");
        var others = r.Records.Where(m => !SameName(m.Exchange, mx)).ToList();
        return others.Count == 0
            ? new(purpose, d, "MX", expected, zone, found, DnsVerdict.Right, $"points to {mx}")
            : new(purpose, d, "MX", expected, zone, found, DnsVerdict.Note, $"points to {mx}, and also to {string.Join(", ", others.Select(m => m.Exchange))} (a backup MX must accept mail for this domain)");
    }

    private async Task<(List<IPAddress> Addresses, string? Error)> AddressesAsync(string name, CancellationToken ct)
    {
        var a = await dns.AAsync(name, ct);
        var aaaa = await dns.AaaaAsync(name, ct);
        var all = a.Records.Concat(aaaa.Records).ToList();
        var error = all.Count == 0 && (a.Status == DnsStatus.Failed || aaaa.Status == DnsStatus.Failed) ? a.Error ?? aaaa.Error : null;
        return (all, error);
    }

    private async Task<DnsRecordCheck> HostAddressAsync(string mx, CancellationToken ct)
    {
        const string purpose = "the MX host's address (this server's public address)";
        var zone = $"{mx}. IN A 192.0.2.25   ; this server's public IPv4 (and an AAAA for IPv6)";
        var (all, error) = await AddressesAsync(mx, ct);
        var found = all.Select(a => a.ToString()).ToList();
        if (error is not null) return new(purpose, mx, "A/AAAA", "this server's address", zone, [], DnsVerdict.Unknown, $"DNS did not answer: {error}");
        return all.Count == 0
            ? new(purpose, mx, "A/AAAA", "this server's address", zone, found, DnsVerdict.Missing, $"{mx} has no address: nothing can reach it")
            : new(purpose, mx, "A/AAAA", "this server's address", zone, found, DnsVerdict.Right, "resolves (check it is this server's public address)");
    }

    private async Task<DnsRecordCheck> SpfAsync(string d, string mx, CancellationToken ct)
    {
        var (check, r) = await LookUpTxtAsync("SPF: which hosts may send mail from the domain", d, "v=spf1 mx -all", ct);
        if (r.Status == DnsStatus.Failed) return check.Failed(r);
        var spf = r.Records.Where(t => t.Equals("v=spf1", StringComparison.OrdinalIgnoreCase) || t.StartsWith("v=spf1 ", StringComparison.OrdinalIgnoreCase)).ToList();
        if (spf.Count == 0) return check.Say([], DnsVerdict.Missing, "no v=spf1 record");
        if (spf.Count > 1) return check.Say(spf, DnsVerdict.Wrong, $"{spf.Count} v=spf1 records: receivers answer permerror (RFC 7208 4.5)");
        var (addresses, error) = await AddressesAsync(mx, ct);
        if (addresses.Count == 0)
            return check.Say(spf, DnsVerdict.Unknown, $"cannot evaluate: {mx} has no address{(error is null ? "" : $" ({error})")}");
        var checker = new SpfChecker(dns);
        foreach (var ip in addresses)
        {
            var result = await checker.CheckHostAsync(ip, d, "postmaster@" + d, mx, ct);
            if (result.Code != SpfResultCode.Pass)
                return check.Say(spf, DnsVerdict.Wrong,
                    $"does not include our host: {result.Code.ToString().ToLowerInvariant()} for {ip} ({mx}){(result.Problem is { } p ? ": " + p : result.Mechanism.Length > 0 ? " by " + result.Mechanism : "")}");
        }
        return check.Say(spf, DnsVerdict.Right, $"passes for {string.Join(", ", addresses)} ({mx})");
    }

    private async Task<IReadOnlyList<DnsRecordCheck>> DkimAsync(string d, CancellationToken ct)
    {
        const string purpose = "DKIM: the public key receivers verify our signatures with";
        var keys = (await admin.ListDkimKeysAsync(d, ct)).Where(k => k.Published).ToList();
        if (keys.Count == 0)
            return [new(purpose, "*._domainkey." + d, "TXT", "a key", $"; mail dkim add {d} prints the records", [], DnsVerdict.Missing, $"no DKIM key for {d}: mail dkim add {d}")];
        var list = new List<DnsRecordCheck>();
        foreach (var k in keys)
        {
            var r = await dns.TxtAsync(k.DnsName, ct);
            var expectedKey = DkimKeyRecord.Parse(k.DnsRecord, out _)?.PublicKeyData ?? [];
            if (r.Status == DnsStatus.Failed)
            {
                list.Add(Failed(purpose, k.DnsName, "TXT", k.DnsRecord, k.ZoneFileLine, r));
                continue;
            }
            var found = r.Records.ToList();
            var keysFound = found.Select(t => DkimKeyRecord.Parse(t, out _)).Where(x => x is not null).ToList();
            var state = k.Active ? "" : " (retired key, keep it published until " + k.PublishedUntil?.UtcDateTime.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture) + ")";
            DnsRecordCheck check;
            if (found.Count == 0) check = new(purpose, k.DnsName, "TXT", k.DnsRecord, k.ZoneFileLine, found, DnsVerdict.Missing, "no key record" + state);
            else if (keysFound.Count == 0) check = new(purpose, k.DnsName, "TXT", k.DnsRecord, k.ZoneFileLine, found, DnsVerdict.Wrong, "not a DKIM key record (no parsable p=)");
            else if (!keysFound.Any(x => x!.PublicKeyData.AsSpan().SequenceEqual(expectedKey)))
                check = new(purpose, k.DnsName, "TXT", k.DnsRecord, k.ZoneFileLine, found, DnsVerdict.Wrong,
                    keysFound.Any(x => x!.IsRevoked) ? "DKIM key mismatch: the published key is revoked (empty p=)" : "DKIM key mismatch: the published p= is not this key's public key");
            else if (keysFound.Any(x => x!.IsTesting)) check = new(purpose, k.DnsName, "TXT", k.DnsRecord, k.ZoneFileLine, found, DnsVerdict.Note, "the key matches, with t=y (testing: receivers may ignore failures)" + state);
            else check = new(purpose, k.DnsName, "TXT", k.DnsRecord, k.ZoneFileLine, found, DnsVerdict.Right, "the published key is this key" + state);
            list.Add(check);
        }
        return list;
    }

    private async Task<DnsRecordCheck> DmarcAsync(string d, CancellationToken ct)
    {
        var (check, r) = await LookUpTxtAsync("DMARC: what receivers do with mail that fails SPF and DKIM, and where they report",
            "_dmarc." + d, $"v=DMARC1; p=quarantine; rua=mailto:postmaster@{d}", ct);
        if (r.Status == DnsStatus.Failed) return check.Failed(r);
        var records = r.Records.Where(DmarcRecord.IsDmarcRecord).ToList();
        if (records.Count == 0) return check.Say(r.Records, DnsVerdict.Missing, "no v=DMARC1 record");
        if (records.Count > 1) return check.Say(records, DnsVerdict.Wrong, $"{records.Count} v=DMARC1 records: receivers ignore them all (RFC 7489 6.6.3)");
        if (DmarcRecord.Parse(records[0], out var error) is not { } dmarc)
            return check.Say(records, DnsVerdict.Wrong, $"not a usable record: {error}");
        var rua = dmarc.AggregateReportUris.Count == 0 ? "; no rua= (no aggregate reports)" : "";
        return dmarc.Policy == DmarcPolicy.None
            ? check.Say(records, DnsVerdict.Note, "p=none: receivers only report, forged mail is still delivered" + rua)
            : check.Say(records, rua.Length == 0 ? DnsVerdict.Right : DnsVerdict.Note, $"p={dmarc.Policy.ToString().ToLowerInvariant()}" + rua);
    }

    private async Task<DnsRecordCheck> MtaStsAsync(string d, string policy, CancellationToken ct)
    {
        var (check, r) = await LookUpTxtAsync("MTA-STS: senders must use TLS to our MX (the policy text below, served over HTTPS)",
            MtaStsTxtRecord.Prefix + d, $"v=STSv1; id={MtaStsId(policy)}", ct);
        if (r.Status == DnsStatus.Failed) return check.Failed(r);
        if (r.Records.Count == 0) return check.Say([], DnsVerdict.Missing, "no v=STSv1 record");
        var (id, problem) = MtaStsTxtRecord.Parse(r.Records);
        if (id is null) return check.Say(r.Records, r.Records.Any(t => t.StartsWith("v=STSv1", StringComparison.Ordinal)) ? DnsVerdict.Wrong : DnsVerdict.Missing, problem ?? "no policy id");
        if (policies is null) return check.Say(r.Records, DnsVerdict.Right, $"policy id {id} (change it whenever the policy changes)");
        // As a sender would (RFC 8461 3.3): HTTPS to mta-sts.DOMAIN, a certificate valid for that name, 200, text/plain.
        MtaStsPolicy fetched;
        try
        {
            fetched = await policies.FetchAsync(d, ct);
        }
        catch (MtaStsFetchException e)
        {
            return check.Say(r.Records, DnsVerdict.Wrong, $"TXT id {id}, but the policy cannot be fetched: {e.Message}");
        }
        var mode = fetched.Mode.ToString().ToLowerInvariant();
        var found = r.Records.Append($"policy: mode {mode}, mx {string.Join(", ", fetched.Mx)}, max_age {(long)fetched.MaxAge.TotalSeconds}").ToList();
        // The MX hosts senders will find: those published, else ours. Every one must match an mx line, or enforcing
        // senders refuse to deliver to it.
        var mx = await dns.MxAsync(d, ct);
        var hosts = mx.Records.Where(m => m.Exchange.Length > 0 && m.Exchange != ".").Select(m => Trim(m.Exchange)).Distinct().ToList();
        if (hosts.Count == 0) hosts.Add(Trim(host.MxHost));
        var uncovered = hosts.Where(h => !fetched.Allows(h)).ToList();
        if (fetched.Mode == MtaStsMode.None)
            return check.Say(found, DnsVerdict.Wrong, $"TXT id {id}, policy fetched, but mode none: senders do not enforce TLS (publish mode: enforce)");
        if (uncovered.Count > 0)
            return check.Say(found, DnsVerdict.Wrong,
                $"TXT id {id}, policy fetched (mode {mode}), but its mx lines ({string.Join(", ", fetched.Mx)}) do not cover the MX host {string.Join(", ", uncovered)}: enforcing senders will not deliver there");
        if (fetched.Mode == MtaStsMode.Testing)
            return check.Say(found, DnsVerdict.Note, $"TXT id {id}, policy fetched, mode testing (senders only report; publish mode: enforce), mx covers {string.Join(", ", hosts)}");
        return check.Say(found, DnsVerdict.Right, $"TXT id {id}, policy fetched, mode enforce, mx covers {string.Join(", ", hosts)} (change the id whenever the policy changes)");
    }

    private async Task<DnsRecordCheck> TlsRptAsync(string d, CancellationToken ct)
    {
        var (check, r) = await LookUpTxtAsync("TLS-RPT: where senders report TLS failures to us (RFC 8460)",
            "_smtp._tls." + d, $"v=TLSRPTv1; rua=mailto:postmaster@{d}", ct);
        if (r.Status == DnsStatus.Failed) return check.Failed(r);
        var rpt = r.Records.Where(t => t.StartsWith("v=TLSRPTv1", StringComparison.Ordinal)).ToList();
        if (rpt.Count == 0) return check.Say(r.Records, DnsVerdict.Missing, "no v=TLSRPTv1 record");
        if (rpt.Count > 1) return check.Say(rpt, DnsVerdict.Wrong, $"{rpt.Count} v=TLSRPTv1 records: senders ignore them all (RFC 8460 3)");
        var rua = rpt[0].Split(';').Select(f => f.Trim()).FirstOrDefault(f => f.StartsWith("rua=", StringComparison.Ordinal))?[4..];
        if (string.IsNullOrWhiteSpace(rua) || !rua.Split(',').All(u => u.Trim().StartsWith("mailto:", StringComparison.Ordinal) || u.Trim().StartsWith("https:", StringComparison.Ordinal)))
            return check.Say(rpt, DnsVerdict.Wrong, "rua= is missing or not mailto:/https: URIs");
        return check.Say(rpt, DnsVerdict.Right, "reports go to " + rua);
    }

    /// <summary>A name that must reach our host (CNAME to it, or the same addresses).</summary>
    private async Task<DnsRecordCheck> NameAsync(string purpose, string name, string mx, CancellationToken ct)
    {
        var zone = $"{name}. IN CNAME {mx}.";
        var (found, error) = await AddressesAsync(name, ct);
        if (error is not null) return new(purpose, name, "CNAME", mx, zone, [], DnsVerdict.Unknown, $"DNS did not answer: {error}");
        if (found.Count == 0) return new(purpose, name, "CNAME", mx, zone, [], DnsVerdict.Missing, $"{name} has no address");
        var (ours, _) = await AddressesAsync(mx, ct);
        var text = found.Select(a => a.ToString()).ToList();
        if (ours.Count > 0 && !found.Any(ours.Contains))
            return new(purpose, name, "CNAME", mx, zone, text, DnsVerdict.Wrong, $"different value: {string.Join(", ", found)} is not {mx} ({string.Join(", ", ours)})");
        return new(purpose, name, "CNAME", mx, zone, text, DnsVerdict.Right, $"reaches {mx}");
    }

    private async Task<DnsRecordCheck> SrvAsync(string d, SrvService s, CancellationToken ct)
    {
        var purpose = s.Service switch
        {
            "_autodiscover._tcp" => "Outlook autodiscover",
            "_submission._tcp" => "RFC 6186: mail submission (STARTTLS)",
            "_submissions._tcp" => "RFC 8314: mail submission (implicit TLS)",
            "_imaps._tcp" => "RFC 6186: IMAP (implicit TLS)",
            "_imap._tcp" => "RFC 6186: IMAP (STARTTLS)",
            "_pop3s._tcp" => "RFC 6186: POP3 (implicit TLS)",
            "_pop3._tcp" => "RFC 6186: POP3 (STARTTLS)",
            _ => "SRV",
        };
        var name = $"{s.Service}.{d}";
        var target = Trim(s.Host);
        var expected = $"0 1 {s.Port} {target}";
        var zone = $"{name}. IN SRV 0 1 {s.Port} {target}.";
        var r = await dns.SrvAsync(name, ct);
        if (r.Status == DnsStatus.Failed) return Failed(purpose, name, "SRV", expected, zone, r);
        var found = r.Records.Select(x => $"{x.Priority} {x.Weight} {x.Port} {(x.Target.Length == 0 ? "." : x.Target)}").ToList();
        if (r.Records.Count == 0) return new(purpose, name, "SRV", expected, zone, [], DnsVerdict.Missing, "no SRV record");
        if (r.Records.Any(x => SameName(x.Target, target) && x.Port == s.Port))
            return new(purpose, name, "SRV", expected, zone, found, DnsVerdict.Right, $"{target} port {s.Port}");
        return new(purpose, name, "SRV", expected, zone, found, DnsVerdict.Wrong,
            $"different value: {string.Join(", ", r.Records.Select(x => $"{(x.Target.Length == 0 ? "." : x.Target)} port {x.Port}"))}, not {target} port {s.Port}");
    }
}
