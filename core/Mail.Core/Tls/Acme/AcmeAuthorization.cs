namespace Mail.Core.Tls.Acme;

/// <summary>RFC 8555 7.1.4: an authorization, one per identifier.</summary>
public sealed record AcmeAuthorization(AcmeStatus Status, AcmeIdentifier Identifier, IReadOnlyList<AcmeChallenge> Challenges, bool Wildcard = false);
