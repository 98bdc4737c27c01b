namespace Mail.Auth.Dkim;

/// <summary>RFC 8601 2.7.1 DKIM results.</summary>
public enum DkimResultCode
{
    None,
    Pass,
    Fail,
    /// <summary>Not counted either way (e.g. a failing signature whose key is in testing mode, t=y).</summary>
    Neutral,
    /// <summary>The signature verified or could have, but local policy does not accept it
    /// (rsa-sha1, RSA key under the minimum size, l= leaving unsigned body content).</summary>
    Policy,
    TempError,
    PermError,
}

/// <summary>The verdict on one DKIM-Signature header field.</summary>
public sealed record DkimResult
{
    public required DkimResultCode Code { get; init; }
    /// <summary>Human-readable reason, for the Authentication-Results comment and logs.</summary>
    public string? Reason { get; init; }
    /// <summary>d= (signing domain), when the signature could be parsed that far.</summary>
    public string? Domain { get; init; }
    public string? Selector { get; init; }
    /// <summary>i= (AUID).</summary>
    public string? Identity { get; init; }
    public string? Algorithm { get; init; }
    /// <summary>The first characters of b= (RFC 6008 header.b) to tell signatures apart.</summary>
    public string? HeaderB { get; init; }
    /// <summary>The key record carries t=y.</summary>
    public bool Testing { get; init; }

    public static string ToToken(DkimResultCode code) => code switch
    {
        DkimResultCode.None => "none",
        DkimResultCode.Pass => "pass",
        DkimResultCode.Fail => "fail",
        DkimResultCode.Neutral => "neutral",
        DkimResultCode.Policy => "policy",
        DkimResultCode.TempError => "temperror",
        _ => "permerror",
    };
}

/// <summary>Local DKIM verification policy.</summary>
public sealed record DkimOptions
{
    /// <summary>RFC 8301: rsa-sha1 signatures must not be considered valid. When false they get "policy".</summary>
    public bool AllowRsaSha1 { get; set; }

    /// <summary>RFC 8301: RSA keys under 1024 bits must not be considered valid ("policy").</summary>
    public int MinimumRsaKeyBits { get; set; } = 1024;

    /// <summary>At most this many DKIM-Signature fields are verified per message (the rest are ignored: bounded work per message).</summary>
    public int MaxSignatures { get; set; } = 10;

    /// <summary>
    /// What a signature with l= gets when the body has content after the signed length (someone appended text after
    /// signing, the classic l= abuse). Accept: pass, as RFC 6376 allows. Policy (default): "policy", so it does not
    /// count for DMARC.
    /// </summary>
    public DkimBodyLengthPolicy BodyLengthPolicy { get; set; } = DkimBodyLengthPolicy.Policy;

    /// <summary>Tolerance on x= (expiry), for clock skew between signer and us.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromMinutes(5);
}

public enum DkimBodyLengthPolicy
{
    Accept,
    Policy,
}
