using System.Text;
using Mail.Core.Model;
using Mail.Smtp.Protocol;
using Mail.Smtp.Session;
using Microsoft.Extensions.Options;

namespace Mail.Smtp.Tests;

/// <summary>Single-class tests for the pieces the socket tests exercise only indirectly.</summary>
public sealed class UnitTests
{
    private static (string Output, int Consumed, DataTerminatorScanner Scanner) Scan(string input, int pieceSize)
    {
        var scanner = new DataTerminatorScanner();
        var bytes = Encoding.ASCII.GetBytes(input);
        var output = new List<byte>();
        var consumed = 0;
        while (consumed < bytes.Length && !scanner.Ended)
        {
            var piece = bytes.AsSpan(consumed, Math.Min(pieceSize, bytes.Length - consumed));
            var buffer = new byte[piece.Length];
            consumed += scanner.Process(piece, buffer, out var written);
            output.AddRange(buffer.AsSpan(0, written).ToArray());
        }
        return (Encoding.ASCII.GetString(output.ToArray()), consumed, scanner);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(4096)]
    public void Scanner_result_does_not_depend_on_how_the_input_is_split(int pieceSize)
    {
        var (output, consumed, scanner) = Scan("..a\r\nb\r\n...\r\n\r\n.\r\nMAIL FROM:<x@y>\r\n", pieceSize);
        Assert.True(scanner.Ended);
        Assert.False(scanner.BareLineEnding);
        Assert.Equal(".a\r\nb\r\n..\r\n\r\n", output);
        Assert.Equal("..a\r\nb\r\n...\r\n\r\n.\r\n".Length, consumed);
    }

    [Theory]
    [InlineData("a\n.\r\nb\r\n.\r\n")]
    [InlineData("a\r.\rb\r\n.\r\n")]
    [InlineData("a\r\n.\nb\r\n.\r\n")]
    public void Scanner_flags_bare_line_endings_and_ends_only_at_crlf_dot_crlf(string input)
    {
        foreach (var size in new[] { 1, 2, 100 })
        {
            var (_, consumed, scanner) = Scan(input, size);
            Assert.True(scanner.Ended);
            Assert.True(scanner.BareLineEnding);
            Assert.Equal(input.Length, consumed);
        }
    }

    [Fact]
    public void Scanner_flags_long_lines()
    {
        var (_, _, ok) = Scan(new string('a', 998) + "\r\n.\r\n", 10);
        Assert.False(ok.LineTooLong);
        var (_, _, bad) = Scan(new string('a', 999) + "\r\n.\r\n", 10);
        Assert.True(bad.LineTooLong);
    }

    [Theory]
    [InlineData("abc", "abc")]
    [InlineData("a+2Bb+3Dc", "a+b=c")]
    [InlineData("+E2+82+AC", "€")]
    public void Xtext_decodes(string xtext, string expected)
    {
        Assert.True(Xtext.TryDecode(xtext, out var decoded));
        Assert.Equal(expected, decoded);
    }

    [Theory]
    [InlineData("a+")]
    [InlineData("a+2")]
    [InlineData("a+2b")]
    [InlineData("a=b")]
    [InlineData("a b")]
    [InlineData("+FF")]
    public void Xtext_refuses_malformed(string xtext) => Assert.False(Xtext.TryDecode(xtext, out _));

    [Theory]
    [InlineData("list+owner@example.org", "list+2Bowner@example.org")]
    [InlineData("a=b c@example.org", "a+3Db+20c@example.org")]
    [InlineData("€@example.org", "+E2+82+AC@example.org")]
    public void Xtext_encodes_plus_equals_and_non_printables_and_reads_back(string text, string expected)
    {
        Assert.Equal(expected, Xtext.Encode(text));
        Assert.True(Xtext.TryDecode(expected, out var back));
        Assert.Equal(text, back);
    }

