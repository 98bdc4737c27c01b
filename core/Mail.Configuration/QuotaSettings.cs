using Mail.Core.Accounts;
using Microsoft.Extensions.Configuration;

namespace Mail.Configuration;

/// <summary>
/// <c>Quota:Default</c>: the storage limit of every user who has none of their own (<c>mail user quota</c>), as Dovecot's
/// <c>quota_rule = *:storage=1G</c>; a size such as <c>500M</c> or <c>2G</c> (<see cref="QuotaSize"/>). Unset, <c>0</c>
/// or <c>none</c>: unlimited. Read by the SMTP edge, the IMAP gateway and the inbound stage alike.
/// </summary>
public static class QuotaSettings
{
    public const string DefaultSetting = "Quota:Default";

    /// <summary>The default limit in octets, or null; a value that is not a size stops the host naming the setting.</summary>
    public static long? DefaultLimit(IConfiguration configuration)
    {
        var text = configuration[DefaultSetting];
        if (string.IsNullOrWhiteSpace(text)) return null;
        return QuotaSize.TryParse(text, out var limit)
            ? limit
            : throw new SettingsException($"{DefaultSetting}: '{text}' is not a size (a number of octets with K, M, G or T, e.g. 500M or 2G; 0 or none for no limit)");
    }
}
