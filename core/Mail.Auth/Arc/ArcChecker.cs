using System.Globalization;
using System.Text;
using Mail.Core.Messages;
using Mail.Auth.Dkim;
using Mail.Core.Ports;
using MimeKit;
using MimeKit.Cryptography;

namespace Mail.Auth.Arc;

public enum ArcResultCode
{
    None,
    Pass,
    Fail,
}

/// <summary>The ARC chain of a message (RFC 8617) and what its newest sealer reported.</summary>
public sealed record ArcResult
{
    public required ArcResultCode Code { get; init; }
    /// <summary>Number of ARC sets (highest i=).</summary>
    public int Instances { get; init; }
    /// <summary>d= of the newest ARC-Seal: the forwarder that vouches for the chain.</summary>
    public string? SealerDomain { get; init; }
    /// <summary>The newest ARC-Authentication-Results (what the sealer saw when it received the message), when parseable.</summary>
    public AuthenticationResults? SealerResults { get; init; }
    public string? Reason { get; init; }

    public static string ToToken(ArcResultCode code) => code switch
    {
        ArcResultCode.Pass => "pass",
        ArcResultCode.Fail => "fail",
        _ => "none",
    };

    /// <summary>The sealer's ARC-Authentication-Results show a pass for dmarc, spf or dkim (an authenticated upstream hop).</summary>
    public string? UpstreamPass()
    {
        if (SealerResults is null) return null;
        foreach (var method in new[] { "dmarc", "dkim", "spf" })
        {
            if (SealerResults.Results.Any(r => r.Method.Equals(method, StringComparison.OrdinalIgnoreCase) && "pass".Equals(r.Result, StringComparison.OrdinalIgnoreCase)))
                return method;
        }
        return null;
    }
}

/// <summary>Verifies ARC chains with MimeKit's <see cref="ArcVerifier"/>, fetching keys through <see cref="IDnsResolver"/>.</summary>
public sealed class ArcChecker(IDnsResolver dns)
{
    private readonly ArcVerifier _verifier = new(new DnsDkimPublicKeyLocator(dns));

    /// <summary>Whether the message has any ARC field (without one the result is none and nothing needs parsing).</summary>
    public static bool HasArcFields(RawMessage message)
    {
        for (var i = 0; i < message.Count; i++)
        {
            var name = message.Name(message[i]);
            if (name.Length > 4 && Ascii.EqualsIgnoreCase(name[..4], "ARC-")
                && (message.Is(message[i], "ARC-Seal") || message.Is(message[i], "ARC-Message-Signature") || message.Is(message[i], "ARC-Authentication-Results")))
                return true;
        }
        return false;
    }

    public async Task<ArcResult> VerifyAsync(MimeMessage message, CancellationToken cancellationToken = default)
    {
        if (!message.Headers.Any(h => h.Id is HeaderId.ArcSeal or HeaderId.ArcMessageSignature or HeaderId.ArcAuthenticationResults))
            return new ArcResult { Code = ArcResultCode.None };

        ArcValidationResult validation;
        try
        {
            validation = await _verifier.VerifyAsync(message, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return new ArcResult { Code = ArcResultCode.Fail, Reason = "malformed ARC header fields: " + e.Message };
        }

        var (instance, sealer) = NewestSeal(message);
        var results = NewestResults(message, instance);
        var code = validation.Chain switch
        {
            ArcSignatureValidationResult.Pass => ArcResultCode.Pass,
            ArcSignatureValidationResult.Fail => ArcResultCode.Fail,
            _ => ArcResultCode.None,
        };
        return new ArcResult
        {
            Code = code,
            Instances = instance,
            SealerDomain = sealer,
            SealerResults = results,
            Reason = code == ArcResultCode.Fail ? validation.ChainErrors.ToString() : null,
        };
    }

    private static (int Instance, string? Domain) NewestSeal(MimeMessage message)
    {
        var best = (Instance: 0, Domain: (string?)null);
        foreach (var h in message.Headers.Where(h => h.Id == HeaderId.ArcSeal))
        {
            var tags = TagList.Parse(h.Value, out _);
            if (tags is null || !tags.TryGetValue("i", out var iText) || !int.TryParse(iText, NumberStyles.None, CultureInfo.InvariantCulture, out var i)) continue;
            if (i > best.Instance) best = (i, tags.TryGetValue("d", out var d) ? d.ToLowerInvariant() : null);
        }
        return best;
    }

    private static AuthenticationResults? NewestResults(MimeMessage message, int instance)
    {
        foreach (var h in message.Headers.Where(h => h.Id == HeaderId.ArcAuthenticationResults))
        {
            if (AuthenticationResults.TryParse(h.RawValue, out var parsed) && parsed.Instance == instance) return parsed;
        }
        return null;
    }
}
