using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Mail.Testing;
using Xunit.Abstractions;

namespace Mail.Host.Tests;

/// <summary>
/// Runs the README's quick start as written against the `mail` under test, so the README fails a test when its
/// commands drift from the program (a renamed command or option, a changed default port, a step that stops working).
/// The commands are the ```sh block right after the marker comment <see cref="Marker"/>. Each line runs in its own
/// `bash -c`; the test changes only what it must to run them here, side by side with other tests:
/// <list type="bullet">
/// <item>`mail` is a shell function that runs the executable under test (MAIL_EXECUTABLE, which test.sh sets to the
/// Native AOT build in its second pass, else `dotnet mail.dll`), and the README's `dotnet build` line is skipped:
/// the test run built that executable already;</item>
/// <item>the working directory is a fresh temp directory, so the default `./data` starts empty;</item>
/// <item>every listener in the default appsettings.json (next to the executable) gets a free loopback port through a
/// `MAIL_..._Endpoint` variable, and each default endpoint a command names (127.0.0.1:2525, ...) is replaced by its
/// free one, so a README port that is not the default stays wrong;</item>
/// <item>a line ending in `&amp;` (`mail serve &amp;`) starts in the background and the test waits for its
/// "mail serve ready" line; after the `swaks` line it waits for `mail queue` to report an empty queue, because the
/// worker delivers after the 250.</item>
/// </list>
/// Every command must exit 0, and the last one must print the Subject the swaks line sent.
/// </summary>
[Collection("host")]
public sealed class ReadmeQuickStartTests(ITestOutputHelper log) : IDisposable
{
    public const string Marker = "<!-- quick-start: tested by tests/Mail.Host.Tests/ReadmeQuickStartTests.cs -->";

    private readonly TempData _work = new();

    public void Dispose() => _work.Dispose();

    [Fact]
    public async Task The_readme_quick_start_runs_against_the_built_mail_and_shows_the_message_over_imap()
    {
        Assert.True(ExternalProcess.IsOnPath("swaks"), "swaks is required (Debian package swaks)");
        Assert.True(ExternalProcess.IsOnPath("curl"), "curl is required (Debian package curl)");
        var commands = QuickStart.Extract(await File.ReadAllTextAsync(Path.Combine(HostProcess.RepositoryRoot, "README.md")));
        var subject = commands.Select(c => Regex.Match(c, "^swaks .*Subject: ([^\"']+)")).FirstOrDefault(m => m.Success)?.Groups[1].Value
            ?? throw new Xunit.Sdk.XunitException("The quick start has no `swaks ... --header \"Subject: ...\"` line to send a message with.");

        var (environment, endpoints) = FreeListeners();
        int FirstPort(string section) => int.Parse(endpoints.First(e => e.Section == section).Free.Split(':')[1], CultureInfo.InvariantCulture);
        var prelude = $"cd {Quote(_work.Path)} || exit 90\nmail() {{ {string.Join(' ', MailCommandWords().Select(Quote))} \"$@\"; }}\n";
        var dataDirectory = Path.Combine(_work.Path, "data");
        HostProcess? server = null;
        try
        {
            var last = "";
            foreach (var written in commands)
            {
                if (written.StartsWith("dotnet build ", StringComparison.Ordinal)) continue;
                var command = endpoints.Aggregate(QuickStart.StripComment(written), (c, e) => c.Replace(e.Default, e.Free, StringComparison.Ordinal));
                log.WriteLine("$ " + command);
                if (command.EndsWith('&'))
                {
                    Assert.Null(server);
                    var shell = new ProcessStartInfo("bash") { ArgumentList = { "-c", prelude + command.TrimEnd('&').TrimEnd() } };
                    foreach (var (k, v) in environment) shell.Environment[k] = v;
                    server = await HostProcess.LaunchAsync(shell, dataDirectory, FirstPort("Smtp"), FirstPort("Imap"));
                    log.WriteLine(server.Output);
                    continue;
                }
                var r = await ExternalProcess.RunAsync("bash", ["-c", prelude + command], timeout: TimeSpan.FromSeconds(120), environment: environment);
                log.WriteLine(r.StdOut + r.StdErr);
                Assert.True(r.ExitCode == 0, $"README quick start: `{written}` exited {r.ExitCode}:\n{r.StdOut}{r.StdErr}\nmail serve:\n{server?.Output}");
                if (command.StartsWith("swaks ", StringComparison.Ordinal))
                    await HostProcess.WaitForEmptyQueueAsync(dataDirectory, TimeSpan.FromSeconds(60));
                last = r.StdOut;
            }
            Assert.NotNull(server);
            Assert.True(last.Contains(subject, StringComparison.Ordinal),
                $"The quick start's last command did not show the message sent with Subject '{subject}':\n{last}");
        }
        finally
        {
            if (server is not null) await server.DisposeAsync();
        }
    }

