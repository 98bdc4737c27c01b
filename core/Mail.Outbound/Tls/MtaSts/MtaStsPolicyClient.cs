using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Mail.Core.Ports;

namespace Mail.Outbound.Tls.MtaSts;

/// <summary>Why a policy could not be fetched (one line, for the log).</summary>
public sealed class MtaStsFetchException(string message) : Exception(message);

/// <summary>
/// Fetches https://mta-sts.DOMAIN/.well-known/mta-sts.txt as RFC 8461 3.3 says: HTTPS with a certificate valid for
/// mta-sts.DOMAIN that chains to a trusted root (<see cref="TrustRoots"/>), status 200 only (redirects are not
/// followed), media type text/plain, at most 64 KiB, within <see cref="MtaStsOptions.FetchTimeout"/>. The host name is
/// resolved through the project's <see cref="IDnsResolver"/> (the same DNS as MX routing), not the system's.
/// </summary>
public sealed class MtaStsPolicyClient : IDisposable
{
    /// <summary>RFC 8461 3.3: senders may limit the policy body; 64 KiB is the RFC's suggestion.</summary>
    public const int MaxPolicyBytes = 64 * 1024;

    public const string WellKnownPath = "/.well-known/mta-sts.txt";

    private readonly IDnsResolver _dns;
    private readonly MtaStsOptions _options;
    private readonly TrustRoots _trust;
    private readonly HttpClient _http;
    // The TLS callback can only say yes or no; why it said no is kept here per host for the fetch's failure text.
    private readonly ConcurrentDictionary<string, string> _certificateProblems = new(StringComparer.OrdinalIgnoreCase);

    public MtaStsPolicyClient(IDnsResolver dns, MtaStsOptions options, TrustRoots trust)
    {
        (_dns, _options, _trust) = (dns, options, trust);
        // The HttpClient owns the handler (disposeHandler defaults to true) and Dispose disposes the client.
#pragma warning disable CA2000
        var handler = new SocketsHttpHandler
#pragma warning restore CA2000
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            ConnectCallback = ConnectAsync,
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = ValidateCertificate },
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public static Uri PolicyUri(string domain, int port) => new UriBuilder(Uri.UriSchemeHttps, "mta-sts." + domain, port, WellKnownPath).Uri;

    public async Task<MtaStsPolicy> FetchAsync(string domain, CancellationToken cancellationToken)
    {
        var uri = PolicyUri(domain, _options.PolicyPort);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.FetchTimeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            if ((int)response.StatusCode is >= 300 and < 400)
                throw new MtaStsFetchException($"{uri} answered {(int)response.StatusCode} (redirect to {response.Headers.Location}); RFC 8461 3.3 forbids following it");
            if (response.StatusCode != HttpStatusCode.OK) throw new MtaStsFetchException($"{uri} answered {(int)response.StatusCode} {response.ReasonPhrase}");
            if (response.Content.Headers.ContentType is not { MediaType: "text/plain" })
                throw new MtaStsFetchException($"{uri} is {response.Content.Headers.ContentType?.MediaType ?? "without a media type"}, not text/plain");
            var body = await ReadLimitedAsync(response.Content, uri, timeout.Token);
            try
            {
                return MtaStsPolicy.Parse(body);
            }
            catch (MtaStsPolicyException e)
            {
                throw new MtaStsFetchException($"{uri} is not a valid policy: {e.Message}");
            }
        }
        catch (HttpRequestException e)
        {
            var problem = _certificateProblems.TryRemove(uri.Host, out var p) ? p : Flatten(e);
            throw new MtaStsFetchException($"{uri}: {problem}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new MtaStsFetchException($"{uri}: no complete answer within {_options.FetchTimeout.TotalSeconds:0} s (Outbound:MtaSts:FetchTimeout)");
        }
    }

    private static async Task<string> ReadLimitedAsync(HttpContent content, Uri uri, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > MaxPolicyBytes) throw new MtaStsFetchException($"{uri} is {content.Headers.ContentLength} bytes, over the {MaxPolicyBytes}-byte limit");
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[MaxPolicyBytes + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0) length += read;
        if (length > MaxPolicyBytes) throw new MtaStsFetchException($"{uri} is over the {MaxPolicyBytes}-byte limit");
        return Encoding.UTF8.GetString(buffer, 0, length);
    }

    private bool ValidateCertificate(object sender, System.Security.Cryptography.X509Certificates.X509Certificate? certificate,
        System.Security.Cryptography.X509Certificates.X509Chain? chain, SslPolicyErrors errors)
    {
        var host = ((SslStream)sender).TargetHostName;
        var problem = _trust.Verify(certificate, chain, errors, host);
        if (problem is null) return true;
        _certificateProblems[host] = problem;
        return false;
    }

    /// <summary>Connects to mta-sts.DOMAIN's addresses from our DNS, IPv6 first.</summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var six = await _dns.AaaaAsync(host, cancellationToken);
        var four = await _dns.AAsync(host, cancellationToken);
        var addresses = six.Records.Concat(four.Records).ToList();
        if (addresses.Count == 0)
            throw new HttpRequestException($"no address for {host} ({(six.Status == Mail.Core.Ports.DnsStatus.Failed ? six.Error : four.Error ?? four.Status.ToString())})");
        SocketException? last = null;
        foreach (var address in addresses)
        {
            // The NetworkStream owns the socket once returned (ownsSocket); a failed connect disposes it below.
#pragma warning disable CA2000
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
#pragma warning restore CA2000
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
        }
        throw new HttpRequestException($"connect to {host}:{context.DnsEndPoint.Port}: {last!.Message}", last);
    }

    private static string Flatten(Exception e)
    {
        var parts = new List<string>();
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (!parts.Contains(x.Message)) parts.Add(x.Message);
        return string.Join(": ", parts);
    }

    public void Dispose() => _http.Dispose();
}
