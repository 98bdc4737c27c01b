using Mail.Core.Ports;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Mail.Storage.Embedded;

/// <summary>
/// IMAP mailbox indexes in SQLite. Every operation runs in one transaction; writes start with
/// BEGIN IMMEDIATE, which takes SQLite's write lock up front, so concurrent appenders (in this process or
/// another) serialize cleanly and UIDs/MODSEQs stay unique and increasing.
/// <list type="bullet">
/// <item>UIDVALIDITY: unix seconds at creation, bumped to stay strictly increasing across the database
/// (a deleted and re-created mailbox never repeats one).</item>
/// <item>MODSEQ: per mailbox; every append, flag change and expunge takes the next value, so
/// HIGHESTMODSEQ is the latest change. Expunged UIDs are logged with their MODSEQ for VANISHED.</item>
/// <item>Delivery keys: per user, kept after expunge, so a redelivered envelope is never appended again
/// even if the user already deleted or moved the first copy (MOVE carries the key along).</item>
/// <item>Subscriptions: table <c>subscription</c>, one row per (user, name), independent of the mailbox rows
/// (RFC 9051 6.3.7: a name may be subscribed whether or not it exists).</item>
/// </list>
/// <item>Raw messages: COPY shares one message ref between rows. With a message store, a write that removes rows
/// (EXPUNGE, CLOSE, POP3 QUIT, mailbox DELETE) finds, in its own transaction, the refs no row references any more
/// (index <c>message_ref</c>), and deletes those messages once the transaction is committed (and durable: on
/// disk). A crash in between leaves an unreferenced message behind, never a row without its message.</item>
/// </list>
/// May share its database file with <see cref="SqliteStateStore"/>.
/// </summary>
public sealed class SqliteMailboxStore : IMailboxStore
{
    private readonly SqliteDatabase _db;
    private readonly TimeProvider _time;
    private readonly Func<IMessageStore>? _messages;

    /// <param name="messages">Where the rows' messages live, so that a message no row references any more is deleted;
    /// null keeps every message (a store that only indexes). A function, so the message store is opened on first
    /// use.</param>
    public SqliteMailboxStore(string databasePath, TimeProvider? time = null, Func<IMessageStore>? messages = null)
    {
        _messages = messages;
        _db = new SqliteDatabase(databasePath, Schema, static c =>
        {
            MaintainCounts(c);
            MaintainOctets(c);
            MoveSubscriptionsOutOfMailboxes(c);
        });
        _time = time ?? TimeProvider.System;
    }

    private const string Schema = """
        CREATE TABLE IF NOT EXISTS mailbox (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          user TEXT NOT NULL,
          name TEXT NOT NULL,
          uid_validity INTEGER NOT NULL,
          uid_next INTEGER NOT NULL,
          highest_modseq INTEGER NOT NULL,
          special_use TEXT NULL,
          message_count INTEGER NOT NULL DEFAULT 0,
          unseen_count INTEGER NOT NULL DEFAULT 0,
          octets INTEGER NOT NULL DEFAULT 0,
          UNIQUE (user, name)
        );
        CREATE TABLE IF NOT EXISTS message (
          mailbox_id INTEGER NOT NULL,
          uid INTEGER NOT NULL,
          message_ref TEXT NOT NULL,
          size INTEGER NOT NULL,
          internal_date INTEGER NOT NULL,
          flags TEXT NOT NULL,
          seen INTEGER NOT NULL,
          deleted INTEGER NOT NULL,
          modseq INTEGER NOT NULL,
          PRIMARY KEY (mailbox_id, uid)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS message_modseq ON message(mailbox_id, modseq);
        CREATE INDEX IF NOT EXISTS message_ref ON message(message_ref);
        CREATE TABLE IF NOT EXISTS expunged (
          mailbox_id INTEGER NOT NULL,
          uid INTEGER NOT NULL,
          modseq INTEGER NOT NULL,
          PRIMARY KEY (mailbox_id, uid)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS delivery (
          user TEXT NOT NULL,
          delivery_key TEXT NOT NULL,
          mailbox_id INTEGER NOT NULL,
          uid INTEGER NOT NULL,
          message_ref TEXT NOT NULL,
          size INTEGER NOT NULL,
          internal_date INTEGER NOT NULL,
          PRIMARY KEY (user, delivery_key)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS mailbox_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS subscription (
          user TEXT NOT NULL,
          name TEXT NOT NULL,
          PRIMARY KEY (user, name)
        ) WITHOUT ROWID;
        """;

    /// <summary>
    /// Databases made before subscriptions had their own table kept them as a <c>subscribed</c> column of the
    /// mailbox row. Once, under the write lock (two processes may open the file at once): copy the subscribed
    /// names into <c>subscription</c> and drop the column, so nothing can read the old flag again.
    /// </summary>
    private static void MoveSubscriptionsOutOfMailboxes(SqliteConnection c)
    {
        using var tx = c.BeginTransaction(deferred: false);
        bool hasColumn;
        using (var cmd = SqliteDatabase.Command(c, tx, "SELECT count(*) FROM pragma_table_info('mailbox') WHERE name='subscribed'"))
            hasColumn = (long)cmd.ExecuteScalar()! > 0;
        if (hasColumn)
        {
            SqliteDatabase.Exec(c, """
                INSERT OR IGNORE INTO subscription(user, name) SELECT user, name FROM mailbox WHERE subscribed<>0;
                ALTER TABLE mailbox DROP COLUMN subscribed;
                """, tx);
        }
        tx.Commit();
    }

