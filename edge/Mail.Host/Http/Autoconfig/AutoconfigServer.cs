using System.Net;
using System.Net.Security;
using Mail.Admin.Dns;
using Mail.Core.Accounts;
using Mail.Core.Tls;
using Mail.Outbound.Tls.MtaSts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Mail.Host.Http.Autoconfig;

/// <summary>
/// The HTTP endpoint of client autoconfiguration ("Autoconfig:Endpoint", off by default): a small Kestrel host
/// (ASP.NET Core minimal API, slim builder, no reflection: Native AOT safe) serving
/// <list type="bullet">
/// <item><c>GET /.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=ADDRESS</c> and
/// <c>GET /mail/config-v1.1.xml</c> (what Thunderbird asks <c>autoconfig.DOMAIN</c>): the domain from the address,
/// else from the Host header (<c>autoconfig.DOMAIN</c> or DOMAIN);</item>
/// <item><c>POST /autodiscover/autodiscover.xml</c> (Outlook's POX, also at <c>autodiscover.DOMAIN</c>);</item>
/// <item><c>GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt</c>, the MTA-STS policy (RFC 8461 3.2), over HTTPS only,
/// on "Autoconfig:HttpsEndpoint" with the mail listeners' certificate.</item>
/// </list>
/// A domain we do not serve is 404, so the endpoint tells nobody which other domains exist. The routes are mapped by
/// <see cref="Map"/> so another host (the web console's) can carry them too.
/// </summary>
/// <param name="endpoint">Autoconfig:Endpoint (plain HTTP); null: HTTPS only.</param>
public sealed class AutoconfigServer(IPEndPoint? endpoint, AutoconfigDocuments documents, MailDirectory directory, ILoggerFactory loggers) : IAsyncDisposable
{
    public const string EndpointSetting = "Autoconfig:Endpoint";
    public const string HttpsEndpointSetting = "Autoconfig:HttpsEndpoint";
    private const int MaxRequestBody = 16 * 1024;
    private WebApplication? _app;

    /// <summary>More routes on the same host (the ACME HTTP-01 responder when it shares the endpoint).</summary>
    public Action<IEndpointRouteBuilder>? AlsoMap { get; init; }

    /// <summary>Autoconfig:HttpsEndpoint: the same routes over HTTPS, and the MTA-STS policy.</summary>
    public IPEndPoint? HttpsEndpoint { get; init; }

    /// <summary>The HTTPS listener's certificate (the mail listeners' one, read at each handshake: a renewal needs no restart).</summary>
    public ServerCertificate? Certificate { get; init; }

    /// <summary>The MTA-STS policies served on the HTTPS listener; null serves none.</summary>
    public MtaStsPublication? MtaSts { get; init; }

    /// <summary>Where it listens once started (the port the system chose for port 0).</summary>
    public IPEndPoint? BoundEndpoint { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        if (HttpsEndpoint is not null && Certificate is null)
            throw new HostFailureException(ExitCodes.Config, $"autoconfig {HttpsEndpoint}", "HTTPS needs a certificate and none is configured", HttpsEndpointSetting, null);
        builder.WebHost.ConfigureKestrel(k =>
        {
            if (endpoint is not null) k.Listen(endpoint);
            if (HttpsEndpoint is { } https)
                k.Listen(https, l =>
                {
                    l.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1;
                    // The context carries the chain; read at each handshake, so a reloaded or renewed certificate is served at once.
                    l.UseHttps(new Microsoft.AspNetCore.Server.Kestrel.Https.TlsHandshakeCallbackOptions
                    {
                        OnConnection = _ => ValueTask.FromResult(new SslServerAuthenticationOptions { ServerCertificateContext = Certificate!.Context }),
                    });
                });
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = MaxRequestBody;
        });
        builder.Logging.ClearProviders();
        _app = builder.Build();
        Map(_app, documents, directory, loggers.CreateLogger("Mail.Host.Autoconfig"));
        if (MtaSts is not null) MapMtaSts(_app, MtaSts, directory, loggers.CreateLogger("Mail.Host.MtaSts"));
        AlsoMap?.Invoke(_app);
        try
        {
            await _app.StartAsync(cancellationToken);
        }
        catch (IOException e)
        {
            throw new HostFailureException(ExitCodes.IoError, $"autoconfig {endpoint?.ToString() ?? HttpsEndpoint?.ToString()}", e.InnerException?.Message ?? e.Message,
                endpoint is null ? HttpsEndpointSetting : $"{EndpointSetting}, {HttpsEndpointSetting}", e);
        }
        var urls = _app.Urls.Select(u => new Uri(u)).ToList();
        BoundEndpoint = endpoint is null ? null : urls.Where(u => u.Scheme == Uri.UriSchemeHttp).Select(u => new IPEndPoint(endpoint.Address, u.Port)).FirstOrDefault() ?? endpoint;
        HttpsBoundEndpoint = HttpsEndpoint is not { } h ? null : urls.Where(u => u.Scheme == Uri.UriSchemeHttps).Select(u => new IPEndPoint(h.Address, u.Port)).FirstOrDefault() ?? h;
    }

