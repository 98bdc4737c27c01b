using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Mail.Core.Forwarding;
using Mail.Storage.Embedded;
using Mail.Testing;

namespace Mail.Core.Tests;

/// <summary>SRS0 as libsrs2 and postsrsd write it: round trip, forged and expired addresses, case, the secret kept in the
/// secret store, and the same addresses as Debian's postsrsd for the same secret.</summary>
public sealed class SrsTests : IDisposable
{
    private static readonly byte[] Secret = Encoding.UTF8.GetBytes("tops3cret");
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public void Forward_then_reverse_gives_the_sender_back()
    {
        var srs = new Srs0(Secret, new ManualTime(new DateTimeOffset(2026, 12, 5, 12, 0, 0, TimeSpan.Zero)));
        var rewritten = srs.Forward("bob", "example.net", "example.org");
        Assert.Matches("^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=example.net=bob@example.org$", rewritten);
        Assert.Equal("bob@example.net", srs.Reverse(rewritten[..rewritten.LastIndexOf('@')], out var why));
        Assert.Null(why);
    }

    [Fact]
    public void A_changed_hash_domain_or_local_part_is_refused()
    {
        var srs = new Srs0(Secret);
        var local = srs.Forward("bob", "example.net", "example.org").Split('@')[0];
        var parts = local.Split('=');
        var otherHash = string.Join('=', parts[0], parts[1][0] == 'A' ? "B" + parts[1][1..] : "A" + parts[1][1..], parts[2], parts[3], parts[4]);
        Assert.Null(srs.Reverse(otherHash, out var why));
        Assert.Equal("SRS hash does not match", why);
        Assert.Null(srs.Reverse(local.Replace("=example.net=", "=example.com="), out _));
        Assert.Null(srs.Reverse(local.Replace("=bob", "=eve"), out _));
        // The same address under another secret is a forgery too.
        Assert.Null(new Srs0(Encoding.UTF8.GetBytes("other")).Reverse(local, out _));
        Assert.Null(srs.Reverse("SRS0=xxxx=AA", out why));
        Assert.Equal("malformed SRS0 address", why);
    }

    [Fact]
    public void An_address_is_honoured_for_21_days_then_refused()
    {
        var clock = new ManualTime(new DateTimeOffset(2026, 12, 5, 23, 59, 0, TimeSpan.Zero));
        var srs = new Srs0(Secret, clock);
        var local = srs.Forward("bob", "example.net", "example.org").Split('@')[0];
        clock.Advance(TimeSpan.FromDays(21));
        Assert.Equal("bob@example.net", srs.Reverse(local, out _));
        clock.Advance(TimeSpan.FromDays(1));
        Assert.Null(srs.Reverse(local, out var why));
        Assert.StartsWith("SRS address expired", why);
    }

    [Fact]
    public void The_timestamp_wraps_after_1024_days()
    {
        // Day 1023 mod 1024 forwarded, checked on day 1024 (slot 0): one day old, not 1023 days in the future.
        var clock = new ManualTime(DateTimeOffset.UnixEpoch + TimeSpan.FromDays(1023.5));
        var srs = new Srs0(Secret, clock);
        var local = srs.Forward("bob", "example.net", "example.org").Split('@')[0];
        clock.Advance(TimeSpan.FromDays(1));
        Assert.Equal("bob@example.net", srs.Reverse(local, out _));
    }

    [Fact]
    public void A_lower_cased_address_still_reverses()
    {
        // Mail systems on the way back may lower-case the local part (this one does: MailDirectory.Canonical).
        var srs = new Srs0(Secret, new ManualTime(new DateTimeOffset(2026, 12, 5, 12, 0, 0, TimeSpan.Zero)));
        var local = srs.Forward("Bob", "example.net", "example.org").Split('@')[0];
        Assert.Equal("bob@example.net", srs.Reverse(local.ToLowerInvariant(), out _));
        Assert.Equal("BOB@EXAMPLE.NET", srs.Reverse(local.ToUpperInvariant(), out _));
    }

    [Fact]
    public async Task The_secret_is_made_once_and_shared_through_the_secret_store_and_the_null_sender_is_kept()
    {
        var store = new FileSecretStore(_data.Path);
        var first = new SenderRewriting(store);
        var rewritten = await first.ForwardAsync("bob@example.net", "example.org");
        Assert.NotNull(await store.GetAsync(SenderRewriting.SecretName));
        var second = new SenderRewriting(new FileSecretStore(_data.Path));
        Assert.Equal(rewritten, await second.ForwardAsync("bob@example.net", "example.org"));
        Assert.Equal(("bob@example.net", (string?)null), await second.ReverseAsync(rewritten.Split('@')[0]));
        Assert.Equal("", await first.ForwardAsync("", "example.org"));
    }

    [Fact]
    public async Task Addresses_are_the_ones_postsrsd_writes_and_reads()
    {
        Assert.True(File.Exists("/usr/sbin/postsrsd"), "postsrsd is not installed (Debian package postsrsd; ./test.sh installs it)");
        var secretFile = Path.Combine(_data.Path, "srs.secret");
        await File.WriteAllTextAsync(secretFile, "tops3cret\n");
        var (forward, reverse) = (FreePort.Tcp(), FreePort.Tcp());
        using var postsrsd = Process.Start(new ProcessStartInfo("/usr/sbin/postsrsd",
            [$"-s{secretFile}", "-dexample.org", "-l127.0.0.1", "-4", $"-f{forward}", $"-r{reverse}"]) { RedirectStandardError = true })!;
        try
        {
            var srs = new Srs0(Secret);
            var theirs = await AskAsync(forward, "get Bob.Smith@example.net");
            Assert.Equal("200 " + srs.Forward("Bob.Smith", "example.net", "example.org"), theirs);
            Assert.Equal("Bob.Smith@example.net", srs.Reverse(theirs[4..theirs.LastIndexOf('@')], out _));
            var ours = srs.Forward("alice", "example.com", "example.org");
            Assert.Equal("200 alice@example.com", await AskAsync(reverse, "get " + ours));
        }
        finally
        {
            postsrsd.Kill();
        }
    }

    /// <summary>One Postfix tcp_table(5) lookup, once the server listens.</summary>
    private static async Task<string> AskAsync(int port, string request)
    {
        for (var i = 0; ; i++)
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", port);
                var stream = client.GetStream();
                await stream.WriteAsync(Encoding.ASCII.GetBytes(request + "\n"));
                using var reader = new StreamReader(stream, Encoding.ASCII);
                return (await reader.ReadLineAsync())!;
            }
            catch (SocketException) when (i < 50)
            {
                await Task.Delay(100);
            }
        }
    }
}
