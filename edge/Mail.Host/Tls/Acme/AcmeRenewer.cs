using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Mail.Core.Accounts;
using Mail.Core.Ports;
using Mail.Core.Tls.Acme;
using Microsoft.Extensions.Logging;

namespace Mail.Host.Tls.Acme;

/// <summary>
/// Keeps a certificate from the ACME CA: obtains one when there is none or it does not cover every name, renews it
/// when it is due (<see cref="AcmeSettings.RenewBefore"/>, else at 2/3 of its lifetime), stores it and hands it to
/// the <see cref="CertificateReloader"/>, so the next SMTP and IMAP handshake presents it. A failure is one warning
/// with the CA's reason; the certificate in use keeps serving and the attempt is repeated after a growing wait.
/// </summary>
public sealed class AcmeRenewer(AcmeSettings settings, AcmeCertificateSource source, CertificateReloader reloader, ISecretStore secrets,
    AcmeHttp01Challenges challenges, Func<CancellationToken, Task<IReadOnlyList<string>>> defaultNames, ILogger log, TimeProvider? time = null)
{
    /// <summary>How often the names and the certificate are looked at again when nothing is due sooner.</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromHours(1);
    private static readonly TimeSpan MaxRetryInterval = TimeSpan.FromHours(12);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private AcmeIssuer? _issuer;

    public AcmeHttp01Challenges Challenges => challenges;

    public AcmeSettings Settings => settings;

    public async Task RunAsync(CancellationToken ct)
    {
        var failures = 0;
        while (!ct.IsCancellationRequested)
        {
            TimeSpan wait;
            try
            {
                wait = await StepAsync(ct);
                failures = 0;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Deliberately broad: whatever failed (the CA's problem, the network, a bad answer), mail goes on
                // with the certificate it has.
                wait = TimeSpan.FromTicks(Math.Min(MaxRetryInterval.Ticks, settings.RetryInterval.Ticks * (1L << Math.Min(failures, 20))));
                failures++;
                log.LogWarning("ACME: no certificate from {Directory}: {Reason}; the certificate in use is kept, next attempt in {Wait} (check Tls:Acme)",
                    settings.Directory, Reason(e), wait);
            }
            try
            {
                await Task.Delay(wait, _time, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Obtains a certificate when one is due; returns how long to wait before looking again.</summary>
    public async Task<TimeSpan> StepAsync(CancellationToken ct)
    {
        var names = settings.Names ?? await defaultNames(ct);
        if (names.Count == 0)
            throw new InvalidOperationException("no host name to ask a certificate for: Smtp:HostName is not a public DNS name; set Tls:Acme:Names");
        using var stored = await source.ReadPemAsync(ct) is { } pem ? X509Certificate2.CreateFromPem(pem) : null;
        var (due, reason) = Due(stored, names);
        var now = _time.GetUtcNow();
        if (due > now) return due - now < CheckInterval ? due - now : CheckInterval;

        log.LogInformation("ACME: asking {Directory} for a certificate for {Names} ({Reason})", settings.Directory, string.Join(", ", names), reason);
        // The issuer (kept for the renewer's lifetime, one per process) owns the ACME client and its HttpClient.
#pragma warning disable CA2000
        _issuer ??= new AcmeIssuer(new AcmeClient(HttpClientFor(settings), settings.Directory, await AcmeAccountKey.LoadOrCreateAsync(secrets, ct)), challenges, log, _time);
#pragma warning restore CA2000
        var obtained = await _issuer.ObtainAsync(names, settings.Email, ct);
        await source.StoreAsync(obtained, ct);
        using var leaf = X509Certificate2.CreateFromPem(obtained);
        log.LogInformation("ACME: certificate obtained for {Names}: serial {Serial}, issuer {Issuer}, valid until {NotAfter:u}, renewal due {Due:u}",
            string.Join(", ", names), leaf.SerialNumber, leaf.Issuer, leaf.NotAfter.ToUniversalTime(), Due(leaf, names).Due);
        await reloader.CheckAsync(ct);
        return TimeSpan.Zero;
    }

    /// <summary>When the certificate should be replaced, and why.</summary>
    public (DateTimeOffset Due, string Reason) Due(X509Certificate2? certificate, IReadOnlyList<string> names)
    {
        if (certificate is null) return (DateTimeOffset.MinValue, "none yet");
        var covered = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames())
            .Select(n => n.ToLowerInvariant()).ToHashSet(StringComparer.Ordinal);
        var missing = names.Where(n => !covered.Contains(n)).ToList();
        if (missing.Count > 0) return (DateTimeOffset.MinValue, $"the one kept does not cover {string.Join(", ", missing)}");
        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
        var notBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime());
        // Let's Encrypt's advice: renew with a third of the lifetime left (30 days of 90).
        var due = notAfter - (settings.RenewBefore ?? (notAfter - notBefore) / 3);
        return (due, $"the one kept, serial {certificate.SerialNumber}, expires {notAfter:u}");
    }

    private static string Reason(Exception e) =>
        (e is HttpRequestException { InnerException: { } inner } ? $"{e.Message} {inner.Message}" : e.Message).ReplaceLineEndings(" ");

    /// <summary>RFC 8555 6.1: HTTPS to the CA, with a User-Agent; checked against Tls:Acme:DirectoryCaPath when set.</summary>
    private static HttpClient HttpClientFor(AcmeSettings settings)
    {
        // The returned HttpClient owns the handler (disposeHandler defaults to true).
#pragma warning disable CA2000
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
#pragma warning restore CA2000
        if (settings.DirectoryRoots is { } roots)
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0) return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
            };
        var http = new HttpClient(handler) { Timeout = TimeSpan.FromMinutes(1) };
        http.DefaultRequestHeaders.UserAgent.ParseAdd("mail-acme/1");
        return http;
    }

    /// <summary>The names asked for by default: Smtp:HostName, and autoconfig.DOMAIN for every local domain when
    /// Autoconfig:Endpoint is set (Thunderbird asks that name over HTTPS first).</summary>
    /// <param name="mtaSts">Autoconfig:HttpsEndpoint is set: it serves the MTA-STS policy, so mta-sts.DOMAIN too (a
    /// sender refuses a policy whose certificate does not name that host).</param>
    public static Func<CancellationToken, Task<IReadOnlyList<string>>> DefaultNames(string hostName, MailDirectory directory, bool autoconfig, bool mtaSts = false) =>
        async ct =>
        {
            var names = new List<string>();
            var host = hostName.Trim().TrimEnd('.').ToLowerInvariant();
            if (AcmeSettings.IsHostName(host)) names.Add(host);
            if (!autoconfig && !mtaSts) return names;
            foreach (var domain in await directory.ListDomainsAsync(ct))
            {
                if (autoconfig && $"autoconfig.{domain}" is var name && AcmeSettings.IsHostName(name) && !names.Contains(name)) names.Add(name);
                if (mtaSts && $"mta-sts.{domain}" is var sts && AcmeSettings.IsHostName(sts) && !names.Contains(sts)) names.Add(sts);
            }
            return names;
        };
}
