using System.Net;
using System.Net.Security;
using Mail.Core.Tls;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mail.Host.Http;

/// <summary>
/// The one Kestrel host of `mail serve` (ASP.NET Core's slim builder, only <see cref="RequestDelegate"/> routes: Native
/// AOT safe) for every HTTP endpoint: the web console (Admin:Endpoint), client autoconfiguration and the MTA-STS policy
/// (Autoconfig:Endpoint, Autoconfig:HttpsEndpoint) and the ACME HTTP-01 responder (Tls:Acme:HttpEndpoint). A request
/// reaches only the routes and middleware of the parts its listener (its local address and port) carries: the console's
/// sign-in guard never sees an autoconfig request, and no console page answers on port 80. All routes are in the one
/// route table, each tagged with its part (<see cref="HttpPart"/>); a <see cref="MatcherPolicy"/> drops the candidates of
/// parts the request's listener does not carry, and a part's middleware runs for the requests routed to it (or, when no
/// route matched, for those on a listener that carries it). Parts on the same endpoint share one listener (autoconfig
/// and ACME on port 80 by default). TLS listeners present the
/// mail listeners' certificate, read at each handshake, so a reloaded or renewed one is served without a restart.
/// </summary>
public sealed class HttpHost : IAsyncDisposable
{
    private const int MaxRequestBody = 1024 * 1024;

    /// <summary>The part an endpoint belongs to, in its metadata.</summary>
    private sealed record HttpPart(string Name);

    private sealed class Listener(IPEndPoint endpoint, string setting, ServerCertificate? tls, string part)
    {
        public IPEndPoint Endpoint { get; } = endpoint;
        public string Setting { get; } = setting;
        public ServerCertificate? Tls { get; } = tls;
        public List<string> Parts { get; } = [part];
        /// <summary>The port bound (the system's choice for port 0); 0 before the start.</summary>
        public int Port { get; set; }

        public bool Takes(HttpContext context)
        {
            if (context.Connection.LocalPort != Port) return false;
            if (Endpoint.Address.Equals(IPAddress.Any) || Endpoint.Address.Equals(IPAddress.IPv6Any)) return true;
            var local = context.Connection.LocalIpAddress;
            return local is not null && (local.IsIPv4MappedToIPv6 ? local.MapToIPv4() : local).Equals(Endpoint.Address);
        }
    }

    private readonly List<Listener> _listeners = [];
    private readonly List<(string Part, Action<IEndpointRouteBuilder> Routes, Func<HttpContext, RequestDelegate, Task>? Middleware)> _parts = [];
    private readonly Dictionary<string, Listener> _bySetting = new(StringComparer.Ordinal);
    private WebApplication? _app;

    /// <summary>Whether the listener <paramref name="context"/> came in on carries <paramref name="part"/>.</summary>
    private bool Carries(HttpContext context, string part) => _listeners.Any(l => l.Parts.Contains(part) && l.Takes(context));

    /// <summary>Whether <paramref name="part"/>'s middleware runs for the request: it was routed to the part, or to no
    /// part and came in on a listener that carries it (the console's guard answers an unknown path on its listener).</summary>
    private bool Serves(HttpContext context, string part) =>
        context.GetEndpoint()?.Metadata.GetMetadata<HttpPart>() is { } routed ? routed.Name == part : Carries(context, part);

    /// <summary>Leaves a route a candidate only on a listener that carries its part.</summary>
    private sealed class ListenerPolicy(HttpHost host) : MatcherPolicy, IEndpointSelectorPolicy
    {
        public override int Order => 0;

        public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints) => endpoints.Any(e => e.Metadata.GetMetadata<HttpPart>() is not null);

        public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
        {
            for (var i = 0; i < candidates.Count; i++)
                if (candidates[i].Endpoint.Metadata.GetMetadata<HttpPart>() is { } part && !host.Carries(httpContext, part.Name))
                    candidates.SetValidity(i, false);
            return Task.CompletedTask;
        }
    }

    /// <summary>Adds a part on <paramref name="endpoint"/> (named by <paramref name="setting"/> in errors); with
    /// <paramref name="tls"/> that listener is HTTPS. A part added again (autoconfig on HTTP and HTTPS) is one part on
    /// two listeners; its <paramref name="routes"/> and <paramref name="middleware"/> are those given first.</summary>
    public void Add(string part, IPEndPoint endpoint, string setting, ServerCertificate? tls, Action<IEndpointRouteBuilder> routes,
        Func<HttpContext, RequestDelegate, Task>? middleware = null)
    {
        var shared = _listeners.FirstOrDefault(l => l.Endpoint.Equals(endpoint));
        if (shared is not null && (shared.Tls is null) != (tls is null))
            throw new ConfigurationException($"{setting} {endpoint} is also {shared.Setting}, one with TLS and one without: give them different ports");
        if (shared is null) _listeners.Add(shared = new Listener(endpoint, setting, tls, part));
        else shared.Parts.Add(part);
        _bySetting[setting] = shared;
        if (!_parts.Any(p => p.Part == part)) _parts.Add((part, routes, middleware));
    }

    /// <summary>Where the listener of <paramref name="setting"/> listens once started (the port chosen for port 0).</summary>
    public IPEndPoint? BoundEndpoint(string setting) =>
        _bySetting.TryGetValue(setting, out var l) && l.Port != 0 ? new IPEndPoint(l.Endpoint.Address, l.Port) : null;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = MaxRequestBody;
            foreach (var listener in _listeners)
                k.Listen(listener.Endpoint, l =>
                {
                    if (listener.Tls is { } tls)
                    {
                        l.Protocols = HttpProtocols.Http1;
                        l.UseHttps(new TlsHandshakeCallbackOptions
                        {
                            OnConnection = _ => ValueTask.FromResult(new SslServerAuthenticationOptions { ServerCertificateContext = tls.Context }),
                        });
                    }
                });
        });
        builder.Services.AddSingleton<MatcherPolicy>(new ListenerPolicy(this));
        var app = builder.Build();
        _app = app;
        app.UseRouting();
        foreach (var (part, routes, middleware) in _parts)
        {
            routes(app.MapGroup("").WithMetadata(new HttpPart(part)));
            if (middleware is not null) app.UseWhen(context => Serves(context, part), branch => branch.Use(middleware));
        }
        app.UseEndpoints(_ => { });
        // A request no part of its listener takes (a path of another part): 404, as for any unknown path.
        app.Run(context =>
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch (IOException e)
        {
            // Kestrel's "Failed to bind to address http://ADDR:PORT: ..." names the address: the listener, so the setting.
            var failed = _listeners.FirstOrDefault(l => e.Message.Contains($":{l.Endpoint.Port}", StringComparison.Ordinal)) ?? _listeners[0];
            throw new HostFailureException(ExitCodes.IoError, $"{string.Join("+", failed.Parts)} {failed.Endpoint}", e.InnerException?.Message ?? e.Message, failed.Setting, e);
        }
        // Port 0 (tests): the system's port, from the addresses Kestrel reports, one listener of a scheme at a time.
        var urls = app.Urls.Select(u => new Uri(u)).ToList();
        foreach (var listener in _listeners)
        {
            var scheme = listener.Tls is null ? Uri.UriSchemeHttp : Uri.UriSchemeHttps;
            listener.Port = listener.Endpoint.Port != 0 ? listener.Endpoint.Port
                : urls.Where(u => u.Scheme == scheme).Select(u => u.Port).FirstOrDefault(p => _listeners.All(o => o.Port != p));
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null) await _app.StopAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is null) return;
        await _app.DisposeAsync();
        _app = null;
    }
}
