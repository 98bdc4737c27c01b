namespace Mail.Core.Tls.Acme;

/// <summary>RFC 8555 7.1.4: what a certificate is for; this client asks only for "dns".</summary>
public sealed record AcmeIdentifier(string Type, string Value)
{
    public static AcmeIdentifier Dns(string name) => new("dns", name);
}

/// <summary>RFC 8555 7.4: the newOrder request.</summary>
public sealed record AcmeNewOrder(IReadOnlyList<AcmeIdentifier> Identifiers);

/// <summary>RFC 8555 7.1.3: an order.</summary>
public sealed record AcmeOrder(AcmeStatus Status, IReadOnlyList<AcmeIdentifier> Identifiers, IReadOnlyList<Uri> Authorizations, Uri Finalize,
    Uri? Certificate = null, DateTimeOffset? Expires = null, AcmeProblem? Error = null);

/// <summary>RFC 8555 7.4: the finalize request, the CSR in base64url DER.</summary>
public sealed record AcmeFinalize(string Csr);
