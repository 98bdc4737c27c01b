using System.Globalization;
using System.Net;
using Mail.Dns;
using Microsoft.Extensions.Configuration;

namespace Mail.Configuration;

/// <summary>
/// Section "Dns": which name servers the resolver asks and how patiently.
/// <c>Dns:NameServers</c> is a list of "address" or "address:port" ("[v6]:port"); empty means the system's resolvers.
/// </summary>
public static class DnsSettings
{
    public const string SectionName = "Dns";

    public static DnsResolverOptions Bind(IConfiguration configuration)
    {
        var section = configuration.GetSection(SectionName);
        var servers = new List<IPEndPoint>();
        var i = 0;
        foreach (var child in section.GetSection("NameServers").GetChildren())
        {
            var text = child.Value ?? "";
            if (!IPEndPoint.TryParse(text, out var ep))
                throw new SettingsException($"{SectionName}:NameServers:{i}: '{text}' is not an IP address or address:port");
            if (ep.Port == 0) ep.Port = 53;
            servers.Add(ep);
            i++;
        }
        try
        {
            var defaults = new DnsResolverOptions();
            return new DnsResolverOptions
            {
                NameServers = servers,
                Timeout = TimeSpanSetting(section, "Timeout", defaults.Timeout),
                Retries = IntSetting(section, "Retries", defaults.Retries),
                UseTcpFallback = section.GetValue("UseTcpFallback", defaults.UseTcpFallback),
                UseCache = section.GetValue("UseCache", defaults.UseCache),
                MaximumCacheTtl = TimeSpanSetting(section, "MaximumCacheTtl", defaults.MaximumCacheTtl),
                NegativeCacheTtl = TimeSpanSetting(section, "NegativeCacheTtl", defaults.NegativeCacheTtl),
            };
        }
        catch (InvalidOperationException e)
        {
            throw new SettingsException($"{SectionName}: {e.Message}", e);
        }
    }

    /// <summary>The resolver, validated: a bad value throws naming the setting.</summary>
    public static DnsResolver BuildResolver(IConfiguration configuration, TimeProvider? time = null)
    {
        var options = Bind(configuration);
        try
        {
            return new DnsResolver(options, time);
        }
        catch (ArgumentException e)
        {
            throw new SettingsException($"{SectionName}: {e.Message}", e);
        }
    }

    private static TimeSpan TimeSpanSetting(IConfigurationSection section, string key, TimeSpan fallback)
    {
        var text = section[key];
        if (text is null) return fallback;
        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var t) && t > TimeSpan.Zero
            ? t
            : throw new SettingsException($"{section.Path}:{key}: '{text}' is not a positive time span (hh:mm:ss)");
    }

    private static int IntSetting(IConfigurationSection section, string key, int fallback)
    {
        var text = section[key];
        if (text is null) return fallback;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw new SettingsException($"{section.Path}:{key}: '{text}' is not a whole number");
    }
}
