using Azure;
using Azure.Data.Tables;
using Mail.Core.Ports;
using Mail.Core.Threading;

namespace Mail.Storage.Azure;

/// <summary>
/// <see cref="IMailboxStore"/> on one Azure table, one partition per user, so that everything a change touches
/// can go into one entity-group transaction. Row keys:
/// <list type="bullet">
/// <item><c>meta</c> — the user's next UIDVALIDITY;</item>
/// <item><c>mbx|NAME</c> — a mailbox: its id, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, counts;</item>
/// <item><c>subscriptions</c> and <c>sub|NAME</c> — the subscribed names (TableMailboxStore.Subscriptions.cs);</item>
/// <item><c>msg|ID|UID</c> — a message record (UID zero-padded so row order is UID order);</item>
/// <item><c>dk|ID|KEY</c> — a delivery key already appended to the mailbox (idempotent delivery);</item>
/// <item><c>exp|ID|MODSEQ|UID</c> — the expunge log (QRESYNC VANISHED).</item>
/// </list>
/// Children hang off the mailbox's immutable id, not its name, so RENAME rewrites one row per mailbox.
/// Every change updates the mailbox row with its ETag in the same transaction: two Function instances appending
/// to one mailbox at once cannot both take the same UID; the loser gets 412 and retries with fresh numbers.
/// A transaction holds at most 100 operations, so bulk STORE/EXPUNGE/COPY/MOVE run in chunks, each atomic.
/// COPY shares one message ref between rows. With a message store, EXPUNGE and mailbox DELETE delete the messages whose
/// last row they removed: once the rows' transactions are committed, a query of the user's partition for rows still
/// naming those refs finds none. A COPY conditions its transaction on the source rows' ETags, so one that read a row
/// an EXPUNGE then removed fails and reads again rather than committing a row naming a deleted blob. A crash between
/// the two steps leaves an unreferenced blob behind, never a row without its message.
/// </summary>
public sealed partial class TableMailboxStore : IMailboxStore
{
    public const string DefaultTableName = "mailboxes";
    private const int MaxAttempts = 200;
    private const string Inbox = "INBOX";

    private readonly TableClient _table;
    private readonly TimeProvider _time;
    private readonly CreateOnce _created;
    private readonly SemaphoreSlim[] _appendStripes = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();

    private readonly IMessageStore? _messages;

    /// <param name="messages">Where the rows' messages live (the Blob container), so that a message no row references
    /// any more is deleted; null keeps every message.</param>
    public TableMailboxStore(TableServiceClient tables, string tableName = DefaultTableName, TimeProvider? time = null, IMessageStore? messages = null)
        : this(tables.GetTableClient(tableName), time, messages)
    {
    }

    public TableMailboxStore(TableClient table, TimeProvider? time = null, IMessageStore? messages = null)
    {
        _table = table;
        _messages = messages;
        _time = time ?? TimeProvider.System;
        _created = new CreateOnce(ct => _table.CreateIfNotExistsAsync(ct));
    }

    public TableClient Table => _table;

    // ---- mailboxes ----

