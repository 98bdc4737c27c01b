namespace Mail.Core.Tls.Acme;

/// <summary>RFC 8555 7.1.2 and 7.3: an account (the newAccount request and the CA's answer share the shape).</summary>
public sealed record AcmeAccount(AcmeStatus? Status = null, IReadOnlyList<string>? Contact = null, bool? TermsOfServiceAgreed = null);
