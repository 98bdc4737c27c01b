using System.Globalization;
using Mail.Admin;
using Mail.Core.Accounts;
using Mail.Core.Ports;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;

namespace Mail.Host;

/// <summary>The admin surface of `mail`: domains, users, mailbox listing and the queue (mailq). The work is the
/// <see cref="AdminService"/>'s (the web console calls the same); this class prints it. Each command opens the data
/// directory itself, so it works while `mail serve` runs on the same data.</summary>
public sealed class AdminCommands(MailStores data, TextWriter output, string? dataRoot = null)
{
    private readonly AdminService _admin = data.Admin;

    public async Task<int> DomainAddAsync(string domain) => await RunAsync(async () =>
        output.WriteLine($"domain {await _admin.AddDomainAsync(domain)} added"));

    public async Task<int> DomainListAsync()
    {
        foreach (var d in await _admin.ListDomainsAsync()) output.WriteLine(d);
        return 0;
    }

    public Task<int> UserAddAsync(string address, string password, bool admin = false) =>
        RunAsync(async () => await SavedAsync(await _admin.SetUserAsync(address, password), "saved", admin));

    /// <summary>`user add ADDRESS --password-hash HASH`: keeps a hash brought from Dovecot/Postfix as it is.</summary>
    public Task<int> UserAddWithHashAsync(string address, string passwordHash, bool admin = false) =>
        RunAsync(async () => await SavedAsync(await _admin.SetUserHashAsync(address, passwordHash), "saved (password hash as given)", admin));

    private async Task SavedAsync(string user, string done, bool admin)
    {
        if (admin) await _admin.SetAdminAsync(user, true);
        output.WriteLine($"user {user} {done}{(admin ? ", console administrator" : "")}");
    }

    /// <summary>`mail user remove ADDRESS`: the login goes, the stored mail stays.</summary>
    public Task<int> UserRemoveAsync(string address) =>
        RunAsync(async () => output.WriteLine($"user {await _admin.RemoveUserAsync(address)} removed (their mail is kept)"));

    /// <summary>`mail user admin ADDRESS on|off`: the web console's administrator role.</summary>
    public Task<int> UserAdminAsync(string address, string onOff) => RunAsync(async () =>
    {
        var on = onOff.Trim().ToLowerInvariant() switch
        {
            "on" => true,
            "off" => false,
            _ => throw new AdminException($"'{onOff}' is not on or off"),
        };
        output.WriteLine($"user {await _admin.SetAdminAsync(address, on)} console administrator: {(on ? "on" : "off")}");
    });

    /// <summary>`mail user list`: one user a line; a user with a storage limit (their own or Quota:Default) is followed
    /// by the limit and the octets used. Users without one stay a bare address, as scripts read it.</summary>
    public async Task<int> UserListAsync()
    {
        foreach (var u in await _admin.ListUsersAsync())
        {
            var role = u.Admin ? "  admin" : "";
            output.WriteLine(u.QuotaLimit is { } limit
                ? string.Create(CultureInfo.InvariantCulture, $"{u.Address}  quota {QuotaSize.Format(limit)}, {u.QuotaUsed} octets used{role}")
                : u.Address + role);
        }
        return 0;
    }

