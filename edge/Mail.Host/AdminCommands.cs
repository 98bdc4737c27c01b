using System.Globalization;
using Mail.Core.Accounts;
using Mail.Core.Ports;
using Mail.Pipeline.Inbound;
using Mail.Pipeline.Quarantine;
using MimeKit;

namespace Mail.Host;

/// <summary>The admin surface of `mail`: domains, users, mailbox listing and the queue (mailq).
/// Each command opens the data directory itself, so it works while `mail serve` runs on the same data.</summary>
public sealed class AdminCommands(MailStores data, TextWriter output)
{
    public async Task<int> DomainAddAsync(string domain)
    {
        if (Core.Model.Address.NormalizeDomain(domain) is not { } d || d.StartsWith('['))
            return Fail($"'{domain}' is not a domain name");
        await data.Directory.AddDomainAsync(d);
        output.WriteLine($"domain {d} added");
        return 0;
    }

    public async Task<int> DomainListAsync()
    {
        foreach (var d in await data.Directory.ListDomainsAsync()) output.WriteLine(d);
        return 0;
    }

    public async Task<int> UserAddAsync(string address, string password)
    {
        if (MailDirectory.Canonical(address) is null) return NotAnAddress(address);
        if (password.Length == 0) return Fail("the password must not be empty");
        return await SaveUserAsync(() => data.Directory.SetUserAsync(address, password), "saved");
    }

    /// <summary>`user add ADDRESS --password-hash HASH`: keeps a hash brought from Dovecot/Postfix as it is.</summary>
    public async Task<int> UserAddWithHashAsync(string address, string passwordHash)
    {
        if (MailDirectory.Canonical(address) is null) return NotAnAddress(address);
        if (PasswordHasher.Validate(passwordHash.Trim()) is { } why) return Fail($"--password-hash: {why}");
        return await SaveUserAsync(() => data.Directory.SetUserPasswordHashAsync(address, passwordHash), "saved (password hash as given)");
    }

    /// <summary>Stores the user (refused when the domain is not local) and creates their standard mailboxes.</summary>
    private async Task<int> SaveUserAsync(Func<Task<string>> save, string done)
    {
        string user;
        try
        {
            user = await save();
        }
        catch (InvalidOperationException e)
        {
            return Fail(e.Message);
        }
        await data.Mailboxes.EnsureUserMailboxesAsync(user);
        output.WriteLine($"user {user} {done}");
        return 0;
    }

    /// <summary>`mail user list`: one user a line; a user with a storage limit (their own or Quota:Default) is followed
    /// by the limit and the octets used. Users without one stay a bare address, as scripts read it.</summary>
    public async Task<int> UserListAsync()
    {
        foreach (var u in await data.Directory.ListUsersAsync())
        {
            var q = await data.Quotas.GetLimitedAsync(u);
            output.WriteLine(q is { } limited
                ? string.Create(CultureInfo.InvariantCulture, $"{u}  quota {QuotaSize.Format(limited.Limit)}, {limited.Used} octets used")
                : u);
        }
        return 0;
    }

