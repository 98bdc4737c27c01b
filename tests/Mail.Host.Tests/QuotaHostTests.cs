using Mail.Testing;

namespace Mail.Host.Tests;

/// <summary>Quotas in the running `mail serve`: set with the CLI, refused by the SMTP edge (Python's smtplib) at RCPT
/// and at the end of data, shown over IMAP (MailKit's GETQUOTAROOT).</summary>
[Collection("host")]
public sealed class QuotaHostTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    /// <summary>Runs a Python smtplib script against the host; its printed lines are "label code enhanced-code".</summary>
    private static async Task<string[]> SmtpAsync(int port, string body)
    {
        var script = $$"""
            import smtplib
            s = smtplib.SMTP("127.0.0.1", {{port}})
            s.ehlo("client.example.net")
            out = []
            def say(label, reply):
                code, text = reply
                out.append(f"{label} {code} {text.decode().split()[0]}")
            def data(label, size):
                body = ("x" * 75 + "\r\n") * (size // 77)
                msg = f"From: carol@example.net\r\nSubject: {label}\r\n\r\n{body}".encode()
                try:
                    say(label, s.data(msg))
                except smtplib.SMTPDataError as e:
                    say(label, (e.smtp_code, e.smtp_error))
            {{body}}
            s.quit()
            print("\n".join(out))
            """;
        var run = await ExternalProcess.RunAsync("python3", ["-c", script]);
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        return run.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    [Fact]
    public async Task Edge_refuses_what_does_not_fit_imap_shows_the_usage_and_a_user_without_quota_is_unaffected()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "bob@example.org", "--password", "secret");
        var set = await HostProcess.AdminOkAsync(_data.Path, "user", "quota", "Alice@Example.org", "8K");
        Assert.Equal("user alice@example.org quota 8K, 0 octets used", set.StdOut.Trim());
        Assert.Equal(["alice@example.org  quota 8K, 0 octets used", "bob@example.org"],
            (await HostProcess.AdminOkAsync(_data.Path, "user", "list")).StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries));

        // Limits are read at every RCPT here (no directory cache), so the change below takes effect at once.
        await using var host = await HostProcess.StartAsync(_data.Path, "--Smtp:DirectoryCacheTtl=00:00:00");
        using var imap = new MailKit.Net.Imap.ImapClient();
        await imap.ConnectAsync("127.0.0.1", host.ImapPort, MailKit.Security.SecureSocketOptions.None);
        await imap.AuthenticateAsync("alice@example.org", "secret");
        var empty = await imap.Inbox.GetQuotaAsync();
        Assert.Equal(0u, empty.CurrentStorageSize);
        Assert.Equal(8u, empty.StorageLimit);

        // About 3.5 KB delivered to alice: it fits.
        Assert.Equal(["first 250 2.0.0"], await SmtpAsync(host.SmtpPort, """
            s.mail("carol@example.net"); s.rcpt("alice@example.org"); data("first", 3000)
            """));
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
        var used = await imap.Inbox.GetQuotaAsync();
        Assert.InRange(used.CurrentStorageSize!.Value, 3u, 5u);
        Assert.Equal(8u, used.StorageLimit);

        Assert.Equal(
        [
            "rcpt-size-alice 552 5.2.2", "rcpt-size-bob 250 2.1.5",
            "mixed 452 4.2.2",
            "alice-only 552 5.2.2",
            "bob-only 250 2.0.0",
        ], await SmtpAsync(host.SmtpPort, """
            s.mail("carol@example.net", ["SIZE=6000"])
            say("rcpt-size-alice", s.rcpt("alice@example.org")); say("rcpt-size-bob", s.rcpt("bob@example.org")); s.rset()
            s.mail("carol@example.net"); s.rcpt("alice@example.org"); s.rcpt("bob@example.org"); data("mixed", 6000)
            s.mail("carol@example.net"); s.rcpt("alice+tag@example.org"); s.rcpt("alice@example.org"); data("alice-only", 6000)
            s.mail("carol@example.net"); s.rcpt("bob@example.org"); data("bob-only", 6000)
            """));

        // Lowered below the usage: alice's mailbox is full, refused at RCPT whatever the size; bob still gets mail.
        await HostProcess.AdminOkAsync(_data.Path, "user", "quota", "alice@example.org", "2K");
        Assert.Equal(["full-alice 552 5.2.2", "full-bob 250 2.1.5", "after-full 250 2.0.0"], await SmtpAsync(host.SmtpPort, """
            s.mail("carol@example.net")
            say("full-alice", s.rcpt("alice@example.org")); say("full-bob", s.rcpt("bob@example.org")); data("after-full", 100)
            """));
        // An alias is refused only when every mailbox behind it is full: solo@ reaches alice alone, team@ bob as well.
        await HostProcess.AdminOkAsync(_data.Path, "alias", "add", "solo@example.org", "alice@example.org");
        await HostProcess.AdminOkAsync(_data.Path, "alias", "add", "team@example.org", "alice@example.org", "bob@example.org");
        Assert.Equal(["alias-solo 552 5.2.2", "alias-team 250 2.1.5"], await SmtpAsync(host.SmtpPort, """
            s.mail("carol@example.net")
            say("alias-solo", s.rcpt("solo@example.org")); say("alias-team", s.rcpt("team@example.org")); s.rset()
            """));
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));
        Assert.Contains("1 message(s)", (await HostProcess.AdminOkAsync(_data.Path, "mailbox", "list", "alice@example.org")).StdOut, StringComparison.Ordinal);
        Assert.Contains("2 message(s)", (await HostProcess.AdminOkAsync(_data.Path, "mailbox", "list", "bob@example.org")).StdOut, StringComparison.Ordinal);

        // "none" lifts the limit: GETQUOTAROOT then names no root.
        await HostProcess.AdminOkAsync(_data.Path, "user", "quota", "alice@example.org", "none");
        Assert.Null((await imap.Inbox.GetQuotaAsync()).StorageLimit);
        await imap.DisconnectAsync(true);
    }

    [Fact]
    public async Task A_user_added_and_a_limit_set_by_the_cli_reach_RCPT_at_once_despite_an_hour_of_directory_cache()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        // An hour of RCPT answers: the server keeps "no such user" for carol and "no limit" for alice; only the CLI's
        // word (the control socket's STATE) can make the second session see the changes.
        await using var host = await HostProcess.StartAsync(_data.Path, "--Smtp:DirectoryCacheTtl=01:00:00");
        Assert.Equal(["carol 550 5.1.1", "alice 250 2.1.5"], await SmtpAsync(host.SmtpPort, """
            s.mail("bob@example.net", ["SIZE=6000"])
            say("carol", s.rcpt("carol@example.org")); say("alice", s.rcpt("alice@example.org")); s.rset()
            """));
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "carol@example.org", "--password", "secret");
        await HostProcess.AdminOkAsync(_data.Path, "user", "quota", "alice@example.org", "2K");
        Assert.Equal(["carol 250 2.1.5", "alice 552 5.2.2"], await SmtpAsync(host.SmtpPort, """
            s.mail("bob@example.net", ["SIZE=6000"])
            say("carol", s.rcpt("carol@example.org")); say("alice", s.rcpt("alice@example.org")); s.rset()
            """));
    }

    [Fact]
    public async Task Quota_command_refuses_a_bad_size_and_an_unknown_user()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        var bad = await HostProcess.AdminAsync(_data.Path, "user", "quota", "alice@example.org", "lots");
        Assert.Equal(65, bad.ExitCode); // EX_DATAERR
        Assert.Contains("'lots' is not a size", bad.StdErr, StringComparison.Ordinal);
        var unknown = await HostProcess.AdminAsync(_data.Path, "user", "quota", "nobody@example.org", "1G");
        Assert.Equal(65, unknown.ExitCode);
        Assert.Contains("no user nobody@example.org", unknown.StdErr, StringComparison.Ordinal);
        var missing = await HostProcess.AdminAsync(_data.Path, "user", "quota", "alice@example.org");
        Assert.Equal(64, missing.ExitCode); // EX_USAGE
        // With Quota:Default, a user without a limit of their own shows it; "default" goes back to it.
        await HostProcess.AdminOkAsync(_data.Path, "user", "quota", "alice@example.org", "2G");
        Assert.Contains("alice@example.org  quota 2G", (await HostProcess.AdminOkAsync(_data.Path, "user", "list", "--Quota:Default=1G")).StdOut, StringComparison.Ordinal);
        await HostProcess.AdminOkAsync(_data.Path, "user", "quota", "alice@example.org", "default");
        Assert.Contains("alice@example.org  quota 1G", (await HostProcess.AdminOkAsync(_data.Path, "user", "list", "--Quota:Default=1G")).StdOut, StringComparison.Ordinal);
        Assert.Equal("alice@example.org", (await HostProcess.AdminOkAsync(_data.Path, "user", "list")).StdOut.Trim());
    }
}