    /// <summary>
    /// MESSAGES and UNSEEN live in the mailbox row, kept by triggers in the same transaction as every insert,
    /// delete, \Seen change or move of a message row, so SELECT/STATUS/polls read one row instead of counting
    /// 10,000. A database made before these columns existed gets them (and a recount) once, under the write lock
    /// so two processes opening it at once do not both migrate.
    /// </summary>
    private static void MaintainCounts(SqliteConnection c)
    {
        using var tx = c.BeginTransaction(deferred: false);
        var hasCounts = false;
        using (var cmd = SqliteDatabase.Command(c, tx, "SELECT count(*) FROM pragma_table_info('mailbox') WHERE name='unseen_count'"))
            hasCounts = (long)cmd.ExecuteScalar()! > 0;
        if (!hasCounts)
        {
            SqliteDatabase.Exec(c, """
                ALTER TABLE mailbox ADD COLUMN message_count INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE mailbox ADD COLUMN unseen_count INTEGER NOT NULL DEFAULT 0;
                UPDATE mailbox SET
                  message_count=(SELECT count(*) FROM message x WHERE x.mailbox_id=mailbox.id),
                  unseen_count=(SELECT count(*) FROM message x WHERE x.mailbox_id=mailbox.id AND x.seen=0);
                """, tx);
        }
        SqliteDatabase.Exec(c, """
            CREATE TRIGGER IF NOT EXISTS message_count_insert AFTER INSERT ON message BEGIN
              UPDATE mailbox SET message_count=message_count+1, unseen_count=unseen_count+(NEW.seen=0) WHERE id=NEW.mailbox_id;
            END;
            CREATE TRIGGER IF NOT EXISTS message_count_delete AFTER DELETE ON message BEGIN
              UPDATE mailbox SET message_count=message_count-1, unseen_count=unseen_count-(OLD.seen=0) WHERE id=OLD.mailbox_id;
            END;
            CREATE TRIGGER IF NOT EXISTS message_count_update AFTER UPDATE OF seen, mailbox_id ON message
            WHEN OLD.seen<>NEW.seen OR OLD.mailbox_id<>NEW.mailbox_id BEGIN
              UPDATE mailbox SET message_count=message_count-1, unseen_count=unseen_count-(OLD.seen=0) WHERE id=OLD.mailbox_id;
              UPDATE mailbox SET message_count=message_count+1, unseen_count=unseen_count+(NEW.seen=0) WHERE id=NEW.mailbox_id;
            END;
            """, tx);
        tx.Commit();
    }

    /// <summary>
    /// The octets of each mailbox's messages live in its row too (<c>octets</c>), kept by triggers like the counts,
    /// so a quota's usage is a sum over a user's few mailbox rows however many messages they hold: the SMTP edge
    /// asks it at every RCPT for a user with a limit. Older databases get the column and a recount once.
    /// </summary>
    private static void MaintainOctets(SqliteConnection c)
    {
        using var tx = c.BeginTransaction(deferred: false);
        bool hasColumn;
        using (var cmd = SqliteDatabase.Command(c, tx, "SELECT count(*) FROM pragma_table_info('mailbox') WHERE name='octets'"))
            hasColumn = (long)cmd.ExecuteScalar()! > 0;
        if (!hasColumn)
        {
            SqliteDatabase.Exec(c, """
                ALTER TABLE mailbox ADD COLUMN octets INTEGER NOT NULL DEFAULT 0;
                UPDATE mailbox SET octets=(SELECT coalesce(sum(size), 0) FROM message x WHERE x.mailbox_id=mailbox.id);
                """, tx);
        }
        SqliteDatabase.Exec(c, """
            CREATE TRIGGER IF NOT EXISTS message_octets_insert AFTER INSERT ON message BEGIN
              UPDATE mailbox SET octets=octets+NEW.size WHERE id=NEW.mailbox_id;
            END;
            CREATE TRIGGER IF NOT EXISTS message_octets_delete AFTER DELETE ON message BEGIN
              UPDATE mailbox SET octets=octets-OLD.size WHERE id=OLD.mailbox_id;
            END;
            CREATE TRIGGER IF NOT EXISTS message_octets_move AFTER UPDATE OF mailbox_id ON message
            WHEN OLD.mailbox_id<>NEW.mailbox_id BEGIN
              UPDATE mailbox SET octets=octets-OLD.size WHERE id=OLD.mailbox_id;
              UPDATE mailbox SET octets=octets+NEW.size WHERE id=NEW.mailbox_id;
            END;
            """, tx);
        tx.Commit();
    }

    public Task<long> GetUsageAsync(string user, CancellationToken cancellationToken = default) =>
        Read(cancellationToken, (c, tx) =>
        {
            using var cmd = SqliteDatabase.Command(c, tx, "SELECT coalesce(sum(octets), 0) FROM mailbox WHERE user=$u", ("$u", User(user)));
            return (long)cmd.ExecuteScalar()!;
        });

    /// <summary>Opens a connection of the group commit and one for reads, and prepares on them the statements of a
    /// login (<see cref="EnsureUserMailboxesAsync"/>), LIST and SELECT, for a user that cannot exist (no name is empty).</summary>
    public async Task OpenAsync(CancellationToken cancellationToken = default)
    {
        await Write(cancellationToken, (c, tx) => Find(c, tx, "", "INBOX") is null);
        await Read(cancellationToken, (c, tx) =>
        {
            Find(c, tx, "", "INBOX");
            GetInfo(c, tx, "", "INBOX");
            ReadInfos(c, tx, "");
            return ReadList(c, -1, -1).Count;
        });
    }

