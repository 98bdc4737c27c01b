using System.Globalization;
using System.Text.RegularExpressions;
using Mail.Testing;
using MimeKit;

namespace Mail.Host.Tests;

/// <summary>
/// `mail serve --Metrics:Endpoint=127.0.0.1:PORT` serves Prometheus' text format at GET /metrics: scraped with
/// HttpClient before and after one message sent with MailKit, the accepted-message counter grows by exactly one.
/// A bad Metrics:Endpoint is one line naming the setting and a nonzero exit.
/// </summary>
[Collection("host")]
public sealed partial class MetricsHostTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Prometheus_scrape_counts_one_more_accepted_message_after_one_message()
    {
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        var port = FreePort.Tcp();
        await using var host = await HostProcess.StartAsync(_data.Path, $"--Metrics:Endpoint=127.0.0.1:{port}");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };

        var before = await http.GetAsync("metrics");
        Assert.True(before.IsSuccessStatusCode, $"GET /metrics: {(int)before.StatusCode}");
        Assert.StartsWith("text/plain", before.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        var beforeText = await before.Content.ReadAsStringAsync();
        Assert.Contains("mail_queue_depth", beforeText, StringComparison.Ordinal);

        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("bob@example.net"));
        message.To.Add(MailboxAddress.Parse("alice@example.org"));
        message.Subject = "counted";
        message.Body = new TextPart("plain") { Text = "One more." };
        using (var smtp = new MailKit.Net.Smtp.SmtpClient())
        {
            await smtp.ConnectAsync("127.0.0.1", host.SmtpPort, MailKit.Security.SecureSocketOptions.None);
            await smtp.SendAsync(message);
            await smtp.DisconnectAsync(true);
        }
        await HostProcess.WaitForEmptyQueueAsync(_data.Path, TimeSpan.FromSeconds(30));

        var afterText = await http.GetStringAsync("metrics");
        Assert.Equal(Accepted(beforeText) + 1, Accepted(afterText));
        // The message's way through the stage is there too.
        Assert.Matches(@"mail_checks_results_total\{[^}]*check=""disposition""[^}]*result=""inbox""[^}]*\} 1", afterText);
        Assert.Matches(@"mail_stage_duration_seconds_count\{[^}]*stage=""inbound""[^}]*\} 1", afterText);
        Assert.Matches(@"mail_smtp_connections_total\{[^}]*\} [1-9]", afterText);
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:http")]
    public async Task A_bad_metrics_endpoint_is_one_line_naming_the_setting(string value)
    {
        var run = await HostProcess.RunAsync(["serve", "--data", _data.Path, $"--Metrics:Endpoint={value}"]);
        Assert.Equal(78, run.ExitCode);
        var line = Assert.Single(run.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("mail: configuration error: Metrics:Endpoint", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_metrics_port_in_use_is_one_line_naming_the_setting()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        var run = await HostProcess.RunAsync(["serve", "--data", _data.Path, $"--Metrics:Endpoint=127.0.0.1:{port}"]);
        Assert.Equal(74, run.ExitCode);
        var line = Assert.Single(run.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"mail: metrics 127.0.0.1:{port}: ", line, StringComparison.Ordinal);
        Assert.EndsWith("(check Metrics:Endpoint)", line, StringComparison.Ordinal);
    }

    /// <summary>mail.smtp.messages.accepted as Prometheus names it; absent (never incremented) counts as 0.</summary>
    private static long Accepted(string scrape)
    {
        var m = AcceptedLine().Match(scrape);
        return m.Success ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    [GeneratedRegex(@"^mail_smtp_messages_accepted_total(?:\{[^}]*\})? (\d+)", RegexOptions.Multiline)]
    private static partial Regex AcceptedLine();
}
