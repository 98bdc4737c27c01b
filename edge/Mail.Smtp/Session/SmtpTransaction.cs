using Mail.Core.Model;
using Mail.Core.Ports;

namespace Mail.Smtp.Session;

/// <summary>
/// What one mail transaction holds besides its envelope, from MAIL to the end of data (or RSET): the policy's results,
/// the message being written, its size. The envelope itself (reverse-path, MAIL parameters, recipients) is in
/// <see cref="SmtpSessionFacts"/>, where the policy hooks read it; the session's <see cref="SmtpState"/> says which
/// commands may come next.
/// </summary>
internal sealed class SmtpTransaction : Protocol.IMessageSink
{
    /// <summary>When MAIL was accepted: the start of the <c>smtp.transaction</c> span and of its stage duration.</summary>
    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;
    public long StartedTimestamp { get; } = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>What the policy asked to record with this message (SmtpPolicyResult.Results); merged into the envelope.</summary>
    public Dictionary<string, string> PolicyResults { get; } = new(StringComparer.Ordinal);

    /// <summary>What the policy decided for this message (SmtpPolicyResult.Decisions); they follow the session's in the envelope.</summary>
    public EdgeDecisions PolicyDecisions { get; set; } = EdgeDecisions.None;

    /// <summary>Set once the message is being written (DATA in progress, or BDAT chunks received).</summary>
    public string? QueueId { get; set; }
    public DateTimeOffset ReceivedAt { get; set; }
    public IMessageWriter? Writer { get; set; }

    /// <summary>Writing to the message store failed; the data is read to its end and answered with 451.</summary>
    public bool StoreFailed => StoreError is not null;

    public Exception? StoreError { get; private set; }

    /// <summary>
    /// Writes message data to the store. A store failure must not look like a broken connection: it is noted,
    /// writing stops, the data is read to its end, and the session answers 451 then.
    /// </summary>
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data)
    {
        if (StoreError is not null || Writer is null) return;
        try
        {
            await Writer.WriteAsync(data);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            StoreError = ex;
            await DiscardAsync();
        }
    }

    /// <summary>Octets of client data received for this message (the Received: header not counted).</summary>
    public long DataSize { get; set; }

    public async ValueTask DiscardAsync()
    {
        if (Writer is { } w)
        {
            Writer = null;
            try
            {
                await w.DisposeAsync();
            }
            catch (IOException)
            {
            }
        }
    }
}
