using Mail.Auth;
using Mail.Auth.Dmarc;
using Mail.Core.Ports;
using Mail.Defences;
using Mail.Core.InboundChecks;
using Microsoft.Extensions.Configuration;

namespace Mail.Configuration;

/// <summary>
/// The inbound stage's checks, in the order they must run:
/// sender authentication (SPF, DKIM, ARC, DMARC; section "Authentication"), then header and body checks
/// (section "Defences", when configured), then the spam score, which reads everything before it (last).
/// </summary>
public static class InboundChecks
{
    public static IReadOnlyList<IInboundCheck> Build(IConfiguration configuration, IDnsResolver dns, IStateStore state, string defaultAuthServId, TimeProvider? time = null)
    {
        return [BuildAuthentication(configuration, dns, state, defaultAuthServId, time), .. BuildContentChecks(configuration)];
    }

    /// <summary>The checks after sender authentication (section "Defences"; none without it): header/body checks,
    /// the edge's access-table effects, then the spam score.</summary>
    public static IReadOnlyList<IInboundCheck> BuildContentChecks(IConfiguration configuration)
    {
        var checks = new List<IInboundCheck>();
        if (DefencesSection(configuration) is not { } defences) return checks;
        if (Wrap(defences.BuildContentChecks) is { } content) checks.Add(content);
        // HOLD / DISCARD / PREPEND decided by access tables or policy servers at the edge travel in the envelope.
        checks.Add(new Mail.Defences.SmtpEdge.EdgeDecisionsCheck());
        if (Wrap(defences.BuildSpamScoreCheck) is { } score) checks.Add(score);
        return checks;
    }

    public static AuthenticationCheck BuildAuthentication(IConfiguration configuration, IDnsResolver dns, IStateStore state, string defaultAuthServId, TimeProvider? time = null)
    {
        var options = AuthenticationSection(configuration, defaultAuthServId);
        try
        {
            return new AuthenticationCheck(dns, options, time: time, reports: new DmarcReportStore(state));
        }
        catch (ArgumentException e)
        {
            throw new SettingsException($"Authentication: {e.Message}", e);
        }
    }

    /// <summary>The "Authentication" section, with the defaults that depend on the rest of the configuration.</summary>
    public static AuthenticationOptions AuthenticationSection(IConfiguration configuration, string defaultAuthServId)
    {
        AuthenticationOptions options;
        try
        {
            options = configuration.GetSection("Authentication").Get<AuthenticationOptions>() ?? new AuthenticationOptions();
        }
        catch (InvalidOperationException e)
        {
            throw new SettingsException($"Authentication: {e.Message}", e);
        }
        // The authserv-id names this receiving system in Authentication-Results; by default, our host name.
        if (string.IsNullOrEmpty(options.AuthServId)) options.AuthServId = defaultAuthServId;
        // Without an explicit list, a copy fetched by `mail psl refresh` into the data directory beats the shipped one.
        if (string.IsNullOrEmpty(options.PublicSuffixListPath)
            && configuration["DataDirectory"] is { Length: > 0 } dataDirectory
            && Path.Combine(dataDirectory, "public_suffix_list.dat") is var refreshed && File.Exists(refreshed))
            options.PublicSuffixListPath = refreshed;
        return options;
    }

    /// <summary>The "Defences" section, or null when absent.</summary>
    public static DefencesSettings? DefencesSection(IConfiguration configuration)
    {
        var section = configuration.GetSection(DefencesSettings.SectionName);
        if (!section.Exists()) return null;
        try
        {
            return section.Get<DefencesSettings>();
        }
        catch (InvalidOperationException e)
        {
            throw new SettingsException($"{DefencesSettings.SectionName}: {e.Message}", e);
        }
    }

    /// <summary>Runs a Defences builder, turning its configuration errors (which name the setting or the table file and line) into <see cref="SettingsException"/>.</summary>
    public static T? Wrap<T>(Func<T?> build) where T : class
    {
        try
        {
            return build();
        }
        catch (Exception e) when (e is Mail.Defences.Restrictions.RestrictionConfigException or Mail.Defences.RegexpTables.RegexpTableException)
        {
            throw new SettingsException(e.Message, e);
        }
    }
}
