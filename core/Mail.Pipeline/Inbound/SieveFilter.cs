using Mail.Core.Accounts;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Sieve;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Mail.Pipeline.Inbound;

/// <summary>Where one user's copy goes, and what else the user's script asked for.</summary>
/// <param name="Stores">Mailboxes to store into, in order, each with its flags; empty when the script discarded it.</param>
internal sealed record DeliveryPlan(IReadOnlyList<PlannedStore> Stores, IReadOnlyList<string> Redirects, VacationAction? Vacation)
{
    public static DeliveryPlan Default(string mailbox) => new([new PlannedStore(mailbox, [], Create: false)], [], null);
}

internal sealed record PlannedStore(string Mailbox, IReadOnlyList<string> Flags, bool Create);

/// <summary>
/// Runs a user's active Sieve script at delivery (Pigeonhole's LDA plugin) after the spam verdict: the script sees the
/// message with our checks' header fields (X-Spam-Status among them) and the envelope, and keep and the implicit keep
/// go to the verdict's mailbox (INBOX, or Junk for spam), so <c>fileinto "INBOX"</c> overrides the verdict. A script
/// that does not compile or fails while running never loses the message: the default mailbox, and one log line naming
/// the user and the error.
/// reject/ereject: the edge has already said 250, and a rejection sent now would go to an envelope sender anyone can
/// forge (backscatter), so no rejection message is sent; the message is kept out of INBOX, filed to Junk, and logged.
/// </summary>
internal sealed class SieveFilter(MailDirectory directory, IMailboxStore mailboxes, ILogger log, TimeProvider time)
{
    private readonly SieveInterpreter _interpreter = new();

    public async Task<DeliveryPlan> PlanAsync(Envelope envelope, string user, string recipient, Lazy<MimeMessage> view, long size, string defaultMailbox, CancellationToken cancellationToken)
    {
        var fallback = DeliveryPlan.Default(defaultMailbox);
        if (await directory.Sieve.GetActiveAsync(user, cancellationToken) is not { } active) return fallback;
        var (name, text) = active;
        SieveResult result;
        var list = await mailboxes.ListMailboxesAsync(user, cancellationToken);
        if (list.Count == 0)
        {
            // A user's first delivery: the standard mailboxes (INBOX, Junk, ...) exist for the script as for IMAP.
            await mailboxes.EnsureUserMailboxesAsync(user, cancellationToken);
            list = await mailboxes.ListMailboxesAsync(user, cancellationToken);
        }
        var existing = list.Select(m => m.Name).ToHashSet(StringComparer.Ordinal);
        try
        {
            var script = SieveScript.Compile(text);
            result = _interpreter.Run(script, new SieveMessage(view.Value, size, envelope.IsNullSender ? "" : envelope.MailFrom, recipient)
            {
                Delimiters = directory.Recipients.Delimiters,
                MailboxExists = m => existing.Contains(Canonical(m)),
                Now = time.GetLocalNow(),
            });
        }
        catch (Exception e) when (e is SieveCompileException or SieveRuntimeException)
        {
            log.LogWarning("{QueueId}: sieve script {Script} of {User} failed: {Error}; delivered to {Mailbox}", envelope.QueueId, name, user, e.Message, defaultMailbox);
            return fallback;
        }

        var stores = new List<PlannedStore>();
        var redirects = new List<string>();
        VacationAction? vacation = null;
        var localRedirect = false;
        foreach (var action in result.Actions)
            switch (action)
            {
                case StoreAction s:
                    var mailbox = s.IsKeep ? defaultMailbox : Canonical(s.Mailbox);
                    if (!s.IsKeep && !s.Create && !existing.Contains(mailbox))
                    {
                        // Pigeonhole does the same: fileinto a mailbox that does not exist keeps the message instead.
                        log.LogWarning("{QueueId}: sieve script {Script} of {User}: fileinto \"{Mailbox}\": no such mailbox (use :create); delivered to {Default}",
                            envelope.QueueId, name, user, mailbox, defaultMailbox);
                        mailbox = defaultMailbox;
                    }
                    Add(stores, new PlannedStore(mailbox, s.Flags, s.Create));
                    break;
                case RedirectAction r:
                    // A local target would go out and come back to us (the outbound router refuses that as a loop).
                    if (Address.TryParse(r.Address, out var target) && await directory.IsLocalDomainAsync(target.Domain, cancellationToken))
                    {
                        log.LogWarning("{QueueId}: sieve script {Script} of {User}: redirect to {Target} not followed: a local address (an alias does that)",
                            envelope.QueueId, name, user, r.Address);
                        localRedirect = true;
                    }
                    else redirects.Add(r.Address);
                    break;
                case VacationAction v:
                    vacation = v;
                    break;
                case RejectAction j:
                    log.LogInformation("{QueueId}: sieve script {Script} of {User} {Verb}s the message ({Reason}); no rejection sent after 250 (backscatter), filed to {Junk}",
                        envelope.QueueId, name, user, j.Extended ? "ereject" : "reject", j.Reason, InboundStage.JunkMailbox);
                    Add(stores, new PlannedStore(InboundStage.JunkMailbox, [], Create: false));
                    break;
                case DiscardAction:
                    log.LogInformation("{QueueId}: sieve script {Script} of {User} discards the message", envelope.QueueId, name, user);
                    break;
            }
        // The implicit keep, or a keep in place of a redirect not followed: the message is not lost.
        if (result.ImplicitKeep || (localRedirect && stores.Count == 0)) Add(stores, new PlannedStore(defaultMailbox, result.ImplicitKeepFlags, Create: false));
        return new DeliveryPlan(stores, redirects, vacation);
    }

    private static void Add(List<PlannedStore> stores, PlannedStore store)
    {
        var i = stores.FindIndex(s => s.Mailbox == store.Mailbox);
        if (i < 0) stores.Add(store);
        else stores[i] = stores[i] with { Flags = [.. stores[i].Flags.Union(store.Flags, StringComparer.OrdinalIgnoreCase)] };
    }

    private static string Canonical(string mailbox) => mailbox.Equals(InboundStage.InboxMailbox, StringComparison.OrdinalIgnoreCase) ? InboundStage.InboxMailbox : mailbox;
}
