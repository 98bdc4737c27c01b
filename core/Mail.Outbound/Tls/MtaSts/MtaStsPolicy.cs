using System.Globalization;

namespace Mail.Outbound.Tls.MtaSts;

/// <summary>The "mode" of an MTA-STS policy (RFC 8461 3.2).</summary>
public enum MtaStsMode
{
    /// <summary>Deliver only to matching MX hosts over TLS with a valid certificate; otherwise defer.</summary>
    Enforce,
    /// <summary>Deliver as without a policy; report (here: log) what enforce would have refused.</summary>
    Testing,
    /// <summary>The domain withdrew its policy: deliver as without one.</summary>
    None,
}

/// <summary>A policy file that is not RFC 8461 3.2 "STSv1" text.</summary>
public sealed class MtaStsPolicyException(string message) : Exception(message);

/// <summary>
/// An MTA-STS policy (RFC 8461 3.2), as served at https://mta-sts.DOMAIN/.well-known/mta-sts.txt: "key: value" lines
/// (CRLF, LF accepted), version "STSv1", mode, max_age (seconds, at most 31557600), and one "mx" line per allowed MX
/// pattern (a host name, or "*." and a name for exactly one more label). Unknown keys are ignored; for a key given
/// twice (other than mx) the first counts.
/// </summary>
public sealed record MtaStsPolicy(MtaStsMode Mode, IReadOnlyList<string> Mx, TimeSpan MaxAge)
{
    /// <summary>RFC 8461 3.2: max_age is at most 31557600 seconds (about one year).</summary>
    public const long MaxMaxAgeSeconds = 31_557_600;

    public static MtaStsPolicy Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string? version = null, mode = null, maxAge = null;
        var mx = new List<string>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r', ' ', '\t');
            if (line.Length == 0) continue;
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0) throw new MtaStsPolicyException($"line '{Shorten(line)}' is not 'key: value'");
            var key = line[..colon];
            var value = line[(colon + 1)..].Trim(' ', '\t');
            switch (key)
            {
                case "version": version ??= value; break;
                case "mode": mode ??= value; break;
                case "max_age": maxAge ??= value; break;
                case "mx": mx.Add(value); break;
            }
        }
        if (version != "STSv1") throw new MtaStsPolicyException(version is null ? "no 'version: STSv1' line" : $"version '{Shorten(version)}' is not STSv1");
        var parsedMode = mode switch
        {
            "enforce" => MtaStsMode.Enforce,
            "testing" => MtaStsMode.Testing,
            "none" => MtaStsMode.None,
            null => throw new MtaStsPolicyException("no 'mode' line"),
            _ => throw new MtaStsPolicyException($"mode '{Shorten(mode)}' is not enforce, testing or none"),
        };
        if (maxAge is null) throw new MtaStsPolicyException("no 'max_age' line");
        if (maxAge.Length is 0 or > 10 || !maxAge.All(char.IsAsciiDigit) || !long.TryParse(maxAge, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
            throw new MtaStsPolicyException($"max_age '{Shorten(maxAge)}' is not 1 to 10 digits");
        foreach (var pattern in mx)
            if (!IsPattern(pattern)) throw new MtaStsPolicyException($"mx '{Shorten(pattern)}' is not a host name or *.name");
        if (mx.Count == 0 && parsedMode != MtaStsMode.None) throw new MtaStsPolicyException($"mode {mode} without an 'mx' line");
        return new MtaStsPolicy(parsedMode, mx.Select(m => m.TrimEnd('.').ToLowerInvariant()).ToList(), TimeSpan.FromSeconds(Math.Min(seconds, MaxMaxAgeSeconds)));
    }

    /// <summary>The policy file as served (RFC 8461 3.2: CRLF lines; <see cref="Parse"/> reads it back).</summary>
    public string ToText()
    {
        var text = new System.Text.StringBuilder("version: STSv1\r\nmode: ").Append(Mode.ToString().ToLowerInvariant()).Append("\r\n");
        foreach (var mx in Mx) text.Append("mx: ").Append(mx).Append("\r\n");
        return text.Append(CultureInfo.InvariantCulture, $"max_age: {(long)MaxAge.TotalSeconds}\r\n").ToString();
    }

    /// <summary>RFC 8461 4.1: the MX host is a pattern, or the pattern is "*.rest" and the host is one label then rest.</summary>
    public bool Allows(string mxHost)
    {
        var host = mxHost.TrimEnd('.');
        foreach (var pattern in Mx)
        {
            if (pattern.StartsWith("*.", StringComparison.Ordinal))
            {
                var dot = host.IndexOf('.', StringComparison.Ordinal);
                if (dot > 0 && string.Equals(host[(dot + 1)..], pattern[2..], StringComparison.OrdinalIgnoreCase)) return true;
            }
            else if (string.Equals(host, pattern, StringComparison.OrdinalIgnoreCase)) return true;
        }
        return false;
    }

    private static bool IsPattern(string pattern)
    {
        var name = pattern.StartsWith("*.", StringComparison.Ordinal) ? pattern[2..] : pattern;
        name = name.TrimEnd('.');
        if (name.Length is 0 or > 253) return false;
        return name.Split('.').All(label => label.Length is > 0 and <= 63 && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-' || c > 127)
                                            && label[0] != '-' && label[^1] != '-');
    }

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..60] + "…";
}
