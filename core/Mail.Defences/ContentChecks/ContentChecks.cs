using Mail.Defences.RegexpTables;
using Mail.Core.InboundChecks;
using Mail.Core.Text;
using MimeKit;

namespace Mail.Defences.ContentChecks;

/// <summary>Which tables to apply. Any table may be null (not configured).</summary>
public sealed class ContentChecksOptions
{
    /// <summary>Postfix header_checks: every header field of the top-level message except MIME (Content-*) fields when
    /// <see cref="MimeHeaderChecks"/> is set.</summary>
    public RegexpTable? HeaderChecks { get; init; }

    /// <summary>Postfix mime_header_checks: Content-* fields of the message and every header field of its MIME parts.
    /// When null, <see cref="HeaderChecks"/> is used for them (Postfix's default $header_checks).</summary>
    public RegexpTable? MimeHeaderChecks { get; init; }

    /// <summary>Postfix body_checks: each line of the decoded text parts (quoted-printable and base64 undone, charset
    /// decoded, HTML reduced to its visible text).</summary>
    public RegexpTable? BodyChecks { get; init; }

    /// <summary>Also match the <see cref="TextNormalizer"/> folding of each input when the input itself does not match.</summary>
    public bool Normalize { get; init; }

    /// <summary>Characters of decoded text inspected per part (Postfix body_checks_size_limit).</summary>
    public int BodyChecksSizeLimit { get; init; } = 51200;
}

public enum ContentStage { Header, MimeHeader, Body }

/// <summary>One rule hit: where (stage, input) and what (the table match).</summary>
public sealed record ContentHit(ContentStage Stage, string Input, TableMatch Match, bool ViaNormalization, Header? Header);

/// <summary>
/// header_checks, mime_header_checks and body_checks over a parsed message. <see cref="Inspect"/> is protocol-free
/// (the SMTP edge can run it before its end-of-data reply and honour REJECT); <see cref="RunAsync"/> applies the hits
/// to the pipeline's <see cref="InboundContext"/>:
/// REJECT → result "content.reject" (text) and, because after 250 we never bounce, Quarantine;
/// DISCARD → Discard; HOLD → Quarantine; JUNK → Junk; WARN/INFO → a zero-point contribution (logged in X-Spam-Status);
/// PREPEND → a header to prepend; IGNORE → the header field removed; REPLACE → removed and the new field prepended;
/// REDIRECT → result "content.redirect"; FILTER → result "content.filter". REJECT and DISCARD end the inspection
/// (as in Postfix). Every hit is also a contribution named "header_checks:file:line" etc.
/// </summary>
public sealed class ContentChecks(ContentChecksOptions options) : IInboundCheck
{
    public string Name => "content_checks";

    /// <summary>What decides <see cref="Inspect"/>'s hits: the tables' fingerprints and the options. A message inspected
    /// under another configuration (tables edited, then a restart with a backlog) is checked again.</summary>
    public string Fingerprint { get; } = Hash(options);

    /// <summary>The value of <see cref="EdgeContentInspection.ResultName"/> meaning "inspected under this configuration, no hit".</summary>
    public string CleanResult => "none " + Fingerprint;

    private static string Hash(ContentChecksOptions o)
    {
        var text = $"{o.HeaderChecks?.Fingerprint}|{o.MimeHeaderChecks?.Fingerprint}|{o.BodyChecks?.Fingerprint}|{o.Normalize}|{o.BodyChecksSizeLimit}";
        return Sha256Hex.Of(text, 32);
    }

    public IReadOnlyList<ContentHit> Inspect(MimeMessage message)
    {
        var hits = new List<ContentHit>();
        var headerTable = options.HeaderChecks;
        var mimeTable = options.MimeHeaderChecks ?? options.HeaderChecks;

        var topTexts = new List<string>(message.Headers.Count);
        foreach (var h in message.Headers)
        {
            var isMime = h.Field.StartsWith("Content-", StringComparison.OrdinalIgnoreCase) || h.Field.Equals("MIME-Version", StringComparison.OrdinalIgnoreCase);
            var table = isMime ? mimeTable : headerTable;
            var text = HeaderText(h);
            topTexts.Add(text);
            if (Check(table, isMime ? ContentStage.MimeHeader : ContentStage.Header, text, h, hits)) return hits;
        }

        if (mimeTable is not null)
        {
            // A single-part message's Content-* fields may also sit on its root entity: check each field once.
            var seen = new HashSet<string>(topTexts, StringComparer.Ordinal);
            foreach (var entity in Multiparts(message.Body).Concat(message.BodyParts).Distinct())
                foreach (var h in entity.Headers)
                {
                    var text = HeaderText(h);
                    if (ReferenceEquals(entity, message.Body) && seen.Contains(text)) continue;
                    if (Check(mimeTable, ContentStage.MimeHeader, text, null, hits)) return hits;
                }
        }

        if (options.BodyChecks is { } body)
        {
            foreach (var part in message.BodyParts.OfType<TextPart>())
            {
                if (part.IsAttachment && !part.IsPlain && !part.IsHtml) continue;
                foreach (var line in BodyLines(part))
                    if (Check(body, ContentStage.Body, line, null, hits)) return hits;
            }
        }
        return hits;
    }