    /// <summary>`mail user quota ADDRESS SIZE`: the user's storage limit (Dovecot's per-user quota_rule); "none" or 0
    /// is unlimited even against Quota:Default, "default" forgets the user's own limit.</summary>
    public async Task<int> UserQuotaAsync(string address, string size)
    {
        if (MailDirectory.Canonical(address) is null) return NotAnAddress(address);
        try
        {
            var q = await _admin.SetQuotaAsync(address, size);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"user {q.User} quota {QuotaSize.Format(q.Limit)}, {q.Used} octets used"));
            return 0;
        }
        catch (AdminException e)
        {
            return Fail(e.Message);
        }
    }

    public async Task<int> MailboxListAsync(string address, string mailbox)
    {
        var user = MailDirectory.Canonical(address);
        if (user is null) return NotAnAddress(address);
        if (!await data.Directory.UserExistsAsync(user)) return Fail($"no user {user}");
        var info = await data.Mailboxes.GetMailboxAsync(user, mailbox);
        if (info is null)
        {
            var names = (await data.Mailboxes.ListMailboxesAsync(user)).Select(m => m.Name);
            return Fail($"{user} has no mailbox '{mailbox}' (has: {string.Join(", ", names)})");
        }
        output.WriteLine($"{user} {info.Name}: {info.MessageCount} message(s), {info.UnseenCount} unseen, UIDVALIDITY {info.UidValidity}, UIDNEXT {info.UidNext}");
        output.WriteLine($"{"UID",6}  {"DATE",-20}  {"SIZE",8}  {"FLAGS",-18}  {"FROM",-30}  SUBJECT");
        foreach (var m in await data.Mailboxes.ListMessagesAsync(user, info.Name))
        {
            var (from, subject, messageId) = await _admin.SummaryAsync(m.MessageRef);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{m.Uid,6}  {m.InternalDate.UtcDateTime,-20:yyyy-MM-dd HH:mm:ss}  {m.Size,8}  {string.Join(' ', m.Flags),-18}  {Cut(from, 30),-30}  {subject}  {messageId}"));
        }
        return 0;
    }

    /// <summary>`mail trace QUEUEID|ADDRESS`: each message's recorded steps, then where it is now.</summary>
    public Task<int> TraceAsync(string idOrAddress) => RunAsync(async () =>
    {
        foreach (var t in await _admin.TraceAsync(idOrAddress))
        {
            output.WriteLine($"{t.QueueId}  received {Time(t.ReceivedAt)}  <{t.MailFrom}> -> {string.Join(", ", t.Recipients)}");
            foreach (var s in t.Steps)
                output.WriteLine($"  {Time(s.At)}  {s.Step,-15} {(s.Recipient is null ? "" : s.Recipient + ": ")}{s.Text}");
            foreach (var q in t.Queued)
                foreach (var r in q.Recipients)
                    output.WriteLine($"  now: in the {q.Queue} queue ({q.State}): {r.Address} {r.Status}{(r.NextAttemptAt is { } n ? ", next try " + Time(n) : "")}{(r.LastReply is { } lr ? ", last reply " + lr : "")}");
            if (t.Quarantined is { } why) output.WriteLine($"  now: held in the quarantine ({why}); mail quarantine release {t.QueueId}");
            output.WriteLine();
        }
    });

    public async Task<int> QueueAsync()
    {
        var items = await _admin.ListQueueAsync();
        if (items.Count > 0) output.WriteLine($"{"QUEUE",-9} {"ID",-16} {"STATE",-13} {"VISIBLE AT",-20} {"TRIES",5}  SENDER -> RECIPIENTS");
        foreach (var e in items)
        {
            var at = e.VisibleAt is { } v ? Time(v) : "-";
            output.WriteLine($"{e.Queue,-9} {e.QueueId,-16} {e.State,-13} {at,-20} {e.Tries,5}  <{e.MailFrom}> -> {string.Join(", ", e.Recipients.Select(r => r.Address))}");
            if (e.DeadLetterReason is not null) output.WriteLine($"{"",10}reason: {e.DeadLetterReason}");
            // Outbound: each recipient's own state and the last reply (Postfix mailq shows the reason per recipient).
            foreach (var r in e.Recipients.Where(r => r.ExpiresAt is not null))
            {
                var next = r.NextAttemptAt is { } n ? " next " + Time(n) : "";
                var reply = r.LastReply is { } lr ? $" ({lr}{(r.LastReplyHost is { } h ? " from " + h.Split(' ')[0] : "")})" : "";
                output.WriteLine($"{"",10}<{r.Address}> {r.Status}, {r.Attempts} attempt(s){next}{reply}");
            }
        }
        output.WriteLine(items.Count == 0 ? "Mail queue is empty" : $"-- {items.Count} envelope(s)");
        return 0;
    }

    /// <summary>`mail queue show ID`: the envelope, each recipient's state and last reply, and the message's header.</summary>
    public async Task<int> QueueShowAsync(string queueId)
    {
        var found = await _admin.FindQueuedAsync(queueId);
        foreach (var e in found)
        {
            output.WriteLine($"queue: {e.Queue} ({(e.State == "dead" ? "deadlettered" : e.State.Replace("-", "", StringComparison.Ordinal))}{(e.VisibleAt is { } v ? ", due " + Time(v) : "")})");
            output.WriteLine($"received: {Time(e.ReceivedAt)} from {e.ClientHelo} [{e.ClientAddress}]{(e.AuthenticatedUser is { } u ? " user " + u : "")}");
            output.WriteLine($"sender: <{e.MailFrom}>  size: {e.Size}  message: {e.MessageRef}");
            foreach (var r in e.Recipients)
            {
                output.WriteLine($"  <{r.Address}> {r.Status}{(r.ExpiresAt is not { } x ? "" : $", {r.Attempts} attempt(s), expires {Time(x)}")}");
                if (r.LastReply is { } lr) output.WriteLine($"      last reply: {lr}{(r.LastReplyHost is { } h ? $" ({h})" : "")}");
            }
            var (from, subject, _) = await _admin.SummaryAsync(e.MessageRef);
            output.WriteLine($"From: {from}");
            output.WriteLine($"Subject: {subject}");
        }
        if (found.Count == 0)
        {
            output.WriteLine($"mail: no queued envelope {queueId}");
            return 1;
        }
        return 0;
    }

    /// <summary>How long a command waits for the running server to apply its change (after that the poll does).</summary>
    internal static readonly TimeSpan ControlTimeout = TimeSpan.FromSeconds(10);

    /// <summary>`mail queue hold|release|retry|delete ID|ALL`: recorded for the running server to apply (see QueueControl).</summary>
    public async Task<int> QueueActionAsync(string verb, string target)
    {
        var action = AdminService.ParseQueueAction(verb) ?? throw new UsageException($"unknown queue action '{verb}'");
        IReadOnlyList<string> ids;
        try
        {
            ids = await _admin.QueueActionAsync(action, target);
        }
        catch (AdminException e) when (e.NotFound)
        {
            output.WriteLine($"mail: {e.Message}");
            return 1;
        }
        if (ids.Count == 0)
        {
            output.WriteLine("Outbound queue is empty");
            return 0;
        }
        // Recorded in the state store; the running server on this data directory, told so, applies it before we return.
        var applied = dataRoot is null ? null : await ControlSocket.RequestAsync(dataRoot, ControlCommand.Queue, ControlTimeout);
        output.WriteLine($"{verb}: {ids.Count} envelope(s) ({string.Join(", ", ids)}); "
            + (applied is null ? "the running server applies it within a second" : "applied by the running server"));
        return 0;
    }

    public async Task<int> QuarantineListAsync()
    {
        var entries = await _admin.ListQuarantineAsync();
        if (entries.Count == 0)
        {
            output.WriteLine("Quarantine is empty");
            return 0;
        }
        output.WriteLine($"{"ID",-16} {"DATE",-20} SENDER -> RECIPIENTS");
        foreach (var e in entries)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{e.QueueId,-16} {e.Date.UtcDateTime,-20:yyyy-MM-dd HH:mm:ss} <{e.MailFrom}> -> {string.Join(", ", e.Recipients)}"));
            output.WriteLine($"{"",17}subject: {e.Subject}");
            output.WriteLine($"{"",17}reason: {e.Reason}");
        }
        output.WriteLine($"-- {entries.Count} message(s) held");
        return 0;
    }

    /// <summary>Delivers a held message through the normal local delivery path (INBOX), then forgets it.</summary>
    public Task<int> QuarantineReleaseAsync(string queueId) => RunAsync(async () =>
    {
        var result = await _admin.ReleaseQuarantinedAsync(queueId);
        foreach (var d in result.Delivered) output.WriteLine($"{queueId}: delivered to {d.User} {d.Mailbox} uid {d.Uid}");
        if (result.Remote.Count > 0) output.WriteLine($"{queueId}: {result.Remote.Count} remote recipient(s) queued for relay");
        if (result.Forwarded.Count > 0) output.WriteLine($"{queueId}: forwarded to {string.Join(", ", result.Forwarded)}");
        foreach (var u in result.UnknownLocal) output.WriteLine($"{queueId}: no such user {u}; not delivered");
        output.WriteLine($"{queueId} released");
    });

    public Task<int> QuarantineDeleteAsync(string queueId) => RunAsync(async () =>
    {
        await _admin.DeleteQuarantinedAsync(queueId);
        output.WriteLine($"{queueId} deleted");
    });

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);

    private static string Cut(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";

    private static int NotAnAddress(string address) => Fail($"'{address}' is not an address (local@domain)");

    /// <summary>Runs a service call; what it refuses (<see cref="AdminException"/>) is one line, EX_DATAERR, after
    /// <paramref name="prefix"/> ("dkim: ").</summary>
    internal static async Task<int> RunAsync(Func<Task> work, string prefix = "")
    {
        try
        {
            await work();
            return 0;
        }
        catch (AdminException e)
        {
            return Fail(prefix + e.Message);
        }
    }

    /// <summary>The command's input is wrong (not an address, no such user): one line, EX_DATAERR.</summary>
    private static int Fail(string message)
    {
        Console.Error.WriteLine("mail: " + message);
        return ExitCodes.DataError;
    }
}
