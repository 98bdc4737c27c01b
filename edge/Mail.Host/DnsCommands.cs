using Mail.Admin;
using Mail.Admin.Dns;
using Mail.Configuration;
using Mail.Host.Http.Autoconfig;
using Microsoft.Extensions.Configuration;

namespace Mail.Host;

/// <summary>`mail dns check DOMAIN`: the records to publish as zone-file lines, each followed by what DNS answers now
/// and the verdict (<see cref="DnsHelper"/>, the same the console's DNS page shows). Exit 0 when nothing is missing or
/// wrong, 1 otherwise, so a script can wait for DNS.</summary>
public sealed class DnsCommands(DnsHelper helper, TextWriter output)
{
    public async Task<int> CheckAsync(string domain)
    {
        DomainDnsReport report;
        try
        {
            report = await helper.CheckAsync(domain);
        }
        catch (AdminException e)
        {
            Console.Error.WriteLine("mail: " + e.Message);
            return ExitCodes.DataError;
        }
        output.WriteLine($"; DNS for {report.Domain} (mail host {helper.Host.MxHost}); each record, then what DNS answers now");
        foreach (var r in report.Records)
        {
            output.WriteLine(r.ZoneLine);
            var found = r.Found.Count == 0 ? "" : $" [found: {string.Join(" | ", r.Found)}]";
            output.WriteLine($";   {r.Verdict.ToString().ToLowerInvariant()}: {r.Reason}{found}");
        }
        output.WriteLine($"; MTA-STS policy, to serve at https://mta-sts.{report.Domain}/.well-known/mta-sts.txt:");
        foreach (var line in report.MtaStsPolicy.TrimEnd('\n').Split('\n')) output.WriteLine(";   " + line);
        var bad = report.Records.Count(r => r.Verdict is not (DnsVerdict.Right or DnsVerdict.Note));
        output.WriteLine(bad == 0 ? "; all records right" : $"; {bad} record(s) missing, wrong or unknown");
        return bad == 0 ? 0 : 1;
    }

    /// <summary>The MTA-STS policy client of the outbound stage (Outbound:MtaSts:*, Outbound:TlsCaFile), so the helper
    /// fetches the policy as a sender would.</summary>
    public static Mail.Outbound.Tls.MtaSts.MtaStsPolicyClient PolicyClient(Mail.Outbound.OutboundOptions outbound, Mail.Core.Ports.IDnsResolver dns)
    {
        try
        {
            return new(dns, outbound.MtaSts, Mail.Outbound.Tls.MtaSts.TrustRoots.Load(outbound.TlsCaFile));
        }
        catch (ArgumentException e)
        {
            throw new ConfigurationException(e.Message); // names Outbound:TlsCaFile
        }
    }

    /// <summary>The host and SRV services DNS should name, from the same listener settings `mail serve` opens
    /// (<see cref="ClientServers"/>, as autoconfiguration tells clients).</summary>
    public static MailHostProfile Profile(ServeSettings settings) =>
        Profile(settings.Smtp.HostName, ClientServers.From(settings), settings.AutoconfigEndpoint is not null) with { MtaSts = settings.MtaSts };

    /// <summary>For the command: the listener settings without loading the certificate.</summary>
    public static MailHostProfile Profile(IConfiguration configuration)
    {
        var imap = ServeSettings.BindImap(configuration);
        var smtp = ServeSettings.BindSmtp(configuration);
        var settings = new ServeSettings(smtp, imap, configuration.GetValue("Imap:Enabled", true), new(), false)
        {
            Pop3 = ServeSettings.BindPop3(configuration, imap),
            Pop3Enabled = configuration.GetValue("Pop3:Enabled", true),
            AutoconfigEndpoint = EndpointSetting.Read(configuration, AutoconfigServer.EndpointSetting, "0.0.0.0:80"),
            MtaSts = MtaStsSettings.Load(configuration, smtp.HostName),
        };
        return Profile(settings);
    }

    private static MailHostProfile Profile(string mxHost, ClientServers servers, bool autoconfig)
    {
        var services = new List<SrvService>();
        void Add(string service, ClientServer? s)
        {
            if (s is not null && !services.Any(x => x.Service == service)) services.Add(new(service, s.HostName, s.Port));
        }
        // RFC 6186 names, with RFC 8314's _submissions for implicit TLS submission.
        Add("_submission._tcp", servers.Outgoing.FirstOrDefault(s => s.Socket == ClientSocket.StartTls));
        Add("_submissions._tcp", servers.Outgoing.FirstOrDefault(s => s.Socket == ClientSocket.Ssl));
        Add("_imaps._tcp", servers.Incoming.FirstOrDefault(s => s.Protocol == "imap" && s.Socket == ClientSocket.Ssl));
        Add("_imap._tcp", servers.Incoming.FirstOrDefault(s => s.Protocol == "imap" && s.Socket == ClientSocket.StartTls));
        // Outlook asks over HTTPS only (a reverse proxy in front of Autoconfig:Endpoint, docs/autoconfig.md).
        if (autoconfig) services.Add(new("_autodiscover._tcp", mxHost, 443));
        return new MailHostProfile(mxHost, services, autoconfig);
    }
}
