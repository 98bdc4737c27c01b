using Azure.Storage.Queues.Models;
using Mail.Core.Model;
using Mail.Core.Ports;
using Microsoft.Extensions.Logging;

namespace Mail.Functions;

/// <summary>What every Storage Queue trigger does first with the body it is handed, before its stage runs.</summary>
internal static class TriggeredEnvelope
{
    /// <summary>The envelope to run now, or null when the body was dealt with here: one that is not an envelope is set
    /// aside on the queue's dead-letter queue with the reason (never retried forever, never dropped); one scheduled past
    /// the 7-day visibility cap is put back hidden until due (the host then deletes this copy).</summary>
    public static async Task<Envelope?> ReadDueAsync(ITriggeredQueue queue, string queueName, QueueMessage message, DateTimeOffset now, ILogger log, CancellationToken cancellationToken)
    {
        if (!queue.TryRead(message.MessageText, out var envelope, out var notBefore, out _))
        {
            log.LogError("Queue message {Id} on {Queue} is not an envelope; set aside", message.MessageId, queueName);
            await queue.SendRawToDeadLetterAsync(message.MessageText, "Malformed envelope (not the JSON of an Envelope)", cancellationToken);
            return null;
        }
        if (notBefore is { } nb && nb > now)
        {
            await queue.SendAsync(envelope, nb, cancellationToken);
            return null;
        }
        return envelope;
    }
}