    public async Task EnsureUserMailboxesAsync(string user, CancellationToken cancellationToken = default)
    {
        // Every IMAP and POP3 login asks: looked at in a read first, so the common case (all there) takes no turn in
        // the group commit (a hop to its leader and back, and SQLite's write lock). The write checks again.
        var u = User(user);
        if (await Read(cancellationToken, (c, tx) => SpecialUse.Defaults.All(d => Find(c, tx, u, d.Name) is not null))) return;
        await Write(cancellationToken, (c, tx) =>
        {
            foreach (var (name, use) in SpecialUse.Defaults)
            {
                if (Find(c, tx, u, name) is not null) continue;
                Insert(c, tx, u, name, use);
                Subscribe(c, tx, u, name);
            }
            return true;
        });
    }

    public Task<IReadOnlyList<MailboxInfo>> ListMailboxesAsync(string user, CancellationToken cancellationToken = default) =>
        Read(cancellationToken, (c, tx) => (IReadOnlyList<MailboxInfo>)ReadInfos(c, tx, User(user)));

    private static List<MailboxInfo> ReadInfos(SqliteConnection c, SqliteTransaction tx, string u)
    {
        using var cmd = SqliteDatabase.Command(c, tx, SelectInfo + " WHERE m.user=$u ORDER BY CASE m.name WHEN 'INBOX' THEN 0 ELSE 1 END, m.name", ("$u", u));
        using var r = cmd.ExecuteReader();
        var list = new List<MailboxInfo>();
        while (r.Read()) list.Add(ReadInfo(r, u));
        return list;
    }

    public Task<MailboxInfo?> GetMailboxAsync(string user, string mailbox, CancellationToken cancellationToken = default) =>
        Read(cancellationToken, (c, tx) => GetInfo(c, tx, User(user), NormalizeName(mailbox)));

    public Task<MailboxInfo> CreateMailboxAsync(string user, string mailbox, string? specialUse = null, CancellationToken cancellationToken = default) =>
        Write(cancellationToken, (c, tx) =>
        {
            var u = User(user);
            var name = NormalizeName(mailbox);
            if (Find(c, tx, u, name) is not null) throw new MailboxExistsException(name);
            EnsureParents(c, tx, u, name);
            Insert(c, tx, u, name, specialUse);
            return GetInfo(c, tx, u, name)!;
        });

    public Task DeleteMailboxAsync(string user, string mailbox, CancellationToken cancellationToken = default) =>
        WriteReleasing(cancellationToken, (c, tx, released) =>
        {
            var u = User(user);
            var name = NormalizeName(mailbox);
            if (name == "INBOX") throw new MailboxException("INBOX cannot be deleted");
            var box = Find(c, tx, u, name) ?? throw new MailboxNotFoundException(name);
            using (var refs = SqliteDatabase.Command(c, tx, "SELECT DISTINCT message_ref FROM message WHERE mailbox_id=$id", ("$id", box.Id)))
            using (var r = refs.ExecuteReader())
            {
                while (r.Read()) released.Add(r.GetString(0));
            }
            Exec(c, tx, "DELETE FROM message WHERE mailbox_id=$id", ("$id", box.Id));
            Exec(c, tx, "DELETE FROM expunged WHERE mailbox_id=$id", ("$id", box.Id));
            Exec(c, tx, "DELETE FROM mailbox WHERE id=$id", ("$id", box.Id));
            return true;
        });

    public Task RenameMailboxAsync(string user, string oldName, string newName, CancellationToken cancellationToken = default) =>
        Write(cancellationToken, (c, tx) =>
        {
            var u = User(user);
            var from = NormalizeName(oldName);
            var to = NormalizeName(newName);
            var box = Find(c, tx, u, from) ?? throw new MailboxNotFoundException(from);
            if (Find(c, tx, u, to) is not null) throw new MailboxExistsException(to);
            if (to.StartsWith(from + "/", StringComparison.Ordinal)) throw new MailboxException($"Cannot rename {from} into its own child {to}");
            EnsureParents(c, tx, u, to);
            if (from == "INBOX")
            {
                // RFC 9051 6.3.6: INBOX stays; its messages move to the new mailbox; INBOX children stay put.
                var target = Insert(c, tx, u, to, null);
                Exec(c, tx, "UPDATE mailbox SET uid_next=$n, highest_modseq=$h WHERE id=$id", ("$n", box.UidNext), ("$h", box.HighestModSeq), ("$id", target));
                var modseq = box.HighestModSeq + 1;
                Exec(c, tx, "INSERT OR REPLACE INTO expunged(mailbox_id, uid, modseq) SELECT $id, uid, $ms FROM message WHERE mailbox_id=$id", ("$id", box.Id), ("$ms", modseq));
                Exec(c, tx, "UPDATE message SET mailbox_id=$t WHERE mailbox_id=$id", ("$t", target), ("$id", box.Id));
                Exec(c, tx, "UPDATE delivery SET mailbox_id=$t WHERE mailbox_id=$id", ("$t", target), ("$id", box.Id));
                Exec(c, tx, "UPDATE mailbox SET highest_modseq=$ms WHERE id=$id", ("$ms", modseq), ("$id", box.Id));
                return true;
            }
            var children = new List<(long Id, string Name)>();
            using (var cmd = SqliteDatabase.Command(c, tx, "SELECT id, name FROM mailbox WHERE user=$u AND substr(name, 1, length($p))=$p", ("$u", u), ("$p", from + "/")))
            using (var r = cmd.ExecuteReader())
            {
                while (r.Read()) children.Add((r.GetInt64(0), r.GetString(1)));
            }
            foreach (var (_, childName) in children)
            {
                var renamed = to + childName[from.Length..];
                if (Find(c, tx, u, renamed) is not null) throw new MailboxExistsException(renamed);
            }
            Exec(c, tx, "UPDATE mailbox SET name=$n WHERE id=$id", ("$n", to), ("$id", box.Id));
            foreach (var (id, childName) in children)
                Exec(c, tx, "UPDATE mailbox SET name=$n WHERE id=$id", ("$n", to + childName[from.Length..]), ("$id", id));
            // The subscriptions of the renamed mailboxes follow them (those of names that do not exist stay).
            foreach (var renamed in children.Select(ch => ch.Name).Prepend(from))
            {
                if (Exec(c, tx, "DELETE FROM subscription WHERE user=$u AND name=$n", ("$u", u), ("$n", renamed)) > 0)
                    Subscribe(c, tx, u, to + renamed[from.Length..]);
            }
            return true;
        });

