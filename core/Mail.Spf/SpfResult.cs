using System.Net;

namespace Mail.Spf;

/// <summary>The seven results of RFC 7208 section 2.6.</summary>
public enum SpfResultCode
{
    None,
    Neutral,
    Pass,
    Fail,
    SoftFail,
    TempError,
    PermError,
}

/// <summary>Which identity was checked (RFC 7208 section 2.3 and 2.4).</summary>
public enum SpfIdentity
{
    /// <summary>The MAIL FROM reverse-path (or postmaster@HELO when it is null).</summary>
    MailFrom,
    /// <summary>The HELO/EHLO name.</summary>
    Helo,
}

/// <summary>The outcome of one SPF check, with what a Received-SPF or Authentication-Results header needs.</summary>
public sealed record SpfResult
{
    public required SpfResultCode Code { get; init; }

    /// <summary>The domain check_host() started from (the sender's domain, or the HELO name).</summary>
    public required string Domain { get; init; }

    /// <summary>The term that decided the result ("-all", "ip4:192.0.2.0/24", "include:x", "default" when nothing matched, or the term being evaluated at an error); empty for none.</summary>
    public string Mechanism { get; init; } = "";

    /// <summary>The explanation (RFC 7208 section 6.2) for a fail result; null otherwise.</summary>
    public string? Explanation { get; init; }

    /// <summary>Why the result is temperror/permerror/none, for logs and the Received-SPF "problem" key.</summary>
    public string? Problem { get; init; }

    public SpfIdentity Identity { get; init; } = SpfIdentity.MailFrom;

    /// <summary>The &lt;sender&gt; that was checked (local-part@domain; postmaster@HELO for a null reverse path).</summary>
    public string Sender { get; init; } = "";

    public string Helo { get; init; } = "";

    public IPAddress? ClientIp { get; init; }

    /// <summary>The result in RFC 7208 / RFC 8601 spelling: none, neutral, pass, fail, softfail, temperror, permerror.</summary>
    public string ResultName => Name(Code);

    public static string Name(SpfResultCode code) => code switch
    {
        SpfResultCode.None => "none",
        SpfResultCode.Neutral => "neutral",
        SpfResultCode.Pass => "pass",
        SpfResultCode.Fail => "fail",
        SpfResultCode.SoftFail => "softfail",
        SpfResultCode.TempError => "temperror",
        SpfResultCode.PermError => "permerror",
        _ => throw new ArgumentOutOfRangeException(nameof(code), code, null),
    };
}
