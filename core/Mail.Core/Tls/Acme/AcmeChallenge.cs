namespace Mail.Core.Tls.Acme;

/// <summary>RFC 8555 8: a challenge. Token is what HTTP-01 (8.3) serves under /.well-known/acme-challenge/.</summary>
public sealed record AcmeChallenge(string Type, Uri Url, AcmeStatus Status, string? Token = null, AcmeProblem? Error = null)
{
    public const string Http01 = "http-01";
    public const string TlsAlpn01 = "tls-alpn-01";
}
