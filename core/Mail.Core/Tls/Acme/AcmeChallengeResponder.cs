using System.Collections.Concurrent;

namespace Mail.Core.Tls.Acme;

/// <summary>What answers the CA's validation of one challenge type while an authorization is pending.</summary>
public interface IAcmeChallengeResponder
{
    /// <summary>The challenge type it answers: <see cref="AcmeChallenge.Http01"/> or <see cref="AcmeChallenge.TlsAlpn01"/>.</summary>
    string Type { get; }

    void Publish(string token, string keyAuthorization);

    void Withdraw(string token);
}

/// <summary>
/// RFC 8555 8.3: the key authorizations an HTTP server answers at /.well-known/acme-challenge/TOKEN while their
/// authorizations are pending. Only tokens published here are answered; everything else under the path is 404.
/// </summary>
public sealed class AcmeHttp01Challenges : IAcmeChallengeResponder
{
    public const string PathPrefix = "/.well-known/acme-challenge/";

    private readonly ConcurrentDictionary<string, string> _tokens = new(StringComparer.Ordinal);

    public string Type => AcmeChallenge.Http01;

    public void Publish(string token, string keyAuthorization) => _tokens[token] = keyAuthorization;

    public void Withdraw(string token) => _tokens.TryRemove(token, out _);

    /// <summary>The key authorization to answer for <paramref name="token"/>; null (404) for one not pending.</summary>
    public string? Answer(string token) => _tokens.GetValueOrDefault(token);
}
