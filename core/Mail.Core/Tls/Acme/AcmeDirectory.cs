namespace Mail.Core.Tls.Acme;

/// <summary>RFC 8555 7.1.1: the directory, the one URL an operator configures ("Tls:Acme:Directory").</summary>
public sealed record AcmeDirectory(Uri NewNonce, Uri NewAccount, Uri NewOrder, AcmeDirectoryMeta? Meta = null);

/// <summary>RFC 8555 7.1.1 "meta".</summary>
public sealed record AcmeDirectoryMeta(string? TermsOfService = null, bool ExternalAccountRequired = false);
