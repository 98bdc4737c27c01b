using System.Net;
using Mail.Core.Accounts;
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
/// <item><c>POST /autodiscover/autodiscover.xml</c> (Outlook's POX, also at <c>autodiscover.DOMAIN</c>).</item>
/// </list>
/// A domain we do not serve is 404, so the endpoint tells nobody which other domains exist. The routes are mapped by
/// <see cref="Map"/> so another host (the web console's) can carry them too.
/// </summary>
public sealed class AutoconfigServer(IPEndPoint endpoint, AutoconfigDocuments documents, MailDirectory directory, ILoggerFactory loggers) : IAsyncDisposable
{
    public const string EndpointSetting = "Autoconfig:Endpoint";
    private const int MaxRequestBody = 16 * 1024;
    private WebApplication? _app;

    /// <summary>More routes on the same host (the ACME HTTP-01 responder when it shares the endpoint).</summary>
    public Action<IEndpointRouteBuilder>? AlsoMap { get; init; }

    /// <summary>Where it listens once started (the port the system chose for port 0).</summary>
    public IPEndPoint? BoundEndpoint { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(endpoint);
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = MaxRequestBody;
        });
        builder.Logging.ClearProviders();
        _app = builder.Build();
        Map(_app, documents, directory, loggers.CreateLogger("Mail.Host.Autoconfig"));
        AlsoMap?.Invoke(_app);
        try
        {
            await _app.StartAsync(cancellationToken);
        }
        catch (IOException e)
        {
            throw new HostFailureException(ExitCodes.IoError, $"autoconfig {endpoint}", e.InnerException?.Message ?? e.Message, EndpointSetting, e);
        }
        BoundEndpoint = _app.Urls.Select(u => new Uri(u)).Select(u => new IPEndPoint(endpoint.Address, u.Port)).FirstOrDefault() ?? endpoint;
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
