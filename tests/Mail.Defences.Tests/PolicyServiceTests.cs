using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Mail.Defences.Restrictions;

namespace Mail.Defences.Tests;

/// <summary>
/// A small real policy server speaking the Postfix policy delegation protocol over TCP on loopback: it reads
/// "name=value" lines up to an empty line, answers "action=..." and an empty line, and serves several requests
/// per connection like postgrey does. The action is chosen from the recipient's local part.
/// </summary>
public sealed class TinyPolicyServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public TinyPolicyServer()
    {
        _listener.Start();
        _loop = Task.Run(AcceptLoopAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public ConcurrentQueue<Dictionary<string, string>> Requests { get; } = new();

    /// <summary>When set, requests are read but never answered.</summary>
    public bool Silent { get; set; }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient c;
            try
            {
                c = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(c));
        }
    }

    private async Task ServeAsync(TcpClient c)
    {
        using var _ = c;
        try
        {
            var stream = c.GetStream();
            using var reader = new StreamReader(stream, Encoding.UTF8);
            while (true)
            {
                var attrs = new Dictionary<string, string>();
                string? line;
                while ((line = await reader.ReadLineAsync(_stop.Token)) is { Length: > 0 })
                {
                    var eq = line.IndexOf('=', StringComparison.Ordinal);
                    attrs[line[..eq]] = line[(eq + 1)..];
                }
                if (line is null) return;
                Requests.Enqueue(attrs);
                if (Silent) continue;
                var local = attrs.GetValueOrDefault("recipient", "").Split('@')[0];
                var action = local switch
                {
                    "greylist" => "DEFER_IF_PERMIT 4.7.1 Greylisted by tiny policy",
                    "bad" => "REJECT not welcome here",
                    "tag" => "PREPEND X-Policy: tagged",
                    "garbage" => null,
                    _ => "DUNNO",
                };
                var reply = action is null ? "hello=world\n\n" : $"action={action}\n\n";
                await stream.WriteAsync(Encoding.UTF8.GetBytes(reply), _stop.Token);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _loop;
        _stop.Dispose();
    }
}

public sealed class PolicyServiceTests : IAsyncLifetime
{
    private readonly TinyPolicyServer _server = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<RestrictionDecision> Eval(string rcpt, string list = "check_policy_service inet:127.0.0.1:{0}, permit", TimeSpan? timeout = null)
    {
        var o = new RestrictionOptions { PolicyServiceTimeout = timeout ?? TimeSpan.FromSeconds(10) };
        var facts = new SmtpFacts
        {
            ClientAddress = IPAddress.Parse("::ffff:198.51.100.9"),
            Helo = "mx.sender.example",
            MailFrom = "a@sender.example",
            RcptTo = rcpt,
            RecipientCount = 1,
            Size = 1234,
            Instance = "abc.123",
        };
        return await RestrictionList.Parse(string.Format(System.Globalization.CultureInfo.InvariantCulture, list, _server.Port), "smtpd_recipient_restrictions", o)
            .EvaluateAsync(facts, o, SmtpStage.Recipient);
    }

    [Fact]
    public async Task Request_carries_the_postfix_attributes()
    {
        Assert.Equal(RestrictionOutcome.Permit, (await Eval("ok@example.com")).Outcome);
        Assert.True(_server.Requests.TryDequeue(out var req));
        Assert.Equal("smtpd_access_policy", req["request"]);
        Assert.Equal("RCPT", req["protocol_state"]);
        Assert.Equal("ESMTP", req["protocol_name"]);
        Assert.Equal("198.51.100.9", req["client_address"]);
        Assert.Equal("unknown", req["client_name"]);
        Assert.Equal("mx.sender.example", req["helo_name"]);
        Assert.Equal("a@sender.example", req["sender"]);
        Assert.Equal("ok@example.com", req["recipient"]);
        Assert.Equal("1", req["recipient_count"]);
        Assert.Equal("abc.123", req["instance"]);
        Assert.Equal("1234", req["size"]);
    }

    [Fact]
    public async Task Actions_from_the_server_decide()
    {
        var bad = await Eval("bad@example.com");
        Assert.Equal("554 5.7.1 <bad@example.com>: Recipient address rejected: not welcome here", bad.Result.Reply);
        Assert.Equal("check_policy_service inet:127.0.0.1:" + _server.Port, bad.Result.DecidedBy);
        // postgrey-style: DEFER_IF_PERMIT, then the list's permit becomes the deferral.
        var grey = await Eval("greylist@example.com");
        Assert.Equal("450 4.7.1 Greylisted by tiny policy", grey.Result.Reply);
        var tagged = await Eval("tag@example.com");
        Assert.Equal(RestrictionOutcome.Permit, tagged.Outcome);
        Assert.Equal(["X-Policy: tagged"], tagged.Effects.PrependHeaders);
    }

    [Fact]
    public async Task Unreachable_silent_or_confused_servers_give_the_default_action()
    {
        var closedPort = Mail.Testing.FreePort.Tcp();
        var down = await Eval("ok@example.com", $"check_policy_service inet:127.0.0.1:{closedPort}, permit");
        Assert.Equal("451 4.3.5 <ok@example.com>: Recipient address rejected: Server configuration problem", down.Result.Reply);
        Assert.Contains(down.Effects.Warnings, w => w.Contains("using default action", StringComparison.Ordinal));

        var garbage = await Eval("garbage@example.com");
        Assert.Equal(451, garbage.Result.Code);
        Assert.Contains(garbage.Effects.Warnings, w => w.Contains("without action=", StringComparison.Ordinal));

        _server.Silent = true;
        var silent = await Eval("ok@example.com", timeout: TimeSpan.FromMilliseconds(300));
        Assert.Equal(451, silent.Result.Code);
        Assert.Contains(silent.Effects.Warnings, w => w.Contains("no answer within", StringComparison.Ordinal));
    }
    [Fact]
    public async Task Unix_domain_socket_endpoints_work()
    {
        var path = Path.Combine(Path.GetTempPath(), $"policy-{Guid.NewGuid():N}.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        var serve = Task.Run(async () =>
        {
            using var conn = await listener.AcceptAsync();
            var buffer = new byte[4096];
            var text = "";
            while (!text.Contains("\n\n", StringComparison.Ordinal))
            {
                var n = await conn.ReceiveAsync(buffer);
                if (n == 0) break;
                text += Encoding.UTF8.GetString(buffer, 0, n);
            }
            await conn.SendAsync(Encoding.UTF8.GetBytes("action=550 5.7.1 unix says no\n\n"));
            return text;
        });
        try
        {
            var d = await Eval("x@example.com", $"check_policy_service unix:{path}");
            Assert.Equal("550 5.7.1 <x@example.com>: Recipient address rejected: unix says no", d.Result.Reply);
            Assert.Contains("request=smtpd_access_policy\n", await serve, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
