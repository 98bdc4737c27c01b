using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Dns;
using Mail.Spf;
using Mail.Testing.Dns;
using Microsoft.Extensions.Options;

namespace Mail.Smtp.Tests;

/// <summary>Facts the edge gathers for the restriction lists: SPF at MAIL FROM, improper pipelining, and results a policy
/// asks to carry to the envelope (Postfix HOLD/DISCARD/PREPEND...).</summary>
public sealed class EdgeFactsTests
{
    /// <summary>Records what each hook saw (copied: facts must not be kept beyond a call) and returns canned results.</summary>
    private sealed class RecordingPolicy : ISmtpSessionPolicy
    {
        public List<(string Hook, bool Pipelined, Dictionary<string, string> Results)> Seen { get; } = [];

        private void Note(string hook, SmtpSessionFacts facts)
        {
            lock (Seen) Seen.Add((hook, facts.Pipelined, new Dictionary<string, string>(facts.ConnectionResults)));
        }

        public (string Hook, bool Pipelined, Dictionary<string, string> Results) Last(string hook)
        {
            lock (Seen) return Seen.Last(s => s.Hook == hook);
        }

        /// <summary>When set, the connect hook waits for it and then notes the facts (like "sleep N" before a check).</summary>
        public Task? ConnectGate { get; init; }

        public async ValueTask<SmtpPolicyResult> OnConnectAsync(SmtpSessionFacts facts, CancellationToken cancellationToken)
        {
            if (ConnectGate is not null) await ConnectGate;
            Note("connect", facts);
            return SmtpPolicyResult.Continue with { Results = new Dictionary<string, string> { ["policy.session"] = "from connect" } };
        }

        public ValueTask<SmtpPolicyResult> OnHeloAsync(SmtpSessionFacts facts, CancellationToken cancellationToken)
        {
            Note("helo", facts);
            return ValueTask.FromResult(SmtpPolicyResult.Continue);
        }

        public ValueTask<SmtpPolicyResult> OnMailFromAsync(SmtpSessionFacts facts, CancellationToken cancellationToken)
        {
            Note("mail", facts);
            return ValueTask.FromResult(SmtpPolicyResult.Continue with { Decisions = new EdgeDecisions { Prepend = ["X-Mail: " + facts.MailFrom] } });
        }

        public ValueTask<SmtpPolicyResult> OnRcptToAsync(SmtpSessionFacts facts, Recipient recipient, CancellationToken cancellationToken)
        {
            Note("rcpt", facts);
            // HOLD asked for a recipient the edge then refuses (unknown user) must not reach the message.
            var decisions = recipient.Address.StartsWith("nobody", StringComparison.Ordinal)
                ? new EdgeDecisions { Discard = "access table said so" }
                : new EdgeDecisions { Hold = "access table said so" };
            return ValueTask.FromResult(SmtpPolicyResult.Continue with { Decisions = decisions });
        }

        public ValueTask<SmtpPolicyResult> OnDataAsync(SmtpSessionFacts facts, CancellationToken cancellationToken)
        {
            Note("data", facts);
            return ValueTask.FromResult(SmtpPolicyResult.Continue);
        }

        public ValueTask<SmtpPolicyResult> OnEndOfDataAsync(SmtpSessionFacts facts, StoredMessage message, CancellationToken cancellationToken)
        {
            Note("eod", facts);
            return ValueTask.FromResult(SmtpPolicyResult.Continue);
        }
    }

    private static async Task SendMessageAsync(RawSmtpClient c, string from)
    {
        Assert.Equal(250, (await c.CommandAsync($"MAIL FROM:<{from}>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: t\r\n\r\nbody\r\n.")).Code);
    }

