using Mail.Core.Ports;
using Mail.Storage.Contracts;
using Mail.Storage.Embedded;

namespace Mail.Core.Tests;

/// <summary>
/// A delivery that files one copy in two mailboxes, and the user's client expunging the first row the moment it
/// appears (a POP3 client that fetches and deletes, a rule in a client moving mail out of INBOX). The store deletes a
/// message with its last row, so the rows of one delivery must appear together: otherwise the copy is deleted before
/// the second row names it. The expunge runs from a seam in the mailbox store, right after the first append call
/// returns, so the interleaving happens every run.
/// </summary>
public sealed class DeliveryExpungeRaceTests : IDisposable
{
    private const string Alice = "alice@example.org";
    private readonly PipelineFixture _f = new();

    public void Dispose() => _f.Dispose();

    [Fact]
    public async Task An_expunge_of_the_first_row_of_a_delivery_keeps_the_copy_its_other_row_names()
    {
        const string script = "require [\"fileinto\", \"copy\"];\nfileinto :copy \"Archive\";\n";
        Assert.Null(Mail.Sieve.SieveScript.Check(script));
        await _f.Directory_.Sieve.PutAsync(Alice, "s", script);
        Assert.True(await _f.Directory_.Sieve.ActivateAsync(Alice, "s"));
        // Its own database: a store given the message store deletes a message with its last row.
        var mailboxes = new ExpungeFirstRowStore(new SqliteMailboxStore(Path.Combine(_f.Root, "boxes.db"), messages: () => _f.Messages));
        await mailboxes.EnsureUserMailboxesAsync(Alice);
        var stage = new Mail.Pipeline.Inbound.InboundStage(_f.Messages, mailboxes, _f.Directory_, _f.Outbound, []);

        var result = await stage.ProcessAsync(await _f.StoreAsync());

        Assert.Equal(2, result.Delivered.Count);
        Assert.NotNull(mailboxes.Expunged);
        var left = Assert.Single(result.Delivered, d => d.Mailbox != mailboxes.Expunged);
        var row = Assert.Single(await mailboxes.ListMessagesAsync(Alice, left.Mailbox));
        // The row left names a message that exists: nothing was lost.
        Assert.True(await _f.Messages.ExistsAsync(row.MessageRef), $"the {left.Mailbox} row names {row.MessageRef}, deleted with the expunged row");
        Assert.Contains("Hello Alice", await _f.ReadAsync(row.MessageRef), StringComparison.Ordinal);
        Assert.Empty(await mailboxes.ListMessagesAsync(Alice, mailboxes.Expunged));

        // And the copy goes with that last row.
        await mailboxes.StoreFlagsAsync(Alice, left.Mailbox, [row.Uid], FlagChange.Add, [MessageFlags.Deleted]);
        await mailboxes.ExpungeAsync(Alice, left.Mailbox);
        Assert.False(await _f.Messages.ExistsAsync(row.MessageRef));
    }

    /// <summary>The real store; after the first append call, the first row it appended is flagged \Deleted and expunged.</summary>
    private sealed class ExpungeFirstRowStore(IMailboxStore inner) : MailboxStoreDecorator(inner)
    {
        /// <summary>The mailbox the expunged row was in.</summary>
        public string? Expunged { get; private set; }

        public override async Task<AppendResult> AppendAsync(string user, string mailbox, NewMessage message, CancellationToken cancellationToken = default)
        {
            var result = await Inner.AppendAsync(user, mailbox, message, cancellationToken);
            await ExpungeOnceAsync(user, mailbox, result.Message.Uid);
            return result;
        }

        public override async Task<IReadOnlyList<AppendResult>> AppendAllAsync(string user, IReadOnlyList<(string Mailbox, NewMessage Message)> appends, CancellationToken cancellationToken = default)
        {
            var results = await Inner.AppendAllAsync(user, appends, cancellationToken);
            await ExpungeOnceAsync(user, appends[0].Mailbox, results[0].Message.Uid);
            return results;
        }

        private async Task ExpungeOnceAsync(string user, string mailbox, long uid)
        {
            if (Expunged is not null) return;
            Expunged = mailbox;
            await Inner.StoreFlagsAsync(user, mailbox, [uid], FlagChange.Add, [MessageFlags.Deleted]);
            Assert.Equal([uid], await Inner.ExpungeAsync(user, mailbox, [uid]));
        }
    }
}
