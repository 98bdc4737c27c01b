using System.Collections.Concurrent;
using Azure;
using Azure.Data.Tables;
using Mail.Core.Ports;

namespace Mail.Storage.Azure;

/// <summary>
/// Subscriptions (RFC 9051 6.3.7): a list of names per user, independent of the mailbox rows, in the user's
/// partition:
/// <list type="bullet">
/// <item><c>sub|NAME</c> — one subscribed name (property <c>Name</c>, the unescaped name);</item>
/// <item><c>subscriptions</c> — the format marker (<c>Format</c> = <see cref="SubscriptionsFormat"/>). Its absence
/// means the partition predates it: subscriptions were then a <c>Subscribed</c> property of each mailbox row, and
/// are copied into <c>sub|</c> rows once before the first read or write.</item>
/// </list>
/// </summary>
public sealed partial class TableMailboxStore
{
    /// <summary>The layout of the subscription rows this build reads and writes; a newer one is refused.</summary>
    public const int SubscriptionsFormat = 1;

    private const string SubscriptionsMarker = "subscriptions";

    /// <summary>Users whose marker this process has seen: the check costs one point read per user and process.</summary>
    private readonly ConcurrentDictionary<string, bool> _subscriptionsReady = new(StringComparer.Ordinal);

    public async Task SetSubscribedAsync(string user, string mailbox, bool subscribed, CancellationToken cancellationToken = default)
    {
        var name = Normalize(mailbox);
        if (name.Length == 0) throw new ArgumentException("Mailbox name is empty.", nameof(mailbox));
        await EnsureSubscriptionsAsync(user, cancellationToken);
        if (subscribed) await _table.UpsertEntityAsync(SubscriptionEntity(user, name), TableUpdateMode.Replace, cancellationToken);
        else await _table.DeleteEntityAsync(Pk(user), SubscriptionRowKey(name), ETag.All, cancellationToken); // a missing row is no error
    }

    public async Task<IReadOnlyList<string>> ListSubscriptionsAsync(string user, CancellationToken cancellationToken = default)
    {
        await EnsureSubscriptionsAsync(user, cancellationToken);
        var names = new List<string>();
        await foreach (var e in QueryRangeAsync(user, "sub|", cancellationToken, select: ["Name"]))
            names.Add(e.GetString("Name") ?? "");
        // Row keys sort by the escaped name; the interface promises ordinal order of the names themselves.
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>RENAME: the subscriptions of the renamed mailboxes (<paramref name="renamed"/>, old names) move to
    /// their new names; subscriptions of names that do not exist stay where they are.</summary>
    private async Task MoveSubscriptionsAsync(string user, IReadOnlyList<string> renamed, string from, string to, CancellationToken cancellationToken)
    {
        if (renamed.Count == 0) return;
        await EnsureSubscriptionsAsync(user, cancellationToken);
        var moving = renamed.ToHashSet(StringComparer.Ordinal);
        var subscribed = new List<string>();
        await foreach (var e in QueryRangeAsync(user, "sub|", cancellationToken, select: ["Name"]))
        {
            if (e.GetString("Name") is { } name && moving.Contains(name)) subscribed.Add(name);
        }
        foreach (var chunk in subscribed.Chunk(50))
        {
            var actions = new List<TableTransactionAction>();
            foreach (var name in chunk)
            {
                actions.Add(new TableTransactionAction(TableTransactionActionType.Delete, new TableEntity(Pk(user), SubscriptionRowKey(name)), ETag.All));
                actions.Add(new TableTransactionAction(TableTransactionActionType.UpsertReplace, SubscriptionEntity(user, to + name[from.Length..])));
            }
            await _table.SubmitTransactionAsync(actions, cancellationToken);
        }
    }

    private async Task EnsureSubscriptionsAsync(string user, CancellationToken cancellationToken)
    {
        if (_subscriptionsReady.ContainsKey(user)) return;
        var marker = await GetEntityAsync(user, SubscriptionsMarker, cancellationToken);
        if (marker is null)
        {
            // Before the marker: copy the legacy per-mailbox flags (idempotent; two instances may both do it).
            await foreach (var e in QueryRangeAsync(user, "mbx|", cancellationToken, select: ["Name", "Subscribed"]))
            {
                if (e.GetBoolean("Subscribed") == true && e.GetString("Name") is { } name)
                    await _table.UpsertEntityAsync(SubscriptionEntity(user, name), TableUpdateMode.Replace, cancellationToken);
            }
            try
            {
                await _table.AddEntityAsync(new TableEntity(Pk(user), SubscriptionsMarker) { ["Format"] = SubscriptionsFormat }, cancellationToken);
            }
            catch (RequestFailedException e) when (e.Status == 409)
            {
                // Another instance finished the same copy first.
            }
        }
        else if ((marker.GetInt32("Format") ?? 0) > SubscriptionsFormat)
        {
            throw new MailboxException($"The subscriptions of {user} are in format {marker.GetInt32("Format")}, newer than this build reads ({SubscriptionsFormat}); run the newer build.");
        }
        _subscriptionsReady[user] = true;
    }

    private static string SubscriptionRowKey(string name) => "sub|" + TableKey.Escape(name);

    private static TableEntity SubscriptionEntity(string user, string name) => new(Pk(user), SubscriptionRowKey(name)) { ["Name"] = name };
}
