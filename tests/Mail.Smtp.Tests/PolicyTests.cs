using Mail.Core.Model;
using Mail.Core.Ports;

namespace Mail.Smtp.Tests;

/// <summary>The ISmtpSessionPolicy seam: each hook sees the facts and can continue, accept or reject.</summary>
public sealed class PolicyTests
{
    private sealed class TestPolicy : ISmtpSessionPolicy
    {
        public List<string> Calls { get; } = [];
        public SmtpSessionFacts? FactsAtRcpt { get; private set; }
        public List<string> RecipientsAtData { get; } = [];
        public bool RejectConnect { get; init; }

        public ValueTask<SmtpPolicyResult> OnConnectAsync(SmtpSessionFacts facts, CancellationToken cancellationToken)
        {
            Calls.Add($"connect {facts.ListenerName} {facts.ListenerRole}");
            return ValueTask.FromResult(RejectConnect ? SmtpPolicyResult.Reject(554, "5.7.1", "No SMTP service here") : SmtpPolicyResult.Continue);
        }

        public ValueTask<SmtpPolicyResult> OnHeloAsync(SmtpSessionFacts facts, CancellationToken cancellationToken)
        {
            Calls.Add($"helo {facts.Helo}");
            return ValueTask.FromResult(facts.Helo == "spammer.test" ? SmtpPolicyResult.Reject(550, "5.7.1", "Go away") : SmtpPolicyResult.Continue);
        }

        public ValueTask<SmtpPolicyResult> OnMailFromAsync(SmtpSessionFacts facts, CancellationToken cancellationToken)
        {
            Calls.Add($"mail {facts.MailFrom}");
            return ValueTask.FromResult(facts.MailFrom == "grey@other.test" ? SmtpPolicyResult.Reject(450, "4.7.1", "Greylisted, try later") : SmtpPolicyResult.Continue);
        }

        public ValueTask<SmtpPolicyResult> OnRcptToAsync(SmtpSessionFacts facts, Recipient recipient, CancellationToken cancellationToken)
        {
            Calls.Add($"rcpt {recipient.Address}");
            FactsAtRcpt = facts;
            return ValueTask.FromResult(recipient.Address switch
            {
                "bob@example.test" => SmtpPolicyResult.Reject(550, "5.7.1", "Bob does not take mail from you"),
                "partner@other.test" => SmtpPolicyResult.Accept,
                _ => SmtpPolicyResult.Continue,
            });
        }

        public ValueTask<SmtpPolicyResult> OnDataAsync(SmtpSessionFacts facts, CancellationToken cancellationToken)
        {
            RecipientsAtData.AddRange(facts.Recipients.Select(r => r.Address));
            return ValueTask.FromResult(SmtpPolicyResult.Continue);
        }

        public ValueTask<SmtpPolicyResult> OnEndOfDataAsync(SmtpSessionFacts facts, StoredMessage message, CancellationToken cancellationToken)
        {
            Calls.Add($"eod {message.Size}");
            return ValueTask.FromResult(message.Size > 1000 ? SmtpPolicyResult.Reject(554, "5.7.1", "Content rejected") : SmtpPolicyResult.Continue);
        }
    }

    /// <summary>A policy service that never answers HELO until it is cancelled.</summary>
    private sealed class HangingHeloPolicy : ISmtpSessionPolicy
    {
        public TaskCompletionSource Waiting { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Cancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ValueTask<SmtpPolicyResult> OnConnectAsync(SmtpSessionFacts facts, CancellationToken cancellationToken) => ValueTask.FromResult(SmtpPolicyResult.Continue);

        public async ValueTask<SmtpPolicyResult> OnHeloAsync(SmtpSessionFacts facts, CancellationToken cancellationToken)
        {
            Waiting.TrySetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                Cancelled.TrySetResult();
                throw;
            }
            return SmtpPolicyResult.Continue;
        }

