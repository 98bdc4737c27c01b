using Mail.Auth.Dkim.Signing;
using Mail.Core.Accounts;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Tracing;
using Mail.Outbound;
using Mail.Core.InboundChecks;
using Mail.Pipeline.Inbound;
using Mail.Pipeline.Quarantine;
using MimeKit;

namespace Mail.Admin;

/// <summary>
/// The one administration service: domains, users, aliases, DKIM keys, the queues and the quarantine. The `mail`
/// commands (edge/Mail.Host) print what it returns; the web console (edge/Mail.WebConsole) renders it as HTML and JSON.
/// It works on the stores directly, so it runs beside a `mail serve` on the same data; queue actions are recorded
/// for the running server to apply (<see cref="QueueControl"/>). Bad input throws <see cref="AdminException"/>.
/// </summary>
/// <param name="cloud">Cloud mode: a scheduled retry is hidden by the queue service, so queue actions name ids not listed.</param>
public sealed class AdminService(MailDirectory directory, IMailboxStore mailboxes, IMessageStore messages, IMessageQueue inbound,
    IMessageQueue outbound, IStateStore state, UserQuotas quotas, Func<DkimKeyStore>? dkimKeys = null, bool cloud = false)
{
    /// <summary>How many characters of a part a preview shows.</summary>
    public const int PreviewLimit = 100_000;

    public MailDirectory Directory => directory;

    // ---- domains

    public Task<IReadOnlyList<string>> ListDomainsAsync(CancellationToken cancellationToken = default) => directory.ListDomainsAsync(cancellationToken);

    /// <summary>Adds a local domain; returns its normalized name.</summary>
    public async Task<string> AddDomainAsync(string domain, CancellationToken cancellationToken = default)
    {
        if (Address.NormalizeDomain(domain) is not { } d || d.StartsWith('['))
            throw new AdminException($"'{domain}' is not a domain name");
        await directory.AddDomainAsync(d, cancellationToken);
        return d;
    }

    // ---- users

    public async Task<IReadOnlyList<UserInfo>> ListUsersAsync(CancellationToken cancellationToken = default)
    {
        var list = new List<UserInfo>();
        foreach (var u in await directory.ListUsersAsync(cancellationToken))
        {
            var q = await quotas.GetLimitedAsync(u, cancellationToken);
            list.Add(new UserInfo(u, await directory.IsAdminAsync(u, cancellationToken), q?.Limit, q?.Used));
        }
        return list;
    }

    /// <summary>Adds a user (or sets the password of an existing one) and creates their standard mailboxes.</summary>
    public async Task<string> SetUserAsync(string address, string password, CancellationToken cancellationToken = default)
    {
        var user = CanonicalOrThrow(address);
        if (password.Length == 0) throw new AdminException("the password must not be empty");
        return await SaveUserAsync(() => directory.SetUserAsync(user, password, cancellationToken), cancellationToken);
    }

    /// <summary>Adds a user with a hash brought from Dovecot/Postfix, kept as it is.</summary>
    public async Task<string> SetUserHashAsync(string address, string passwordHash, CancellationToken cancellationToken = default)
    {
        var user = CanonicalOrThrow(address);
        if (PasswordHasher.Validate(passwordHash.Trim()) is { } why) throw new AdminException($"--password-hash: {why}");
        return await SaveUserAsync(() => directory.SetUserPasswordHashAsync(user, passwordHash, cancellationToken), cancellationToken);
    }

    /// <summary>A new password for an existing user (the console's reset): unlike <see cref="SetUserAsync"/> it makes no user.</summary>
    public async Task<string> ResetPasswordAsync(string address, string password, CancellationToken cancellationToken = default)
    {
        var user = await ExistingUserAsync(address, cancellationToken);
        return await SetUserAsync(user, password, cancellationToken);
    }

    /// <summary>Removes the user's login; their stored mail is kept.</summary>
    public async Task<string> RemoveUserAsync(string address, CancellationToken cancellationToken = default)
    {
        var user = await ExistingUserAsync(address, cancellationToken);
        await directory.RemoveUserAsync(user, cancellationToken);
        return user;
    }

    /// <summary>Grants or withdraws the console role.</summary>
    public async Task<string> SetAdminAsync(string address, bool admin, CancellationToken cancellationToken = default)
    {
        var user = await ExistingUserAsync(address, cancellationToken);
        await directory.SetAdminAsync(user, admin, cancellationToken);
        return user;
    }

    private async Task<string> SaveUserAsync(Func<Task<string>> save, CancellationToken cancellationToken)
    {
        string user;
        try
        {
            user = await save();
        }
        catch (InvalidOperationException e)
        {
            throw new AdminException(e.Message); // the domain is not local
        }
        await mailboxes.EnsureUserMailboxesAsync(user, cancellationToken);
        return user;
    }

    public async Task<string> ExistingUserAsync(string address, CancellationToken cancellationToken = default)
    {
        var user = CanonicalOrThrow(address);
        if (!await directory.UserExistsAsync(user, cancellationToken)) throw new AdminException($"no user {user}", notFound: true);
        return user;
    }

    private static string CanonicalOrThrow(string address) =>
        MailDirectory.Canonical(address) ?? throw new AdminException($"'{address}' is not an address (local@domain)");

    // ---- Sieve scripts and quotas (what `mail sieve` and `mail user quota` do)

    /// <summary>A user's scripts, the active one marked (ManageSieve's LISTSCRIPTS).</summary>
    public async Task<IReadOnlyList<SieveScriptInfo>> ListSieveScriptsAsync(string address, CancellationToken cancellationToken = default)
    {
        var user = await ExistingUserAsync(address, cancellationToken);
        return [.. (await directory.Sieve.ListAsync(user, cancellationToken)).Select(s => new SieveScriptInfo(s.Name, s.Active))];
    }

    public async Task<string> GetSieveScriptAsync(string address, string name, CancellationToken cancellationToken = default)
    {
        var user = await ExistingUserAsync(address, cancellationToken);
        return await directory.Sieve.GetAsync(user, name, cancellationToken) ?? throw new AdminException($"no script '{name}' for {user}", notFound: true);
    }

    /// <summary>Stores a script after compiling it with the project's Sieve parser and validator (the one delivery
    /// runs), so a broken script is refused with its line, as ManageSieve's PUTSCRIPT does; optionally activates it.</summary>
    public async Task<string> PutSieveScriptAsync(string address, string name, string script, bool activate = false, CancellationToken cancellationToken = default)
    {
        var user = await ExistingUserAsync(address, cancellationToken);
        if (SieveScripts.CheckName(name) is { } bad) throw new AdminException($"script name '{name}': {bad}");
        if (Mail.Sieve.SieveScript.Check(script) is { } error) throw new AdminException($"{name}: {error.Message}");
        try
        {
            await directory.Sieve.PutAsync(user, name, script, cancellationToken);
        }
        catch (ArgumentException e)
        {
            throw new AdminException(e.Message.Split(" (Parameter", 2)[0]); // too long, too many scripts
        }
        if (activate) await directory.Sieve.ActivateAsync(user, name, cancellationToken);
        return user;
    }

    public async Task<string> ActivateSieveScriptAsync(string address, string name, CancellationToken cancellationToken = default)
    {
        var user = await ExistingUserAsync(address, cancellationToken);
        if (!await directory.Sieve.ActivateAsync(user, name, cancellationToken)) throw new AdminException($"no script '{name}' for {user}", notFound: true);
        return user;
    }

    public async Task<string> DeactivateSieveAsync(string address, CancellationToken cancellationToken = default)
    {
        var user = await ExistingUserAsync(address, cancellationToken);
        await directory.Sieve.DeactivateAsync(user, cancellationToken);
        return user;
    }

    public async Task<string> RemoveSieveScriptAsync(string address, string name, CancellationToken cancellationToken = default)
    {
        var user = await ExistingUserAsync(address, cancellationToken);
        var (removed, why) = await directory.Sieve.RemoveAsync(user, name, cancellationToken);
        return removed ? user : throw new AdminException(why ?? $"no script '{name}' for {user}");
    }

    /// <summary>A user's storage limit (their own or Quota:Default; null: none) and the octets their mail uses.</summary>
    public async Task<QuotaInfo> GetQuotaAsync(string address, CancellationToken cancellationToken = default)
    {
        var user = await ExistingUserAsync(address, cancellationToken);
        var q = await quotas.GetAsync(user, cancellationToken);
        return new QuotaInfo(user, q.Limit, q.Used);
    }

    /// <summary>Sets a user's storage limit (Dovecot's per-user quota_rule): a size (500M, 2G), "none" or 0 for
    /// unlimited even against Quota:Default, "default" to forget the user's own limit.</summary>
    public async Task<QuotaInfo> SetQuotaAsync(string address, string size, CancellationToken cancellationToken = default)
    {
        var user = await ExistingUserAsync(address, cancellationToken);
        if (size.Trim().Equals("default", StringComparison.OrdinalIgnoreCase))
            await quotas.ClearLimitAsync(user, cancellationToken);
        else if (QuotaSize.TryParse(size, out var limit))
            await quotas.SetLimitAsync(user, limit, cancellationToken);
        else
            throw new AdminException($"'{size}' is not a size (e.g. 500M, 2G; 0 or none for no limit; default for Quota:Default)");
        return await GetQuotaAsync(user, cancellationToken);
    }

    // ---- aliases and DKIM keys

    public Task<IReadOnlyList<(string Alias, IReadOnlyList<string> Targets)>> ListAliasesAsync(string? domain = null, CancellationToken cancellationToken = default) =>
        directory.Aliases.ListAsync(domain, cancellationToken);

    /// <summary>Adds targets to ADDRESS (an address of a local domain, or <c>@domain</c>, the catch-all), making it when
    /// new (Postfix's virtual_alias_maps). A loop is allowed here, with a warning: the alias that closes it may be the one
    /// an operator means to fix next, and mail to it is refused at RCPT meanwhile.</summary>
    public async Task<AliasChange> AddAliasAsync(string address, IReadOnlyList<string> targets, CancellationToken cancellationToken = default)
    {
        var key = AliasTable.Key(address.Trim()) ?? throw new AdminException($"'{address}' is not an address (local@domain) or a catch-all (@domain)");
        var list = targets.Select(t => t.Trim()).Where(t => t.Length > 0).ToList();
        if (list.Count == 0) throw new AdminException($"alias {key}: name at least one target address");
        if (list.FirstOrDefault(t => MailDirectory.Canonical(t) is null) is { } bad) throw new AdminException($"'{bad}' is not a target address (local@domain)");
        IReadOnlyList<string> now;
        try
        {
            now = await directory.Aliases.AddAsync(key, list, cancellationToken);
        }
        catch (InvalidOperationException e)
        {
            throw new AdminException(e.Message); // the domain is not local
        }
        var warning = !key.StartsWith('@') && await directory.ResolveAsync(key, cancellationToken) is { Outcome: ResolutionOutcome.AliasLoop } check
            ? $"{check.Why}; mail to it is refused until that is fixed" : null;
        return new AliasChange(key, now, warning);
    }

    /// <summary>Removes the given targets of an alias, or the whole alias when none are named (or none are left).</summary>
    public async Task<AliasChange> RemoveAliasAsync(string address, IReadOnlyList<string> targets, CancellationToken cancellationToken = default)
    {
        var key = AliasTable.Key(address.Trim()) ?? throw new AdminException($"'{address}' is not an address (local@domain) or a catch-all (@domain)");
        if (!await directory.Aliases.RemoveAsync(key, targets.Select(t => t.Trim()).Where(t => t.Length > 0), cancellationToken))
            throw new AdminException($"no alias {key}", notFound: true);
        return new AliasChange(key, await directory.Aliases.GetAsync(key, cancellationToken), null);
    }

    /// <summary>New DKIM keys for one of our domains (<c>rsa</c>, <c>ed25519</c>, or both when <paramref name="algorithm"/>
    /// is null), signing at once; their TXT records are to be published.</summary>
    public Task<IReadOnlyList<DkimKeyInfo>> AddDkimKeyAsync(string domain, string? selector = null, string? algorithm = null, CancellationToken cancellationToken = default) =>
        DkimAsync<IReadOnlyList<DkimKeyInfo>>(async keys =>
        {
            DkimKeyAlgorithm? alg = null;
            if (!string.IsNullOrWhiteSpace(algorithm) && (alg = DkimKeyAlgorithms.Parse(algorithm.Trim())) is null)
                throw new AdminException($"algorithm '{algorithm}' is not rsa or ed25519");
            return [.. (await keys.AddAsync(domain, string.IsNullOrWhiteSpace(selector) ? null : selector, alg, cancellationToken)).Select(k => Info(keys, k))];
        });

    /// <summary>Replaces a domain's active DKIM keys: the new ones sign at once, the old ones sign no more and stay
    /// published for the retired-key period.</summary>
    public Task<DkimRotation> RotateDkimKeysAsync(string domain, CancellationToken cancellationToken = default) =>
        DkimAsync(async keys =>
        {
            var (created, retired) = await keys.RotateAsync(domain, cancellationToken);
            return new DkimRotation([.. created.Select(k => Info(keys, k))], [.. retired.Select(k => Info(keys, k))]);
        });

    /// <summary>Runs a key store call; a refusal of the input (not our domain, a taken selector) becomes an
    /// <see cref="AdminException"/>; one that names a setting (no store for private keys) stays what it is.</summary>
    private async Task<T> DkimAsync<T>(Func<DkimKeyStore, Task<T>> work)
    {
        if (dkimKeys is null) throw new AdminException("DKIM keys have no store in this process");
        try
        {
            return await work(dkimKeys());
        }
        catch (DkimKeyException e) when (e.Setting is null)
        {
            throw new AdminException(e.Message);
        }
    }

    private static DkimKeyInfo Info(DkimKeyStore keys, DkimKey k) => new(k.Domain, k.Selector, k.Algorithm.Name(), k.IsActive, keys.IsPublished(k), k.Created,
        k.Retired, k.PublishedUntil, k.DnsName, k.DnsRecord, k.ZoneFileLine);

    /// <summary>The DKIM keys of one domain or all, published ones first; empty where keys have no store.</summary>
    public async Task<IReadOnlyList<DkimKeyInfo>> ListDkimKeysAsync(string? domain = null, CancellationToken cancellationToken = default)
    {
        if (dkimKeys is null) return [];
        var keys = dkimKeys();
        var all = domain is null ? await keys.ListAllAsync(cancellationToken) : await keys.ListAsync(domain, cancellationToken);
        return [.. all.Select(k => Info(keys, k)).OrderByDescending(k => k.Published)];
    }

    // ---- queues

    /// <summary>Every envelope of the inbound and outbound queues, optionally only those whose id, sender or a recipient
    /// contains <paramref name="search"/>.</summary>
    public async Task<IReadOnlyList<QueueItem>> ListQueueAsync(string? search = null, CancellationToken cancellationToken = default)
    {
        var list = new List<QueueItem>();
        foreach (var queue in new[] { inbound, outbound })
        {
            await foreach (var e in queue.ListAsync(cancellationToken))
            {
                var item = ToItem(queue.Name, e);
                if (string.IsNullOrWhiteSpace(search) || Matches(item, search.Trim())) list.Add(item);
            }
        }
        return list;
    }

    private static bool Matches(QueueItem item, string search) =>
        item.QueueId.Contains(search, StringComparison.OrdinalIgnoreCase) || item.MailFrom.Contains(search, StringComparison.OrdinalIgnoreCase)
        || item.Recipients.Any(r => r.Address.Contains(search, StringComparison.OrdinalIgnoreCase));

    /// <summary>The envelopes (one per queue it is in) with this id; empty when none.</summary>
    public async Task<IReadOnlyList<QueueItem>> FindQueuedAsync(string queueId, CancellationToken cancellationToken = default) =>
        [.. (await ListQueueAsync(null, cancellationToken)).Where(i => i.QueueId == queueId)];

    private static QueueItem ToItem(string queue, QueueEntry e)
    {
        var env = e.Envelope;
        var state = e.State switch
        {
            QueueEntryState.Ready => "ready",
            QueueEntryState.Scheduled => "scheduled",
            QueueEntryState.InFlight => "in-flight",
            _ => "dead",
        };
        var recipients = env.Recipients.Select(r => new QueueRecipient(r.Address, r.Status.ToString().ToLowerInvariant(),
            r.Delivery?.Attempts ?? 0, r.Delivery?.NextAttemptAt, r.Delivery?.ExpiresAt, r.Delivery?.LastReply is { } lr ? ReplyText(lr) : null,
            r.Delivery?.LastReply is { Host: { } h } reply ? $"{h} {reply.Address}".TrimEnd() : null)).ToList();
        return new QueueItem(queue, env.QueueId, state, e.VisibleAt, e.DeliveryCount, env.MailFrom, recipients, e.DeadLetterReason,
            env.ReceivedAt, env.Client.Helo, env.Client.Address, env.AuthenticatedUser, env.Size, env.MessageRef);
    }

    private static string ReplyText(RemoteReply r) =>
        $"{(r.Code == 0 ? "" : r.Code.ToString(System.Globalization.CultureInfo.InvariantCulture) + " ")}{r.EnhancedCode} {r.Text}";

    /// <summary>Records hold, release, retry or delete of one outbound envelope or ALL, for the running server to apply
    /// within a second; returns the ids it names. Throws when an id names no outbound envelope.</summary>
    public async Task<IReadOnlyList<string>> QueueActionAsync(QueueAction action, string target, CancellationToken cancellationToken = default)
    {
        var ids = new List<string>();
        await foreach (var e in outbound.ListAsync(cancellationToken))
            if (e.State != QueueEntryState.DeadLettered && (target == "ALL" || e.Envelope.QueueId == target) && !ids.Contains(e.Envelope.QueueId)) ids.Add(e.Envelope.QueueId);
        if (ids.Count == 0 && target != "ALL" && cloud) ids.Add(target);
        if (ids.Count == 0 && target != "ALL") throw new AdminException($"no outbound envelope {target}", notFound: true);
        var control = new QueueControl(state);
        foreach (var id in ids) await control.RequestAsync(id, action, cancellationToken);
        return ids;
    }

    /// <summary>"hold", "release", "retry", "delete" (any case); null for anything else.</summary>
    public static QueueAction? ParseQueueAction(string verb) =>
        Enum.TryParse<QueueAction>(verb, ignoreCase: true, out var a) && Enum.IsDefined(a) && !int.TryParse(verb, out _) ? a : null;

    // ---- quarantine

    public async Task<IReadOnlyList<QuarantineItem>> ListQuarantineAsync(CancellationToken cancellationToken = default)
    {
        var list = new List<QuarantineItem>();
        foreach (var e in (await new QuarantineStore(state).ListAsync(cancellationToken)).OrderBy(e => e.Date))
        {
            var s = await SummaryAsync(e.MessageRef, cancellationToken);
            list.Add(new QuarantineItem(e.QueueId, e.Date, e.MailFrom, e.Recipients, e.Reason, s.From, s.Subject));
        }
        return list;
    }

    /// <summary>Delivers a held message through the normal local delivery path, then forgets it.</summary>
    public async Task<InboundResult> ReleaseQuarantinedAsync(string queueId, CancellationToken cancellationToken = default)
    {
        var stage = new InboundStage(messages, mailboxes, directory, outbound, [], state: state);
        return await stage.ReleaseAsync(queueId, cancellationToken) ?? throw new AdminException($"no quarantined message {queueId}", notFound: true);
    }

    public async Task DeleteQuarantinedAsync(string queueId, CancellationToken cancellationToken = default)
    {
        var quarantine = new QuarantineStore(state);
        if (await quarantine.GetAsync(queueId, cancellationToken) is not { } entry) throw new AdminException($"no quarantined message {queueId}", notFound: true);
        await messages.DeleteAsync(entry.MessageRef, cancellationToken);
        await quarantine.DeleteAsync(queueId, cancellationToken);
        await new MessageTrail(state).AppendAsync(entry.Envelope, TraceStep.Deleted, "deleted from the quarantine by an operator", cancellationToken: cancellationToken);
    }

    // ---- message trace

    /// <summary>How many messages a trace by address shows, newest first.</summary>
    public const int TraceLimit = 50;

    /// <summary>
    /// What happened to a message, step by step, from what the stages recorded (<see cref="MessageTrail"/>) and where it
    /// is now (the queues, the quarantine). By queue id: that message and the ones it caused (its forwarded copy, its
    /// delivery status notifications, ids QUEUEID-...); by address: every kept message from or to it, newest first.
    /// Throws not-found when nothing matches.
    /// </summary>
    public async Task<IReadOnlyList<MessageTrace>> TraceAsync(string idOrAddress, CancellationToken cancellationToken = default)
    {
        var key = idOrAddress.Trim();
        if (key.Length == 0) throw new AdminException("trace what? a queue id or an address");
        var byAddress = key.Contains('@', StringComparison.Ordinal);
        var address = byAddress ? (MailDirectory.Canonical(key) ?? key.ToLowerInvariant()) : null;
        bool Mine(string a) => string.Equals(MailDirectory.Canonical(a) ?? a, address, StringComparison.OrdinalIgnoreCase);
        var trail = new MessageTrail(state);
        var found = new List<MessageTrailEntry>();
        await foreach (var e in trail.ListAsync(cancellationToken))
        {
            var match = byAddress
                ? Mine(e.MailFrom) || e.Recipients.Any(Mine) || e.Events.Any(x => x.Recipient is { } r && Mine(r))
                : e.QueueId == key || e.QueueId.StartsWith(key + "-", StringComparison.Ordinal);
            if (match) found.Add(e);
        }
        var queued = await ListQueueAsync(null, cancellationToken);
        var held = await new QuarantineStore(state).ListAsync(cancellationToken);
        var traces = found.OrderBy(e => byAddress ? DateTimeOffset.MaxValue - e.ReceivedAt : e.ReceivedAt - DateTimeOffset.MinValue).ThenBy(e => e.QueueId, StringComparer.Ordinal)
            .Take(TraceLimit).Select(e => Trace(e, queued, held)).ToList();
        // Queued or held but not (yet) recorded: an envelope from before tracing, or one the inbound stage has not reached.
        foreach (var q in queued.Where(q => !traces.Any(t => t.QueueId == q.QueueId) && (byAddress ? Mine(q.MailFrom) || q.Recipients.Any(r => Mine(r.Address)) : q.QueueId == key)))
            traces.Add(new MessageTrace(q.QueueId, q.ReceivedAt, q.MailFrom, [.. q.Recipients.Select(r => r.Address)], [], [.. queued.Where(x => x.QueueId == q.QueueId)], null));
        if (traces.Count == 0) throw new AdminException($"nothing recorded for {key} (steps are kept {MessageTrail.Retention.TotalDays:0} days)", notFound: true);
        return traces;
    }

    private static MessageTrace Trace(MessageTrailEntry e, IReadOnlyList<QueueItem> queued, IReadOnlyList<QuarantineEntry> held) =>
        new(e.QueueId, e.ReceivedAt, e.MailFrom, e.Recipients,
            [.. e.Events.Select(x => new MessageTraceStep(x.At, StepName(x.Step), x.Text, x.Recipient))],
            [.. queued.Where(q => q.QueueId == e.QueueId)], held.FirstOrDefault(h => h.QueueId == e.QueueId)?.Reason);

    /// <summary>"received", "check", "not-delivered", "queued-outbound"...</summary>
    public static string StepName(TraceStep step) =>
        string.Concat(step.ToString().Select((c, i) => char.IsUpper(c) ? (i > 0 ? "-" : "") + char.ToLowerInvariant(c) : c.ToString()));

    /// <summary>What an operator may look at of a held message without risk: header fields, the text part and the HTML
    /// part's source as text. Nothing here is rendered; the console escapes all of it.</summary>
    public async Task<MessagePreview> PreviewQuarantinedAsync(string queueId, CancellationToken cancellationToken = default)
    {
        if (await new QuarantineStore(state).GetAsync(queueId, cancellationToken) is not { } entry) throw new AdminException($"no quarantined message {queueId}", notFound: true);
        await using var s = await messages.OpenReadAsync(entry.MessageRef, cancellationToken);
        if (s is null) return new MessagePreview(queueId, entry.Reason, [], "(the raw message is missing)", null, [], false);
        MimeMessage message;
        try
        {
            message = await MimeMessage.LoadAsync(s, cancellationToken);
        }
        catch (FormatException e)
        {
            return new MessagePreview(queueId, entry.Reason, [], $"(not a parsable message: {e.Message})", null, [], false);
        }
        var truncated = false;
        string? Cut(string? text)
        {
            if (text is null || text.Length <= PreviewLimit) return text;
            truncated = true;
            return text[..PreviewLimit];
        }
        var headers = message.Headers.Select(h => new HeaderField(h.Field, h.Value)).ToList();
        var attachments = message.Attachments.Select(a => a.ContentDisposition?.FileName ?? a.ContentType.Name ?? a.ContentType.MimeType).ToList();
        return new MessagePreview(queueId, entry.Reason, headers, Cut(message.TextBody), Cut(message.HtmlBody), attachments, truncated);
    }

    /// <summary>From, Subject and Message-ID of a stored message, without reading its body.</summary>
    public async Task<MessageSummary> SummaryAsync(string messageRef, CancellationToken cancellationToken = default)
    {
        await using var s = await messages.OpenReadAsync(messageRef, cancellationToken);
        if (s is null) return new MessageSummary("?", "(raw message missing)", "");
        try
        {
            var headers = await HeaderList.LoadAsync(s, cancellationToken);
            return new MessageSummary(headers[HeaderId.From] ?? "", headers[HeaderId.Subject] ?? "", headers[HeaderId.MessageId] ?? "");
        }
        catch (FormatException)
        {
            return new MessageSummary("?", "(unparsable headers)", "");
        }
    }
}
