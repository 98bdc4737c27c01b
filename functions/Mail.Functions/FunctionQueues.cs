using Mail.Storage.Azure;

namespace Mail.Functions;

/// <summary>The Storage Queues the triggers read, as adapters (for dead-lettering and re-scheduling from a trigger).</summary>
public sealed record FunctionQueues(StorageQueueMessageQueue Inbound, StorageQueueMessageQueue Outbound);
