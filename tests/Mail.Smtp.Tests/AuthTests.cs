using System.Globalization;
using System.Text;
using Mail.Testing;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Mail.Smtp.Tests;

/// <summary>AUTH (RFC 4954) with PLAIN and LOGIN on the Submission listeners, sender ownership, authenticated relay.</summary>
public sealed class AuthTests
{
    internal static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    internal static string Plain(string user, string password, string authzid = "") => B64($"{authzid}\0{user}\0{password}");

    private static string Port(System.Net.IPEndPoint ep) => ep.Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Connected to the STARTTLS submission listener, TLS up, EHLO done.</summary>
    private static async Task<RawSmtpClient> SubmissionAsync(SmtpTestServer s)
    {
        var c = RawSmtpClient.Connect(s.Submission);
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.Equal(220, (await c.CommandAsync("STARTTLS")).Code);
        await c.StartTlsHandshakeAsync();
        var ehlo = await c.EhloAsync();
        Assert.Contains("250-AUTH PLAIN LOGIN", ehlo.Lines);
        return c;
    }

    [Fact]
    public async Task Auth_is_offered_only_on_submission_and_only_after_tls()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using (var mx = s.Connect())
        {
            await mx.ReadReplyAsync();
            Assert.DoesNotContain((await mx.EhloAsync()).Lines, l => l.Contains("AUTH", StringComparison.Ordinal));
            Assert.StartsWith("503 5.5.1", (await mx.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", "secret"))).Last);
        }
        using var c = RawSmtpClient.Connect(s.Submission);
        await c.ReadReplyAsync();
        var ehlo = await c.EhloAsync();
        Assert.DoesNotContain(ehlo.Lines, l => l.Contains("AUTH", StringComparison.Ordinal));
        Assert.Contains("250-STARTTLS", ehlo.Lines);
        Assert.StartsWith("538 5.7.11", (await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", "secret"))).Last);
        // Submission without AUTH: no mail at all.
        Assert.StartsWith("530 5.7.0", (await c.CommandAsync("MAIL FROM:<alice@example.test>")).Last);
    }

    [Fact]
    public async Task Plaintext_auth_on_loopback_only_when_allowed()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.AllowPlaintextAuthOnLoopback = true);
        using var c = RawSmtpClient.Connect(s.Submission);
        await c.ReadReplyAsync();
        Assert.Contains("250-AUTH PLAIN LOGIN", (await c.EhloAsync()).Lines);
        Assert.StartsWith("235 2.7.0", (await c.CommandAsync("AUTH PLAIN " + Plain("bob@example.test", "secret"))).Last);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<bob@example.test>")).Code);
    }

    [Fact]
    public async Task Plain_with_initial_response_then_relay_to_any_domain_with_esmtpsa()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = await SubmissionAsync(s);
        Assert.StartsWith("530 5.7.0", (await c.CommandAsync("MAIL FROM:<alice@example.test>")).Last);
        Assert.StartsWith("235 2.7.0", (await c.CommandAsync("AUTH PLAIN " + Plain("Alice@Example.Test", "secret"))).Last);
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", "secret"))).Last);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<alice@example.test> AUTH=alice+40example.test")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<friend@elsewhere.test>")).Code);
        // Local domains still need an existing user.
        Assert.StartsWith("550 5.1.1", (await c.CommandAsync("RCPT TO:<nobody@example.test>")).Last);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: out\r\n\r\nx\r\n.")).Code);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.Equal("alice@example.test", env.AuthenticatedUser);
        Assert.Equal("ESMTPSA", env.Client.Protocol);
        Assert.Equal("friend@elsewhere.test", Assert.Single(env.Recipients).Address);
        Assert.Contains("with ESMTPSA id " + env.QueueId, await s.ReadMessageAsync(env.MessageRef));
    }

    [Fact]
    public async Task Plain_without_initial_response_gets_an_empty_challenge()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = await SubmissionAsync(s);
        var challenge = await c.CommandAsync("AUTH PLAIN");
        Assert.Equal("334 ", challenge.Last);
        Assert.StartsWith("235 2.7.0", (await c.CommandAsync(Plain("bob@example.test", "secret"))).Last);
    }

    [Fact]
    public async Task Login_step_by_step_and_with_initial_user_name()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using (var c = await SubmissionAsync(s))
        {
            Assert.Equal("334 VXNlcm5hbWU6", (await c.CommandAsync("AUTH LOGIN")).Last);
            Assert.Equal("334 UGFzc3dvcmQ6", (await c.CommandAsync(B64("alice@example.test"))).Last);
            Assert.StartsWith("235 2.7.0", (await c.CommandAsync(B64("secret"))).Last);
        }
        using (var c = await SubmissionAsync(s))
        {
            Assert.Equal("334 UGFzc3dvcmQ6", (await c.CommandAsync("auth login " + B64("alice@example.test"))).Last);
            Assert.StartsWith("535 5.7.8", (await c.CommandAsync(B64("wrong"))).Last);
        }
    }

    [Theory]
    [InlineData("AUTH PLAIN !!!notbase64", "501 5.5.2")]
    [InlineData("AUTH PLAIN " + "YWxpY2U=" /* "alice": no NULs */, "501 5.5.2")]
    [InlineData("AUTH CRAM-MD5", "504 5.5.4")]
    [InlineData("AUTH", "501 5.5.4")]
    [InlineData("AUTH PLAIN =", "501 5.5.2")]
    public async Task Bad_auth_commands_get_the_rfc_reply(string command, string expected)
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = await SubmissionAsync(s);
        Assert.StartsWith(expected, (await c.CommandAsync(command)).Last);
        // The session is still usable and still unauthenticated.
        Assert.StartsWith("530 5.7.0", (await c.CommandAsync("MAIL FROM:<alice@example.test>")).Last);
    }

    [Fact]
    public async Task Star_cancels_and_bad_base64_in_a_continuation_is_501()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = await SubmissionAsync(s);
        Assert.Equal(334, (await c.CommandAsync("AUTH LOGIN")).Code);
        Assert.StartsWith("501 5.0.0", (await c.CommandAsync("*")).Last);
        Assert.Equal(334, (await c.CommandAsync("AUTH PLAIN")).Code);
        Assert.StartsWith("501 5.5.2", (await c.CommandAsync("not base64 at all")).Last);
        Assert.StartsWith("235 2.7.0", (await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", "secret"))).Last);
    }

    [Theory]
    [InlineData("alice@example.test", "wrong", "")]
    [InlineData("nobody@example.test", "secret", "")]
    [InlineData("alice@example.test", "secret", "bob@example.test")]
    public async Task Wrong_credentials_or_foreign_authzid_get_535(string user, string password, string authzid)
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = await SubmissionAsync(s);
        Assert.StartsWith("535 5.7.8", (await c.CommandAsync("AUTH PLAIN " + Plain(user, password, authzid))).Last);
        Assert.StartsWith("530 5.7.0", (await c.CommandAsync("MAIL FROM:<alice@example.test>")).Last);
    }

    [Fact]
    public async Task Failed_auth_counts_toward_max_errors()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.MaxErrors = 3);
        using var c = await SubmissionAsync(s);
        Assert.StartsWith("535 5.7.8", (await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", "a"))).Last);
        Assert.StartsWith("535 5.7.8", (await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", "b"))).Last);
        await c.SendAsync("AUTH PLAIN " + Plain("alice@example.test", "c") + "\r\n");
        Assert.StartsWith("535 5.7.8", (await c.ReadReplyAsync()).Last);
        Assert.StartsWith("421 4.7.0", (await c.ReadReplyAsync()).Last);
        Assert.True(await c.IsClosedAsync());
    }

    [Theory]
    [InlineData("<bob@example.test>", "553 5.7.1")]
    [InlineData("<alice@other.test>", "553 5.7.1")]
    [InlineData("<ALICE@example.test.>", "250 2.1.0")]
    [InlineData("<>", "250 2.1.0")]
    public async Task Authenticated_user_may_send_only_as_themselves(string from, string expected)
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = await SubmissionAsync(s);
        Assert.Equal(235, (await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", "secret"))).Code);
        Assert.StartsWith(expected, (await c.CommandAsync($"MAIL FROM:{from}")).Last);
    }

    [Fact]
    public async Task Sender_ownership_can_be_turned_off()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.RequireSenderOwnership = false);
        using var c = await SubmissionAsync(s);
        Assert.Equal(235, (await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", "secret"))).Code);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<bob@example.test>")).Code);
    }

    [Fact]
    public async Task Starttls_forgets_a_plaintext_authentication()
    {
        await using var s = await SmtpTestServer.StartAsync(o => o.AllowPlaintextAuthOnLoopback = true);
        using var c = RawSmtpClient.Connect(s.Submission);
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.Equal(235, (await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", "secret"))).Code);
        Assert.Equal(220, (await c.CommandAsync("STARTTLS")).Code);
        await c.StartTlsHandshakeAsync();
        await c.EhloAsync();
        Assert.StartsWith("530 5.7.0", (await c.CommandAsync("MAIL FROM:<alice@example.test>")).Last);
    }

    [Fact]
    public async Task Mailkit_authenticates_over_starttls_and_relays()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var client = new SmtpClient();
        client.ServerCertificateValidationCallback = SmtpTestServer.IsTestCertificate;
        await client.ConnectAsync("127.0.0.1", s.Submission.Port, SecureSocketOptions.StartTls);
        Assert.Contains("PLAIN", client.AuthenticationMechanisms);
        await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync("bob@example.test", "nope"));
        await client.AuthenticateAsync("bob@example.test", "secret");
        var m = new MimeMessage();
        m.From.Add(MailboxAddress.Parse("bob@example.test"));
        m.To.Add(MailboxAddress.Parse("someone@far.away.test"));
        m.Subject = "via mailkit";
        m.Body = new TextPart("plain") { Text = "hello" };
        await client.SendAsync(m);
        m.From.Clear();
        m.From.Add(MailboxAddress.Parse("alice@example.test"));
        var ex = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(m));
        Assert.Equal(SmtpStatusCode.MailboxNameNotAllowed, ex.StatusCode);
        await client.DisconnectAsync(true);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.Equal("bob@example.test", env.AuthenticatedUser);
        Assert.Equal("someone@far.away.test", Assert.Single(env.Recipients).Address);
    }

    [Fact]
    public async Task Python_smtplib_login_over_starttls()
    {
        await using var s = await SmtpTestServer.StartAsync();
        var script = """
import smtplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)
s.starttls(context=ctx)
s.ehlo()
try:
    s.login('alice@example.test', 'bad')
    print('accepted bad password')
except smtplib.SMTPAuthenticationError as e:
    print('refused', e.smtp_code)
s.login('alice@example.test', 'secret')
s.sendmail('alice@example.test', ['x@remote.test'], 'Subject: py\r\n\r\nbody\r\n')
s.quit()
""";
        var r = await ExternalProcess.RunAsync("python3", ["-c", script, Port(s.Submission)]);
        Assert.True(r.ExitCode == 0, r.StdErr);
        Assert.Equal("refused 535", r.StdOut.Trim());
        Assert.Equal("alice@example.test", Assert.Single(await s.QueuedAsync()).AuthenticatedUser);
    }

    [Theory]
    [InlineData("LOGIN")]
    [InlineData("PLAIN")]
    public async Task Swaks_auth_over_starttls(string mechanism)
    {
        await using var s = await SmtpTestServer.StartAsync();
        var r = await ExternalProcess.RunAsync("swaks", ["--server", "127.0.0.1", "--port", Port(s.Submission), "--from", "bob@example.test",
            "--to", "x@remote.test", "--tls", "--auth", mechanism, "--auth-user", "bob@example.test", "--auth-password", "secret"]);
        Assert.True(r.ExitCode == 0, r.StdOut + r.StdErr);
        Assert.Contains("235 2.7.0", r.StdOut);
        Assert.Equal("bob@example.test", Assert.Single(await s.QueuedAsync()).AuthenticatedUser);
    }

    [Fact]
    public async Task Bad_mail_auth_parameter_is_501()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = await SubmissionAsync(s);
        Assert.Equal(235, (await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", "secret"))).Code);
        Assert.StartsWith("501 5.5.4", (await c.CommandAsync("MAIL FROM:<alice@example.test> AUTH=bad+zz")).Last);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<alice@example.test> AUTH=<>")).Code);
    }
}