    public Task SetSubscribedAsync(string user, string mailbox, bool subscribed, CancellationToken cancellationToken = default) =>
        Write(cancellationToken, (c, tx) =>
        {
            var u = User(user);
            var name = NormalizeName(mailbox);
            if (subscribed) Subscribe(c, tx, u, name);
            else Exec(c, tx, "DELETE FROM subscription WHERE user=$u AND name=$n", ("$u", u), ("$n", name));
            return true;
        });

    public Task<IReadOnlyList<string>> ListSubscriptionsAsync(string user, CancellationToken cancellationToken = default) =>
        Read(cancellationToken, (c, tx) =>
        {
            using var cmd = SqliteDatabase.Command(c, tx, "SELECT name FROM subscription WHERE user=$u ORDER BY name", ("$u", User(user)));
            using var r = cmd.ExecuteReader();
            var names = new List<string>();
            while (r.Read()) names.Add(r.GetString(0));
            // SQLite's BINARY collation orders UTF-8 bytes; the interface promises ordinal (UTF-16) order.
            names.Sort(StringComparer.Ordinal);
            return (IReadOnlyList<string>)names;
        });

    private static void Subscribe(SqliteConnection c, SqliteTransaction tx, string u, string name) =>
        Exec(c, tx, "INSERT OR IGNORE INTO subscription(user, name) VALUES ($u, $n)", ("$u", u), ("$n", name));

    public Task<AppendResult> AppendAsync(string user, string mailbox, NewMessage message, CancellationToken cancellationToken = default) =>
        Write(cancellationToken, (c, tx) => AppendCore(c, tx, User(user), mailbox, message));

    public Task<IReadOnlyList<AppendResult>> AppendAllAsync(string user, IReadOnlyList<(string Mailbox, NewMessage Message)> appends, CancellationToken cancellationToken = default) =>
        Write(cancellationToken, (c, tx) =>
        {
            // One transaction: an EXPUNGE (same write lock) runs before or after all the rows, never between two.
            var u = User(user);
            return (IReadOnlyList<AppendResult>)appends.Select(a => AppendCore(c, tx, u, a.Mailbox, a.Message)).ToList();
        });

    private AppendResult AppendCore(SqliteConnection c, SqliteTransaction tx, string u, string mailbox, NewMessage message)
    {
        var name = NormalizeName(mailbox);
        if (message.DeliveryKey is not null)
        {
            var existing = FindDelivery(c, tx, u, message.DeliveryKey);
            if (existing is not null) return existing;
        }
        var box = Find(c, tx, u, name) ?? throw new MailboxNotFoundException(name);
        var uid = box.UidNext;
        var modseq = box.HighestModSeq + 1;
        var flags = NormalizeFlags(message.Flags);
        var date = message.InternalDate.ToUnixTimeMilliseconds();
        InsertMessage(c, tx, box.Id, uid, message.MessageRef, message.Size, date, flags, modseq);
        Exec(c, tx, "UPDATE mailbox SET uid_next=$n, highest_modseq=$h WHERE id=$id", ("$n", uid + 1), ("$h", modseq), ("$id", box.Id));
        if (message.DeliveryKey is not null)
        {
            Exec(c, tx, "INSERT INTO delivery(user, delivery_key, mailbox_id, uid, message_ref, size, internal_date) VALUES ($u, $k, $m, $uid, $r, $s, $d)",
                ("$u", u), ("$k", message.DeliveryKey), ("$m", box.Id), ("$uid", uid), ("$r", message.MessageRef), ("$s", message.Size), ("$d", date));
        }
        return new AppendResult(new MessageRecord(uid, message.MessageRef, message.Size, FromMs(date), flags, modseq), box.UidValidity, false);
    }

    public Task<IReadOnlyList<MessageRecord>> ListMessagesAsync(string user, string mailbox, long? changedSince = null, CancellationToken cancellationToken = default) =>
        Read(cancellationToken, (c, tx) =>
        {
            var name = NormalizeName(mailbox);
            var box = Find(c, tx, User(user), name) ?? throw new MailboxNotFoundException(name);
            return (IReadOnlyList<MessageRecord>)ReadList(c, box.Id, changedSince ?? -1);
        });

