namespace Mail.Core.Tls.Acme;

/// <summary>RFC 7515 7.2.2: the flattened JWS JSON serialization every ACME POST carries.</summary>
public sealed record JwsMessage(string Protected, string Payload, string Signature);

/// <summary>RFC 8555 6.2: the protected header: "jwk" for newAccount, "kid" (the account URL) for the rest.</summary>
public sealed record JwsHeader(string Alg, string Nonce, string Url, AcmeJwk? Jwk = null, string? Kid = null);

/// <summary>RFC 7517/7518: the account's P-256 public key. Members in the order RFC 7638 hashes them.</summary>
public sealed record AcmeJwk(string Crv, string Kty, string X, string Y);
