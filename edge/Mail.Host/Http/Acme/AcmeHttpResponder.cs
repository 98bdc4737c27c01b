using Mail.Core.Tls.Acme;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace Mail.Host.Http.Acme;

/// <summary>
/// RFC 8555 8.3: answers the CA's HTTP-01 validation, GET /.well-known/acme-challenge/TOKEN, with the key
/// authorization (text/plain) while the token's authorization is pending; 404 otherwise. A part of the one HTTP host of
/// `mail serve` (<see cref="HttpHost"/>) on "Tls:Acme:HttpEndpoint" (port 80 by default, the port the CA connects to),
/// sharing the listener with autoconfig when that is "Autoconfig:Endpoint" too.
/// </summary>
public static class AcmeHttpResponder
{
    public const string EndpointSetting = "Tls:Acme:HttpEndpoint";

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
}