    public Task<StoreResult> StoreFlagsAsync(string user, string mailbox, IReadOnlyCollection<long> uids, FlagChange change, IReadOnlyCollection<string> flags, long? unchangedSince = null, CancellationToken cancellationToken = default) =>
        Write(cancellationToken, (c, tx) =>
        {
            var name = NormalizeName(mailbox);
            var box = Find(c, tx, User(user), name) ?? throw new MailboxNotFoundException(name);
            var given = NormalizeFlags(flags);
            var changed = new List<MessageRecord>();
            var failed = new List<long>();
            var highest = box.HighestModSeq;
            foreach (var m in Selected(c, tx, box.Id, uids))
            {
                if (unchangedSince is { } limit && m.ModSeq > limit)
                {
                    failed.Add(m.Uid);
                    continue;
                }
                var next = change switch
                {
                    FlagChange.Replace => given,
                    FlagChange.Add => NormalizeFlags(m.Flags.Concat(given)),
                    FlagChange.Remove => m.Flags.Where(f => !given.Contains(f, StringComparer.OrdinalIgnoreCase)).ToArray(),
                    _ => throw new ArgumentOutOfRangeException(nameof(change)),
                };
                if (SameFlags(next, m.Flags)) continue; // nothing changed: no new MODSEQ (RFC 7162 3.1.3)
                highest++;
                Exec(c, tx, "UPDATE message SET flags=$f, seen=$seen, deleted=$del, modseq=$ms WHERE mailbox_id=$id AND uid=$uid",
                    ("$f", string.Join(' ', next)), ("$seen", Has(next, MessageFlags.Seen)), ("$del", Has(next, MessageFlags.Deleted)),
                    ("$ms", highest), ("$id", box.Id), ("$uid", m.Uid));
                changed.Add(m with { Flags = next, ModSeq = highest });
            }
            if (highest != box.HighestModSeq) Exec(c, tx, "UPDATE mailbox SET highest_modseq=$h WHERE id=$id", ("$h", highest), ("$id", box.Id));
            return new StoreResult(changed, failed, highest);
        });

    public Task<IReadOnlyList<long>> ExpungeAsync(string user, string mailbox, IReadOnlyCollection<long>? uids = null, CancellationToken cancellationToken = default) =>
        WriteReleasing(cancellationToken, (c, tx, released) =>
        {
            var name = NormalizeName(mailbox);
            var box = Find(c, tx, User(user), name) ?? throw new MailboxNotFoundException(name);
            var gone = new List<long>();
            var highest = box.HighestModSeq;
            foreach (var m in uids is null ? All(c, tx, box.Id) : Selected(c, tx, box.Id, uids))
            {
                if (Has(m.Flags, MessageFlags.Deleted) == 0) continue;
                highest++;
                RemoveMessage(c, tx, box.Id, m.Uid, highest);
                released.Add(m.MessageRef);
                gone.Add(m.Uid);
            }
            if (highest != box.HighestModSeq) Exec(c, tx, "UPDATE mailbox SET highest_modseq=$h WHERE id=$id", ("$h", highest), ("$id", box.Id));
            return (IReadOnlyList<long>)gone;
        });

    public Task<CopyResult> CopyAsync(string user, string source, IReadOnlyCollection<long> uids, string destination, CancellationToken cancellationToken = default) =>
        Write(cancellationToken, (c, tx) => CopyCore(c, tx, User(user), source, uids, destination, move: false));

    public Task<CopyResult> MoveAsync(string user, string source, IReadOnlyCollection<long> uids, string destination, CancellationToken cancellationToken = default) =>
        Write(cancellationToken, (c, tx) => CopyCore(c, tx, User(user), source, uids, destination, move: true));

    public Task<IReadOnlyList<long>> ListExpungedAsync(string user, string mailbox, long sinceModSeq, CancellationToken cancellationToken = default) =>
        Read(cancellationToken, (c, tx) =>
        {
            var name = NormalizeName(mailbox);
            var box = Find(c, tx, User(user), name) ?? throw new MailboxNotFoundException(name);
            using var cmd = SqliteDatabase.Command(c, tx, "SELECT uid FROM expunged WHERE mailbox_id=$id AND modseq > $s ORDER BY uid", ("$id", box.Id), ("$s", sinceModSeq));
            using var r = cmd.ExecuteReader();
            var list = new List<long>();
            while (r.Read()) list.Add(r.GetInt64(0));
            return (IReadOnlyList<long>)list;
        });

    /// <summary>"inbox" and "Inbox/x" name INBOX and its children; other names are case-sensitive.
    /// A trailing delimiter is dropped (IMAP CREATE "a/" creates "a"); empty levels are refused.</summary>
    public static string NormalizeName(string mailbox)
    {
        ArgumentNullException.ThrowIfNull(mailbox);
        var name = mailbox.EndsWith('/') ? mailbox[..^1] : mailbox;
        if (name.Length == 0 || name.StartsWith('/') || name.Contains("//", StringComparison.Ordinal) || name.Any(char.IsControl))
            throw new MailboxException($"Invalid mailbox name: '{mailbox}'");
        if (name.Equals("INBOX", StringComparison.OrdinalIgnoreCase)) return "INBOX";
        if (name.StartsWith("INBOX/", StringComparison.OrdinalIgnoreCase)) return "INBOX" + name[5..];
        return name;
    }