    /// <summary>The non-empty lines of a text part's decoded text (an HTML part's as text), cut at
    /// <see cref="ContentChecksOptions.BodyChecksSizeLimit"/>: split at LF with their CRs trimmed.</summary>
    private IEnumerable<string> BodyLines(TextPart part)
    {
        if (AsciiBodyLines.TryRead(part, options.BodyChecksSizeLimit) is { } lines) return lines;
        string text;
        try
        {
            text = part.Text ?? "";
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException)
        {
            return []; // undecodable part: nothing to read, not the sender's win either (other parts still checked)
        }
        if (part.IsHtml) text = HtmlText.ToText(text);
        if (text.Length > options.BodyChecksSizeLimit) text = text[..options.BodyChecksSizeLimit];
        return text.Split('\n').Select(line => line.TrimEnd('\r')).Where(line => line.Length > 0);
    }

    public Task RunAsync(InboundContext context, CancellationToken cancellationToken)
    {
        // The edge inspected these very bytes (the stored original) with the same tables and found nothing: Inspect is a
        // function of the message and the configuration, so running it again would find nothing again.
        if (context.Envelope.ConnectionResults.TryGetValue(EdgeContentInspection.ResultName, out var recorded) && recorded == CleanResult) return Task.CompletedTask;
        foreach (var hit in Inspect(context.Message)) Apply(context, hit);
        return Task.CompletedTask;
    }

    /// <summary>Postfix shows a header to header_checks as "Name: value" on one line; we give the value unfolded and RFC 2047-decoded.</summary>
    private static string HeaderText(Header h) => $"{h.Field}: {h.Value.Trim()}";

    /// <summary>Multiparts and message/rfc822 parts are not in BodyParts (which only has leaves), but their headers are MIME headers too.</summary>
    private static IEnumerable<MimeEntity> Multiparts(MimeEntity? root)
    {
        if (root is Multipart mp)
        {
            yield return mp;
            foreach (var child in mp)
                foreach (var e in Multiparts(child)) yield return e;
        }
    }

    /// <summary>Returns true when inspection must stop (REJECT, DISCARD).</summary>
    private bool Check(RegexpTable? table, ContentStage stage, string input, Header? header, List<ContentHit> hits)
    {
        if (table is null) return false;
        var timedOut = new List<int>(0);
        var m = table.Match(input, timedOut);
        var viaNormalization = false;
        if (m is null && options.Normalize)
        {
            var folded = TextNormalizer.Normalize(input);
            if (!string.Equals(folded, input, StringComparison.Ordinal))
            {
                m = table.Match(folded, timedOut);
                viaNormalization = m is not null;
            }
        }
        // A rule that timed out (ReDoS) is reported as a WARN hit, so the admin sees which rule to fix.
        foreach (var line in timedOut.Distinct())
            hits.Add(new ContentHit(stage, input, new TableMatch(new TableAction(TableActionKind.Warn, "regex match timed out"), table.Source, line), false, null));
        if (m is null || m.Action.Kind == TableActionKind.Dunno) return false;
        hits.Add(new ContentHit(stage, input, m, viaNormalization, header));
        return m.Action.Kind is TableActionKind.Reject or TableActionKind.Discard;
    }

    private static void Apply(InboundContext context, ContentHit hit)
    {
        var a = hit.Match.Action;
        var rule = $"{StageName(hit.Stage)}:{hit.Match.Source}:{hit.Match.Line}";
        context.Verdict.Add(rule, 0, a.ToString());
        switch (a.Kind)
        {
            case TableActionKind.Reject:
                context.Results["content.reject"] = a.Text.Length > 0 ? a.Text : "5.7.1 Message content rejected";
                context.Verdict.Require(Disposition.Quarantine, $"{rule}: REJECT after acceptance");
                break;
            case TableActionKind.Discard:
                context.Verdict.Require(Disposition.Discard, $"{rule}: DISCARD {a.Text}".TrimEnd());
                break;
            case TableActionKind.Hold:
                context.Verdict.Require(Disposition.Quarantine, $"{rule}: HOLD {a.Text}".TrimEnd());
                break;
            case TableActionKind.Junk:
                context.Verdict.Require(Disposition.Junk, $"{rule}: JUNK {a.Text}".TrimEnd());
                break;
            case TableActionKind.Prepend:
                if (ActionHeader.TryParse(a.Text, out var prepend)) context.PrependHeaders.Add(prepend);
                break;
            case TableActionKind.Ignore:
                if (hit.Header is { } ignored) context.RemoveHeaders.Add(Same(ignored));
                break;
            case TableActionKind.Replace:
                if (hit.Header is { } replaced && ActionHeader.TryParse(a.Text, out var replacement))
                {
                    context.RemoveHeaders.Add(Same(replaced));
                    context.PrependHeaders.Add(replacement);
                }
                break;
            case TableActionKind.Redirect:
                context.Results["content.redirect"] = a.Text;
                break;
            case TableActionKind.Filter:
                context.Results["content.filter"] = a.Text;
                break;
        }
    }

    private static string StageName(ContentStage s) => s switch
    {
        ContentStage.Header => "header_checks",
        ContentStage.MimeHeader => "mime_header_checks",
        _ => "body_checks",
    };

    /// <summary>The delivered copy is re-read from the store, so "same header" means same name and same decoded value.</summary>
    private static Func<Header, bool> Same(Header h)
    {
        var field = h.Field;
        var value = h.Value;
        return x => x.Field.Equals(field, StringComparison.OrdinalIgnoreCase) && x.Value == value;
    }
}