    public async Task EnsureUserMailboxesAsync(string user, CancellationToken cancellationToken = default)
    {
        var existing = (await ListMailboxesAsync(user, cancellationToken)).Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var (name, use) in SpecialUse.Defaults)
        {
            if (existing.Contains(name)) continue;
            try
            {
                await CreateMailboxAsync(user, name, use, cancellationToken);
                await SetSubscribedAsync(user, name, true, cancellationToken);
            }
            catch (MailboxExistsException)
            {
                // Created concurrently: that is what we wanted (and the creator subscribes it).
            }
        }
    }

    public async Task<IReadOnlyList<MailboxInfo>> ListMailboxesAsync(string user, CancellationToken cancellationToken = default)
    {
        await _created.EnsureAsync(cancellationToken);
        var list = new List<MailboxInfo>();
        await foreach (var e in QueryRangeAsync(user, "mbx|", cancellationToken))
            list.Add(new MailboxRow(e).ToInfo(user));
        list.Sort((a, b) => (a.Name == Inbox, b.Name == Inbox) switch
        {
            (true, false) => -1,
            (false, true) => 1,
            _ => string.CompareOrdinal(a.Name, b.Name),
        });
        return list;
    }

    public async Task<MailboxInfo?> GetMailboxAsync(string user, string mailbox, CancellationToken cancellationToken = default) =>
        (await GetMailboxRowAsync(user, Normalize(mailbox), cancellationToken))?.ToInfo(user);

    public async Task<MailboxInfo> CreateMailboxAsync(string user, string mailbox, string? specialUse = null, CancellationToken cancellationToken = default)
    {
        var name = Normalize(mailbox);
        if (name.Length == 0) throw new ArgumentException("Mailbox name is empty.", nameof(mailbox));
        return await RetryAsync(async () =>
        {
            var (meta, uidValidity) = await AllocateUidValidityAsync(user, cancellationToken);
            var row = MailboxRow.New(user, name, Guid.NewGuid().ToString("N"), uidValidity, specialUse);
            try
            {
                await _table.SubmitTransactionAsync([meta, new TableTransactionAction(TableTransactionActionType.Add, row.Entity)], cancellationToken);
            }
            catch (TableTransactionFailedException e) when (e.Status == 409 && e.FailedTransactionActionIndex == 1)
            {
                throw new MailboxExistsException(name);
            }
            return row.ToInfo(user);
        }, cancellationToken);
    }

    public async Task DeleteMailboxAsync(string user, string mailbox, CancellationToken cancellationToken = default)
    {
        var name = Normalize(mailbox);
        var row = await GetMailboxRowAsync(user, name, cancellationToken) ?? throw new MailboxNotFoundException(name);
        try
        {
            await _table.DeleteEntityAsync(row.Entity.PartitionKey, row.Entity.RowKey, row.Entity.ETag, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status == 412)
        {
            // Changed since we read it (a delivery): deleting anyway is what was asked.
            await _table.DeleteEntityAsync(row.Entity.PartitionKey, row.Entity.RowKey, ETag.All, cancellationToken);
        }
        // The mailbox is gone for every reader now; its children are orphans keyed by an id nothing refers to,
        // so removing them can be slow or interrupted without harm.
        var released = new List<string>();
        foreach (var prefix in new[] { "msg|", "dk|", "exp|" })
        {
            var batch = new List<TableTransactionAction>();
            await foreach (var e in QueryRangeAsync(user, prefix + row.Id + "|", cancellationToken, select: ["PartitionKey", "RowKey", "MessageRef"]))
            {
                if (prefix == "msg|" && e.GetString("MessageRef") is { } messageRef) released.Add(messageRef);
                e.Remove("MessageRef");
                batch.Add(new TableTransactionAction(TableTransactionActionType.Delete, e, ETag.All));
                if (batch.Count == 100)
                {
                    await SubmitDeletesAsync(batch, cancellationToken);
                    batch.Clear();
                }
            }
            if (batch.Count > 0) await SubmitDeletesAsync(batch, cancellationToken);
        }
        await DeleteUnreferencedAsync(user, released);
    }

    public async Task RenameMailboxAsync(string user, string oldName, string newName, CancellationToken cancellationToken = default)
    {
        var from = Normalize(oldName);
        var to = Normalize(newName);
        if (to.Length == 0) throw new ArgumentException("Mailbox name is empty.", nameof(newName));
        (string OldId, string NewId, long ModSeq)? carry = null;
        var renamedNames = await RetryAsync(async () =>
        {
            var all = new Dictionary<string, MailboxRow>(StringComparer.Ordinal);
            await foreach (var e in QueryRangeAsync(user, "mbx|", cancellationToken))
            {
                var r = new MailboxRow(e);
                all[r.Name] = r;
            }
            if (!all.TryGetValue(from, out var source)) throw new MailboxNotFoundException(from);
            if (all.ContainsKey(to)) throw new MailboxExistsException(to);

            if (from == Inbox)
            {
                // RFC 9051 6.3.6: renaming INBOX moves its messages to the new mailbox and leaves INBOX empty; INBOX's
                // children are not renamed. INBOX gets a new id (its old messages went with the old one) but keeps its
                // UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ, so no UID is ever reused under that UIDVALIDITY.
                var moved = source.CopyAs(user, to);
                var fresh = MailboxRow.New(user, Inbox, Guid.NewGuid().ToString("N"), source.UidValidity, source.SpecialUse);
                fresh.UidNext = source.UidNext;
                fresh.HighestModSeq = source.HighestModSeq + 1;
                await _table.SubmitTransactionAsync(
                [
                    new TableTransactionAction(TableTransactionActionType.Add, moved.Entity),
                    new TableTransactionAction(TableTransactionActionType.UpdateReplace, fresh.Entity, source.Entity.ETag),
                ], cancellationToken);
                carry = (source.Id, fresh.Id, fresh.HighestModSeq);
                return new List<string>(); // INBOX stays, and so do the subscriptions
            }

            var targets = all.Values.Where(r => r.Name == from || r.Name.StartsWith(from + "/", StringComparison.Ordinal)).ToList();
            foreach (var t in targets)
            {
                var renamed = to + t.Name[from.Length..];
                if (all.ContainsKey(renamed)) throw new MailboxExistsException(renamed);
            }
            // Delete + add per mailbox; 50 mailboxes per transaction (a deep tree is renamed in several steps).
            foreach (var chunk in targets.Chunk(50))
            {
                var actions = new List<TableTransactionAction>();
                foreach (var t in chunk)
                {
                    actions.Add(new TableTransactionAction(TableTransactionActionType.Delete, t.Entity, t.Entity.ETag));
                    actions.Add(new TableTransactionAction(TableTransactionActionType.Add, t.CopyAs(user, to + t.Name[from.Length..]).Entity));
                }
                await _table.SubmitTransactionAsync(actions, cancellationToken);
            }
            return targets.Select(t => t.Name).ToList();
        }, cancellationToken);
        if (carry is { } c) await CarryInboxExpungeLogAsync(user, c.OldId, c.NewId, c.ModSeq, cancellationToken);
        // After the mailboxes, not in their transactions (another row group): a crash in between leaves the old
        // names subscribed, which a client sees as \NonExistent \Subscribed and can fix.
        await MoveSubscriptionsAsync(user, renamedNames, from, to, cancellationToken);
    }

    /// <summary>
    /// After INBOX was renamed, its new id must still answer QRESYNC for the old UIDs under the same UIDVALIDITY:
    /// the old expunge log is copied, and every message that moved away is logged as expunged at the new
    /// HIGHESTMODSEQ. Written after the rename's transaction (a message count is not bounded by one transaction):
    /// a crash in between leaves those UIDs out of INBOX's log.
    /// </summary>
    private async Task CarryInboxExpungeLogAsync(string user, string oldId, string newId, long modSeq, CancellationToken cancellationToken)
    {
        var rows = new List<TableEntity>();
        await foreach (var e in QueryRangeAsync(user, $"exp|{oldId}|", cancellationToken))
            rows.Add(ExpungeEntity(user, newId, e.GetInt64("Uid") ?? 0, e.GetInt64("ModSeq") ?? 0));
        await foreach (var e in QueryRangeAsync(user, $"msg|{oldId}|", cancellationToken, select: ["Uid"]))
            rows.Add(ExpungeEntity(user, newId, e.GetInt64("Uid") ?? 0, modSeq));
        foreach (var chunk in rows.Chunk(100))
            await _table.SubmitTransactionAsync(chunk.Select(e => new TableTransactionAction(TableTransactionActionType.UpsertReplace, e)), cancellationToken);
    }

    // ---- messages ----

    public async Task<AppendResult> AppendAsync(string user, string mailbox, NewMessage message, CancellationToken cancellationToken = default)
    {
        var name = Normalize(mailbox);
        // Appenders in this process take turns per mailbox (striped locks): they would only make each other lose
        // ETag races. Other instances still race, and the ETag keeps that correct.
        var stripe = _appendStripes[(int)((uint)StringComparer.Ordinal.GetHashCode(user + "\n" + name) % (uint)_appendStripes.Length)];
        await stripe.WaitAsync(cancellationToken);
        try
        {
            return await AppendOnceAsync(user, name, message, cancellationToken);
        }
        finally
        {
            stripe.Release();
        }
    }

    private async Task<AppendResult> AppendOnceAsync(string user, string name, NewMessage message, CancellationToken cancellationToken)
    {
        return await RetryAsync(async () =>
        {
            var box = await GetMailboxRowAsync(user, name, cancellationToken) ?? throw new MailboxNotFoundException(name);
            string? dkKey = DeliveryRowKey(box, message);
            if (dkKey is not null)
            {
                var present = await GetEntityAsync(user, dkKey, cancellationToken);
                if (present is not null) return await AlreadyPresentAsync(user, box, present, cancellationToken);
            }
            var actions = new List<TableTransactionAction> { new(TableTransactionActionType.UpdateReplace, box.Entity, box.Entity.ETag) };
            var result = AddRow(user, box, message, dkKey, actions);
            // 412 on the mailbox row (another appender took this UID) or 409 on the delivery key (another instance
            // delivered the same envelope): RetryAsync reads again; the next round sees the new UIDNEXT or the key.
            await _table.SubmitTransactionAsync(actions, cancellationToken);
            return result;
        }, cancellationToken);
    }

    /// <summary>
    /// All the rows in one entity-group transaction (the user's partition): each mailbox row once under its ETag, the
    /// records, the delivery keys. An EXPUNGE's query for rows still naming a ref runs after its own commit, so it sees
    /// all these rows or none. No stripe lock (it would take several): the ETags keep concurrent appenders correct.
    /// </summary>
    public async Task<IReadOnlyList<AppendResult>> AppendAllAsync(string user, IReadOnlyList<(string Mailbox, NewMessage Message)> appends, CancellationToken cancellationToken = default)
    {
        if (appends.Count == 1) return [await AppendAsync(user, appends[0].Mailbox, appends[0].Message, cancellationToken)];
        // 1 mailbox row + 2 operations a row must fit the 100 of a transaction; a delivery files into a few mailboxes.
        if (appends.Count > MaxRowsAtOnce)
            throw new ArgumentException($"At most {MaxRowsAtOnce} rows are appended at once (one Table transaction); {appends.Count} given", nameof(appends));
        return await RetryAsync(async () =>
        {
            var boxes = new Dictionary<string, MailboxRow>(StringComparer.Ordinal);
            var changed = new HashSet<string>(StringComparer.Ordinal);
            var results = new AppendResult[appends.Count];
            var actions = new List<TableTransactionAction>();
            for (var i = 0; i < appends.Count; i++)
            {
                var (mailbox, message) = appends[i];
                var name = Normalize(mailbox);
                if (!boxes.TryGetValue(name, out var box))
                    boxes[name] = box = await GetMailboxRowAsync(user, name, cancellationToken) ?? throw new MailboxNotFoundException(name);
                var dkKey = DeliveryRowKey(box, message);
                if (dkKey is not null && await GetEntityAsync(user, dkKey, cancellationToken) is { } present)
                {
                    results[i] = await AlreadyPresentAsync(user, box, present, cancellationToken);
                    continue;
                }
                results[i] = AddRow(user, box, message, dkKey, actions);
                changed.Add(name);
            }
            if (actions.Count == 0) return results;
            foreach (var name in changed) actions.Insert(0, new(TableTransactionActionType.UpdateReplace, boxes[name].Entity, boxes[name].Entity.ETag));
            await _table.SubmitTransactionAsync(actions, cancellationToken);
            return (IReadOnlyList<AppendResult>)results;
        }, cancellationToken);
    }

    /// <summary>Rows one <see cref="AppendAllAsync"/> takes: 3 operations each (mailbox row, record, delivery key) in 100.</summary>
    public const int MaxRowsAtOnce = 33;

    private static string? DeliveryRowKey(MailboxRow box, NewMessage message) =>
        message.DeliveryKey is null ? null : $"dk|{box.Id}|{TableKey.Escape(message.DeliveryKey)}";

    /// <summary>Adds a new row's record (and delivery key) to <paramref name="actions"/> and takes its UID and MODSEQ from
    /// <paramref name="box"/>, whose counts it updates; the caller writes the mailbox row under its ETag in the same transaction.</summary>
    private static AppendResult AddRow(string user, MailboxRow box, NewMessage message, string? dkKey, List<TableTransactionAction> actions)
    {
        var uid = box.UidNext;
        var modSeq = box.HighestModSeq + 1;
        var flags = Distinct(message.Flags);
        var record = new MessageRecord(uid, message.MessageRef, message.Size, message.InternalDate, flags, modSeq);
        box.UidNext = uid + 1;
        box.HighestModSeq = modSeq;
        box.MessageCount++;
        box.AddOctets(message.Size);
        if (!HasSeen(flags)) box.UnseenCount++;
        actions.Add(new(TableTransactionActionType.Add, MessageEntity(user, box.Id, record)));
        if (dkKey is not null)
        {
            actions.Add(new(TableTransactionActionType.Add, new TableEntity(Pk(user), dkKey)
            {
                ["Uid"] = uid,
                ["MessageRef"] = message.MessageRef,
                ["Size"] = message.Size,
                ["InternalDate"] = message.InternalDate.ToUniversalTime(),
            }));
        }
        return new AppendResult(record, box.UidValidity, false);
    }

    public async Task<IReadOnlyList<MessageRecord>> ListMessagesAsync(string user, string mailbox, long? changedSince = null, CancellationToken cancellationToken = default)
    {
        var name = Normalize(mailbox);
        var box = await GetMailboxRowAsync(user, name, cancellationToken) ?? throw new MailboxNotFoundException(name);
        var list = new List<MessageRecord>();
        var extra = changedSince is { } cs ? TableClient.CreateQueryFilter($"ModSeq gt {cs}") : null;
        await foreach (var e in QueryRangeAsync(user, $"msg|{box.Id}|", cancellationToken, extra))
            list.Add(ToRecord(e));
        return list;
    }

    public async Task<StoreResult> StoreFlagsAsync(string user, string mailbox, IReadOnlyCollection<long> uids, FlagChange change, IReadOnlyCollection<string> flags, long? unchangedSince = null, CancellationToken cancellationToken = default)
    {
        var name = Normalize(mailbox);
        var changed = new List<MessageRecord>();
        var failed = new List<long>();
        long highest = 0;
        var wanted = uids.Distinct().Order().ToList();
        if (wanted.Count == 0)
        {
            var box = await GetMailboxRowAsync(user, name, cancellationToken) ?? throw new MailboxNotFoundException(name);
            return new StoreResult([], [], box.HighestModSeq);
        }
        // 99 messages + the mailbox row per transaction.
        foreach (var chunk in wanted.Chunk(99))
        {
            var (c, f, h) = await RetryAsync(async () =>
            {
                var box = await GetMailboxRowAsync(user, name, cancellationToken) ?? throw new MailboxNotFoundException(name);
                var rows = await LoadMessagesAsync(user, box.Id, chunk, cancellationToken);
                var modSeq = box.HighestModSeq + 1;
                var chunkChanged = new List<MessageRecord>();
                var chunkFailed = new List<long>();
                var actions = new List<TableTransactionAction>();
                var unseenDelta = 0;
                foreach (var e in rows)
                {
                    var r = ToRecord(e);
                    if (unchangedSince is { } us && r.ModSeq > us)
                    {
                        chunkFailed.Add(r.Uid);
                        continue;
                    }
                    var next = Apply(r.Flags, change, flags);
                    if (SameFlags(next, r.Flags)) continue;
                    unseenDelta += (HasSeen(r.Flags) ? 1 : 0) - (HasSeen(next) ? 1 : 0);
                    var updated = r with { Flags = next, ModSeq = modSeq };
                    actions.Add(new(TableTransactionActionType.UpdateReplace, MessageEntity(user, box.Id, updated), e.ETag));
                    chunkChanged.Add(updated);
                }
                if (actions.Count == 0) return (chunkChanged, chunkFailed, box.HighestModSeq);
                box.HighestModSeq = modSeq;
                box.UnseenCount += unseenDelta;
                actions.Insert(0, new(TableTransactionActionType.UpdateReplace, box.Entity, box.Entity.ETag));
                await _table.SubmitTransactionAsync(actions, cancellationToken);
                return (chunkChanged, chunkFailed, modSeq);
            }, cancellationToken);
            changed.AddRange(c);
            failed.AddRange(f);
            highest = Math.Max(highest, h);
        }
        return new StoreResult(changed, failed, highest);
    }

    public async Task<IReadOnlyList<long>> ExpungeAsync(string user, string mailbox, IReadOnlyCollection<long>? uids = null, CancellationToken cancellationToken = default)
    {
        var name = Normalize(mailbox);
        var box0 = await GetMailboxRowAsync(user, name, cancellationToken) ?? throw new MailboxNotFoundException(name);
        var only = uids?.ToHashSet();
        var candidates = new List<long>();
        await foreach (var e in QueryRangeAsync(user, $"msg|{box0.Id}|", cancellationToken))
        {
            var r = ToRecord(e);
            if (r.Flags.Contains(MessageFlags.Deleted, StringComparer.OrdinalIgnoreCase) && (only is null || only.Contains(r.Uid)))
                candidates.Add(r.Uid);
        }
        var removed = new List<long>();
        var released = new List<string>();
        // Per message: delete the record and log the expunge; 49 messages + the mailbox row per transaction.
        foreach (var chunk in candidates.Chunk(49))
        {
            var refs = new List<string>();
            removed.AddRange(await RetryAsync(async () =>
            {
                var box = await GetMailboxRowAsync(user, name, cancellationToken) ?? throw new MailboxNotFoundException(name);
                if (box.Id != box0.Id) return new List<long>();
                var rows = await LoadMessagesAsync(user, box.Id, chunk, cancellationToken);
                var modSeq = box.HighestModSeq + 1;
                var actions = new List<TableTransactionAction>();
                var gone = new List<long>();
                refs.Clear();
                foreach (var e in rows)
                {
                    var r = ToRecord(e);
                    if (!r.Flags.Contains(MessageFlags.Deleted, StringComparer.OrdinalIgnoreCase)) continue;
                    actions.Add(new(TableTransactionActionType.Delete, e, e.ETag));
                    actions.Add(new(TableTransactionActionType.Add, ExpungeEntity(user, box.Id, r.Uid, modSeq)));
                    box.MessageCount--;
                    box.AddOctets(-r.Size);
                    if (!HasSeen(r.Flags)) box.UnseenCount--;
                    gone.Add(r.Uid);
                    refs.Add(r.MessageRef);
                }
                if (gone.Count == 0) return gone;
                box.HighestModSeq = modSeq;
                actions.Insert(0, new(TableTransactionActionType.UpdateReplace, box.Entity, box.Entity.ETag));
                await _table.SubmitTransactionAsync(actions, cancellationToken);
                return gone;
            }, cancellationToken));
            released.AddRange(refs);
        }
        await DeleteUnreferencedAsync(user, released);
        return removed;
    }

    /// <summary>
    /// Deletes the messages of <paramref name="released"/> (refs of rows just removed, their transactions committed)
    /// that no row of the user's partition names any more. Not the caller's token: the rows are gone, so their
    /// messages go too. A failure leaves an unreferenced blob (space, never mail).
    /// </summary>
    private async Task DeleteUnreferencedAsync(string user, List<string> released)
    {
        if (_messages is null || released.Count == 0) return;
        var candidates = released.Where(r => r.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        var referenced = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            // A few refs per query: the filter stays short, and only the rows naming them come back.
            foreach (var chunk in candidates.Chunk(16))
            {
                var any = string.Join(" or ", chunk.Select(r => "MessageRef eq " + TableKey.Quote(r)));
                await foreach (var e in QueryRangeAsync(user, "msg|", CancellationToken.None, "(" + any + ")", select: ["MessageRef"]))
                    if (e.GetString("MessageRef") is { } messageRef) referenced.Add(messageRef);
            }
            foreach (var messageRef in candidates)
            {
                if (!referenced.Contains(messageRef)) await _messages.DeleteAsync(messageRef, CancellationToken.None);
            }
        }
        catch (RequestFailedException)
        {
            // An unreferenced blob stays behind.
        }
    }

    public Task<CopyResult> CopyAsync(string user, string source, IReadOnlyCollection<long> uids, string destination, CancellationToken cancellationToken = default) =>
        TransferAsync(user, source, uids, destination, move: false, cancellationToken);

    public Task<CopyResult> MoveAsync(string user, string source, IReadOnlyCollection<long> uids, string destination, CancellationToken cancellationToken = default) =>
        TransferAsync(user, source, uids, destination, move: true, cancellationToken);

    public async Task<long> GetUsageAsync(string user, CancellationToken cancellationToken = default)
    {
        long total = 0;
        await foreach (var e in QueryRangeAsync(user, "mbx|", cancellationToken))
        {
            var row = new MailboxRow(e);
            total += row.Octets ?? await RecountOctetsAsync(user, row, cancellationToken);
        }
        return total;
    }

    /// <summary>
    /// A mailbox row written before rows kept their octets: counted once from the message records and written back
    /// under the ETag read with the row. Every change of a record rewrites the mailbox row in the same transaction,
    /// so a change since makes the write fail (412) and the next reader counts again: the kept value is never stale.
    /// </summary>
    private async Task<long> RecountOctetsAsync(string user, MailboxRow row, CancellationToken cancellationToken)
    {
        long sum = 0;
        await foreach (var m in QueryRangeAsync(user, $"msg|{row.Id}|", cancellationToken, select: ["Size"]))
            sum += m.GetInt64("Size") ?? 0;
        row.Entity["Octets"] = sum;
        try
        {
            await _table.UpdateEntityAsync(row.Entity, row.Entity.ETag, TableUpdateMode.Replace, cancellationToken);
        }
        catch (RequestFailedException e) when (e.Status is 412 or 404)
        {
            // Changed or deleted meanwhile: the sum is still this reading's answer.
        }
        return sum;
    }

    public async Task<IReadOnlyList<long>> ListExpungedAsync(string user, string mailbox, long sinceModSeq, CancellationToken cancellationToken = default)
    {
        var name = Normalize(mailbox);
        var box = await GetMailboxRowAsync(user, name, cancellationToken) ?? throw new MailboxNotFoundException(name);
        var list = new List<long>();
        var extra = TableClient.CreateQueryFilter($"ModSeq gt {sinceModSeq}");
        await foreach (var e in QueryRangeAsync(user, $"exp|{box.Id}|", cancellationToken, extra))
            list.Add(e.GetInt64("Uid") ?? 0);
        list.Sort();
        return list;
    }

    /// <summary>COPY, or MOVE (copy + delete + expunge log in the same transaction, so a message is never in both or neither).</summary>
    private async Task<CopyResult> TransferAsync(string user, string source, IReadOnlyCollection<long> uids, string destination, bool move, CancellationToken cancellationToken)
    {
        var from = Normalize(source);
        var to = Normalize(destination);
        var map = new List<(long, long)>();
        var dst0 = await GetMailboxRowAsync(user, to, cancellationToken) ?? throw new MailboxNotFoundException(to);
        _ = await GetMailboxRowAsync(user, from, cancellationToken) ?? throw new MailboxNotFoundException(from);
        var wanted = uids.Distinct().Order().ToList();
        // Copy: 49 new records, each with its source row's ETag check, + the mailbox row. Move: 3 operations per message
        // + 2 mailbox rows.
        foreach (var chunk in wanted.Chunk(move ? 32 : 49))
        {
            map.AddRange(await RetryAsync(async () =>
            {
                var src = await GetMailboxRowAsync(user, from, cancellationToken) ?? throw new MailboxNotFoundException(from);
                var dst = from == to ? src : await GetMailboxRowAsync(user, to, cancellationToken) ?? throw new MailboxNotFoundException(to);
                var rows = await LoadMessagesAsync(user, src.Id, chunk, cancellationToken);
                if (rows.Count == 0) return new List<(long, long)>();
                var actions = new List<TableTransactionAction>();
                var pairs = new List<(long, long)>();
                var srcModSeq = src.HighestModSeq + 1;
                var dstModSeq = from == to ? srcModSeq : dst.HighestModSeq + 1;
                foreach (var e in rows)
                {
                    var r = ToRecord(e);
                    var copy = r with { Uid = dst.UidNext++, ModSeq = dstModSeq };
                    actions.Add(new(TableTransactionActionType.Add, MessageEntity(user, dst.Id, copy)));
                    dst.MessageCount++;
                    dst.AddOctets(r.Size);
                    if (!HasSeen(r.Flags)) dst.UnseenCount++;
                    pairs.Add((r.Uid, copy.Uid));
                    if (!move)
                    {
                        // The source row, unchanged, under its ETag: an EXPUNGE that removed it since (and may have
                        // deleted its message, this copy not yet counted) fails this transaction; the retry reads again.
                        actions.Add(new(TableTransactionActionType.UpdateMerge, e, e.ETag));
                    }
                    else
                    {
                        actions.Add(new(TableTransactionActionType.Delete, e, e.ETag));
                        actions.Add(new(TableTransactionActionType.Add, ExpungeEntity(user, src.Id, r.Uid, srcModSeq)));
                        src.MessageCount--;
                        src.AddOctets(-r.Size);
                        if (!HasSeen(r.Flags)) src.UnseenCount--;
                    }
                }
                dst.HighestModSeq = dstModSeq;
                if (move) src.HighestModSeq = srcModSeq;
                actions.Insert(0, new(TableTransactionActionType.UpdateReplace, dst.Entity, dst.Entity.ETag));
                if (move && !ReferenceEquals(src, dst))
                    actions.Insert(1, new(TableTransactionActionType.UpdateReplace, src.Entity, src.Entity.ETag));
                try
                {
                    await _table.SubmitTransactionAsync(actions, cancellationToken);
                }
                catch (TableTransactionFailedException e) when (e.Status == 404)
                {
                    // A source row (or a mailbox) went meanwhile: read again, as after a lost ETag race.
                    throw new RequestFailedException(412, "a row of the transfer changed meanwhile", e);
                }
                return pairs;
            }, cancellationToken));
        }
        return new CopyResult(dst0.UidValidity, map);
    }

    // ---- helpers ----

    private async Task<AppendResult> AlreadyPresentAsync(string user, MailboxRow box, TableEntity dk, CancellationToken cancellationToken)
    {
        var uid = dk.GetInt64("Uid") ?? 0;
        var msg = await GetEntityAsync(user, MessageRowKey(box.Id, uid), cancellationToken);
        // The first copy may have been expunged since; the delivery still happened, so report it as it was.
        var record = msg is not null
            ? ToRecord(msg)
            : new MessageRecord(uid, dk.GetString("MessageRef") ?? "", dk.GetInt64("Size") ?? 0, dk.GetDateTimeOffset("InternalDate") ?? default, [], 0);
        return new AppendResult(record, box.UidValidity, true);
    }

    private async Task<(TableTransactionAction Action, long UidValidity)> AllocateUidValidityAsync(string user, CancellationToken cancellationToken)
    {
        // UIDVALIDITY must never repeat for a name (RFC 9051 2.3.1.1): a per-user counter, at least the current
        // Unix time so a re-created user does not reuse old values. Updated in the caller's transaction.
        var meta = await GetEntityAsync(user, "meta", cancellationToken);
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        var next = Math.Max(meta?.GetInt64("NextUidValidity") ?? 0, now);
        if (next >= uint.MaxValue) next = 1;
        var entity = new TableEntity(Pk(user), "meta") { ["NextUidValidity"] = next + 1, ["User"] = user };
        var action = meta is null
            ? new TableTransactionAction(TableTransactionActionType.Add, entity)
            : new TableTransactionAction(TableTransactionActionType.UpdateReplace, entity, meta.ETag);
        return (action, next);
    }

    private async Task<MailboxRow?> GetMailboxRowAsync(string user, string name, CancellationToken cancellationToken)
    {
        var e = await GetEntityAsync(user, MailboxRowKey(name), cancellationToken);
        return e is null ? null : new MailboxRow(e);
    }

    private async Task<TableEntity?> GetEntityAsync(string user, string rowKey, CancellationToken cancellationToken)
    {
        await _created.EnsureAsync(cancellationToken);
        var r = await _table.GetEntityIfExistsAsync<TableEntity>(Pk(user), rowKey, cancellationToken: cancellationToken);
        return r.HasValue ? r.Value : null;
    }

    private async Task<List<TableEntity>> LoadMessagesAsync(string user, string mailboxId, IReadOnlyList<long> sortedUids, CancellationToken cancellationToken)
    {
        var set = sortedUids.ToHashSet();
        var filter = $"PartitionKey eq {TableKey.Quote(Pk(user))} and RowKey ge {TableKey.Quote(MessageRowKey(mailboxId, sortedUids[0]))} and RowKey le {TableKey.Quote(MessageRowKey(mailboxId, sortedUids[^1]))}";
        var list = new List<TableEntity>();
        await foreach (var e in _table.QueryAsync<TableEntity>(filter, cancellationToken: cancellationToken))
            if (set.Contains(e.GetInt64("Uid") ?? -1)) list.Add(e);
        return list;
    }

    /// <summary>All rows of the user's partition whose row key starts with <paramref name="prefix"/> (which ends in '|').</summary>
    private async IAsyncEnumerable<TableEntity> QueryRangeAsync(string user, string prefix, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken, string? extraFilter = null, IEnumerable<string>? select = null)
    {
        await _created.EnsureAsync(cancellationToken);
        // '}' is the character after '|', so [prefix, prefix-without-bar + '}') is exactly the prefix's rows.
        var upper = prefix[..^1] + "}";
        var filter = $"PartitionKey eq {TableKey.Quote(Pk(user))} and RowKey ge {TableKey.Quote(prefix)} and RowKey lt {TableKey.Quote(upper)}";
        if (extraFilter is not null) filter += " and " + extraFilter;
        await foreach (var e in _table.QueryAsync<TableEntity>(filter, select: select, cancellationToken: cancellationToken))
            yield return e;
    }

    private async Task SubmitDeletesAsync(List<TableTransactionAction> batch, CancellationToken cancellationToken)
    {
        try
        {
            await _table.SubmitTransactionAsync(batch, cancellationToken);
        }
        catch (TableTransactionFailedException)
        {
            // One row vanished meanwhile (another cleanup): delete one by one, ignoring the missing.
            foreach (var a in batch)
                await _table.DeleteEntityAsync(a.Entity.PartitionKey, a.Entity.RowKey, ETag.All, cancellationToken);
        }
    }

    private async Task<T> RetryAsync<T>(Func<Task<T>> attempt, CancellationToken cancellationToken)
    {
        for (var i = 1; ; i++)
        {
            try
            {
                return await attempt();
            }
            catch (RequestFailedException e) when (e.Status is 412 or 409 && i < MaxAttempts)
            {
                // Lost an optimistic-concurrency race: back off with jitter so two writers do not collide again.
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(0, Math.Min(50, 2 + i * 3))), cancellationToken);
            }
        }
    }

    private static string Pk(string user) => TableKey.Escape(user);

    private static string MailboxRowKey(string name) => "mbx|" + TableKey.Escape(name);

    private static string MessageRowKey(string mailboxId, long uid) => $"msg|{mailboxId}|{TableKey.Number(uid)}";

    /// <summary>"INBOX" is case-insensitive (also as the first level of a hierarchy); other names are kept as given.</summary>
    private static string Normalize(string mailbox)
    {
        if (mailbox.Equals(Inbox, StringComparison.OrdinalIgnoreCase)) return Inbox;
        if (mailbox.Length > Inbox.Length && mailbox[Inbox.Length] == '/' && mailbox.StartsWith(Inbox, StringComparison.OrdinalIgnoreCase))
            return Inbox + mailbox[Inbox.Length..];
        return mailbox;
    }

    private static TableEntity MessageEntity(string user, string mailboxId, MessageRecord r) => new(Pk(user), MessageRowKey(mailboxId, r.Uid))
    {
        ["Uid"] = r.Uid,
        ["MessageRef"] = r.MessageRef,
        ["Size"] = r.Size,
        ["InternalDate"] = r.InternalDate.ToUniversalTime(),
        ["Flags"] = string.Join(' ', r.Flags),
        ["ModSeq"] = r.ModSeq,
    };

    private static TableEntity ExpungeEntity(string user, string mailboxId, long uid, long modSeq) =>
        new(Pk(user), $"exp|{mailboxId}|{TableKey.Number(modSeq)}|{TableKey.Number(uid)}") { ["Uid"] = uid, ["ModSeq"] = modSeq };

    private static MessageRecord ToRecord(TableEntity e) => new(
        e.GetInt64("Uid") ?? 0,
        e.GetString("MessageRef") ?? "",
        e.GetInt64("Size") ?? 0,
        e.GetDateTimeOffset("InternalDate") ?? default,
        (e.GetString("Flags") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries),
        e.GetInt64("ModSeq") ?? 0);

    private static bool HasSeen(IEnumerable<string> flags) => flags.Contains(MessageFlags.Seen, StringComparer.OrdinalIgnoreCase);

    private static string[] Distinct(IEnumerable<string> flags) => flags.Distinct(StringComparer.OrdinalIgnoreCase).ToArray();

    private static bool SameFlags(IReadOnlyCollection<string> a, IReadOnlyCollection<string> b) =>
        a.Count == b.Count && a.All(f => b.Contains(f, StringComparer.OrdinalIgnoreCase));

    private static string[] Apply(IReadOnlyCollection<string> current, FlagChange change, IReadOnlyCollection<string> flags) => change switch
    {
        FlagChange.Replace => Distinct(flags),
        FlagChange.Add => Distinct(current.Concat(flags)),
        FlagChange.Remove => current.Where(f => !flags.Contains(f, StringComparer.OrdinalIgnoreCase)).ToArray(),
        _ => throw new ArgumentOutOfRangeException(nameof(change)),
    };

    /// <summary>Typed view over a mailbox row.</summary>
    private sealed class MailboxRow(TableEntity entity)
    {
        public TableEntity Entity { get; } = entity;
        public string Name => Entity.GetString("Name") ?? "";
        public string Id => Entity.GetString("Id") ?? "";
        public long UidValidity => Entity.GetInt64("UidValidity") ?? 0;
        public long UidNext { get => Entity.GetInt64("UidNext") ?? 1; set => Entity["UidNext"] = value; }
        public long HighestModSeq { get => Entity.GetInt64("HighestModSeq") ?? 0; set => Entity["HighestModSeq"] = value; }
        public int MessageCount { get => Entity.GetInt32("MessageCount") ?? 0; set => Entity["MessageCount"] = value; }
        public int UnseenCount { get => Entity.GetInt32("UnseenCount") ?? 0; set => Entity["UnseenCount"] = value; }
        public string? SpecialUse => Entity.GetString("SpecialUse");

        /// <summary>The octets of the mailbox's message records; null on a row written before it was kept
        /// (<see cref="RecountOctetsAsync"/>).</summary>
        public long? Octets => Entity.GetInt64("Octets");

        /// <summary>Changes the kept octets in the same transaction as the records; a row that has none yet stays without.</summary>
        public void AddOctets(long delta)
        {
            if (Octets is { } octets) Entity["Octets"] = octets + delta;
        }

        public static MailboxRow New(string user, string name, string id, long uidValidity, string? specialUse)
        {
            var e = new TableEntity(Pk(user), MailboxRowKey(name))
            {
                ["Name"] = name,
                ["Id"] = id,
                ["UidValidity"] = uidValidity,
                ["UidNext"] = 1L,
                ["HighestModSeq"] = 1L,
                ["MessageCount"] = 0,
                ["UnseenCount"] = 0,
                ["Octets"] = 0L,
            };
            if (specialUse is not null) e["SpecialUse"] = specialUse;
            return new MailboxRow(e);
        }

        /// <summary>The same mailbox (id, numbers, messages) under another name.</summary>
        public MailboxRow CopyAs(string user, string name)
        {
            var e = new TableEntity(Pk(user), MailboxRowKey(name));
            foreach (var (k, v) in Entity)
                if (k is not ("PartitionKey" or "RowKey" or "Timestamp" or "odata.etag")) e[k] = v;
            e["Name"] = name;
            return new MailboxRow(e);
        }

        public MailboxInfo ToInfo(string user) =>
            new(user, Name, UidValidity, UidNext, HighestModSeq, SpecialUse, MessageCount, UnseenCount);
    }
}
