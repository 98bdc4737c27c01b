using System.Globalization;
using Mail.Admin.Dns;
using Mail.Outbound.Tls.MtaSts;
using Microsoft.Extensions.Configuration;

namespace Mail.Host.Http.Autoconfig;

/// <summary>
/// The "MtaSts" section: the policy `mail serve` publishes for every domain ("MtaSts:Mode" testing|enforce|none,
/// "MtaSts:MaxAge" seconds, "MtaSts:Mx:N" the MX patterns, our Smtp:HostName by default) and a domain's own
/// ("MtaSts:Domains:DOMAIN:Mode|MaxAge|Mx:N", each falling back to the first). Each policy is checked by the
/// outbound stage's own parser, so we never serve a policy a sender would refuse.
/// </summary>
public static class MtaStsSettings
{
    public const string Section = "MtaSts";

    public static MtaStsPublication Load(IConfiguration configuration, string mxHost)
    {
        var section = configuration.GetSection(Section);
        var fallback = Policy(section, Section, MtaStsPublication.Default(mxHost).For(""));
        var domains = new Dictionary<string, MtaStsPolicy>(StringComparer.OrdinalIgnoreCase);
        foreach (var domain in section.GetSection("Domains").GetChildren())
            domains[domain.Key.Trim().TrimEnd('.')] = Policy(domain, $"{Section}:Domains:{domain.Key}", fallback);
        return new MtaStsPublication(fallback, domains);
    }

    private static MtaStsPolicy Policy(IConfigurationSection section, string name, MtaStsPolicy fallback)
    {
        var mode = section["Mode"] is { Length: > 0 } m ? m.Trim().ToLowerInvariant() : fallback.Mode.ToString().ToLowerInvariant();
        var maxAge = section["MaxAge"] is { Length: > 0 } a ? a.Trim() : ((long)fallback.MaxAge.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        var mx = section.GetSection("Mx").GetChildren().Select(c => c.Value?.Trim() ?? "").Where(v => v.Length > 0).ToList();
        if (mx.Count == 0 && section["Mx"] is { Length: > 0 } one) mx.Add(one.Trim());
        if (mx.Count == 0) mx.AddRange(fallback.Mx);
        var text = $"version: STSv1\nmode: {mode}\n{string.Concat(mx.Select(x => $"mx: {x}\n"))}max_age: {maxAge}\n";
        try
        {
            // The parser caps a longer max_age silently (as a sender must); a setting past the cap is a mistake to name.
            if (long.TryParse(maxAge, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds > MtaStsPolicy.MaxMaxAgeSeconds)
                throw new MtaStsPolicyException($"max_age {maxAge} is more than {MtaStsPolicy.MaxMaxAgeSeconds} seconds");
            return MtaStsPolicy.Parse(text);
        }
        catch (MtaStsPolicyException e)
        {
            throw new ConfigurationException($"{name}: {e.Message} (Mode testing|enforce|none, MaxAge seconds, Mx host names)");
        }
    }
}
