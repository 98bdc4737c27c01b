using Mail.Core.Model;
using MimeKit;

namespace Mail.Core.InboundChecks;

/// <summary>What the inbound stage knows about one message while its checks run. Disposing it disposes the parse.</summary>
public sealed class InboundContext : IDisposable
{
    private MimeMessage? _message;

    /// <param name="original">The stored original (seekable), for checks that read the bytes as received
    /// (DKIM, ARC and DMARC read its header section and hash its body without a MIME parse).</param>
    public InboundContext(Envelope envelope, MimeMessage message, Stream? original = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        Envelope = envelope;
        _message = message;
        Original = original is { CanSeek: true } ? original : null;
    }

    /// <summary>A context over the stored original alone: <see cref="Message"/> is parsed from it when a check
    /// first asks for it.</summary>
    public InboundContext(Envelope envelope, Stream original)
    {
        ArgumentNullException.ThrowIfNull(original);
        if (!original.CanSeek) throw new ArgumentException("the original must be seekable", nameof(original));
        Envelope = envelope;
        Original = original;
    }

    public Envelope Envelope { get; }

    /// <summary>The message as parsed by MimeKit from the message store (not yet modified).</summary>
    public MimeMessage Message
    {
        get
        {
            if (_message is null)
            {
                Original!.Position = 0;
                _message = MimeMessage.Load(ParserOptions.Default, Original, persistent: true);
            }
            return _message;
        }
    }

    /// <summary>The stored original, byte for byte and seekable, when the stage has it. A reader seeks where it needs
    /// to and puts the position back (MimeKit's persistent parse reads bodies from the same stream later).</summary>
    public Stream? Original { get; }

    public void Dispose() => _message?.Dispose();

    /// <summary>Header fields to prepend to the delivered copy, in order (first = topmost).
    /// e.g. Authentication-Results, Received-SPF, X-Spam-Status.</summary>
    public List<Header> PrependHeaders { get; } = [];

    /// <summary>Predicates selecting incoming header fields to drop from the delivered copy
    /// (e.g. forged Authentication-Results claiming our authserv-id).</summary>
    public List<Func<Header, bool>> RemoveHeaders { get; } = [];

    /// <summary>Named results for later checks and for the verdict ("spf" =&gt; "pass", "dmarc.policy" =&gt; "reject").</summary>
    public Dictionary<string, string> Results { get; } = new(StringComparer.OrdinalIgnoreCase);

    public Verdict Verdict { get; } = new();
}

/// <summary>Where a message goes. Checks add score and may force a disposition; the strongest wins.</summary>
public sealed class Verdict
{
    private readonly List<ScoreContribution> _contributions = [];

    public Disposition Disposition { get; private set; } = Disposition.Inbox;

    public double Score => _contributions.Sum(c => c.Points);

    public IReadOnlyList<ScoreContribution> Contributions => _contributions;

    public void Add(string rule, double points, string? detail = null) => _contributions.Add(new ScoreContribution(rule, points, detail));

    /// <summary>Raises the disposition; never lowers it (a Discard cannot be turned back into Inbox).</summary>
    public void Require(Disposition disposition, string reason)
    {
        if (disposition > Disposition)
        {
            Disposition = disposition;
            Reason = reason;
        }
    }

    /// <summary>Why the disposition is what it is (for logs and headers).</summary>
    public string? Reason { get; private set; }
}

public sealed record ScoreContribution(string Rule, double Points, string? Detail);

/// <summary>Ordered from mildest to strongest.</summary>
public enum Disposition
{
    Inbox,
    Junk,
    Quarantine,
    Discard,
}

/// <summary>The connection result in which the SMTP edge records its end-of-data content inspection of the stored message
/// (written by the content checks, which also read it back): present only when the edge parsed the message with MimeKit
/// and no rule matched.</summary>
public static class EdgeContentInspection
{
    public const string ResultName = "content_checks";
}
