using Mail.Auth.Dkim;
using Mail.Core.InboundChecks;

namespace Mail.Auth;

/// <summary>Settings of <see cref="AuthenticationCheck"/> (configuration section "Authentication"). Setters, not
/// init: the source-generated configuration binder skips init-only properties without a word.</summary>
public sealed class AuthenticationOptions
{
    /// <summary>
    /// Our authserv-id (RFC 8601 2.5): the name in the Authentication-Results fields we add, normally the host name
    /// of the MX. Incoming Authentication-Results claiming it are removed. Required.
    /// </summary>
    public string AuthServId { get; set; } = "";

    /// <summary>Where a message goes when DMARC fails and the domain's policy is p=reject (we never bounce after 250).</summary>
    public Disposition DmarcRejectDisposition { get; set; } = Disposition.Junk;

    /// <summary>Where a message goes when DMARC fails and the domain's policy is p=quarantine.</summary>
    public Disposition DmarcQuarantineDisposition { get; set; } = Disposition.Junk;

    /// <summary>
    /// ARC sealers (d= of the newest ARC-Seal; forwarders, mailing lists) we trust: when their chain passes and their
    /// ARC-Authentication-Results show an upstream dmarc, dkim or spf pass, a DMARC failure does not apply its policy.
    /// </summary>
    public IReadOnlyList<string> TrustedArcSealers { get; set; } = [];

    /// <summary>Messages whose From cannot give one author domain (several From fields or domains) go to Junk.</summary>
    public bool JunkAmbiguousFrom { get; set; } = true;

    /// <summary>
    /// Messages from authenticated submission (Envelope.AuthenticatedUser set) are our users' own mail: they get
    /// "auth=pass" and skip SPF/DKIM/DMARC/ARC unless this is true.
    /// </summary>
    public bool CheckAuthenticatedSubmissions { get; set; }

    /// <summary>
    /// A newer Public Suffix List file (https://publicsuffix.org/list/public_suffix_list.dat) to use instead of the copy
    /// compiled into Mail.Auth; null uses the compiled copy. Read once at startup; nothing is ever downloaded.
    /// </summary>
    public string? PublicSuffixListPath { get; set; }

    /// <summary>Also prepend a Received-SPF field (RFC 7208 9.1) under the Authentication-Results.</summary>
    public bool AddReceivedSpf { get; set; } = true;

    public DkimOptions Dkim { get; set; } = new();

    /// <summary>Throws with the name of the bad setting.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(AuthServId) || AuthServId.Any(c => c <= ' ' || c is ';' or '(' or ')' || c >= 0x7f))
            throw new ArgumentException($"Authentication:AuthServId must be a host name (got \"{AuthServId}\").", nameof(AuthServId));
        if (DmarcRejectDisposition is not (Disposition.Junk or Disposition.Quarantine))
            throw new ArgumentException("Authentication:DmarcRejectDisposition must be Junk or Quarantine (a DMARC failure is never discarded or bounced).", nameof(DmarcRejectDisposition));
        if (DmarcQuarantineDisposition is not (Disposition.Junk or Disposition.Quarantine))
            throw new ArgumentException("Authentication:DmarcQuarantineDisposition must be Junk or Quarantine.", nameof(DmarcQuarantineDisposition));
        if (TrustedArcSealers.Any(string.IsNullOrWhiteSpace))
            throw new ArgumentException("Authentication:TrustedArcSealers must not contain empty names.", nameof(TrustedArcSealers));
        if (PublicSuffixListPath is { } psl && !File.Exists(psl))
            throw new ArgumentException($"Authentication:PublicSuffixListPath names a file that does not exist: {psl}", nameof(PublicSuffixListPath));
        if (Dkim.MinimumRsaKeyBits < 512)
            throw new ArgumentException("Authentication:Dkim:MinimumRsaKeyBits must be at least 512.", nameof(Dkim));
        if (Dkim.MaxSignatures < 1)
            throw new ArgumentException("Authentication:Dkim:MaxSignatures must be at least 1.", nameof(Dkim));
    }
}
