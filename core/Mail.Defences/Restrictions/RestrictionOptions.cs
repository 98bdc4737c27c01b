using System.Net;
using Mail.Core.Ports;
using Mail.Defences.Greylisting;

namespace Mail.Defences.Restrictions;

/// <summary>What restrictions need besides the facts: Postfix's mynetworks, relay_domains and *_reject_code settings,
/// and the services (DNS, greylist) that some restrictions use. A list naming a restriction whose service is missing
/// is refused at startup.</summary>
public sealed class RestrictionOptions
{
    /// <summary>Postfix mynetworks (permit_mynetworks).</summary>
    public IReadOnlyList<IPNetwork> MyNetworks { get; init; } = [IPNetwork.Parse("127.0.0.0/8"), IPNetwork.Parse("::1/128")];

    /// <summary>Domains we accept mail for or relay to (mydestination, virtual and relay domains); subdomains are
    /// not included unless listed as ".example.com". Used by reject_unauth_destination and permit_auth_destination.</summary>
    public IReadOnlyList<string> AuthorizedDestinations { get; init; } = [];

    /// <summary>Postfix smtpd_restriction_classes: name → restriction list. A class name can be used wherever a restriction
    /// can, typically as the result of an access table entry (per-recipient policies).</summary>
    public IReadOnlyDictionary<string, string> RestrictionClasses { get; init; } = new Dictionary<string, string>();

    public IDnsResolver? Dns { get; init; }

    public Greylist? Greylist { get; init; }

    /// <summary>How <c>sleep N</c> waits (replaceable in tests; the default is Task.Delay).</summary>
    public Func<TimeSpan, CancellationToken, Task> Sleep { get; init; } = Task.Delay;

    /// <summary>Reply code for reject and for REJECT in access tables (Postfix reject_code, access_map_reject_code).</summary>
    public int RejectCode { get; init; } = 554;

    /// <summary>Reply code for defer and DEFER (Postfix defer_code, access_map_defer_code).</summary>
    public int DeferCode { get; init; } = 450;

    /// <summary>reject_rbl_client / reject_rhsbl_* (Postfix maps_rbl_reject_code).</summary>
    public int MapsRblRejectCode { get; init; } = 554;

    /// <summary>reject_unknown_client_hostname / reject_unknown_reverse_client_hostname when DNS answered (permanent).
    /// Postfix's default is 450; issue 4 asks for 550. Temporary DNS failures always give 450.</summary>
    public int UnknownClientRejectCode { get; init; } = 550;

    /// <summary>reject_unknown_sender_domain / reject_unknown_recipient_domain / reject_unknown_helo_hostname when DNS answered.</summary>
    public int UnknownAddressRejectCode { get; init; } = 550;

    /// <summary>reject_invalid_helo_hostname (Postfix invalid_hostname_reject_code).</summary>
    public int InvalidHostnameRejectCode { get; init; } = 501;

    /// <summary>reject_non_fqdn_* (Postfix non_fqdn_reject_code).</summary>
    public int NonFqdnRejectCode { get; init; } = 504;

    /// <summary>reject_unauth_destination (Postfix relay_domains_reject_code).</summary>
    public int RelayDomainsRejectCode { get; init; } = 554;

    /// <summary>check_policy_service: how long to wait for the policy server (Postfix smtpd_policy_service_timeout).</summary>
    public TimeSpan PolicyServiceTimeout { get; init; } = TimeSpan.FromSeconds(100);

    /// <summary>check_policy_service: the action when the server cannot be reached or answers garbage
    /// (Postfix smtpd_policy_service_default_action).</summary>
    public string PolicyServiceDefaultAction { get; init; } = "451 4.3.5 Server configuration problem";

    internal bool IsAuthorizedDestination(string domain)
    {
        var d = domain.TrimEnd('.').ToLowerInvariant();
        foreach (var a in AuthorizedDestinations)
        {
            var x = a.Trim().ToLowerInvariant();
            if (x.StartsWith('.') ? d.EndsWith(x, StringComparison.Ordinal) : d == x) return true;
        }
        return false;
    }
}