        public ValueTask<SmtpPolicyResult> OnMailFromAsync(SmtpSessionFacts facts, CancellationToken cancellationToken) => ValueTask.FromResult(SmtpPolicyResult.Continue);
        public ValueTask<SmtpPolicyResult> OnRcptToAsync(SmtpSessionFacts facts, Recipient recipient, CancellationToken cancellationToken) => ValueTask.FromResult(SmtpPolicyResult.Continue);
        public ValueTask<SmtpPolicyResult> OnDataAsync(SmtpSessionFacts facts, CancellationToken cancellationToken) => ValueTask.FromResult(SmtpPolicyResult.Continue);
        public ValueTask<SmtpPolicyResult> OnEndOfDataAsync(SmtpSessionFacts facts, StoredMessage message, CancellationToken cancellationToken) => ValueTask.FromResult(SmtpPolicyResult.Continue);
    }

    [Fact]
    public async Task A_hook_still_running_when_shutdown_gives_up_on_the_session_is_cancelled()
    {
        var policy = new HangingHeloPolicy();
        await using var s = await SmtpTestServer.StartAsync(policy: policy);
        using var c = s.Connect();
        Assert.Equal(220, (await c.ReadReplyAsync()).Code);
        await c.SendAsync("EHLO slow.test\r\n");
        await policy.Waiting.Task.WaitAsync(TimeSpan.FromSeconds(10));
        // The graceful stop cannot reach a session stuck in a hook; when its grace ends the session is aborted, and the
        // hook's token (the session's) is cancelled rather than leaving the hook running for ever.
        using (var grace = new CancellationTokenSource(TimeSpan.FromMilliseconds(300)))
            await s.Server.StopAsync(grace.Token);
        await policy.Cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(await c.IsClosedAsync());
    }

    [Fact]
    public async Task Hooks_see_the_facts_and_their_verdicts_are_applied()
    {
        var policy = new TestPolicy();
        await using var s = await SmtpTestServer.StartAsync(policy: policy);
        using var c = s.Connect();
        await c.ReadReplyAsync();
        Assert.StartsWith("550 5.7.1 Go away", (await c.CommandAsync("EHLO spammer.test")).Last);
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("MAIL FROM:<a@other.test>")).Last);
        await c.EhloAsync("good.test");
        Assert.StartsWith("450 4.7.1", (await c.CommandAsync("MAIL FROM:<grey@other.test>")).Last);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@other.test>")).Code);
        Assert.StartsWith("550 5.7.1 Bob", (await c.CommandAsync("RCPT TO:<bob@example.test>")).Last);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test>")).Code);
        // Accept skips relay control for this recipient (what permit_mynetworks-style rules need).
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<partner@other.test>")).Code);
        Assert.StartsWith("554 5.7.1", (await c.CommandAsync("RCPT TO:<stranger@other.test>")).Last);
        var facts = policy.FactsAtRcpt!;
        Assert.Equal("good.test", facts.Helo);
        Assert.Equal("a@other.test", facts.MailFrom);
        Assert.Equal(SmtpListenerRole.Mx, facts.ListenerRole);
        Assert.Equal("127.0.0.1", facts.ClientEndPoint.Address.ToString());
        Assert.Null(facts.Tls);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(["alice@example.test", "partner@other.test"], policy.RecipientsAtData);
        Assert.StartsWith("554 5.7.1 Content rejected", (await c.CommandAsync("Subject: big\r\n\r\n" + new string('x', 900) + "\r\n.")).Last);
        Assert.Empty(s.StoredMessageIds());
        Assert.Empty(await s.QueuedAsync());
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@other.test>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: small\r\n\r\nok\r\n.")).Code);
        Assert.Single(await s.QueuedAsync());
        Assert.Equal("connect mx Mx", policy.Calls[0]);
    }

    [Fact]
    public async Task Connect_rejection_replaces_the_greeting()
    {
        await using var s = await SmtpTestServer.StartAsync(policy: new TestPolicy { RejectConnect = true });
        using var c = s.Connect();
        Assert.Equal("554 No SMTP service here", (await c.ReadReplyAsync()).Last);
        Assert.True(await c.IsClosedAsync());
    }
}
