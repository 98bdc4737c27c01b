using System.Net;
using Microsoft.Extensions.Configuration;

namespace Mail.Configuration;

/// <summary>An "addr:port" setting of an optional listener (Metrics:Endpoint, Admin:Endpoint, Autoconfig:Endpoint):
/// unset is off; anything but an address with a port is one line naming the setting.</summary>
public static class EndpointSetting
{
    public static IPEndPoint? Read(IConfiguration configuration, string setting, string example)
    {
        var value = configuration[setting];
        if (string.IsNullOrWhiteSpace(value)) return null;
        if (!IPEndPoint.TryParse(value.Trim(), out var endpoint) || endpoint.Port == 0 || !value.Contains(':', StringComparison.Ordinal))
            throw new SettingsException($"{setting} '{value}' is not an address and port, e.g. {example}");
        return endpoint;
    }
}
