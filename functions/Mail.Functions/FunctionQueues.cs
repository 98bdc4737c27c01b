using Mail.Core.Ports;

namespace Mail.Functions;

/// <summary>The queues the triggers read, as ports (for dead-lettering and re-scheduling from a trigger): Storage Queues
/// today (<c>StorageQueueMessageQueue</c>, built in <see cref="CloudServices"/>), but the functions see only the port.</summary>
public sealed record FunctionQueues(ITriggeredQueue Inbound, ITriggeredQueue Outbound);
