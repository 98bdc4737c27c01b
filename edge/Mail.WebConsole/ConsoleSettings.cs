using System.Globalization;
using System.Net;
using Mail.Configuration;
using Mail.Core.Tls;
using Microsoft.Extensions.Configuration;

namespace Mail.WebConsole;

/// <summary>Reads the "Admin" section. A wrong value is one line naming the setting (<see cref="SettingsException"/>).</summary>
public static class ConsoleSettings
{
    /// <summary>The console's options, or null when Admin:Endpoint is not set (the console is off).</summary>
    public static ConsoleOptions? Load(IConfiguration configuration, ServerCertificate? certificate)
    {
        if (EndpointSetting.Read(configuration, ConsoleOptions.EndpointSetting, "127.0.0.1:8080") is not { } endpoint) return null;
        var options = new ConsoleOptions
        {
            Endpoint = endpoint,
            Certificate = certificate,
            MaxFailedLogins = Int(configuration, "Admin:MaxFailedLogins", 5),
            FailedLoginWindow = Span(configuration, "Admin:FailedLoginWindow", TimeSpan.FromMinutes(15)),
            SessionIdle = Span(configuration, "Admin:SessionIdle", TimeSpan.FromMinutes(30)),
        };
        if (options.UsesTls && certificate is null)
            throw new SettingsException($"{ConsoleOptions.EndpointSetting} {endpoint} is not loopback, so the console is served over TLS, and no certificate is configured");
        return options;
    }

    private static int Int(IConfiguration c, string key, int fallback)
    {
        var v = c[key];
        if (string.IsNullOrWhiteSpace(v)) return fallback;
        return int.TryParse(v.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1
            ? n : throw new SettingsException($"{key} '{v}' is not a whole number of at least 1");
    }

    private static TimeSpan Span(IConfiguration c, string key, TimeSpan fallback)
    {
        var v = c[key];
        if (string.IsNullOrWhiteSpace(v)) return fallback;
        return TimeSpan.TryParse(v.Trim(), CultureInfo.InvariantCulture, out var t) && t > TimeSpan.Zero
            ? t : throw new SettingsException($"{key} '{v}' is not a positive time span (hh:mm:ss)");
    }
}
