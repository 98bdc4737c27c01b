using System.Net;
using Mail.Core.Ports;

namespace Mail.Defences.DnsChecks;

/// <summary>postscreen_dnsbl_sites / postscreen_dnsbl_threshold / postscreen_dnsbl_allowlist_threshold.</summary>
public sealed class DnsblScoringOptions
{
    /// <summary>Weighted lists, e.g. from <see cref="ParseSites"/>("zen.example*3 bl.example=127.0.0.2*2 wl.example*-2").</summary>
    public IReadOnlyList<DnsblSite> Sites { get; init; } = [];

    /// <summary>A client whose score reaches this is blocked (postscreen_dnsbl_threshold, default 1).</summary>
    public int Threshold { get; init; } = 1;

    /// <summary>A client whose score is at or below this (a negative number) is allow-listed; null disables
    /// (postscreen_dnsbl_allowlist_threshold, 0 = disabled in Postfix).</summary>
    public int? AllowlistThreshold { get; init; }

    /// <summary>Parses a main.cf-style list of sites separated by commas or whitespace.</summary>
    public static IReadOnlyList<DnsblSite> ParseSites(string value) =>
        value.Split([',', ' ', '\t', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries).Select(DnsblSite.Parse).ToList();
}

/// <param name="Blocked">Score reached the threshold.</param>
/// <param name="Allowlisted">Score at or below the allow-list threshold.</param>
public sealed record DnsblScoringResult(int Score, bool Blocked, bool Allowlisted, DnsblScore Details)
{
    /// <summary>Postfix's postscreen reply text.</summary>
    public string ReplyText(IPAddress client) =>
        $"Service unavailable; client [{client}] blocked using {string.Join(", ", Details.Listed.Where(r => r.Site.Weight > 0).Select(r => r.Site.Zone))}";
}

/// <summary>Weighted DNSBL scoring across several lists with a threshold, as postscreen does.</summary>
public sealed class DnsblScoring
{
    private readonly DnsblClient _client;
    private readonly DnsblScoringOptions _options;

    public DnsblScoring(IDnsResolver dns, DnsblScoringOptions options)
    {
        if (options.Threshold < 1) throw new ArgumentException("DNSBL Threshold must be at least 1.");
        if (options.AllowlistThreshold is > 0) throw new ArgumentException("DNSBL AllowlistThreshold must be zero or negative.");
        _client = new DnsblClient(dns);
        _options = options;
    }

    public async Task<DnsblScoringResult> CheckAsync(IPAddress client, CancellationToken cancellationToken = default)
    {
        var score = await _client.ScoreAsync(_options.Sites, client, cancellationToken);
        var allow = _options.AllowlistThreshold is { } a && score.Score <= a;
        return new DnsblScoringResult(score.Score, !allow && score.Score >= _options.Threshold, allow, score);
    }
}
