using Mail.Configuration;
using Mail.Core.Ports;
using Mail.Core.SmtpPolicy;
using Mail.Smtp;
using Mail.Spf;
using Microsoft.Extensions.Configuration;

namespace Mail.Host;

/// <summary>
/// The SMTP edge's restriction lists (section "Defences", Postfix vocabulary), or none when the section is absent:
/// then the edge's own relay control (local domains and users, MyNetworks, AUTH) is all there is.
/// </summary>
/// <param name="Spf">With restriction lists configured the edge also checks SPF at MAIL FROM, so reject_spf_fail and
/// SPF-keyed greylisting can use it while the client is connected.</param>
public sealed record EdgePolicy(ISmtpSessionPolicy? Policy, SpfChecker? Spf)
{
    /// <param name="logger">Receives the restrictions' warnings (a policy server that is down) and rejects.</param>
    public static async Task<EdgePolicy> BuildAsync(IConfiguration configuration, IDnsResolver dns, MailStores stores, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        var defences = InboundChecks.DefencesSection(configuration);
        if (defences is null) return new EdgePolicy(null, null);
        // Postfix's default relay list ends in defer_unauth_destination: without our domains listed as
        // destinations it would defer every recipient, so default them to the local domains.
        if (defences.AuthorizedDestinations.Count == 0)
            defences.AuthorizedDestinations.AddRange(await stores.Directory.ListDomainsAsync());
        var policy = InboundChecks.Wrap(() => defences.BuildSmtpPolicy(dns, stores.State, TimeProvider.System,
            (domain, ct) => new ValueTask<bool>(stores.Directory.IsLocalDomainAsync(domain, ct)), stores.Messages, logger));
        return new EdgePolicy(policy, new SpfChecker(dns, new SpfOptions { ReceiverName = configuration["Smtp:HostName"] ?? "localhost" }));
    }
}