    [Fact]
    public async Task Spf_runs_at_mail_from_before_the_policy_and_reaches_the_envelope()
    {
        await using var dns = await TestDnsServer.StartAsync();
        dns.AddTxt("sender.test", ["v=spf1 ip4:127.0.0.1 -all"]);
        dns.AddTxt("forged.test", ["v=spf1 ip4:192.0.2.1 -all"]);
        dns.AddTxt("client.test", ["v=spf1 ip4:127.0.0.1 -all"]);
        var resolver = new DnsResolver(new DnsResolverOptions { NameServers = [dns.EndPoint], Timeout = TimeSpan.FromSeconds(2), Retries = 0 });
        var policy = new RecordingPolicy();
        await using var s = await SmtpTestServer.StartAsync(policy: policy, spf: new SpfChecker(resolver));
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync("client.test");
        await SendMessageAsync(c, "a@sender.test");
        Assert.Equal("pass", policy.Last("mail").Results["spf"]);
        Assert.Equal("sender.test", policy.Last("mail").Results["spf.domain"]);
        await SendMessageAsync(c, "b@forged.test");
        Assert.Equal("fail", policy.Last("mail").Results["spf"]);
        // The null sender is checked as postmaster@HELO (RFC 7208 2.4).
        await SendMessageAsync(c, "");
        Assert.Equal("pass", policy.Last("mail").Results["spf"]);
        Assert.Equal("client.test", policy.Last("mail").Results["spf.domain"]);

        var queued = (await s.QueuedAsync()).OrderBy(e => e.ReceivedAt).ThenBy(e => e.QueueId).ToList();
        Assert.Equal(3, queued.Count);
        var byFrom = queued.ToDictionary(e => e.MailFrom, e => e.ConnectionResults);
        Assert.Equal("pass", byFrom["a@sender.test"]["spf"]);
        Assert.Equal("sender.test", byFrom["a@sender.test"]["spf.domain"]);
        Assert.Equal("fail", byFrom["b@forged.test"]["spf"]);
        Assert.Equal("forged.test", byFrom["b@forged.test"]["spf.domain"]);
        Assert.Equal("client.test", byFrom[""]["spf.domain"]);
    }

    [Fact]
    public async Task Without_an_spf_checker_no_spf_result_is_recorded()
    {
        var policy = new RecordingPolicy();
        await using var s = await SmtpTestServer.StartAsync(policy: policy);
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync("client.test");
        await SendMessageAsync(c, "a@sender.test");
        Assert.False(policy.Last("mail").Results.ContainsKey("spf"));
        Assert.False((await s.QueuedAsync()).Single().ConnectionResults.ContainsKey("spf"));
    }