    [Fact]
    public void The_block_is_the_sh_fence_after_the_marker_one_command_a_line()
    {
        var readme = $"""
            # x
            ```sh
            not this
            ```
            {Marker}
            ```sh
            mail serve &              # comment
            # a comment line

            swaks --to a@b --header "Subject: a # not a comment"
            ```
            after
            """;
        var commands = QuickStart.Extract(readme);
        Assert.Equal(["mail serve &              # comment", "swaks --to a@b --header \"Subject: a # not a comment\""], commands);
        Assert.Equal("mail serve &", QuickStart.StripComment(commands[0]));
        Assert.Equal(commands[1], QuickStart.StripComment(commands[1]));
        Assert.Throws<Xunit.Sdk.XunitException>(() => QuickStart.Extract("# no marker\n```sh\nmail\n```\n"));
    }

    /// <summary>Finds the quick-start commands in the README text.</summary>
    internal static class QuickStart
    {
        public static IReadOnlyList<string> Extract(string readme)
        {
            var lines = readme.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
            var marker = Array.FindIndex(lines, l => l.Trim() == Marker);
            if (marker < 0 || marker + 1 >= lines.Length || lines[marker + 1].Trim() != "```sh")
                throw new Xunit.Sdk.XunitException($"README.md must have the line {Marker} followed by a ```sh block");
            var end = Array.FindIndex(lines, marker + 2, l => l.Trim() == "```");
            if (end < 0) throw new Xunit.Sdk.XunitException("the quick-start ```sh block in README.md is not closed");
            var commands = lines[(marker + 2)..end].Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
            if (commands.Count == 0) throw new Xunit.Sdk.XunitException("the quick-start block in README.md is empty");
            return commands;
        }

        /// <summary>The command without its trailing `# comment` (a # after whitespace, outside quotes), trimmed.</summary>
        public static string StripComment(string line)
        {
            char? quote = null;
            for (var i = 0; i < line.Length; i++)
            {
                var c = line[i];
                if (quote is not null)
                {
                    if (c == quote) quote = null;
                }
                else if (c is '\'' or '"') quote = c;
                else if (c == '#' && i > 0 && char.IsWhiteSpace(line[i - 1])) return line[..i].TrimEnd();
            }
            return line.TrimEnd();
        }
    }

    /// <summary>A free port for every listener of the default settings: the MAIL_ variables that set them, and each
    /// default endpoint with its replacement.</summary>
    private static (Dictionary<string, string> Environment, List<(string Section, string Default, string Free)> Endpoints) FreeListeners()
    {
        var (file, prefix) = HostProcess.MailCommand;
        var settingsPath = Path.Combine(Path.GetDirectoryName(prefix.Length > 0 ? prefix[0] : file)!, "appsettings.json");
        using var settings = JsonDocument.Parse(File.ReadAllText(settingsPath));
        var environment = new Dictionary<string, string>();
        var endpoints = new List<(string, string, string)>();
        foreach (var section in new[] { "Smtp", "Imap", "Pop3", "ManageSieve" })
        {
            var listeners = settings.RootElement.GetProperty(section).GetProperty("Listeners");
            for (var i = 0; i < listeners.GetArrayLength(); i++)
            {
                var endpoint = listeners[i].GetProperty("Endpoint").GetString()!;
                var free = $"127.0.0.1:{FreePort.Tcp()}";
                environment[$"MAIL_{section}__Listeners__{i}__Endpoint"] = free;
                endpoints.Add((section, endpoint, free));
            }
        }
        Assert.NotEmpty(endpoints);
        return (environment, endpoints);
    }

    private static IEnumerable<string> MailCommandWords()
    {
        var (file, prefix) = HostProcess.MailCommand;
        return [file, .. prefix];
    }

    private static string Quote(string word) => "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}
