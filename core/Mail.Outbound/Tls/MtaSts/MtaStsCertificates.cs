using System.Net.Security;
using Microsoft.Extensions.Logging;

namespace Mail.Outbound.Tls.MtaSts;

/// <summary>
/// The SMTP client's side of an MTA-STS route (RFC 8461 4.2): the MX certificate must chain to a trusted root and be
/// valid for the MX host name. In enforce mode a failure fails the handshake (the caller defers, never falls back to
/// plaintext); in testing mode it is logged (one warning) and delivery goes on, as it does without TLS.
/// </summary>
public sealed class MtaStsCertificates(TrustRoots trust, ILogger log)
{
    /// <summary>The certificate check for one connection to <paramref name="host"/>; <paramref name="refused"/> gets the
    /// reason when enforce mode refuses the certificate.</summary>
    public RemoteCertificateValidationCallback CallbackFor(MtaStsApplied policy, string host, Action<string> refused) =>
        (_, certificate, chain, errors) =>
        {
            var problem = trust.Verify(certificate, chain, errors, host);
            if (problem is null) return true;
            if (policy.Mode == MtaStsMode.Enforce)
            {
                refused($"MTA-STS policy of {policy.Domain} (enforce, id {policy.Id}): {problem}");
                return false;
            }
            log.LogWarning("MTA-STS testing: policy of {Domain} (id {Id}) would refuse {Host}: {Problem}; delivering anyway", policy.Domain, policy.Id, host, problem);
            return true;
        };

    /// <summary>Testing mode only: the message goes to <paramref name="host"/> without TLS, which enforce would refuse.</summary>
    public void Plaintext(MtaStsApplied policy, string host, string where) =>
        log.LogWarning("MTA-STS testing: policy of {Domain} (id {Id}) would refuse {Host}[{Where}]: no TLS (STARTTLS not offered or its handshake failed); delivering anyway",
            policy.Domain, policy.Id, host, where);
}
