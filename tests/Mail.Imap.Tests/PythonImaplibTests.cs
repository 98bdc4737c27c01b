using Mail.Testing;

namespace Mail.Imap.Tests;

/// <summary>Python's imaplib (a second, independent client implementation) against the gateway.</summary>
public sealed class PythonImaplibTests : IAsyncLifetime
{
    private ImapTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ImapTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private const string Script = """
import imaplib, sys, email, time
port = int(sys.argv[1]); user = sys.argv[2]; pw = sys.argv[3]
M = imaplib.IMAP4("127.0.0.1", port)
print("CAPS", " ".join(M.capabilities))
typ, _ = M.login(user, pw); print("LOGIN", typ)
typ, data = M.list(); print("LIST", typ, len(data))
typ, _ = M.create("Py/Sub"); print("CREATE", typ)
msg = b"From: py@example.org\r\nTo: " + user.encode() + b"\r\nSubject: from python\r\nMessage-ID: <py1@example.org>\r\n\r\nbody from python\r\n"
typ, data = M.append("INBOX", "(\\Flagged)", imaplib.Time2Internaldate(time.time()), msg); print("APPEND", typ, data[0].decode())
typ, data = M.select("INBOX"); print("SELECT", typ, data[0].decode())
typ, data = M.search(None, "SUBJECT", '"from python"'); print("SEARCH", typ, data[0].decode())
typ, data = M.fetch("1", "(RFC822)"); print("FETCH", typ, data[0][1] == msg)
typ, data = M.fetch("1", "(FLAGS)"); print("FLAGS", data[0].decode())
typ, data = M.store("1", "+FLAGS", "(\\Deleted)"); print("STORE", typ, data[0].decode())
typ, data = M.copy("1", "Py/Sub"); print("COPY", typ)
typ, data = M.status("Py/Sub", "(MESSAGES UIDNEXT)"); print("STATUS", data[0].decode())
typ, data = M.expunge(); print("EXPUNGE", typ, data[0].decode() if data[0] else None)
typ, data = M.uid("SEARCH", "ALL"); print("UIDSEARCH", typ, repr(data[0].decode()))
typ, data = M.rename("Py/Sub", "Py/Renamed"); print("RENAME", typ)
typ, data = M.close(); print("CLOSE", typ)
typ, data = M.logout(); print("LOGOUT", typ)
""";

    [Fact]
    public async Task Imaplib_session_covers_the_common_commands()
    {
        var result = await ExternalProcess.RunAsync("python3", ["-c", Script, _server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), ImapTestServer.Alice, ImapTestServer.Password], timeout: TimeSpan.FromSeconds(60));
        Assert.True(result.ExitCode == 0, result.StdErr + result.StdOut);
        var lines = result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToDictionary(l => l.Split(' ')[0], l => l);
        Assert.Contains("IMAP4REV2", lines["CAPS"]);
        Assert.Equal("LOGIN OK", lines["LOGIN"]);
        Assert.Equal("CREATE OK", lines["CREATE"]);
        Assert.Matches(@"^APPEND OK \[APPENDUID \d+ 1\] APPEND completed$", lines["APPEND"]);
        Assert.Equal("SELECT OK 1", lines["SELECT"]);
        Assert.Equal("SEARCH OK 1", lines["SEARCH"]);
        Assert.Equal("FETCH OK True", lines["FETCH"]);
        // The APPENDed message is \\Recent in the session that selects its mailbox first (IMAP4rev1).
        Assert.Equal("FLAGS 1 (FLAGS (\\Recent \\Flagged \\Seen))", lines["FLAGS"]);
        Assert.Equal("STORE OK 1 (FLAGS (\\Recent \\Flagged \\Seen \\Deleted))", lines["STORE"]);
        Assert.Equal("COPY OK", lines["COPY"]);
        Assert.Equal("STATUS \"Py/Sub\" (MESSAGES 1 UIDNEXT 2)", lines["STATUS"]);
        Assert.Equal("EXPUNGE OK 1", lines["EXPUNGE"]);
        Assert.Equal("UIDSEARCH OK ''", lines["UIDSEARCH"]);
        Assert.Equal("RENAME OK", lines["RENAME"]);
        Assert.Equal("CLOSE OK", lines["CLOSE"]);
        Assert.Equal("LOGOUT BYE", lines["LOGOUT"]);
        Assert.NotNull(await _server.Mailboxes.GetMailboxAsync(ImapTestServer.Alice, "Py/Renamed"));
    }
}
