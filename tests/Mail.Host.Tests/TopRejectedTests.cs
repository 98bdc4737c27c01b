using System.Net;
using System.Text.RegularExpressions;
using Mail.Testing;
using Mail.WebConsole;

namespace Mail.Host.Tests;

/// <summary>The console's top rejected clients and senders: bounded however many distinct keys come, the heavy hitter
/// always kept, each window forgetting what is older than it, and kept across a restart of `mail serve`.</summary>
[Collection("host")]
public sealed class TopRejectedTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_flood_of_distinct_clients_stays_bounded_and_the_heavy_hitter_stays_on_top()
    {
        var summary = new SpaceSaving(TopRejected.SlotCapacity);
        var top = new TopRejected();
        for (var i = 0; i < 20_000; i++)
        {
            // One client in ten is the same one; the rest are all different (a botnet).
            var client = i % 10 == 0 ? "192.0.2.66" : $"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}";
            summary.Add(client);
            top.Add(T0.AddSeconds(i % 250), client, i % 10 == 0 ? "spam@example.net" : $"x{i}@example.net");
        }
        Assert.Equal(TopRejected.SlotCapacity, summary.Counts.Count);
        // Space-Saving never counts low: 2000 seen, at most 2000 + what the evicted keys had.
        Assert.InRange(summary.Counts["192.0.2.66"], 2000, 2000 + 20_000 / TopRejected.SlotCapacity);
        var lists = top.Top(T0.AddMinutes(5), 10);
        Assert.Equal("192.0.2.66", lists.Hour.Clients[0].Key);
        Assert.True(lists.Hour.Clients[0].Count >= 2000);
        Assert.Equal("spam@example.net", lists.Hour.Senders[0].Key);
        Assert.Equal(10, lists.Hour.Clients.Count);
    }

    [Fact]
    public void Counts_are_exact_below_capacity_and_each_window_forgets_what_is_older()
    {
        var top = new TopRejected();
        top.Add(T0, "192.0.2.1", "A@Example.net");
        top.Add(T0.AddMinutes(1), "192.0.2.1", "a@example.net");
        top.Add(T0.AddMinutes(2), "192.0.2.2", "");
        top.Add(T0.AddMinutes(3), "192.0.2.2", null); // refused before MAIL: a client, no sender
        top.Add(T0.AddMinutes(50), "192.0.2.2", null);

        var now = top.Top(T0.AddMinutes(50), 10);
        Assert.Equal([new("192.0.2.2", 3), new("192.0.2.1", 2)], now.Hour.Clients);
        Assert.Equal([new("a@example.net", 2), new("<>", 1)], now.Hour.Senders);

        // An hour and more later: gone from the hour, still in the day.
        var later = top.Top(T0.AddMinutes(61), 10);
        Assert.Equal([new("192.0.2.2", 1)], later.Hour.Clients);
        Assert.Equal([new("192.0.2.2", 3), new("192.0.2.1", 2)], later.Day.Clients);

        // A day and more later: gone from both.
        var tomorrow = top.Top(T0.AddHours(25), 10);
        Assert.Empty(tomorrow.Day.Clients);
        Assert.Empty(tomorrow.Hour.Senders);
    }

    [Fact]
    public void A_kept_slot_comes_back_and_an_older_one_does_not_replace_newer_counts()
    {
        var top = new TopRejected();
        top.Add(T0, "192.0.2.1", "a@example.net");
        top.Add(T0, "192.0.2.1", "a@example.net");
        var kept = top.TakeChanged();
        Assert.Equal(2, kept.Count); // one slot of the hour, one of the day
        Assert.Empty(top.TakeChanged());

        var restored = new TopRejected();
        foreach (var (name, slot, _) in kept) restored.Restore(name, slot);
        Assert.Equal([new("192.0.2.1", 2)], restored.Top(T0.AddMinutes(1), 10).Hour.Clients);
        restored.Add(T0.AddMinutes(1), "192.0.2.9", null);
        foreach (var (name, slot, _) in kept) restored.Restore(name, slot); // same slot number: what is held stays
        Assert.Equal([new("192.0.2.1", 2), new("192.0.2.9", 1)], restored.Top(T0.AddMinutes(1), 10).Hour.Clients);
    }

    /// <summary>And the console's sign-in: the session cookie of before the restart still works after it.</summary>
    [Fact]
    public async Task The_lists_survive_a_restart_of_mail_serve()
    {
        using var data = new TempData();
        await HostProcess.AdminOkAsync(data.Path, "domain", "add", "example.org");
        await HostProcess.AdminOkAsync(data.Path, "user", "add", "admin@example.org", "--password", "pw", "--admin");
        var port = FreePort.Tcp();
        string[] args = [$"--Admin:Endpoint=127.0.0.1:{port}", "--Smtp:MaxMessageSize=4096"];
        HttpClient? http = null;
        await using (var host = await HostProcess.StartAsync(data.Path, args))
        {
            var big = string.Concat(Enumerable.Repeat(new string('x', 70) + "\n", 200));
            foreach (var from in new[] { "spammer@example.net", "spammer@example.net" })
            {
                var refused = await ExternalProcess.RunAsync("swaks", ["--server", $"127.0.0.1:{host.SmtpPort}", "--to", "admin@example.org", "--from", from, "--body", big]);
                Assert.Contains("<** 552", refused.StdOut, StringComparison.Ordinal);
            }
            var signedIn = await SignInAsync(port);
            http = signedIn;
            await HostProcess.PollAsync(() => signedIn.GetStringAsync("/api/stats"), s => s.Contains("\"key\":\"spammer@example.net\",\"count\":2", StringComparison.Ordinal),
                TimeSpan.FromSeconds(30), "the refusals were not counted");
            Assert.Equal(0, await host.TerminateAsync());
        }
        await using (var again = await HostProcess.StartAsync(data.Path, args))
        {
            // Still signed in: the session was kept in the state store.
            using var kept = http!;
            var session = System.Text.Json.JsonDocument.Parse(await kept.GetStringAsync("/api/session")).RootElement;
            Assert.Equal("admin@example.org", session.GetProperty("user").GetString());
            var stats = System.Text.Json.JsonDocument.Parse(await kept.GetStringAsync("/api/stats")).RootElement.GetProperty("topRejected");
            foreach (var window in new[] { "hour", "day" })
            {
                Assert.Equal("spammer@example.net", stats.GetProperty(window).GetProperty("senders")[0].GetProperty("key").GetString());
                Assert.Equal(2, stats.GetProperty(window).GetProperty("senders")[0].GetProperty("count").GetInt64());
                Assert.Equal("127.0.0.1", stats.GetProperty(window).GetProperty("clients")[0].GetProperty("key").GetString());
            }
            // Sign-out ends it for good, restart or not.
            using var signOut = new HttpRequestMessage(HttpMethod.Post, "/signout") { Content = new FormUrlEncodedContent([new("csrf", session.GetProperty("csrfToken").GetString()!)]) };
            using (var r = await kept.SendAsync(signOut)) Assert.Equal(HttpStatusCode.Redirect, r.StatusCode);
            using (var r = await kept.GetAsync("/api/session")) Assert.Equal(HttpStatusCode.Unauthorized, r.StatusCode);
        }
    }

    /// <summary>Signs in as admin@example.org the way the form does (its anti-forgery token and cookie).</summary>
    private static async Task<HttpClient> SignInAsync(int port)
    {
        var http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var form = await http.GetStringAsync("/signin");
        var csrf = Regex.Match(form, "name=\"csrf\" value=\"([^\"]+)\"").Groups[1].Value;
        using var body = new FormUrlEncodedContent([new("user", "admin@example.org"), new("password", "pw"), new("csrf", csrf)]);
        using var signedIn = await http.PostAsync("/signin", body);
        Assert.Equal(HttpStatusCode.SeeOther, signedIn.StatusCode);
        return http;
    }
}