    private CopyResult CopyCore(SqliteConnection c, SqliteTransaction tx, string u, string source, IReadOnlyCollection<long> uids, string destination, bool move)
    {
        var srcName = NormalizeName(source);
        var dstName = NormalizeName(destination);
        var src = Find(c, tx, u, srcName) ?? throw new MailboxNotFoundException(srcName);
        var dst = Find(c, tx, u, dstName) ?? throw new MailboxNotFoundException(dstName);
        var map = new List<(long, long)>();
        var uidNext = dst.UidNext;
        var dstModSeq = dst.HighestModSeq;
        var srcModSeq = src.HighestModSeq;
        foreach (var m in Selected(c, tx, src.Id, uids))
        {
            var newUid = uidNext++;
            if (src.Id == dst.Id) dstModSeq = Math.Max(dstModSeq, srcModSeq);
            dstModSeq++;
            InsertMessage(c, tx, dst.Id, newUid, m.MessageRef, m.Size, m.InternalDate.ToUnixTimeMilliseconds(), m.Flags.ToArray(), dstModSeq);
            if (move)
            {
                if (src.Id == dst.Id) srcModSeq = dstModSeq;
                srcModSeq++;
                if (src.Id == dst.Id) dstModSeq = srcModSeq;
                RemoveMessage(c, tx, src.Id, m.Uid, srcModSeq);
                Exec(c, tx, "UPDATE delivery SET mailbox_id=$d, uid=$nu WHERE mailbox_id=$s AND uid=$ou AND user=$u",
                    ("$d", dst.Id), ("$nu", newUid), ("$s", src.Id), ("$ou", m.Uid), ("$u", u));
            }
            map.Add((m.Uid, newUid));
        }
        if (src.Id == dst.Id)
        {
            Exec(c, tx, "UPDATE mailbox SET uid_next=$n, highest_modseq=$h WHERE id=$id", ("$n", uidNext), ("$h", Math.Max(dstModSeq, srcModSeq)), ("$id", dst.Id));
        }
        else
        {
            Exec(c, tx, "UPDATE mailbox SET uid_next=$n, highest_modseq=$h WHERE id=$id", ("$n", uidNext), ("$h", dstModSeq), ("$id", dst.Id));
            if (move) Exec(c, tx, "UPDATE mailbox SET highest_modseq=$h WHERE id=$id", ("$h", srcModSeq), ("$id", src.Id));
        }
        return new CopyResult(dst.UidValidity, map);
    }

    private AppendResult? FindDelivery(SqliteConnection c, SqliteTransaction tx, string u, string key)
    {
        long mailboxId, uid, size, date;
        string messageRef;
        using (var cmd = SqliteDatabase.Command(c, tx, "SELECT mailbox_id, uid, message_ref, size, internal_date FROM delivery WHERE user=$u AND delivery_key=$k", ("$u", u), ("$k", key)))
        using (var r = cmd.ExecuteReader())
        {
            if (!r.Read()) return null;
            (mailboxId, uid, messageRef, size, date) = (r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetInt64(3), r.GetInt64(4));
        }
        long uidValidity = 0;
        using (var cmd = SqliteDatabase.Command(c, tx, "SELECT uid_validity FROM mailbox WHERE id=$id", ("$id", mailboxId)))
        {
            if (cmd.ExecuteScalar() is long v) uidValidity = v;
        }
        using (var cmd = SqliteDatabase.Command(c, tx, SelectMessage + " WHERE mailbox_id=$id AND uid=$uid", ("$id", mailboxId), ("$uid", uid)))
        {
            var current = ReadMessages(cmd);
            if (current.Count == 1) return new AppendResult(current[0], uidValidity, true);
        }
        // The first copy was expunged since: report what was delivered, it is not delivered again.
        return new AppendResult(new MessageRecord(uid, messageRef, size, FromMs(date), [], 0), uidValidity, true);
    }

    private long Insert(SqliteConnection c, SqliteTransaction tx, string u, string name, string? specialUse)
    {
        var validity = NextUidValidity(c, tx);
        using var cmd = SqliteDatabase.Command(c, tx, """
            INSERT INTO mailbox(user, name, uid_validity, uid_next, highest_modseq, special_use)
            VALUES ($u, $n, $v, 1, 0, $s) RETURNING id
            """, ("$u", u), ("$n", name), ("$v", validity), ("$s", specialUse));
        return (long)cmd.ExecuteScalar()!;
    }

    private void EnsureParents(SqliteConnection c, SqliteTransaction tx, string u, string name)
    {
        // RFC 9051 CREATE/RENAME: superior hierarchical names are created when missing.
        for (var i = name.IndexOf('/', StringComparison.Ordinal); i > 0; i = name.IndexOf('/', i + 1))
        {
            var parent = name[..i];
            if (Find(c, tx, u, parent) is null) Insert(c, tx, u, parent, null);
        }
    }

    private long NextUidValidity(SqliteConnection c, SqliteTransaction tx)
    {
        long last = 0;
        using (var cmd = SqliteDatabase.Command(c, tx, "SELECT value FROM mailbox_meta WHERE key='uidvalidity'"))
        {
            if (cmd.ExecuteScalar() is long v) last = v;
        }
        var next = Math.Max(_time.GetUtcNow().ToUnixTimeSeconds(), last + 1);
        Exec(c, tx, "INSERT INTO mailbox_meta(key, value) VALUES ('uidvalidity', $v) ON CONFLICT(key) DO UPDATE SET value=excluded.value", ("$v", next));
        return next;
    }