    [Theory]
    // RFC 6533 3: utf-8-addr-xtext (no SMTPUTF8) escapes every non-ASCII code point, unitext keeps it; both escape + = \.
    [InlineData("jérôme+x@example.org", false, "utf-8;j\\x{E9}r\\x{F4}me\\x{2B}x@example.org")]
    [InlineData("jérôme+x@example.org", true, "utf-8;jérôme\\x{2B}x@example.org")]
    [InlineData("用户=1@例子.中国", false, "utf-8;\\x{7528}\\x{6237}\\x{3D}1@\\x{4F8B}\\x{5B50}.\\x{4E2D}\\x{56FD}")]
    public void A_utf8_orcpt_is_written_per_rfc6533_and_read_back(string address, bool smtpUtf8, string expected)
    {
        Assert.Equal(expected, OriginalRecipient.Format("utf-8;" + address, smtpUtf8));
        Assert.True(OriginalRecipient.TryParse(expected, out var back));
        Assert.Equal("utf-8;" + address, back);
    }

    [Theory]
    [InlineData("utf-8;a\\x{E9")]
    [InlineData("utf-8;a+b")]
    [InlineData("utf-8;a\\y{41}")]
    [InlineData("rfc822;a=b")]
    [InlineData("rfc822;")]
    [InlineData(";a@b")]
    public void A_malformed_orcpt_is_refused(string value) => Assert.False(OriginalRecipient.TryParse(value, out _));

    [Fact]
    public void Queue_ids_are_unique_sortable_and_file_safe()
    {
        var t = DateTimeOffset.UtcNow;
        var ids = Enumerable.Range(0, 1000).Select(i => QueueId.New(t.AddMilliseconds(i))).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.Equal(ids, ids.Order(StringComparer.Ordinal));
        Assert.All(ids, id => Assert.Matches("^[0-9A-HJKMNP-TV-Z]{26}$", id));
        var same = Enumerable.Range(0, 1000).Select(_ => QueueId.New(t)).ToList();
        Assert.Equal(same.Count, same.Distinct().Count());
        // ULID layout: the first ten characters are the millisecond time, 5 bits each.
        const string alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        Assert.Equal(t.ToUnixTimeMilliseconds(), same[0][..10].Aggregate(0L, (ms, c) => ms * 32 + alphabet.IndexOf(c)));
    }

