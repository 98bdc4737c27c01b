using Azure.Messaging.ServiceBus;

namespace Mail.Azure.Tests;

/// <summary>
/// The SDK's clients are designed for mocking (protected constructors, virtual methods): these record what the adapter
/// asked Service Bus to do. They stand in for a namespace only in the Service Bus unit tests; no emulator runs here.
/// </summary>
internal sealed class FakeSender(string entityPath) : ServiceBusSender
{
    public List<ServiceBusMessage> Sent { get; } = [];
    public List<(ServiceBusMessage Message, DateTimeOffset At)> Scheduled { get; } = [];
    public List<string> Calls { get; } = [];

    public override string EntityPath => entityPath;

    public override Task SendMessageAsync(ServiceBusMessage message, CancellationToken cancellationToken = default)
    {
        Sent.Add(message);
        Calls.Add("send");
        return Task.CompletedTask;
    }

    public override Task<long> ScheduleMessageAsync(ServiceBusMessage message, DateTimeOffset scheduledEnqueueTime, CancellationToken cancellationToken = default)
    {
        Scheduled.Add((message, scheduledEnqueueTime));
        Calls.Add("schedule");
        return Task.FromResult((long)Scheduled.Count);
    }
}

internal sealed class FakeReceiver(string entityPath, List<string>? calls = null) : ServiceBusReceiver
{
    public Queue<ServiceBusReceivedMessage> Incoming { get; } = new();
    public List<ServiceBusReceivedMessage> Peekable { get; } = [];
    public List<ServiceBusReceivedMessage> Completed { get; } = [];
    public List<ServiceBusReceivedMessage> Abandoned { get; } = [];
    public List<(ServiceBusReceivedMessage Message, string Reason, string? Description)> DeadLettered { get; } = [];
    public List<string> Calls { get; } = calls ?? [];

    public override string EntityPath => entityPath;

    public override Task<IReadOnlyList<ServiceBusReceivedMessage>> ReceiveMessagesAsync(int maxMessages, TimeSpan? maxWaitTime = null, CancellationToken cancellationToken = default)
    {
        var list = new List<ServiceBusReceivedMessage>();
        while (list.Count < maxMessages && Incoming.Count > 0) list.Add(Incoming.Dequeue());
        return Task.FromResult<IReadOnlyList<ServiceBusReceivedMessage>>(list);
    }

    public override Task CompleteMessageAsync(ServiceBusReceivedMessage message, CancellationToken cancellationToken = default)
    {
        Completed.Add(message);
        Calls.Add("complete");
        return Task.CompletedTask;
    }

    public override Task AbandonMessageAsync(ServiceBusReceivedMessage message, IDictionary<string, object>? propertiesToModify = null, CancellationToken cancellationToken = default)
    {
        Abandoned.Add(message);
        Calls.Add("abandon");
        return Task.CompletedTask;
    }

    public override Task DeadLetterMessageAsync(ServiceBusReceivedMessage message, string deadLetterReason, string? deadLetterErrorDescription = null, CancellationToken cancellationToken = default)
    {
        DeadLettered.Add((message, deadLetterReason, deadLetterErrorDescription));
        Calls.Add("deadletter");
        return Task.CompletedTask;
    }

    public override Task<IReadOnlyList<ServiceBusReceivedMessage>> PeekMessagesAsync(int maxMessages, long? fromSequenceNumber = null, CancellationToken cancellationToken = default)
    {
        var from = fromSequenceNumber ?? 0;
        return Task.FromResult<IReadOnlyList<ServiceBusReceivedMessage>>(
            Peekable.Where(m => m.SequenceNumber >= from).OrderBy(m => m.SequenceNumber).Take(maxMessages).ToList());
    }
}

internal static class Received
{
    private static long s_sequence;

    /// <summary>A received message as Service Bus would hand it over, built with <see cref="ServiceBusModelFactory"/>.</summary>
    public static ServiceBusReceivedMessage From(ServiceBusMessage sent, int deliveryCount = 1, ServiceBusMessageState state = ServiceBusMessageState.Active,
        string? deadLetterReason = null, string? deadLetterDescription = null, DateTimeOffset scheduledAt = default)
    {
        var properties = new Dictionary<string, object>(sent.ApplicationProperties);
        if (deadLetterReason is not null) properties["DeadLetterReason"] = deadLetterReason;
        if (deadLetterDescription is not null) properties["DeadLetterErrorDescription"] = deadLetterDescription;
        return ServiceBusModelFactory.ServiceBusReceivedMessage(
            body: sent.Body,
            messageId: sent.MessageId,
            contentType: sent.ContentType,
            subject: sent.Subject,
            properties: properties,
            lockTokenGuid: Guid.NewGuid(),
            deliveryCount: deliveryCount,
            lockedUntil: DateTimeOffset.UtcNow.AddMinutes(1),
            sequenceNumber: Interlocked.Increment(ref s_sequence),
            scheduledEnqueueTime: scheduledAt,
            serviceBusMessageState: state);
    }
}
