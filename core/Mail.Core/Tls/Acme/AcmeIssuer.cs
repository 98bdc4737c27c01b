using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;

namespace Mail.Core.Tls.Acme;

/// <summary>
/// One certificate from an ACME CA, the flow of RFC 8555 7.4: account, newOrder, for each authorization the
/// challenge published and answered, the order polled to ready, finalized with a CSR for a fresh P-256 key, polled
/// to valid, the chain downloaded. Throws <see cref="AcmeProblemException"/> with the CA's reason when a step fails.
/// </summary>
public sealed class AcmeIssuer(AcmeClient client, IAcmeChallengeResponder responder, ILogger log, TimeProvider? time = null)
{
    /// <summary>How long an authorization or the order may stay pending or processing before we give up on it.</summary>
    public TimeSpan PollLimit { get; init; } = TimeSpan.FromMinutes(5);

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>The certificate chain (leaf first) and then its private key, PEM: what <c>CertificateParser.FromPem</c> reads.</summary>
    public async Task<string> ObtainAsync(IReadOnlyList<string> names, string? email, CancellationToken ct)
    {
        if (client.AccountUrl is null)
        {
            await client.AccountAsync(email, ct);
            log.LogInformation("ACME: account {Account}", client.AccountUrl);
        }
        var (order, orderUrl) = await client.NewOrderAsync(names, ct);
        foreach (var url in order.Authorizations) await AuthorizeAsync(url, ct);

        order = await PollAsync(orderUrl, AcmeJson.Default.AcmeOrder, o => o.Status == AcmeStatus.Pending, ct);
        if (order.Status != AcmeStatus.Ready)
            throw new AcmeProblemException(order.Error ?? new AcmeProblem(Detail: $"the order is {Name(order.Status)}, not ready"), orderUrl);

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        order = await client.FinalizeAsync(order, CertificateSigningRequest(names, key), ct);
        if (order.Status != AcmeStatus.Valid)
            order = await PollAsync(orderUrl, AcmeJson.Default.AcmeOrder, o => o.Status is AcmeStatus.Processing or AcmeStatus.Ready, ct);
        if (order.Status != AcmeStatus.Valid || order.Certificate is null)
            throw new AcmeProblemException(order.Error ?? new AcmeProblem(Detail: $"the order is {Name(order.Status)} after finalize, not valid"), orderUrl);
        var chain = await client.DownloadCertificateAsync(order.Certificate, ct);
        return chain.TrimEnd() + "\n" + key.ExportPkcs8PrivateKeyPem() + "\n";
    }

    /// <summary>RFC 8555 7.4.1 with a DNS SAN per name, the first also the subject's CN (the CA takes the SANs).</summary>
    public static byte[] CertificateSigningRequest(IReadOnlyList<string> names, ECDsa key)
    {
        var request = new CertificateRequest(new X500DistinguishedName($"CN={names[0]}"), key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in names) san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        return request.CreateSigningRequest();
    }

    private async Task AuthorizeAsync(Uri url, CancellationToken ct)
    {
        var (authorization, _) = await client.GetAsync(url, AcmeJson.Default.AcmeAuthorization, ct);
        var name = authorization.Identifier.Value;
        // An authorization still valid from an earlier order is reused by the CA (7.1.4); nothing to prove.
        if (authorization.Status == AcmeStatus.Valid) return;
        if (authorization.Status != AcmeStatus.Pending)
            throw new AcmeProblemException(new AcmeProblem(Detail: $"the authorization for {name} is {Name(authorization.Status)}"), url);
        var challenge = authorization.Challenges.FirstOrDefault(c => c.Type == responder.Type && c.Token is not null)
            ?? throw new AcmeProblemException(new AcmeProblem(Detail: $"the CA offers no {responder.Type} challenge for {name} (offered: {string.Join(", ", authorization.Challenges.Select(c => c.Type))})"), url);
        responder.Publish(challenge.Token!, client.Key.KeyAuthorization(challenge.Token!));
        try
        {
            await client.RespondAsync(challenge, ct);
            authorization = await PollAsync(url, AcmeJson.Default.AcmeAuthorization, a => a.Status == AcmeStatus.Pending, ct);
        }
        finally
        {
            responder.Withdraw(challenge.Token!);
        }
        if (authorization.Status != AcmeStatus.Valid)
        {
            var failed = authorization.Challenges.FirstOrDefault(c => c.Url == challenge.Url)?.Error;
            throw new AcmeProblemException(failed is null
                ? new AcmeProblem(Detail: $"the authorization for {name} is {Name(authorization.Status)}")
                : failed with { Detail = $"{name}: {failed.Detail}" }, url);
        }
        log.LogInformation("ACME: {Name} proved by {Type}", name, responder.Type);
    }

    /// <summary>Asks again while <paramref name="waiting"/>, after the CA's Retry-After (bounded), else 1 s growing to 10 s.</summary>
    private async Task<T> PollAsync<T>(Uri url, JsonTypeInfo<T> type, Func<T, bool> waiting, CancellationToken ct)
    {
        var deadline = _time.GetUtcNow() + PollLimit;
        var delay = TimeSpan.FromSeconds(1);
        while (true)
        {
            var (value, retryAfter) = await client.GetAsync(url, type, ct);
            if (!waiting(value)) return value;
            if (_time.GetUtcNow() > deadline)
                throw new AcmeProblemException(new AcmeProblem(Detail: $"still not done after {PollLimit.TotalMinutes:0} minutes"), url);
            var wait = retryAfter is { } r ? TimeSpan.FromSeconds(Math.Clamp(r.TotalSeconds, 1, 60)) : delay;
            await Task.Delay(wait, _time, ct);
            delay = TimeSpan.FromSeconds(Math.Min(delay.TotalSeconds * 2, 10));
        }
    }

    private static string Name(AcmeStatus status) => status.ToString().ToLowerInvariant();
}