    /// <summary>`mail user quota ADDRESS SIZE`: the user's storage limit (Dovecot's per-user quota_rule); "none" or 0
    /// is unlimited even against Quota:Default, "default" forgets the user's own limit.</summary>
    public async Task<int> UserQuotaAsync(string address, string size)
    {
        var user = MailDirectory.Canonical(address);
        if (user is null) return NotAnAddress(address);
        if (!await data.Directory.UserExistsAsync(user)) return Fail($"no user {user}");
        if (size.Trim().Equals("default", StringComparison.OrdinalIgnoreCase))
            await data.Quotas.ClearLimitAsync(user);
        else if (QuotaSize.TryParse(size, out var limit))
            await data.Quotas.SetLimitAsync(user, limit);
        else
            return Fail($"'{size}' is not a size (e.g. 500M, 2G; 0 or none for no limit; default for Quota:Default)");
        var q = await data.Quotas.GetAsync(user);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"user {user} quota {QuotaSize.Format(q.Limit)}, {q.Used} octets used"));
        return 0;
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
            var (from, subject, messageId) = await SummaryAsync(m.MessageRef);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{m.Uid,6}  {m.InternalDate.UtcDateTime,-20:yyyy-MM-dd HH:mm:ss}  {m.Size,8}  {string.Join(' ', m.Flags),-18}  {Cut(from, 30),-30}  {subject}  {messageId}"));
        }
        return 0;
    }

    public async Task<int> QueueAsync()
    {
        var count = 0;
        foreach (var queue in new IMessageQueue[] { data.Inbound, data.Outbound })
        {
            await foreach (var e in queue.ListAsync())
            {
                if (count++ == 0) output.WriteLine($"{"QUEUE",-9} {"ID",-16} {"STATE",-13} {"VISIBLE AT",-20} {"TRIES",5}  SENDER -> RECIPIENTS");
                var state = e.State switch
                {
                    QueueEntryState.Ready => "ready",
                    QueueEntryState.Scheduled => "scheduled",
                    QueueEntryState.InFlight => "in-flight",
                    _ => "dead",
                };
                var at = e.VisibleAt is { } v ? v.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) : "-";
                var env = e.Envelope;
                output.WriteLine($"{queue.Name,-9} {env.QueueId,-16} {state,-13} {at,-20} {e.DeliveryCount,5}  <{env.MailFrom}> -> {string.Join(", ", env.Recipients.Select(r => r.Address))}");
                if (e.DeadLetterReason is not null) output.WriteLine($"{"",10}reason: {e.DeadLetterReason}");
                // Outbound: each recipient's own state and the last reply (Postfix mailq shows the reason per recipient).
                foreach (var r in env.Recipients.Where(r => r.Delivery is not null))
                {
                    var d = r.Delivery!;
                    var next = d.NextAttemptAt is { } n ? " next " + n.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) : "";
                    var reply = d.LastReply is { } lr ? $" ({(lr.Code == 0 ? "" : lr.Code.ToString(CultureInfo.InvariantCulture) + " ")}{lr.EnhancedCode} {lr.Text}{(lr.Host is null ? "" : " from " + lr.Host)})" : "";
                    output.WriteLine($"{"",10}<{r.Address}> {d.Status.ToString().ToLowerInvariant()}, {d.Attempts} attempt(s){next}{reply}");
                }
            }
        }
        output.WriteLine(count == 0 ? "Mail queue is empty" : $"-- {count} envelope(s)");
        return 0;
    }

    /// <summary>`mail queue show ID`: the envelope, each recipient's state and last reply, and the message's header.</summary>
    public async Task<int> QueueShowAsync(string queueId)
    {
        var found = false;
        foreach (var queue in new IMessageQueue[] { data.Inbound, data.Outbound })
        {
            await foreach (var e in queue.ListAsync())
            {
                var env = e.Envelope;
                if (env.QueueId != queueId) continue;
                found = true;
                output.WriteLine($"queue: {queue.Name} ({e.State.ToString().ToLowerInvariant()}{(e.VisibleAt is { } v ? ", due " + v.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) : "")})");
                output.WriteLine($"received: {env.ReceivedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} from {env.Client.Helo} [{env.Client.Address}]{(env.AuthenticatedUser is { } u ? " user " + u : "")}");
                output.WriteLine($"sender: <{env.MailFrom}>  size: {env.Size}  message: {env.MessageRef}");
                foreach (var r in env.Recipients)
                {
                    var d = r.Delivery;
                    output.WriteLine($"  <{r.Address}> {r.Status.ToString().ToLowerInvariant()}{(d is null ? "" : $", {d.Attempts} attempt(s), expires {d.ExpiresAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)}")}");
                    if (d?.LastReply is { } lr) output.WriteLine($"      last reply: {(lr.Code == 0 ? "" : lr.Code.ToString(CultureInfo.InvariantCulture) + " ")}{lr.EnhancedCode} {lr.Text}{(lr.Host is null ? "" : $" ({lr.Host} {lr.Address})")}");
                }
                var (from, subject, _) = await SummaryAsync(env.MessageRef);
                output.WriteLine($"From: {from}");
                output.WriteLine($"Subject: {subject}");
            }
        }
        if (!found)
        {
            output.WriteLine($"mail: no queued envelope {queueId}");
            return 1;
        }
        return 0;
    }

    /// <summary>`mail queue hold|release|retry|delete ID|ALL`: recorded for the running server to apply (see QueueControl).</summary>
    public async Task<int> QueueActionAsync(string verb, string target)
    {
        var action = Enum.Parse<Mail.Outbound.QueueAction>(verb, ignoreCase: true);
        var ids = new List<string>();
        await foreach (var e in data.Outbound.ListAsync())
            if (e.State != QueueEntryState.DeadLettered && (target == "ALL" || e.Envelope.QueueId == target) && !ids.Contains(e.Envelope.QueueId)) ids.Add(e.Envelope.QueueId);
        // Cloud: a scheduled retry is hidden by the queue service, so an explicit id is recorded even when not listed.
        if (ids.Count == 0 && target != "ALL" && data.Mode == MailStores.Cloud) ids.Add(target);
        if (ids.Count == 0)
        {
            output.WriteLine(target == "ALL" ? "Outbound queue is empty" : $"mail: no outbound envelope {target}");
            return target == "ALL" ? 0 : 1;
        }
        var control = new Mail.Outbound.QueueControl(data.State);
        foreach (var id in ids) await control.RequestAsync(id, action);
        output.WriteLine($"{verb}: {ids.Count} envelope(s) ({string.Join(", ", ids)}); the running server applies it within a second");
        return 0;
    }

    public async Task<int> QuarantineListAsync()
    {
        var entries = await new QuarantineStore(data.State).ListAsync();
        if (entries.Count == 0)
        {
            output.WriteLine("Quarantine is empty");
            return 0;
        }
        output.WriteLine($"{"ID",-16} {"DATE",-20} SENDER -> RECIPIENTS");
        foreach (var e in entries.OrderBy(e => e.Date))
        {
            var (_, subject, _) = await SummaryAsync(e.MessageRef);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{e.QueueId,-16} {e.Date.UtcDateTime,-20:yyyy-MM-dd HH:mm:ss} <{e.MailFrom}> -> {string.Join(", ", e.Recipients)}"));
            output.WriteLine($"{"",17}subject: {subject}");
            output.WriteLine($"{"",17}reason: {e.Reason}");
        }
        output.WriteLine($"-- {entries.Count} message(s) held");
        return 0;
    }

    /// <summary>Delivers a held message through the normal local delivery path (INBOX), then forgets it.</summary>
    public async Task<int> QuarantineReleaseAsync(string queueId)
    {
        var stage = new InboundStage(data.Messages, data.Mailboxes, data.Directory, data.Outbound, [], state: data.State);
        var result = await stage.ReleaseAsync(queueId);
        if (result is null) return Fail($"no quarantined message {queueId}");
        foreach (var d in result.Delivered) output.WriteLine($"{queueId}: delivered to {d.User} {d.Mailbox} uid {d.Uid}");
        if (result.Remote.Count > 0) output.WriteLine($"{queueId}: {result.Remote.Count} remote recipient(s) queued for relay");
        if (result.Forwarded.Count > 0) output.WriteLine($"{queueId}: forwarded to {string.Join(", ", result.Forwarded)}");
        foreach (var u in result.UnknownLocal) output.WriteLine($"{queueId}: no such user {u}; not delivered");
        output.WriteLine($"{queueId} released");
        return 0;
    }

    public async Task<int> QuarantineDeleteAsync(string queueId)
    {
        var quarantine = new QuarantineStore(data.State);
        if (await quarantine.GetAsync(queueId) is not { } entry) return Fail($"no quarantined message {queueId}");
        await data.Messages.DeleteAsync(entry.MessageRef);
        await quarantine.DeleteAsync(queueId);
        output.WriteLine($"{queueId} deleted");
        return 0;
    }

    private async Task<(string From, string Subject, string MessageId)> SummaryAsync(string messageRef)
    {
        await using var s = await data.Messages.OpenReadAsync(messageRef);
        if (s is null) return ("?", "(raw message missing)", "");
        try
        {
            var headers = await HeaderList.LoadAsync(s);
            return (headers[HeaderId.From] ?? "", headers[HeaderId.Subject] ?? "", headers[HeaderId.MessageId] ?? "");
        }
        catch (FormatException)
        {
            return ("?", "(unparsable headers)", "");
        }
    }

    private static string Cut(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";

    private static int NotAnAddress(string address) => Fail($"'{address}' is not an address (local@domain)");

    /// <summary>The command's input is wrong (not an address, no such user): one line, EX_DATAERR.</summary>
    private static int Fail(string message)
    {
        Console.Error.WriteLine("mail: " + message);
        return ExitCodes.DataError;
    }
}