    [Fact]
    public async Task Zero_byte_reads_wait_for_data_only_while_the_session_says_so()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, ((System.Net.IPEndPoint)listener.LocalEndpoint).Port);
        using var server = await listener.AcceptTcpClientAsync();
        var waitForData = false;
        var input = new WaitForDataStream(server.GetStream(), () => waitForData);

        // Inside a transaction: the zero-byte read returns at once although the client has sent nothing.
        var immediate = input.ReadAsync(Memory<byte>.Empty).AsTask();
        Assert.True(immediate.IsCompleted);
        Assert.Equal(0, await immediate);

        // Between transactions: it waits on the socket until the client sends.
        waitForData = true;
        var wait = input.ReadAsync(Memory<byte>.Empty).AsTask();
        await Task.Delay(100);
        Assert.False(wait.IsCompleted);
        await client.GetStream().WriteAsync("MAIL FROM:<a@b>\r\n"u8.ToArray());
        Assert.Equal(0, await wait.WaitAsync(TimeSpan.FromSeconds(10)));
        var buffer = new byte[64];
        Assert.Equal("MAIL FROM:<a@b>\r\n", Encoding.ASCII.GetString(buffer, 0, await input.ReadAsync(buffer)));
    }

    [Fact]
    public void Command_parser_recognises_verbs_case_insensitively_without_arguments()
    {
        Assert.Equal(SmtpVerb.Noop, SmtpCommandParser.Parse("noop\r"u8).Verb);
        var data = SmtpCommandParser.Parse("DaTa\r"u8);
        Assert.Equal(SmtpVerb.Data, data.Verb);
        Assert.Null(data.Argument);
        Assert.Equal("", SmtpCommandParser.Parse("DATA x\r"u8).Argument);
        Assert.Equal("FROM:<a@b>", SmtpCommandParser.Parse("mail FROM:<a@b>\r"u8).Argument);
        Assert.Equal(SmtpVerb.StartTls, SmtpCommandParser.Parse("starttls\r"u8).Verb);
        Assert.Equal(SmtpVerb.Invalid, SmtpCommandParser.Parse("NOOP"u8).Verb);
        Assert.Equal(SmtpVerb.Invalid, SmtpCommandParser.Parse("NO\rOP\r"u8).Verb);
        Assert.Equal(SmtpVerb.Invalid, SmtpCommandParser.Parse([.. "MAIL FROM:<"u8, 0xff, .. ">\r"u8]).Verb);
    }

    [Fact]
    public void Options_validation_names_every_bad_setting()
    {
        var options = new SmtpServerOptions
        {
            HostName = "",
            MaxMessageSize = 0,
            Listeners =
            [
                new SmtpListenerOptions { Name = "mx", Endpoint = "127.0.0.1" },
                new SmtpListenerOptions { Name = "mx", Endpoint = "nonsense:25" },
                new SmtpListenerOptions { Name = "tls", Endpoint = "127.0.0.1:465", ImplicitTls = true },
            ],
            IdleTimeout = TimeSpan.Zero,
        };
        var ex = Assert.Throws<OptionsValidationException>(options.Validate);
        var all = string.Join("\n", ex.Failures);
        Assert.Contains("Smtp:HostName", all);
        Assert.Contains("Smtp:MaxMessageSize", all);
        Assert.Contains("Smtp:Listeners:0:Endpoint", all);
        Assert.Contains("Smtp:Listeners:1:Name", all);
        Assert.Contains("Smtp:Listeners:1:Endpoint", all);
        Assert.Contains("Smtp:Listeners:2:ImplicitTls", all);
        Assert.Contains("Smtp:IdleTimeout", all);
        Assert.DoesNotContain("Smtp:Listeners:2:Endpoint", all);
    }

    [Fact]
    public async Task Start_fails_naming_the_listener_whose_port_is_taken()
    {
        await using var first = await SmtpTestServer.StartAsync();
        var taken = first.Mx;
        var options = new SmtpServerOptions
        {
            Listeners =
            [
                new SmtpListenerOptions { Name = "a", Endpoint = "127.0.0.1:0" },
                new SmtpListenerOptions { Name = "b", Endpoint = taken.ToString() },
            ],
        };
        await using var second = new SmtpServer(options, new SmtpServices { MessageStore = first.Store, InboundQueue = first.Queue, Directory = first.Directory });
        var ex = await Assert.ThrowsAsync<Mail.Core.Listening.ListenerBindException>(() => second.StartAsync());
        Assert.Equal("Smtp:Listeners:1:Endpoint", ex.Setting);
        Assert.Contains("Smtp:Listeners:1:Endpoint", ex.Message);
        Assert.Empty(second.BoundEndpoints);
    }
}

public sealed class ConnectStageUnitTests
{
    [Theory]
    [InlineData("127.0.0.0/8", "127.5.6.7", true)]
    [InlineData("127.0.0.1/8", "127.5.6.7", true)]
    [InlineData("192.0.2.0/24", "192.0.3.1", false)]
    [InlineData("192.0.2.7", "192.0.2.7", true)]
    [InlineData("192.0.2.7", "192.0.2.8", false)]
    [InlineData("192.0.2.0/24", "::ffff:192.0.2.9", true)]
    [InlineData("2001:db8::/32", "2001:db8:1::5", true)]
    [InlineData("[2001:db8::1]", "2001:db8::1", true)]
    [InlineData("2001:db8::/32", "2001:db9::1", false)]
    [InlineData("0.0.0.0/0", "203.0.113.1", true)]
    public void Mynetworks_matching(string network, string client, bool expected)
    {
        var n = new Mail.Core.Listening.ClientNetworks([network]);
        Assert.Equal(expected, n.Contains(System.Net.IPAddress.Parse(client)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("10.0.0.0/33")]
    [InlineData("10.0.0.0/-1")]
    [InlineData("10.0.0/8")]
    [InlineData("example.com")]
    [InlineData("2001:db8::/129")]
    public void Bad_networks_do_not_parse(string text) => Assert.False(Mail.Core.Listening.ClientNetworks.TryParse(text, out _));

    [Theory]
    [InlineData("203.0.113.77", 24, "203.0.113.0")]
    [InlineData("203.0.113.77", 20, "203.0.112.0")]
    [InlineData("2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::")]
    [InlineData("2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::")]
    public void Network_of_a_client(string client, int prefix, string expected) =>
        Assert.Equal(System.Net.IPAddress.Parse(expected), Mail.Core.Model.NetworkPrefix.Mask(System.Net.IPAddress.Parse(client), prefix));
}
