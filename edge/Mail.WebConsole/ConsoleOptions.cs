using System.Net;
using Mail.Core.Tls;

namespace Mail.WebConsole;

/// <summary>The "Admin" section: where the console listens and how sign-in is limited.</summary>
public sealed class ConsoleOptions
{
    public const string EndpointSetting = "Admin:Endpoint";

    /// <summary>Admin:Endpoint (addr:port); the console is off when it is not set.</summary>
    public required IPEndPoint Endpoint { get; init; }

    /// <summary>Served over TLS with this certificate when the endpoint is not loopback (the mail listeners' certificate).</summary>
    public ServerCertificate? Certificate { get; init; }

    /// <summary>Failed sign-ins per client address or user within <see cref="FailedLoginWindow"/> before sign-in is refused.</summary>
    public int MaxFailedLogins { get; init; } = 5;

    public TimeSpan FailedLoginWindow { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>How long a session lasts without a request.</summary>
    public TimeSpan SessionIdle { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>TLS is used for any address but loopback: a password never crosses a network in clear.</summary>
    public bool UsesTls => !IPAddress.IsLoopback(Endpoint.Address);
}
