namespace Mail.Defences.Restrictions;

public enum RestrictionOutcome
{
    /// <summary>No decision: go on to the next restriction.</summary>
    Dunno,
    /// <summary>Accept: stop evaluating this list.</summary>
    Permit,
    /// <summary>Refuse with a 4xx/5xx reply (see <see cref="RestrictionResult.Code"/>).</summary>
    Reject,
}

/// <summary>Side effects a permit or dunno may carry (Postfix access actions HOLD, DISCARD, FILTER, REDIRECT, PREPEND, WARN).</summary>
public sealed class RestrictionEffects
{
    public bool Hold { get; set; }
    public bool Discard { get; set; }
    public string? Filter { get; set; }
    public string? Redirect { get; set; }
    public List<string> PrependHeaders { get; } = [];
    /// <summary>Log lines (WARN/INFO actions, warn_if_reject'ed rejects).</summary>
    public List<string> Warnings { get; } = [];
}

/// <summary>What one restriction, or a whole list, decided.</summary>
/// <param name="Code">SMTP reply code for a reject (4xx temporary, 5xx permanent).</param>
/// <param name="EnhancedCode">RFC 3463 status, e.g. "5.7.1".</param>
/// <param name="DecidedBy">The restriction (with its argument) that decided, e.g. "reject_rbl_client zen.example".</param>
public sealed record RestrictionResult(RestrictionOutcome Outcome, int Code, string EnhancedCode, string Text, string DecidedBy)
{
    public static readonly RestrictionResult Dunno = new(RestrictionOutcome.Dunno, 0, "", "", "");

    public static RestrictionResult Permit(string by) => new(RestrictionOutcome.Permit, 0, "", "", by);

    /// <summary>The enhanced code's class follows the reply code, as Postfix's smtpd makes it: a 5.1.8 rejection whose code
    /// an operator turned into 450 (unknown_address_reject_code) is sent as 450 4.1.8.</summary>
    public static RestrictionResult Reject(int code, string enhanced, string text, string by) =>
        new(RestrictionOutcome.Reject, code, ClassOf(code, enhanced), text, by);

    private static string ClassOf(int code, string enhanced) =>
        code is >= 400 and < 600 && enhanced.Length > 1 && enhanced[0] is '4' or '5' && enhanced[1] == '.' && enhanced[0] != (char)('0' + code / 100)
            ? (char)('0' + code / 100) + enhanced[1..]
            : enhanced;

    public bool IsTemporary => Outcome == RestrictionOutcome.Reject && Code is >= 400 and < 500;

    /// <summary>The reply line as sent: "554 5.7.1 text".</summary>
    public string Reply => Outcome == RestrictionOutcome.Reject ? $"{Code} {EnhancedCode} {Text}" : "";
}