    private static void InsertMessage(SqliteConnection c, SqliteTransaction tx, long mailboxId, long uid, string messageRef, long size, long date, IReadOnlyCollection<string> flags, long modseq) =>
        Exec(c, tx, """
            INSERT INTO message(mailbox_id, uid, message_ref, size, internal_date, flags, seen, deleted, modseq)
            VALUES ($m, $uid, $r, $s, $d, $f, $seen, $del, $ms)
            """, ("$m", mailboxId), ("$uid", uid), ("$r", messageRef), ("$s", size), ("$d", date), ("$f", string.Join(' ', flags)),
            ("$seen", Has(flags, MessageFlags.Seen)), ("$del", Has(flags, MessageFlags.Deleted)), ("$ms", modseq));

    private static void RemoveMessage(SqliteConnection c, SqliteTransaction tx, long mailboxId, long uid, long modseq)
    {
        Exec(c, tx, "DELETE FROM message WHERE mailbox_id=$m AND uid=$uid", ("$m", mailboxId), ("$uid", uid));
        Exec(c, tx, "INSERT OR REPLACE INTO expunged(mailbox_id, uid, modseq) VALUES ($m, $uid, $ms)", ("$m", mailboxId), ("$uid", uid), ("$ms", modseq));
    }

    // nullif: most messages have no flags at all, and an SQL NULL costs the reader no string (SELECT reads every row).
    private const string SelectMessage = "SELECT uid, message_ref, size, internal_date, nullif(flags, ''), modseq FROM message";

    private const string ListSince = SelectMessage + " WHERE mailbox_id=$id AND modseq > $since ORDER BY uid";

    private const string SelectInfo = """
        SELECT m.name, m.uid_validity, m.uid_next, m.highest_modseq, m.special_use,
               m.message_count, m.unseen_count
        FROM mailbox m
        """;

    private static MailboxInfo? GetInfo(SqliteConnection c, SqliteTransaction tx, string u, string name)
    {
        using var cmd = SqliteDatabase.Command(c, tx, SelectInfo + " WHERE m.user=$u AND m.name=$n", ("$u", u), ("$n", name));
        using var r = cmd.ExecuteReader();
        return r.Read() ? ReadInfo(r, u) : null;
    }

    private static MailboxInfo ReadInfo(SqliteDataReader r, string u) =>
        new(u, r.GetString(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3), r.IsDBNull(4) ? null : r.GetString(4), r.GetInt32(5), r.GetInt32(6));

    private sealed record Box(long Id, long UidValidity, long UidNext, long HighestModSeq);

    private static Box? Find(SqliteConnection c, SqliteTransaction tx, string u, string name)
    {
        using var cmd = SqliteDatabase.Command(c, tx, "SELECT id, uid_validity, uid_next, highest_modseq FROM mailbox WHERE user=$u AND name=$n", ("$u", u), ("$n", name));
        using var r = cmd.ExecuteReader();
        return r.Read() ? new Box(r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3)) : null;
    }

    private static List<MessageRecord> Selected(SqliteConnection c, SqliteTransaction tx, long mailboxId, IReadOnlyCollection<long> uids)
    {
        if (uids.Count == 0) return [];
        using var cmd = SqliteDatabase.Command(c, tx, SelectMessage + " WHERE mailbox_id=$id AND uid IN (SELECT value FROM json_each($uids)) ORDER BY uid",
            ("$id", mailboxId), ("$uids", "[" + string.Join(',', uids) + "]"));
        return ReadMessages(cmd);
    }

    private static List<MessageRecord> All(SqliteConnection c, SqliteTransaction tx, long mailboxId)
    {
        using var cmd = SqliteDatabase.Command(c, tx, SelectMessage + " WHERE mailbox_id=$id ORDER BY uid", ("$id", mailboxId));
        return ReadMessages(cmd);
    }

    private static List<MessageRecord> ReadMessages(SqliteDatabase.Statement cmd)
    {
        using var r = cmd.ExecuteReader();
        var list = new List<MessageRecord>();
        Dictionary<string, string[]>? sets = null;
        while (r.Read())
        {
            string[] flags = [];
            if (!r.IsDBNull(4)) flags = FlagSet(ref sets, r.GetString(4));
            list.Add(new MessageRecord(r.GetInt64(0), r.GetString(1), r.GetInt64(2), FromMs(r.GetInt64(3)), flags, r.GetInt64(5)));
        }
        return list;
    }

    /// <summary>The messages of a mailbox with a MODSEQ above <paramref name="since"/>, in UID order, read straight off
    /// the SQLite statement (in the caller's transaction): a SELECT of a mailbox whose list is not cached reads every
    /// row, and Microsoft.Data.Sqlite's reader checks the state and type of each column on every call, a third of the
    /// read's CPU for 10,000 rows. The same records as <see cref="ReadMessages"/>.</summary>
    private static List<MessageRecord> ReadList(SqliteConnection c, long mailboxId, long since)
    {
        var db = c.Handle!;
        SqliteException.ThrowExceptionForRC(raw.sqlite3_prepare_v2(db, ListSince, out var stmt), db);
        using (stmt)
        {
            raw.sqlite3_bind_int64(stmt, raw.sqlite3_bind_parameter_index(stmt, "$id"), mailboxId);
            raw.sqlite3_bind_int64(stmt, raw.sqlite3_bind_parameter_index(stmt, "$since"), since);
            var list = new List<MessageRecord>();
            Dictionary<string, string[]>? sets = null;
            int rc;
            while ((rc = raw.sqlite3_step(stmt)) == raw.SQLITE_ROW)
            {
                string[] flags = [];
                if (raw.sqlite3_column_type(stmt, 4) != raw.SQLITE_NULL) flags = FlagSet(ref sets, raw.sqlite3_column_text(stmt, 4).utf8_to_string());
                list.Add(new MessageRecord(raw.sqlite3_column_int64(stmt, 0), raw.sqlite3_column_text(stmt, 1).utf8_to_string(),
                    raw.sqlite3_column_int64(stmt, 2), FromMs(raw.sqlite3_column_int64(stmt, 3)), flags, raw.sqlite3_column_int64(stmt, 5)));
            }
            if (rc != raw.SQLITE_DONE) SqliteException.ThrowExceptionForRC(rc, db);
            return list;
        }
    }

    /// <summary>Messages mostly share a few flag sets ("\Seen", "\Seen \Answered"): one array per distinct set, not per
    /// row. Safe to share: MessageRecord.Flags is read-only and every change makes a new record.</summary>
    private static string[] FlagSet(ref Dictionary<string, string[]>? sets, string text)
    {
        sets ??= new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (!sets.TryGetValue(text, out var flags)) sets[text] = flags = text.Split(' ');
        return flags;
    }

    private static readonly string[] s_systemFlags = [MessageFlags.Seen, MessageFlags.Answered, MessageFlags.Flagged, MessageFlags.Deleted, MessageFlags.Draft];

    /// <summary>System flags in their canonical spelling, keywords as given, no duplicates (case-insensitive),
    /// \Recent dropped (it is session state, never stored).</summary>
    private static string[] NormalizeFlags(IEnumerable<string> flags)
    {
        var result = new List<string>();
        foreach (var f in flags)
        {
            if (string.IsNullOrEmpty(f) || f.Any(ch => ch <= ' ' || ch == '(' || ch == ')')) throw new ArgumentException($"Invalid flag: '{f}'", nameof(flags));
            if (f.Equals("\\Recent", StringComparison.OrdinalIgnoreCase)) continue;
            var canonical = s_systemFlags.FirstOrDefault(s => s.Equals(f, StringComparison.OrdinalIgnoreCase)) ?? f;
            if (!result.Contains(canonical, StringComparer.OrdinalIgnoreCase)) result.Add(canonical);
        }
        return [.. result];
    }

    private static bool SameFlags(IReadOnlyCollection<string> a, IReadOnlyCollection<string> b) =>
        a.Count == b.Count && a.All(x => b.Contains(x, StringComparer.OrdinalIgnoreCase));

    private static int Has(IEnumerable<string> flags, string flag) => flags.Contains(flag, StringComparer.OrdinalIgnoreCase) ? 1 : 0;

    private static string User(string user)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(user);
        return user.ToLowerInvariant();
    }

    private static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private static int Exec(SqliteConnection c, SqliteTransaction tx, string sql, params (string, object?)[] parameters)
    {
        using var cmd = SqliteDatabase.Command(c, tx, sql, parameters);
        return cmd.ExecuteNonQuery();
    }

    // The token first reads better at the call sites, where the work is a multi-line lambda.
