using Mail.Core.Model;
using MimeKit;

namespace Mail.Core.InboundChecks;

/// <summary>What the inbound stage knows about one message while its checks run.</summary>
public sealed class InboundContext(Envelope envelope, MimeMessage message)
{
    public Envelope Envelope { get; } = envelope;

    /// <summary>The message as parsed by MimeKit from the message store (not yet modified).</summary>
    public MimeMessage Message { get; } = message;

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
