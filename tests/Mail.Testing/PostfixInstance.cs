using System.Text;
using System.Text.RegularExpressions;
using Xunit;

namespace Mail.Testing;

/// <summary>
/// A private, real Postfix (Debian package postfix) on loopback, as bench/lib.sh runs one: its own config directory,
/// queue and data directory, smtpd on 127.0.0.1:PORT, Debian's master.cf without chroot. The test writes main.cf (with
/// <see cref="RuntimeParameters"/>) and its tables; <see cref="StartAsync"/> adds master.cf, and disposing stops it.
/// Needs root (Postfix's daemons change to mail_owner).
/// </summary>
public sealed class PostfixInstance : IAsyncDisposable
{
    private readonly string _configDirectory;

    private PostfixInstance(string configDirectory, int port)
    {
        _configDirectory = configDirectory;
        Port = port;
    }

    public int Port { get; }

    /// <summary>main.cf lines that place the instance under <paramref name="root"/> and keep it on loopback; the
    /// policy (restrictions, tables, domains) is the test's.</summary>
    public static string RuntimeParameters(string root) => $"""
        compatibility_level = 3.6
        queue_directory = {root}/queue
        data_directory = {root}/data
        command_directory = /usr/sbin
        daemon_directory = /usr/lib/postfix/sbin
        meta_directory = /etc/postfix
        shlib_directory = /usr/lib/postfix
        mail_owner = postfix
        setgid_group = postdrop
        maillog_file = {root}/maillog
        maillog_file_prefixes = {root}
        inet_interfaces = 127.0.0.1
        inet_protocols = ipv4
        alias_maps =
        smtputf8_enable = no

        """;

    /// <summary>Runs postmap on a table source (the .db Postfix reads).</summary>
    public static async Task PostmapAsync(string source)
    {
        var r = await ExternalProcess.RunAsync("/usr/sbin/postmap", [source]);
        Assert.True(r.ExitCode == 0, $"postmap {source}: {r.StdErr}");
    }

    public static async Task<PostfixInstance> StartAsync(string configDirectory, string root)
    {
        Assert.True(File.Exists("/usr/sbin/postfix"), "postfix is required (Debian package postfix)");
        var port = FreePort.Tcp();
        Directory.CreateDirectory(Path.Combine(root, "queue"));
        Directory.CreateDirectory(Path.Combine(root, "data"));
        var chown = await ExternalProcess.RunAsync("chown", ["postfix:postfix", Path.Combine(root, "data")]);
        Assert.True(chown.ExitCode == 0, "a private Postfix needs root: " + chown.StdErr);
        var master = new StringBuilder();
        foreach (var line in await File.ReadAllLinesAsync("/etc/postfix/master.cf"))
        {
            var fields = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (Regex.IsMatch(line, @"^smtp[ \t]+inet")) master.AppendLine($"127.0.0.1:{port} inet n - n - - smtpd");
            else if (Regex.IsMatch(line, "^[a-z]") && fields.Length >= 8 && fields[1] is "unix" or "inet" or "unix-dgram" or "fifo" or "pass")
            {
                fields[4] = "n"; // no chroot: the jail would have to be built inside the temporary queue directory
                master.AppendLine(string.Join(' ', fields));
            }
            else master.AppendLine(line);
        }
        await File.WriteAllTextAsync(Path.Combine(configDirectory, "master.cf"), master.ToString());
        var instance = new PostfixInstance(configDirectory, port);
        var start = await ExternalProcess.RunAsync("/usr/sbin/postfix", ["-c", configDirectory, "start"]);
        Assert.True(start.ExitCode == 0, $"postfix did not start: {start.StdErr}");
        for (var i = 0; i < 100; i++)
        {
            try
            {
                using var probe = new System.Net.Sockets.TcpClient();
                await probe.ConnectAsync("127.0.0.1", port);
                return instance;
            }
            catch (System.Net.Sockets.SocketException)
            {
                await Task.Delay(100);
            }
        }
        await instance.DisposeAsync();
        throw new InvalidOperationException($"postfix never listened on 127.0.0.1:{port}");
    }

    public async ValueTask DisposeAsync() =>
        await ExternalProcess.RunAsync("/usr/sbin/postfix", ["-c", _configDirectory, "stop"]);
}
