using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Mail.Core.Tls.Acme;

/// <summary>
/// The transport of RFC 8555 section 6: every request after the directory is a POST of a JWS signed by the account
/// key, carrying a fresh nonce (from the previous answer's Replay-Nonce, else from newNonce) and its own URL. A
/// badNonce problem (6.5) is retried with the nonce that came with it; any other problem document becomes an
/// <see cref="AcmeProblemException"/>.
/// </summary>
public sealed class AcmeClient(HttpClient http, Uri directoryUrl, AcmeAccountKey key)
{
    private const int BadNonceRetries = 5;
    private static readonly MediaTypeHeaderValue JoseJson = new("application/jose+json");
    private AcmeDirectory? _directory;
    private string? _nonce;

    /// <summary>The account URL ("kid") once <see cref="AccountAsync"/> has run.</summary>
    public Uri? AccountUrl { get; private set; }

    public AcmeAccountKey Key => key;

    /// <summary>RFC 8555 7.1.1: the directory, fetched once.</summary>
    public async Task<AcmeDirectory> DirectoryAsync(CancellationToken ct)
    {
        if (_directory is not null) return _directory;
        using var response = await http.GetAsync(directoryUrl, ct);
        await ThrowIfProblemAsync(response, directoryUrl, ct);
        _directory = await ReadAsync(response, AcmeJson.Default.AcmeDirectory, directoryUrl, ct);
        return _directory;
    }

    /// <summary>
    /// RFC 8555 7.3: creates the account, or finds the one this key already has (the CA answers 200 with its URL),
    /// agreeing to the CA's terms of service.
    /// </summary>
    public async Task<AcmeAccount> AccountAsync(string? email, CancellationToken ct)
    {
        var directory = await DirectoryAsync(ct);
        var request = new AcmeAccount(Contact: email is null ? null : [$"mailto:{email}"], TermsOfServiceAgreed: true);
        var (account, location) = await PostAsync(directory.NewAccount, Serialize(request, AcmeJson.Default.AcmeAccount), AcmeJson.Default.AcmeAccount, ct);
        AccountUrl = location ?? throw new AcmeProblemException(new AcmeProblem(Detail: "newAccount answered without a Location header"), directory.NewAccount);
        return account;
    }

    /// <summary>RFC 8555 7.4: a new order for these names; returns it with its URL.</summary>
    public async Task<(AcmeOrder Order, Uri Url)> NewOrderAsync(IEnumerable<string> names, CancellationToken ct)
    {
        var directory = await DirectoryAsync(ct);
        var request = new AcmeNewOrder([.. names.Select(AcmeIdentifier.Dns)]);
        var (order, location) = await PostAsync(directory.NewOrder, Serialize(request, AcmeJson.Default.AcmeNewOrder), AcmeJson.Default.AcmeOrder, ct);
        return (order, location ?? throw new AcmeProblemException(new AcmeProblem(Detail: "newOrder answered without a Location header"), directory.NewOrder));
    }

    /// <summary>POST-as-GET (RFC 8555 6.3) of an order, authorization or challenge, with the Retry-After it came with.</summary>
    public async Task<(T Value, TimeSpan? RetryAfter)> GetAsync<T>(Uri url, JsonTypeInfo<T> type, CancellationToken ct)
    {
        using var response = await SendAsync(url, [], ct);
        return (await ReadAsync(response, type, url, ct), RetryAfter(response));
    }

    /// <summary>RFC 8555 7.5.1: tells the CA the challenge is ready to be validated (payload "{}").</summary>
    public async Task<AcmeChallenge> RespondAsync(AcmeChallenge challenge, CancellationToken ct) =>
        (await PostAsync(challenge.Url, "{}"u8.ToArray(), AcmeJson.Default.AcmeChallenge, ct)).Value;

    /// <summary>RFC 8555 7.4: finalizes the order with a DER CSR.</summary>
    public async Task<AcmeOrder> FinalizeAsync(AcmeOrder order, byte[] csr, CancellationToken ct) =>
        (await PostAsync(order.Finalize, Serialize(new AcmeFinalize(Base64Url.Encode(csr)), AcmeJson.Default.AcmeFinalize), AcmeJson.Default.AcmeOrder, ct)).Value;

