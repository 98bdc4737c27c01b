using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using Mail.Imap.Session;

namespace Mail.Imap.Tests;

/// <summary>The on-disk FETCH cache (the per-mailbox files in Imap:CacheDirectory): a cold FETCH after a restart is answered from it,
/// and a damaged file is built again. Observed through the server's counters, never through timing.</summary>
public sealed class PersistentCacheTests
{
    private static async Task<List<(UniqueId Uid, string? Subject, string? MessageId, string From)>> FetchEnvelopesAsync(ImapTestServer server)
    {
        using var client = new ImapClient { Timeout = 30_000 };
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None);
        await client.AuthenticateAsync(ImapTestServer.Alice, ImapTestServer.Password);
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        var summaries = await client.Inbox.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Envelope | MessageSummaryItems.Size | MessageSummaryItems.Flags);
        await client.DisconnectAsync(true);
        return summaries.Select(s => (s.UniqueId, s.Envelope!.Subject, s.Envelope.MessageId, s.Envelope.From.ToString())).ToList();
    }

    private static async Task DeliverAsync(ImapTestServer server, int count)
    {
        for (var i = 1; i <= count; i++)
            await server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message($"cached subject {i}", from: $"Sender {i} <s{i}@example.org>"));
    }

    [Fact]
    public async Task Fetch_envelope_after_a_restart_is_served_from_the_disk_cache()
    {
        var server = await ImapTestServer.StartWithDiskCacheAsync();
        try
        {
            await DeliverAsync(server, 6);
            var first = await FetchEnvelopesAsync(server);
            Assert.Equal(6, first.Count);
            Assert.Equal(0, server.Server.PersistentCacheHits); // computed from the messages, then written behind
            await server.Server.FlushCacheAsync();
            Assert.Equal(6, server.Server.PersistentCacheWrites);
            Assert.Single(Directory.GetFiles(Path.Combine(ImapTestServer.CacheDirectoryOf(server.DataPath), MailboxCacheFiles.DirectoryName), "*.box"));

            server = await server.RestartAsync();
            var second = await FetchEnvelopesAsync(server);
            Assert.Equal(first, second);
            Assert.Equal(6, server.Server.PersistentCacheHits);
            Assert.Equal(0, server.Server.PersistentCacheWrites);

            // A new message after the restart is parsed once and joins the cache; the others still come from it.
            await server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("late arrival"));
            server = await server.RestartAsync();
            var third = await FetchEnvelopesAsync(server);
            Assert.Equal("late arrival", third[^1].Subject);
            Assert.Equal(6, server.Server.PersistentCacheHits);
            await server.Server.FlushCacheAsync();
            Assert.Equal(1, server.Server.PersistentCacheWrites);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    /// <summary>The sync FETCH's response lines, as a bare client reads them (one session: a FETCH 1:* twice).</summary>
    private static async Task<(List<string> First, List<string> Second)> FetchSummaryLinesTwiceAsync(ImapTestServer server)
    {
        await using var raw = await RawImapClient.ConnectAsync(server.Port);
        await raw.LoginAsync();
        await raw.CommandAsync("s", "EXAMINE INBOX");
        var first = await raw.CommandAsync("f", "FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)");
        var second = await raw.CommandAsync("g", "FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)");
        Assert.StartsWith("f OK", first[^1], StringComparison.Ordinal);
        Assert.StartsWith("g OK", second[^1], StringComparison.Ordinal);
        return (first[..^1], second[..^1]);
    }

    [Fact]
    public async Task A_sync_fetch_after_a_restart_writes_the_same_bytes_from_the_file()
    {
        // Envelopes read from the file are written from its bytes, never made into strings: the lines must be the
        // ones computed from the messages, 8-bit header text included, in the first FETCH after a restart and the next.
        var server = await ImapTestServer.StartWithDiskCacheAsync();
        try
        {
            await DeliverAsync(server, 5);
            await server.DeliverAsync(ImapTestServer.Alice, "INBOX", ImapTestServer.Message("Grüße aus Köln \"quoted\"", from: "Jürgen Groß <j@example.org>"));
            var (computed, fromMemory) = await FetchSummaryLinesTwiceAsync(server);
            Assert.Equal(6, computed.Count(l => l.StartsWith("* ", StringComparison.Ordinal) && l.Contains(" FETCH (", StringComparison.Ordinal)));
            Assert.Equal(computed, fromMemory);
            await server.Server.FlushCacheAsync();

            server = await server.RestartAsync();
            var (fromFile, again) = await FetchSummaryLinesTwiceAsync(server);
            Assert.Equal(computed, fromFile);
            Assert.Equal(computed, again);
            Assert.True(server.Server.PersistentCacheHits >= 6, $"{server.Server.PersistentCacheHits} items served from the file");
            Assert.Equal(0, server.Server.PersistentCacheWrites);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    private static async Task<List<string>> FetchStructuresAsync(ImapTestServer server)
    {
        await using var raw = await RawImapClient.ConnectAsync(server.Port);
        await raw.LoginAsync();
        await raw.CommandAsync("s", "EXAMINE INBOX");
        var lines = await raw.CommandAsync("f", "FETCH 1:* (UID BODYSTRUCTURE BODY)");
        Assert.StartsWith("f OK", lines[^1], StringComparison.Ordinal);
        return lines.Where(l => l.StartsWith("* ", StringComparison.Ordinal)).ToList();
    }

    [Fact]
    public async Task Fetch_bodystructure_after_a_restart_is_served_from_the_disk_cache()
    {
        var server = await ImapTestServer.StartWithDiskCacheAsync();
        try
        {
            await DeliverAsync(server, 2);
            const string multipart = "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b1--\r\n";
            await server.DeliverAsync(ImapTestServer.Alice, "INBOX",
                "From: a@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b1\r\n\r\n" + multipart);
            var first = await FetchStructuresAsync(server);
            Assert.Equal(3, first.Count);
            Assert.Contains("(\"TEXT\" \"HTML\"", first[2], StringComparison.Ordinal);
            Assert.Equal(0, server.Server.PersistentCacheHits);
            await server.Server.FlushCacheAsync();
            Assert.Equal(6, server.Server.PersistentCacheWrites); // BODYSTRUCTURE and BODY for each

            server = await server.RestartAsync();
            Assert.Equal(first, await FetchStructuresAsync(server));
            Assert.Equal(6, server.Server.PersistentCacheHits);
            await server.Server.FlushCacheAsync();
            Assert.Equal(0, server.Server.PersistentCacheWrites);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_disk_cache_serves_envelopes_even_with_the_memory_cache_off()
    {
        var server = await ImapTestServer.StartWithDiskCacheAsync(o => o.EnvelopeCacheSize = 0);
        try
        {
            await DeliverAsync(server, 3);
            var first = await FetchEnvelopesAsync(server);
            await server.Server.FlushCacheAsync();
            Assert.Equal(3, server.Server.PersistentCacheWrites);

            // Twice in one process: each FETCH is answered from the file, nothing is parsed again (no new writes).
            Assert.Equal(first, await FetchEnvelopesAsync(server));
            Assert.Equal(first, await FetchEnvelopesAsync(server));
            Assert.Equal(6, server.Server.PersistentCacheHits);
            await server.Server.FlushCacheAsync();
            Assert.Equal(3, server.Server.PersistentCacheWrites);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_corrupt_cache_file_is_rebuilt_and_clients_never_see_an_error()
    {
        var server = await ImapTestServer.StartWithDiskCacheAsync();
        try
        {
            await DeliverAsync(server, 4);
            var first = await FetchEnvelopesAsync(server);
            await server.Server.FlushCacheAsync();
            var file = Directory.GetFiles(Path.Combine(ImapTestServer.CacheDirectoryOf(server.DataPath), MailboxCacheFiles.DirectoryName), "*.box").Single();

            server = await server.RestartAsync(whileStopped: () => File.WriteAllBytes(file, System.Text.Encoding.ASCII.GetBytes(new string('x', 8192))));
            Assert.Equal(first, await FetchEnvelopesAsync(server));
            Assert.Equal(1, server.Server.PersistentCacheRebuilds);
            Assert.Equal(0, server.Server.PersistentCacheHits);
            await server.Server.FlushCacheAsync();
            Assert.Equal(4, server.Server.PersistentCacheWrites);

            // Deleted outright: also rebuilt (it is only a cache).
            server = await server.RestartAsync(whileStopped: () => Directory.Delete(ImapTestServer.CacheDirectoryOf(server.DataPath), recursive: true));
            Assert.Equal(first, await FetchEnvelopesAsync(server));
            await server.Server.FlushCacheAsync();
            Assert.Equal(4, server.Server.PersistentCacheWrites);

            server = await server.RestartAsync();
            Assert.Equal(first, await FetchEnvelopesAsync(server));
            Assert.Equal(4, server.Server.PersistentCacheHits);
            Assert.Equal(0, server.Server.PersistentCacheRebuilds);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Without_a_cache_directory_nothing_is_written()
    {
        await using var server = await ImapTestServer.StartAsync();
        await DeliverAsync(server, 2);
        Assert.Equal(2, (await FetchEnvelopesAsync(server)).Count);
        await server.Server.FlushCacheAsync();
        Assert.Equal(0, server.Server.PersistentCacheWrites);
        Assert.False(Directory.Exists(ImapTestServer.CacheDirectoryOf(server.DataPath)));
    }

    [Fact]
    public void An_unusable_cache_directory_is_a_startup_error_naming_the_setting()
    {
        var file = Path.GetTempFileName();
        try
        {
            var options = new ImapServerOptions
            {
                Listeners = [new ImapListenerOptions { Name = "imap", Endpoint = "127.0.0.1:0" }],
                CacheDirectory = Path.Combine(file, "below-a-file"),
            };
            var e = Assert.Throws<InvalidOperationException>(options.Validate);
            Assert.Contains("Imap:CacheDirectory", e.Message, StringComparison.Ordinal);
            options.PersistentCache = false;
            options.Validate();
            options.PersistentCacheSize = 0;
            Assert.Contains("Imap:PersistentCacheSize", Assert.Throws<InvalidOperationException>(options.Validate).Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
