using System.Globalization;
using System.Text.RegularExpressions;

namespace Mail.Defences.Restrictions;

/// <summary>
/// The right-hand side of an access(5) table entry, or a policy server's "action=" reply:
/// OK/PERMIT, REJECT [text], DEFER [text], 4NN/5NN text, DEFER_IF_REJECT [text], DEFER_IF_PERMIT [text], DUNNO,
/// HOLD/DISCARD [text] (permit, with the message held or dropped), FILTER, REDIRECT, PREPEND, WARN, INFO, BCC (no decision,
/// recorded as effects), or restriction names evaluated in place (e.g. "reject_unknown_client_hostname").
/// </summary>
public static partial class AccessAction
{
    /// <param name="subject">What the reply is about, e.g. "&lt;a@b&gt;: Sender address rejected".</param>
    /// <param name="by">The restriction that looked it up, for <see cref="RestrictionResult.DecidedBy"/>.</param>
    public static async ValueTask<RestrictionResult> EvaluateAsync(string action, string subject, string by, RestrictionContext context, CancellationToken cancellationToken)
    {
        var a = action.Trim();
        var sp = a.IndexOfAny([' ', '\t']);
        var word = sp < 0 ? a : a[..sp];
        var text = sp < 0 ? "" : a[(sp + 1)..].Trim();
        var o = context.Options;
        switch (word.ToUpperInvariant())
        {
            case "OK":
            case "PERMIT":
                return RestrictionResult.Permit(by);
            case "DUNNO":
                return RestrictionResult.Dunno;
            case "REJECT":
                return Reply(o.RejectCode, text.Length > 0 ? text : "Access denied", subject, by);
            case "DEFER":
                return Reply(o.DeferCode, text.Length > 0 ? text : "Access denied", subject, by);
            case "DEFER_IF_REJECT":
                context.DeferIfReject = text.Length > 0 ? text : "Service unavailable";
                return RestrictionResult.Dunno;
            case "DEFER_IF_PERMIT":
                context.DeferIfPermit = text.Length > 0 ? text : "Service unavailable";
                return RestrictionResult.Dunno;
            case "HOLD":
                context.Effects.Hold = true;
                return RestrictionResult.Permit(by);
            case "DISCARD":
                context.Effects.Discard = true;
                return RestrictionResult.Permit(by);
            case "FILTER":
                context.Effects.Filter = text;
                return RestrictionResult.Dunno;
            case "REDIRECT":
                context.Effects.Redirect = text;
                return RestrictionResult.Dunno;
            case "PREPEND":
                if (text.Contains(':', StringComparison.Ordinal)) context.Effects.PrependHeaders.Add(text);
                else context.Effects.Warnings.Add($"{by}: PREPEND without a header field name ignored");
                return RestrictionResult.Dunno;
            case "WARN":
            case "INFO":
            case "BCC":
                context.Effects.Warnings.Add($"{by}: {word.ToUpperInvariant()} {text}".TrimEnd());
                return RestrictionResult.Dunno;
        }
        if (word.Length == 3 && int.TryParse(word, NumberStyles.None, CultureInfo.InvariantCulture, out var code) && code is >= 400 and < 600)
            return Reply(code, text.Length > 0 ? text : "Access denied", subject, by);
        if (word.Length > 0 && char.IsAsciiDigit(word[0]) && word.All(char.IsAsciiDigit))
            return RestrictionResult.Permit(by); // Postfix: an all-numerical result is OK (backwards compatibility)

        // Restriction names: "reject_unknown_client_hostname", "permit_mynetworks, reject", ...
        if (context.Depth > 4) throw new RestrictionConfigException($"{by}: access actions nest too deeply");
        RestrictionList nested;
        try
        {
            nested = RestrictionList.Parse(a, $"{by} result", context.Options);
        }
        catch (RestrictionConfigException e)
        {
            // A table entry is data, not startup configuration: a bad one must not kill the session.
            context.Effects.Warnings.Add($"{by}: unknown action '{a}': {e.Message}");
            return RestrictionResult.Dunno;
        }
        context.Depth++;
        try
        {
            return await nested.EvaluateItemsAsync(context, cancellationToken);
        }
        finally
        {
            context.Depth--;
        }
    }

    /// <summary>A reject reply; text may start with an enhanced status code ("5.7.1 go away").</summary>
    internal static RestrictionResult Reply(int code, string text, string subject, string by)
    {
        var m = EnhancedCode().Match(text);
        string enhanced;
        if (m.Success && m.Groups[1].Value[0] == (char)('0' + code / 100))
        {
            enhanced = m.Groups[1].Value;
            text = text[m.Length..].TrimStart();
        }
        else enhanced = code >= 500 ? "5.7.1" : "4.7.1";
        return RestrictionResult.Reject(code, enhanced, subject.Length > 0 ? $"{subject}: {text}" : text, by);
    }

    [GeneratedRegex(@"^([245]\.\d{1,3}\.\d{1,3})(\s|$)")]
    private static partial Regex EnhancedCode();
}