    /// <summary>RFC 8555 7.4.2: the certificate chain, PEM (application/pem-certificate-chain), leaf first.</summary>
    public async Task<string> DownloadCertificateAsync(Uri url, CancellationToken ct)
    {
        using var response = await SendAsync(url, [], ct);
        return await response.Content.ReadAsStringAsync(ct);
    }

    private async Task<(T Value, Uri? Location)> PostAsync<T>(Uri url, byte[] payload, JsonTypeInfo<T> type, CancellationToken ct)
    {
        using var response = await SendAsync(url, payload, ct);
        return (await ReadAsync(response, type, url, ct), response.Headers.Location);
    }

    /// <summary>One signed POST; the answer is a success (2xx) or this throws.</summary>
    private async Task<HttpResponseMessage> SendAsync(Uri url, byte[] payload, CancellationToken ct)
    {
        var directory = await DirectoryAsync(ct);
        for (var attempt = 0; ; attempt++)
        {
            var nonce = _nonce ?? await NewNonceAsync(directory, ct);
            _nonce = null;
            // newAccount is the one request signed with the key itself (6.2); the rest name the account.
            var header = url == directory.NewAccount || AccountUrl is null
                ? new JwsHeader("ES256", nonce, url.AbsoluteUri, Jwk: key.Jwk)
                : new JwsHeader("ES256", nonce, url.AbsoluteUri, Kid: AccountUrl.AbsoluteUri);
            var body = JsonSerializer.SerializeToUtf8Bytes(key.Sign(header, payload), AcmeJson.Default.JwsMessage);
            using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = JoseJson;
            var response = await http.SendAsync(request, ct);
            if (response.Headers.TryGetValues("Replay-Nonce", out var next)) _nonce = next.FirstOrDefault();
            if (response.IsSuccessStatusCode) return response;
            using (response)
            {
                var problem = await ProblemAsync(response, ct);
                // 6.5: a rejected nonce is the CA's to refuse at any time; the request itself may be fine.
                if (problem.Type == AcmeProblem.BadNonce && attempt < BadNonceRetries) continue;
                throw new AcmeProblemException(problem, url);
            }
        }
    }

    private async Task<string> NewNonceAsync(AcmeDirectory directory, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, directory.NewNonce);
        using var response = await http.SendAsync(request, ct);
        if (response.Headers.TryGetValues("Replay-Nonce", out var values) && values.FirstOrDefault() is { Length: > 0 } nonce) return nonce;
        await ThrowIfProblemAsync(response, directory.NewNonce, ct);
        throw new AcmeProblemException(new AcmeProblem(Detail: "newNonce answered without a Replay-Nonce header"), directory.NewNonce);
    }

    private static async Task ThrowIfProblemAsync(HttpResponseMessage response, Uri url, CancellationToken ct)
    {
        if (!response.IsSuccessStatusCode) throw new AcmeProblemException(await ProblemAsync(response, ct), url);
    }

    /// <summary>The RFC 7807 document of an error answer, or one made from its status when it has none.</summary>
    private static async Task<AcmeProblem> ProblemAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct);
        try
        {
            if (text.Length > 0 && JsonSerializer.Deserialize(text, AcmeJson.Default.AcmeProblem) is { } problem)
                return problem with { Status = problem.Status ?? (int)response.StatusCode };
        }
        catch (JsonException)
        {
        }
        return new AcmeProblem(Detail: $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}", Status: (int)response.StatusCode);
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> type, Uri url, CancellationToken ct)
    {
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(ct);
            return await JsonSerializer.DeserializeAsync(body, type, ct) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new AcmeProblemException(new AcmeProblem(Detail: $"the answer is not the {typeof(T).Name} RFC 8555 describes: {e.Message}"), url);
        }
    }

    private static byte[] Serialize<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.SerializeToUtf8Bytes(value, type);

    /// <summary>RFC 8555 7.4 / RFC 9110 10.2.3: seconds or an HTTP date.</summary>
    private static TimeSpan? RetryAfter(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - DateTimeOffset.UtcNow,
        _ => null,
    };
}