#pragma warning disable CA1068
    /// <summary>Runs a write in a transaction, group-committed with the other writes to the same file
    /// (<see cref="SqliteGroupCommit"/>).</summary>
    private Task<T> Write<T>(CancellationToken cancellationToken, Func<SqliteConnection, SqliteTransaction, T> work) => _db.Writes.Write(work, cancellationToken);

    /// <summary>
    /// A write that removes message rows: <paramref name="work"/> adds the refs of the rows it removes to its third
    /// argument; those no row references any more at the end of the write (checked in its transaction: a concurrent
    /// COPY of the same rows is serialized with it by SQLite's write lock) are deleted from the message store once the
    /// transaction is committed. A deletion that fails leaves an unreferenced message (space, not mail).
    /// </summary>
    private async Task<T> WriteReleasing<T>(CancellationToken cancellationToken, Func<SqliteConnection, SqliteTransaction, List<string>, T> work)
    {
        var unreferenced = new List<string>();
        var result = await Write(cancellationToken, (c, tx) =>
        {
            unreferenced.Clear();
            var released = new List<string>();
            var value = work(c, tx, released);
            if (_messages is not null) unreferenced.AddRange(Unreferenced(c, tx, released));
            return value;
        });
        if (unreferenced.Count == 0) return result;
        var messages = _messages!();
        foreach (var messageRef in unreferenced)
        {
            try
            {
                // Not the caller's token: the rows are gone, so their messages go too, even if the caller gave up.
                await messages.DeleteAsync(messageRef, CancellationToken.None);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // An unreferenced message stays behind: disk space, never a row without its message.
            }
        }
        return result;
    }

    /// <summary>Of <paramref name="refs"/>, those no message row references (index <c>message_ref</c>).</summary>
    private static List<string> Unreferenced(SqliteConnection c, SqliteTransaction tx, List<string> refs)
    {
        var list = new List<string>();
        foreach (var messageRef in refs.Distinct(StringComparer.Ordinal))
        {
            using var cmd = SqliteDatabase.Command(c, tx, "SELECT EXISTS (SELECT 1 FROM message WHERE message_ref=$r)", ("$r", messageRef));
            if ((long)cmd.ExecuteScalar()! == 0) list.Add(messageRef);
        }
        return list;
    }

    private async Task<T> Read<T>(CancellationToken cancellationToken, Func<SqliteConnection, SqliteTransaction, T> work)
    {
        await using var lease = await _db.OpenAsync(cancellationToken);
        var c = lease.Connection;
        // A deferred transaction is one consistent WAL snapshot for the counts and rows read together.
        using var tx = c.BeginTransaction(deferred: true);
        return work(c, tx);
    }
#pragma warning restore CA1068
}
