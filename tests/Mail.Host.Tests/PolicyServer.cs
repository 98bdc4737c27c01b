using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Mail.Host.Tests;

/// <summary>https://mta-sts.DOMAIN:PORT/.well-known/mta-sts.txt on loopback (Kestrel), serving <see cref="Policy"/>.</summary>
internal sealed class PolicyServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;
    private bool _disposed;

    private PolicyServer(WebApplication app, string policy) => (_app, Policy) = (app, policy);

    public volatile string Policy;

    public int Port { get; private set; }

    public int Requests => Volatile.Read(ref _requests);

    /// <summary>The Host header of each request.</summary>
    public ConcurrentQueue<string> Hosts { get; } = new();

    public static async Task<PolicyServer> StartAsync(X509Certificate2 certificate, string policy)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.UseHttps(certificate)));
        var app = builder.Build();
        var server = new PolicyServer(app, policy);
        app.MapGet("/.well-known/mta-sts.txt", (HttpContext context) =>
        {
            Interlocked.Increment(ref server._requests);
            server.Hosts.Enqueue(context.Request.Host.Host);
            return Results.Text(server.Policy, "text/plain; charset=utf-8");
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        server.Port = new Uri(address).Port;
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