    [Fact]
    public async Task Proper_pipelining_after_ehlo_is_not_flagged()
    {
        var policy = new RecordingPolicy();
        await using var s = await SmtpTestServer.StartAsync(policy: policy);
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync("client.test");
        // RFC 2920: MAIL, RCPT and DATA in one group, DATA last.
        await c.SendAsync("MAIL FROM:<a@sender.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.Equal(354, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: t\r\n\r\nbody\r\n.")).Code);
        Assert.False(policy.Last("data").Pipelined);
        Assert.False(policy.Last("eod").Pipelined);
    }

    [Fact]
    public async Task Commands_sent_before_the_ehlo_reply_are_improper_pipelining()
    {
        var policy = new RecordingPolicy();
        await using var s = await SmtpTestServer.StartAsync(policy: policy);
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.SendAsync("EHLO client.test\r\nMAIL FROM:<a@sender.test>\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.True(policy.Last("helo").Pipelined);
        Assert.True(policy.Last("mail").Pipelined);
    }

    [Fact]
    public async Task Pipelining_after_helo_is_improper_because_pipelining_was_never_advertised()
    {
        var policy = new RecordingPolicy();
        await using var s = await SmtpTestServer.StartAsync(policy: policy);
        using var c = s.Connect();
        await c.ReadReplyAsync();
        Assert.Equal(250, (await c.CommandAsync("HELO client.test")).Code);
        Assert.False(policy.Last("helo").Pipelined);
        await c.SendAsync("MAIL FROM:<a@sender.test>\r\nRCPT TO:<alice@example.test>\r\n");
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.True(policy.Last("rcpt").Pipelined);
    }

    [Fact]
    public async Task Message_data_sent_before_the_354_is_improper_pipelining()
    {
        var policy = new RecordingPolicy();
        await using var s = await SmtpTestServer.StartAsync(policy: policy);
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync("client.test");
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@sender.test>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test>")).Code);
        Assert.False(policy.Last("rcpt").Pipelined);
        await c.SendAsync("DATA\r\nSubject: t\r\n\r\nbody\r\n.\r\n");
        Assert.Equal(354, (await c.ReadReplyAsync()).Code);
        Assert.Equal(250, (await c.ReadReplyAsync()).Code);
        Assert.True(policy.Last("data").Pipelined);
    }

    [Fact]
    public async Task Policy_results_reach_the_envelope_of_the_transaction_they_belong_to()
    {
        var policy = new RecordingPolicy();
        await using var s = await SmtpTestServer.StartAsync(policy: policy);
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync("client.test");
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@sender.test>")).Code);
        Assert.Equal(550, (await c.CommandAsync("RCPT TO:<nobody@example.test>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: t\r\n\r\nbody\r\n.")).Code);
        var envelope = (await s.QueuedAsync()).Single();
        Assert.Equal("from connect", envelope.ConnectionResults["policy.session"]);
        Assert.Equal(["X-Mail: a@sender.test"], envelope.Decisions?.Prepend);
        Assert.Equal("access table said so", envelope.Decisions?.Hold);
        // The refused recipient's effect was dropped with it.
        Assert.Null(envelope.Decisions?.Discard);
    }
    [Fact]
    public async Task A_client_that_talks_before_the_greeting_is_flagged_while_the_connect_hook_runs_and_after()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var policy = new RecordingPolicy { ConnectGate = gate.Task };
        await using var s = await SmtpTestServer.StartAsync(policy: policy);
        using (var bot = s.Connect())
        {
            await bot.SendAsync("EHLO bot.test\r\n");
            await Task.Delay(200); // let the octets reach the server's socket buffer (a settle, not a timing assertion)
            gate.SetResult();
            Assert.Equal(220, (await bot.ReadReplyAsync()).Code);
            Assert.Equal(250, (await bot.ReadReplyAsync()).Code);
            Assert.True(policy.Last("connect").Pipelined);
            Assert.True(policy.Last("helo").Pipelined);
        }
        using var polite = s.Connect();
        Assert.Equal(220, (await polite.ReadReplyAsync()).Code);
        await polite.EhloAsync();
        Assert.False(policy.Last("connect").Pipelined);
        Assert.False(policy.Last("helo").Pipelined);
    }

    [Fact]
    public void Spf_timeout_must_be_positive()
    {
        var o = new SmtpServerOptions { Listeners = [new SmtpListenerOptions { Endpoint = "127.0.0.1:0" }], SpfTimeout = TimeSpan.Zero };
        var ex = Assert.Throws<OptionsValidationException>(o.Validate);
        Assert.Contains("Smtp:SpfTimeout must be positive.", ex.Failures);
    }
    [Fact]
    public async Task Spf_is_not_run_for_my_networks_clients()
    {
        await using var dns = await TestDnsServer.StartAsync();
        dns.AddTxt("forged.test", ["v=spf1 ip4:192.0.2.1 -all"]);
        var resolver = new DnsResolver(new DnsResolverOptions { NameServers = [dns.EndPoint], Timeout = TimeSpan.FromSeconds(2), Retries = 0 });
        var policy = new RecordingPolicy();
        await using var s = await SmtpTestServer.StartAsync(o => o.MyNetworks = ["127.0.0.0/8"], policy: policy, spf: new SpfChecker(resolver));
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync("client.test");
        await SendMessageAsync(c, "b@forged.test");
        Assert.False(policy.Last("mail").Results.ContainsKey("spf"));
        Assert.False((await s.QueuedAsync()).Single().ConnectionResults.ContainsKey("spf"));
    }
}
