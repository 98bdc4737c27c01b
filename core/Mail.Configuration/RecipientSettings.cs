using Mail.Core.Accounts;
using Mail.Core.Model;
using Microsoft.Extensions.Configuration;

namespace Mail.Configuration;

/// <summary>
/// <c>Smtp:RecipientDelimiter</c> (Postfix recipient_delimiter; default "+", empty turns subaddresses off, several
/// characters are several delimiters) and <c>Domains:PostmasterAddress</c> (who gets postmaster@ and abuse@ of every
/// local domain; default the domain's first user). Read by the edge (RCPT TO) and the inbound stage (delivery) alike.
/// </summary>
public static class RecipientSettings
{
    public static RecipientRules Bind(IConfiguration configuration)
    {
        var delimiters = configuration["Smtp:RecipientDelimiter"] ?? RecipientRules.Default.Delimiters;
        foreach (var c in delimiters)
            if (c is '@' or '"' or '\\' || char.IsWhiteSpace(c) || char.IsControl(c) || c > '~')
                throw new SettingsException($"Smtp:RecipientDelimiter: '{c}' cannot separate a subaddress (use characters such as + - _ .)");
        var postmaster = configuration["Domains:PostmasterAddress"];
        if (string.IsNullOrWhiteSpace(postmaster)) postmaster = null;
        else if (!Address.TryParse(postmaster, out _))
            throw new SettingsException($"Domains:PostmasterAddress: '{postmaster}' is not an address (user@domain)");
        return new RecipientRules(delimiters, postmaster);
    }
}
