using System.Text.Json;
using Azure.Data.Tables;
using Azure.Storage.Queues.Models;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Threading;
using Mail.Storage.Azure;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace Mail.Functions;

/// <summary>
/// Storage Queue triggers on "inbound-poison" and "outbound-poison": each dead-lettered envelope (with our reason, or
/// moved there by the Functions host after maxDequeueCount failures, or a body that was not an envelope) is recorded
/// in the poison table (PartitionKey = source queue, RowKey = queue id + queue message id) with the reason and whether
/// its raw message is still in the message store. Raw messages are never deleted here. Only after the record is
/// written does the function return (and the host delete the poison message): nothing is dropped.
/// </summary>
public sealed class PoisonFunction(PoisonLog poison, IMessageStore messages, ILogger<PoisonFunction> log)
{
    [Function("InboundPoison")]
    public Task RunInbound([QueueTrigger(QueueNames.InboundPoison, Connection = QueueNames.Connection)] QueueMessage message, CancellationToken cancellationToken) =>
        RecordAsync(QueueNames.Inbound, message, cancellationToken);

    [Function("OutboundPoison")]
    public Task RunOutbound([QueueTrigger(QueueNames.OutboundPoison, Connection = QueueNames.Connection)] QueueMessage message, CancellationToken cancellationToken) =>
        RecordAsync(QueueNames.Outbound, message, cancellationToken);

    private async Task RecordAsync(string sourceQueue, QueueMessage message, CancellationToken cancellationToken)
    {
        PoisonRecord record;
        if (StorageQueueMessageQueue.TryParse(message.MessageText, out var envelope, out _, out var reason))
        {
            record = new PoisonRecord(sourceQueue, envelope.QueueId, message.MessageId, reason ?? "moved to the poison queue by the Functions host after repeated failures",
                envelope.MessageRef, await messages.ExistsAsync(envelope.MessageRef, cancellationToken), message.MessageText, DateTimeOffset.UtcNow);
        }
        else
        {
            string? rawReason = null;
            try
            {
                using var doc = JsonDocument.Parse(message.MessageText);
                if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty(EnvelopeJson.DeadLetterReasonProperty, out var r))
                    rawReason = r.GetString();
            }
            catch (JsonException)
            {
            }
            record = new PoisonRecord(sourceQueue, "unparsed", message.MessageId, rawReason ?? "not an envelope", null, false, message.MessageText, DateTimeOffset.UtcNow);
        }
        await poison.AddAsync(record, cancellationToken);
        log.LogError("{QueueId} from {Queue} dead-lettered: {Reason} (raw message kept: {Kept})", record.QueueId, sourceQueue, record.Reason, record.MessageExists);
    }
}

/// <summary>A dead-lettered envelope as recorded for an operator. <paramref name="Body"/> is the queue message text (the envelope JSON).</summary>
public sealed record PoisonRecord(string SourceQueue, string QueueId, string QueueMessageId, string Reason, string? MessageRef, bool MessageExists, string Body, DateTimeOffset RecordedAt);

/// <summary>The poison table: what operators look at (and what a requeue tool would read).</summary>
public sealed class PoisonLog(TableClient table)
{
    private readonly CreateOnce _created = new(ct => table.CreateIfNotExistsAsync(ct));

    public TableClient Table => table;

    public async Task AddAsync(PoisonRecord r, CancellationToken cancellationToken = default)
    {
        await _created.EnsureAsync(cancellationToken);
        var entity = new TableEntity(r.SourceQueue, Key(r.QueueId + "~" + r.QueueMessageId))
        {
            ["QueueId"] = r.QueueId,
            ["QueueMessageId"] = r.QueueMessageId,
            ["Reason"] = r.Reason.Length > 8000 ? r.Reason[..8000] : r.Reason,
            ["MessageRef"] = r.MessageRef,
            ["MessageExists"] = r.MessageExists,
            // A Table string holds 32 K characters; an envelope is far smaller (claim-check), a garbage body may not be.
            ["Body"] = r.Body.Length > 30_000 ? r.Body[..30_000] : r.Body,
            ["BodyTruncated"] = r.Body.Length > 30_000,
            ["RecordedAt"] = r.RecordedAt,
        };
        // Upsert: a redelivered poison message (the host retrying us) rewrites the same record.
        await table.UpsertEntityAsync(entity, TableUpdateMode.Replace, cancellationToken);
    }

    public async Task<IReadOnlyList<PoisonRecord>> ListAsync(string sourceQueue, CancellationToken cancellationToken = default)
    {
        await _created.EnsureAsync(cancellationToken);
        var list = new List<PoisonRecord>();
        await foreach (var e in table.QueryAsync<TableEntity>(x => x.PartitionKey == sourceQueue, cancellationToken: cancellationToken))
        {
            list.Add(new PoisonRecord(e.PartitionKey, e.GetString("QueueId") ?? "", e.GetString("QueueMessageId") ?? "", e.GetString("Reason") ?? "",
                e.GetString("MessageRef"), e.GetBoolean("MessageExists") ?? false, e.GetString("Body") ?? "", e.GetDateTimeOffset("RecordedAt") ?? default));
        }
        return list;
    }

    private static string Key(string s) => new(s.Select(c => c is '/' or '\\' or '#' or '?' || char.IsControl(c) ? '_' : c).ToArray());
}