    /// <summary>Where the HTTPS listener listens once started.</summary>
    public IPEndPoint? HttpsBoundEndpoint { get; private set; }

    /// <summary>
    /// RFC 8461 3.2: the policy of DOMAIN at https://mta-sts.DOMAIN/.well-known/mta-sts.txt, text/plain. Only over
    /// HTTPS (a sender never asks over HTTP), only for the mta-sts name of a domain we serve; anything else is 404.
    /// </summary>
    public static void MapMtaSts(IEndpointRouteBuilder routes, MtaStsPublication policies, MailDirectory directory, ILogger log)
    {
        routes.MapGet(MtaStsPolicyClient.WellKnownPath, async context =>
        {
            const string prefix = "mta-sts.";
            var host = context.Request.Host.Host.TrimEnd('.').ToLowerInvariant();
            var domain = host.StartsWith(prefix, StringComparison.Ordinal) ? host[prefix.Length..] : null;
            if (!context.Request.IsHttps || domain is null || !await directory.IsLocalDomainAsync(domain, context.RequestAborted))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            log.LogInformation("MTA-STS policy of {Domain} to {Client}", domain, context.Connection.RemoteIpAddress);
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync(policies.For(domain).ToText(), context.RequestAborted);
        });
    }

    /// <summary>The autoconfig and autodiscover routes, on any endpoint builder.</summary>
    public static void Map(IEndpointRouteBuilder routes, AutoconfigDocuments documents, MailDirectory directory, ILogger log)
    {
        RequestDelegate thunderbird = async context =>
        {
            var request = context.Request;
            var domain = request.Query["emailaddress"].ToString() is { Length: > 0 } address
                ? DomainOf(address)
                : HostDomain(request.Host.Host);
            if (domain is null || !await directory.IsLocalDomainAsync(domain, context.RequestAborted))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            log.LogInformation("autoconfig for {Domain} to {Client}", domain, context.Connection.RemoteIpAddress);
            await Xml(context, documents.Thunderbird(domain));
        };
        routes.MapGet("/.well-known/autoconfig/mail/config-v1.1.xml", thunderbird);
        routes.MapGet("/mail/config-v1.1.xml", thunderbird);
        routes.MapPost("/autodiscover/autodiscover.xml", async context =>
        {
            string? address;
            try
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body, context.RequestAborted);
                body.Position = 0;
                address = AutoconfigDocuments.RequestedAddress(body);
            }
            catch (BadHttpRequestException)
            {
                context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                return;
            }
            if (address is null || DomainOf(address) is not { } domain)
            {
                context.Response.StatusCode = StatusCodes.Status400BadRequest;
                return;
            }
            if (!await directory.IsLocalDomainAsync(domain, context.RequestAborted))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            log.LogInformation("autodiscover for {Domain} to {Client}", domain, context.Connection.RemoteIpAddress);
            await Xml(context, documents.Autodiscover(address));
        });
    }

    private static Task Xml(HttpContext context, string text)
    {
        context.Response.ContentType = AutoconfigDocuments.ContentType;
        context.Response.Headers.CacheControl = "max-age=3600";
        return context.Response.WriteAsync(text, context.RequestAborted);
    }

    /// <summary>The domain of local@domain, lower case; null when it is not an address.</summary>
    private static string? DomainOf(string address) =>
        MailDirectory.Canonical(address) is { } canonical ? canonical[(canonical.LastIndexOf('@') + 1)..] : null;

    /// <summary>The domain a Host header names: autoconfig.DOMAIN / autodiscover.DOMAIN, or DOMAIN itself.</summary>
    private static string? HostDomain(string host)
    {
        if (string.IsNullOrEmpty(host)) return null;
        host = host.TrimEnd('.').ToLowerInvariant();
        foreach (var prefix in new[] { "autoconfig.", "autodiscover." })
            if (host.StartsWith(prefix, StringComparison.Ordinal)) return host[prefix.Length..];
        return host;
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is null) return;
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
