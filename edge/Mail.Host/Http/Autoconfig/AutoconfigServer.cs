using Mail.Admin.Dns;
using Mail.Core.Accounts;
using Mail.Outbound.Tls.MtaSts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Mail.Host.Http.Autoconfig;

/// <summary>
/// The HTTP endpoints of client autoconfiguration ("Autoconfig:Endpoint", "Autoconfig:HttpsEndpoint", off by default),
/// plain <see cref="RequestDelegate"/> routes (Native AOT safe) serving
/// <list type="bullet">
/// <item><c>GET /.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=ADDRESS</c> and
/// <c>GET /mail/config-v1.1.xml</c> (what Thunderbird asks <c>autoconfig.DOMAIN</c>): the domain from the address,
/// else from the Host header (<c>autoconfig.DOMAIN</c> or DOMAIN);</item>
/// <item><c>POST /autodiscover/autodiscover.xml</c> (Outlook's POX, also at <c>autodiscover.DOMAIN</c>);</item>
/// <item><c>GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt</c>, the MTA-STS policy (RFC 8461 3.2), over HTTPS only,
/// on "Autoconfig:HttpsEndpoint" with the mail listeners' certificate.</item>
/// </list>
/// A domain we do not serve is 404, so the endpoint tells nobody which other domains exist. A part of the one HTTP host
/// of `mail serve` (<see cref="HttpHost"/>).
/// </summary>
public static class AutoconfigServer
{
    public const string EndpointSetting = "Autoconfig:Endpoint";
    public const string HttpsEndpointSetting = "Autoconfig:HttpsEndpoint";
    private const int MaxRequestBody = 16 * 1024;

    /// <summary>The part's middleware: an autodiscover request is a few hundred bytes, and nothing here takes more.</summary>
    public static Task LimitBodyAsync(HttpContext context, RequestDelegate next)
    {
        if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = MaxRequestBody;
        return next(context);
    }

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
}
