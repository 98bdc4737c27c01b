using System.Security.Cryptography.X509Certificates;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Mail.Smtp.Tests;

/// <summary>STARTTLS (RFC 3207), its pipelining-injection defence, implicit TLS (RFC 8314) and the self-signed certificate.</summary>
public sealed class TlsTests
{
    [Fact]
    public async Task Starttls_resets_the_session_and_the_message_records_tls()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<before@other.test>")).Code);
        Assert.StartsWith("220 2.0.0", (await c.CommandAsync("STARTTLS")).Last);
        await c.StartTlsHandshakeAsync();
        // RFC 3207 4.2: all knowledge from before TLS is gone, EHLO first, and no STARTTLS any more.
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("MAIL FROM:<a@other.test>")).Last);
        var ehlo = await c.EhloAsync("tls.client.test");
        Assert.DoesNotContain(ehlo.Lines, l => l.Contains("STARTTLS", StringComparison.Ordinal));
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("STARTTLS")).Last);
        Assert.Equal(250, (await c.CommandAsync("MAIL FROM:<a@other.test>")).Code);
        Assert.Equal(250, (await c.CommandAsync("RCPT TO:<alice@example.test>")).Code);
        Assert.Equal(354, (await c.CommandAsync("DATA")).Code);
        Assert.Equal(250, (await c.CommandAsync("Subject: tls\r\n\r\nsecret\r\n.")).Code);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.Equal("ESMTPS", env.Client.Protocol);
        Assert.NotNull(env.Client.Tls);
        Assert.StartsWith("TLSv1.", env.Client.Tls!.Protocol);
        var text = await s.ReadMessageAsync(env.MessageRef);
        Assert.Contains($"(using {env.Client.Tls.Protocol} with cipher {env.Client.Tls.Cipher})", text);
        Assert.Contains("with ESMTPS id", text);
        Assert.Contains("for <alice@example.test>;", text);
    }

    [Fact]
    public async Task Commands_pipelined_after_starttls_are_discarded_not_executed()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = s.Connect();
        await c.ReadReplyAsync();
        await c.EhloAsync();
        // CVE-2011-0411 style injection: plaintext commands in the same packet as STARTTLS.
        await c.SendAsync("STARTTLS\r\nMAIL FROM:<evil@other.test>\r\nRCPT TO:<alice@example.test>\r\n");
        Assert.StartsWith("220 2.0.0", (await c.ReadReplyAsync()).Last);
        await c.StartTlsHandshakeAsync();
        // Had the injected commands run inside TLS, EHLO would not be first, MAIL would be in effect and replies would be queued.
        var ehlo = await c.EhloAsync();
        Assert.StartsWith("250-mx.example.test", ehlo.Lines[0]);
        Assert.StartsWith("503 5.5.1", (await c.CommandAsync("RCPT TO:<alice@example.test>")).Last);
        Assert.StartsWith("250 2.0.0", (await c.CommandAsync("NOOP")).Last);
    }

    [Fact]
    public async Task A_failed_handshake_closes_only_that_connection()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using (var c = s.Connect())
        {
            await c.ReadReplyAsync();
            await c.EhloAsync();
            Assert.StartsWith("220 2.0.0", (await c.CommandAsync("STARTTLS")).Last);
            await c.SendAsync("this is not a TLS ClientHello\r\n");
            Assert.True(await c.IsClosedAsync());
        }
        using (var plain = RawSmtpClient.Connect(s.Submissions))
        {
            // Plaintext on the implicit-TLS port: no SMTP reply in the clear, just a closed connection.
            await plain.SendAsync("EHLO x\r\n");
            Assert.True(await plain.IsClosedAsync());
        }
        await LimitsTests.WaitForAsync(() => s.Server.ConnectionCount == 0);
        using var next = s.Connect();
        Assert.Equal(220, (await next.ReadReplyAsync()).Code);
    }

    [Fact]
    public async Task Implicit_tls_listener_speaks_smtp_inside_tls_from_the_first_byte()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var c = await RawSmtpClient.ConnectTlsAsync(s.Submissions);
        Assert.Equal(220, (await c.ReadReplyAsync()).Code);
        var ehlo = await c.EhloAsync();
        Assert.DoesNotContain(ehlo.Lines, l => l.Contains("STARTTLS", StringComparison.Ordinal));
        Assert.Contains("250-AUTH PLAIN LOGIN", ehlo.Lines);
        Assert.Equal(235, (await c.CommandAsync("AUTH PLAIN " + AuthTests.Plain("alice@example.test", "secret"))).Code);
        await c.CommandAsync("MAIL FROM:<alice@example.test>");
        await c.CommandAsync("RCPT TO:<bob@example.test>");
        await c.CommandAsync("DATA");
        Assert.Equal(250, (await c.CommandAsync("Subject: 465\r\n\r\nx\r\n.")).Code);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.Equal("submissions", env.Client.Listener);
        Assert.Equal("ESMTPSA", env.Client.Protocol);
    }

    [Fact]
    public async Task Without_a_certificate_starttls_is_neither_offered_nor_accepted()
    {
        await using var s = await SmtpTestServer.StartAsync(o =>
        {
            o.Certificate = null;
            o.Listeners.RemoveAll(l => l.ImplicitTls);
        });
        using var c = s.Connect();
        await c.ReadReplyAsync();
        var ehlo = await c.EhloAsync();
        Assert.DoesNotContain(ehlo.Lines, l => l.Contains("STARTTLS", StringComparison.Ordinal));
        Assert.StartsWith("502 5.5.1", (await c.CommandAsync("STARTTLS")).Last);
    }

    [Fact]
    public async Task MailKit_sends_over_starttls()
    {
        await using var s = await SmtpTestServer.StartAsync();
        using var client = new SmtpClient();
        client.ServerCertificateValidationCallback = SmtpTestServer.IsTestCertificate;
        await client.ConnectAsync("127.0.0.1", s.Mx.Port, SecureSocketOptions.StartTls);
        Assert.True(client.IsSecure);
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Pipelining));
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Chunking));
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Dsn));
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.UTF8));
        Assert.Equal(s.Options.MaxMessageSize, (long)client.MaxSize);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("sender@other.test"));
        message.To.Add(MailboxAddress.Parse("alice@example.test"));
        message.Cc.Add(MailboxAddress.Parse("bob@example.test"));
        message.Subject = "via MailKit";
        message.Body = new TextPart("plain") { Text = "Hello from MailKit.\n.\n..dots\n" };
        var response = await client.SendAsync(message);
        await client.DisconnectAsync(true);
        Assert.StartsWith("2.0.0 Ok: queued as ", response);
        var env = Assert.Single(await s.QueuedAsync());
        Assert.Equal(response.Split(' ')[^1], env.QueueId);
        Assert.Equal(["alice@example.test", "bob@example.test"], env.Recipients.Select(r => r.Address).Order());
        await using var stream = await s.Store.OpenReadAsync(env.MessageRef);
        var stored = await MimeMessage.LoadAsync(stream!);
        Assert.Equal("via MailKit", stored.Subject);
        Assert.Equal("Hello from MailKit.\n.\n..dots\n", stored.TextBody!.Replace("\r\n", "\n", StringComparison.Ordinal));
        Assert.Contains("ESMTPS", stored.Headers[HeaderId.Received], StringComparison.Ordinal);
    }

    [Fact]
    public void Self_signed_certificate_is_created_once_and_reloaded()
    {
        var dir = Path.Combine(Path.GetTempPath(), "mail-smtp-tests", Guid.NewGuid().ToString("N"));
        var path = Path.Combine(dir, "tls", "edge.pfx");
        try
        {
            using var first = SelfSignedCertificate.LoadOrCreate(path, "mail.example.test");
            Assert.True(first.HasPrivateKey);
            Assert.True(first.MatchesHostname("mail.example.test"));
            Assert.True(File.Exists(path));
            using var second = SelfSignedCertificate.LoadOrCreate(path, "mail.example.test");
            Assert.Equal(first.Thumbprint, second.Thumbprint);
            Assert.True(second.HasPrivateKey);
            // Another host name makes a new certificate for that name.
            using var third = SelfSignedCertificate.LoadOrCreate(path, "other.example.test");
            Assert.NotEqual(first.Thumbprint, third.Thumbprint);
            Assert.True(third.MatchesHostname("other.example.test"));
            Assert.Contains(third.Extensions, e => e is X509SubjectAlternativeNameExtension);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
