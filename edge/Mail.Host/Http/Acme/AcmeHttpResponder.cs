using System.Net;
using Mail.Core.Tls.Acme;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Mail.Host.Http.Acme;

/// <summary>
/// RFC 8555 8.3: answers the CA's HTTP-01 validation, GET /.well-known/acme-challenge/TOKEN, with the key
/// authorization (text/plain) while the token's authorization is pending; 404 otherwise. Its own small Kestrel host
/// on "Tls:Acme:HttpEndpoint" (port 80 by default, the port the CA connects to); when that is also
/// "Autoconfig:Endpoint" the autoconfig host carries the route (<see cref="Map"/>) and this one is not started.
/// </summary>
public sealed class AcmeHttpResponder(IPEndPoint endpoint, AcmeHttp01Challenges challenges, ILoggerFactory loggers) : IAsyncDisposable
{
    public const string EndpointSetting = "Tls:Acme:HttpEndpoint";
    private WebApplication? _app;

    public IPEndPoint? BoundEndpoint { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(endpoint);
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = 0;
        });
        builder.Logging.ClearProviders();
        _app = builder.Build();
        Map(_app, challenges, loggers.CreateLogger("Mail.Host.Acme"));
        try
        {
            await _app.StartAsync(cancellationToken);
        }
        catch (IOException e)
        {
            throw new HostFailureException(ExitCodes.IoError, $"ACME HTTP-01 responder {endpoint}", e.InnerException?.Message ?? e.Message, EndpointSetting, e);
        }
        BoundEndpoint = endpoint;
    }

    /// <summary>The challenge route, on any endpoint builder.</summary>
    public static void Map(IEndpointRouteBuilder routes, AcmeHttp01Challenges challenges, ILogger log)
    {
        // A RequestDelegate, not a lambda with parameters: no request delegate generated at run time (Native AOT).
        RequestDelegate answer = context =>
        {
            if (context.Request.RouteValues["token"] is not string token || challenges.Answer(token) is not { } keyAuthorization)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }
            log.LogInformation("ACME: HTTP-01 challenge answered for {Host} to {Client}", context.Request.Host.Host, context.Connection.RemoteIpAddress);
            context.Response.ContentType = "application/octet-stream";
            return context.Response.WriteAsync(keyAuthorization, context.RequestAborted);
        };
        routes.MapGet(AcmeHttp01Challenges.PathPrefix + "{token}", answer);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is null) return;
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
