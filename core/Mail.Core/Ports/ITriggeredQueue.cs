using Mail.Core.Model;

namespace Mail.Core.Ports;

/// <summary>
/// A queue whose messages a host trigger receives and settles (Azure Functions' queue trigger deletes a message when
/// the function returns and moves it to its poison queue after repeated failures), not <see cref="IMessageQueue.ReceiveAsync"/>.
/// A stage behind such a trigger has the message's text and no lease: it reads the text, and dead-letters or
/// re-schedules by envelope.
/// </summary>
public interface ITriggeredQueue : IMessageQueue
{
    /// <summary>Reads a message body as the trigger hands it over: the envelope, when it becomes due, and the reason when
    /// it was dead-lettered. False for a body that is not an envelope (set it aside with <see cref="SendRawToDeadLetterAsync"/>).</summary>
    bool TryRead(string messageText, out Envelope envelope, out DateTimeOffset? notBefore, out string? deadLetterReason);

    /// <summary>Puts an envelope the trigger delivered on the dead-letter queue with a reason.</summary>
    Task SendToDeadLetterAsync(Envelope envelope, string reason, CancellationToken cancellationToken = default);

    /// <summary>Sets aside a body that is not an envelope, with a reason; it is never dropped.</summary>
    Task SendRawToDeadLetterAsync(string messageText, string reason, CancellationToken cancellationToken = default);
}
