using System.Net;
using System.Net.Sockets;
using System.Text;
using Mail.Testing;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;

namespace Mail.Host.Tests;

/// <summary>
/// The web console (Admin:Endpoint) of a real `mail serve`, driven in Debian's chromium through chromedriver: sign-in,
/// the dashboard counting a message that arrives, a held message whose HTML carries a script and a remote image
/// previewed with neither run nor loaded, released into the INBOX (read over IMAP), and the guards: no state change
/// without the anti-forgery token, 403 for a user who is not an administrator, sign-in throttled. The screenshots in
/// docs/images/ are taken here.
/// </summary>
[Collection("host")]
public sealed class ConsoleBrowserTests : IDisposable
{
    private const string AdminPassword = "correct horse";
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Console_in_a_browser_signs_in_counts_previews_safely_releases_and_guards()
    {
        var headerChecks = Path.Combine(_data.Path, "header_checks");
        await File.WriteAllTextAsync(headerChecks, "/^Subject:.*hold me/ HOLD suspicious subject\n");
        await HostProcess.AdminOkAsync(_data.Path, "domain", "add", "example.org");
        var added = await HostProcess.AdminOkAsync(_data.Path, "user", "add", "admin@example.org", "--password", AdminPassword, "--admin");
        Assert.Contains("console administrator", added.StdOut, StringComparison.Ordinal);
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "alice@example.org", "--password", "secret");
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "bob@example.org", "--password", "bob secret");
        // The role from the command line: a new password keeps it; given, taken, and refused for no such user.
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "admin@example.org", "--password", AdminPassword);
        await HostProcess.AdminOkAsync(_data.Path, "user", "add", "carol@example.org", "--password", "carol secret");
        Assert.Contains("carol@example.org console administrator: on", (await HostProcess.AdminOkAsync(_data.Path, "user", "admin", "carol@example.org", "on")).StdOut, StringComparison.Ordinal);
        Assert.Contains("carol@example.org  admin", (await HostProcess.AdminOkAsync(_data.Path, "user", "list")).StdOut, StringComparison.Ordinal);
        await HostProcess.AdminOkAsync(_data.Path, "user", "admin", "carol@example.org", "off");
        Assert.Contains("user carol@example.org removed", (await HostProcess.AdminOkAsync(_data.Path, "user", "remove", "carol@example.org")).StdOut, StringComparison.Ordinal);
        var nobody = await HostProcess.AdminAsync(_data.Path, "user", "admin", "nobody@example.org", "on");
        Assert.Equal(65, nobody.ExitCode);
        Assert.Contains("mail: no user nobody@example.org", nobody.StdErr, StringComparison.Ordinal);
        var users = (await HostProcess.AdminOkAsync(_data.Path, "user", "list")).StdOut;
        Assert.Contains("admin@example.org  admin", users, StringComparison.Ordinal);
        Assert.DoesNotContain("carol@", users, StringComparison.Ordinal);
        Assert.Contains("bob@example.org\n", users.Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);

        // The DNS helper's records, served by a loopback DNS server: the MX right, SPF not covering our host.
        await using var dns = await Mail.Testing.Dns.TestDnsServer.StartAsync();
        dns.AddMx("example.org", 10, "mail.example.org");
        dns.Add("mail.example.org", Mail.Testing.Dns.DnsRecordType.A, "127.0.0.1");
        dns.Add("example.org", Mail.Testing.Dns.DnsRecordType.TXT, "v=spf1 ip4:192.0.2.1 -all");
        dns.Add("_dmarc.example.org", Mail.Testing.Dns.DnsRecordType.TXT, "v=DMARC1; p=none");

        var port = FreePort.Tcp();
        await using var host = await HostProcess.StartAsync(_data.Path, $"--Defences:HeaderChecks={headerChecks}", $"--Admin:Endpoint=127.0.0.1:{port}",
            "--Admin:MaxFailedLogins=3", $"--Dns:NameServers:0={dns.EndPoint}", "--Dns:Retries=1", "--Smtp:HostName=mail.example.org",
            "--Imap:HostName=mail.example.org", "--Smtp:MaxMessageSize=65536");
        var origin = $"http://127.0.0.1:{port}";
        using var driver = Browser();

        // Sign in: anything but /signin sends a browser without a session there.
        driver.Navigate().GoToUrl(origin + "/queue");
        Assert.EndsWith("/signin", driver.Url, StringComparison.Ordinal);
        SignIn(driver, "admin@example.org", AdminPassword);
        await PollAsync(() => driver.Title == "Dashboard · mail console", "not signed in: " + driver.Title);
        Assert.Equal("0", Stat(driver, "accepted"));

        // A message arrives: the dashboard counts it.
        var hello = await Swaks(host, "--header", "Subject: hello");
        Assert.True(hello.ExitCode == 0, hello.StdOut + hello.StdErr);
        await PollAsync(() => { driver.Navigate().Refresh(); return Stat(driver, "accepted") == "1"; }, "the dashboard did not count the accepted message");

        // Refusals: messages over the size limit, three from one sender, one from another. The dashboard's top
        // lists name the client and the senders with their counts.
        var tooBig = new string('x', 70) + "\n";
        tooBig = string.Concat(Enumerable.Repeat(tooBig, 1500)); // ~100 KB, over Smtp:MaxMessageSize
        foreach (var from in new[] { "spammer@example.net", "spammer@example.net", "other@example.com", "spammer@example.net" })
        {
            var refused = await ExternalProcess.RunAsync("swaks", ["--server", $"127.0.0.1:{host.SmtpPort}", "--to", "alice@example.org", "--from", from, "--body", tooBig]);
            Assert.True(refused.ExitCode != 0 && refused.StdOut.Contains("<** 552", StringComparison.Ordinal), refused.StdOut[^Math.Min(600, refused.StdOut.Length)..] + refused.StdErr);
        }
        await PollAsync(() => { driver.Navigate().Refresh(); return TopRows(driver, "top-clients-hour").FirstOrDefault() == ("127.0.0.1", "4"); },
            "the top rejected clients do not list 127.0.0.1 with 4 refusals: " + string.Join("; ", TopRows(driver, "top-clients-hour")));
        Assert.Equal([("spammer@example.net", "3"), ("other@example.com", "1")], TopRows(driver, "top-senders-hour"));
        Assert.Equal([("spammer@example.net", "3"), ("other@example.com", "1")], TopRows(driver, "top-senders-day"));
        Assert.Equal([("127.0.0.1", "4")], TopRows(driver, "top-clients-day"));
        Screenshot(driver, "console-dashboard.png");

        // A held message whose HTML carries a script, an inline handler and a remote image (a listener of ours, to see a load).
        using var spy = new TcpListener(IPAddress.Loopback, 0);
        spy.Start();
        var spyPort = ((IPEndPoint)spy.LocalEndpoint).Port;
        var raw = Path.Combine(_data.Path, "evil.eml");
        await File.WriteAllTextAsync(raw, string.Join("\r\n",
            "From: mallory@example.net", "To: alice@example.org", "Subject: please hold me", "MIME-Version: 1.0",
            "Content-Type: multipart/alternative; boundary=b1", "", "--b1", "Content-Type: text/plain; charset=utf-8", "",
            "plain part of the held message", "--b1", "Content-Type: text/html; charset=utf-8", "",
            $"<html><body><p>html part</p><script>window.pwned = 1; document.title = 'pwned';</script><img src=\"http://127.0.0.1:{spyPort}/pixel.png\"><img src=x onerror=\"window.pwned2 = 1\"></body></html>",
            "--b1--", ""));
        var evil = await Swaks(host, "--data", raw);
        Assert.True(evil.ExitCode == 0, evil.StdOut + evil.StdErr);
        driver.Navigate().GoToUrl(origin + "/quarantine");
        await PollAsync(() => { driver.Navigate().Refresh(); return driver.PageSource.Contains("please hold me", StringComparison.Ordinal); }, "the held message was not listed");
        Screenshot(driver, "console-quarantine.png");
        var link = driver.FindElement(By.CssSelector("#quarantine a"));
        var queueId = link.Text;
        ClickAndWait(driver, link);
        Assert.Contains("plain part of the held message", driver.FindElement(By.Id("text")).Text, StringComparison.Ordinal);
        var html = driver.FindElement(By.Id("html")).Text;
        Assert.Contains("<script>window.pwned = 1;", html, StringComparison.Ordinal); // shown as text
        Assert.Null(((IJavaScriptExecutor)driver).ExecuteScript("return window.pwned === undefined && window.pwned2 === undefined ? null : 'ran';"));
        Assert.Equal(0L, ((IJavaScriptExecutor)driver).ExecuteScript("return document.images.length;"));
        Assert.DoesNotContain("pwned", driver.Title, StringComparison.Ordinal);
        Screenshot(driver, "console-preview.png");
        await Task.Delay(500);
        Assert.False(spy.Pending(), "the preview loaded the message's remote image");

        using var http = Http(origin, driver);
        var stats = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/api/stats")).RootElement.GetProperty("topRejected");
        var hourClients = stats.GetProperty("hour").GetProperty("clients");
        Assert.Equal("127.0.0.1", hourClients[0].GetProperty("key").GetString());
        Assert.Equal(4, hourClients[0].GetProperty("count").GetInt64());
        Assert.Equal("spammer@example.net", stats.GetProperty("day").GetProperty("senders")[0].GetProperty("key").GetString());
        Assert.Equal(3, stats.GetProperty("day").GetProperty("senders")[0].GetProperty("count").GetInt64());
        using (var preview = await http.GetAsync($"/quarantine/{queueId}"))
        {
            Assert.Equal(HttpStatusCode.OK, preview.StatusCode);
            Assert.StartsWith("default-src 'none'", string.Join(";", preview.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
        }

        // Release: delivered through the normal path, into alice's INBOX, read over IMAP.
        ClickAndWait(driver, driver.FindElement(By.Id("release-" + queueId)));
        Assert.Contains("delivered to alice@example.org INBOX", driver.FindElement(By.Id("ok")).Text, StringComparison.Ordinal);
        using (var imap = new ImapClient())
        {
            await imap.ConnectAsync("127.0.0.1", host.ImapPort, MailKit.Security.SecureSocketOptions.None);
            await imap.AuthenticateAsync("alice@example.org", "secret");
            await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
            Assert.Single(await imap.Inbox.SearchAsync(SearchQuery.SubjectContains("please hold me")));
            Assert.Single(await imap.Inbox.SearchAsync(SearchQuery.SubjectContains("hello")));
        }
        driver.Navigate().GoToUrl(origin + "/users");
        Screenshot(driver, "console-users.png");

        // A user's Sieve scripts and quota, from their page: the same AdminService calls as `mail sieve` and `mail user quota`.
        ClickAndWait(driver, driver.FindElement(By.CssSelector("#users a.settings[href='/users/alice%40example.org']")));
        Assert.Matches("^[1-9][0-9]* octets used, no limit$", driver.FindElement(By.Id("quota")).Text);
        driver.FindElement(By.Id("quota-size")).SendKeys("10M");
        ClickAndWait(driver, driver.FindElement(By.Id("set-quota")));
        Assert.StartsWith("quota of alice@example.org: 10M", driver.FindElement(By.Id("ok")).Text, StringComparison.Ordinal);
        Assert.Contains("of 10485760 octets used (10M)", driver.FindElement(By.Id("quota")).Text, StringComparison.Ordinal);
        driver.FindElement(By.Id("sieve-name")).SendKeys("broken");
        driver.FindElement(By.Id("sieve-script")).SendKeys("require \"fileinto\";\nif header :contains \"subject\" \"x\" { fileinto \"Junk\" }\n");
        ClickAndWait(driver, driver.FindElement(By.Id("sieve-upload")));
        Assert.StartsWith("broken: line 2: error: expected ';' or '{'", driver.FindElement(By.Id("error")).Text, StringComparison.Ordinal);
        Assert.Empty(driver.FindElements(By.CssSelector("#sieve tr[data-script]")));
        driver.FindElement(By.Id("sieve-name")).SendKeys("filters");
        driver.FindElement(By.Id("sieve-script")).SendKeys("require \"fileinto\";\nif header :contains \"subject\" \"newsletter\" { fileinto \"Junk\"; }\n");
        driver.FindElement(By.Id("sieve-activate")).Click();
        ClickAndWait(driver, driver.FindElement(By.Id("sieve-upload")));
        Assert.Equal("sieve script filters stored for alice@example.org and active", driver.FindElement(By.Id("ok")).Text);
        Assert.Equal("yes", driver.FindElement(By.CssSelector("#sieve tr[data-script='filters']")).GetAttribute("data-active"));
        ClickAndWait(driver, driver.FindElement(By.CssSelector("#sieve tr[data-script='filters'] a")));
        Assert.Contains("fileinto \"Junk\";", driver.FindElement(By.Id("sieve-script")).GetAttribute("value"), StringComparison.Ordinal);
        Screenshot(driver, "console-user.png");
        Assert.Contains("filters active", (await HostProcess.AdminOkAsync(_data.Path, "sieve", "list", "alice@example.org")).StdOut, StringComparison.Ordinal);
        Assert.Contains("alice@example.org  quota 10M", (await HostProcess.AdminOkAsync(_data.Path, "user", "list")).StdOut, StringComparison.Ordinal);
        // The active script runs at delivery: a newsletter goes to Junk.
        var news = await Swaks(host, "--header", "Subject: weekly newsletter");
        Assert.True(news.ExitCode == 0, news.StdOut + news.StdErr);
        await HostProcess.PollAsync(async () => (await HostProcess.AdminOkAsync(_data.Path, "mailbox", "list", "alice@example.org", "--mailbox", "Junk")).StdOut,
            o => o.Contains("weekly newsletter", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the active Sieve script did not file the newsletter into Junk");

        // Aliases and DKIM keys from the Domains page: the same AdminService calls as `mail alias` and `mail dkim`, so
        // the command line sees what the console did.
        driver.Navigate().GoToUrl(origin + "/domains");
        driver.FindElement(By.Id("alias")).SendKeys("info@example.org");
        driver.FindElement(By.Id("alias-targets")).SendKeys("bob@example.org, alice@example.org");
        ClickAndWait(driver, driver.FindElement(By.Id("add-alias")));
        Assert.Equal("alias info@example.org -> bob@example.org, alice@example.org", driver.FindElement(By.Id("ok")).Text);
        driver.FindElement(By.Id("alias")).SendKeys("@example.org");
        driver.FindElement(By.Id("alias-targets")).SendKeys("alice@example.org");
        ClickAndWait(driver, driver.FindElement(By.Id("add-alias")));
        Assert.Equal("alias @example.org -> alice@example.org", driver.FindElement(By.Id("ok")).Text);
        driver.FindElement(By.Id("alias")).SendKeys("info@nowhere.example");
        driver.FindElement(By.Id("alias-targets")).SendKeys("alice@example.org");
        ClickAndWait(driver, driver.FindElement(By.Id("add-alias")));
        Assert.Contains("nowhere.example is not a local domain", driver.FindElement(By.Id("error")).Text, StringComparison.Ordinal);
        var aliasList = (await HostProcess.AdminOkAsync(_data.Path, "alias", "list")).StdOut;
        Assert.Contains("info@example.org -> bob@example.org, alice@example.org", aliasList, StringComparison.Ordinal);
        Assert.Contains("\n@example.org -> alice@example.org", "\n" + aliasList.Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);
        // One target off, then the catch-all off.
        ClickAndWait(driver, driver.FindElement(By.XPath("//tr[@data-alias='info@example.org']//form[input[@name='target' and @value='alice@example.org']]/button")));
        Assert.Equal("alias info@example.org -> bob@example.org", driver.FindElement(By.Id("ok")).Text);
        ClickAndWait(driver, driver.FindElement(By.Id("remove-alias-@example.org")));
        Assert.Equal("alias @example.org removed", driver.FindElement(By.Id("ok")).Text);
        Assert.DoesNotContain("\n@example.org ->", "\n" + (await HostProcess.AdminOkAsync(_data.Path, "alias", "list")).StdOut.Replace("\r", "", StringComparison.Ordinal), StringComparison.Ordinal);
        // Mail to the alias reaches bob (the running server reads the same table); bob reads it below.
        var toAlias = await ExternalProcess.RunAsync("swaks", ["--server", $"127.0.0.1:{host.SmtpPort}", "--to", "info@example.org", "--from", "carol@example.net", "--header", "Subject: via alias"]);
        Assert.True(toAlias.ExitCode == 0, toAlias.StdOut + toAlias.StdErr);

        driver.FindElement(By.XPath("//select[@id='dkim-algorithm']/option[text()='ed25519']")).Click();
        driver.FindElement(By.Id("dkim-selector")).SendKeys("web1");
        ClickAndWait(driver, driver.FindElement(By.Id("add-dkim")));
        Assert.StartsWith("new DKIM key(s) web1._domainkey.example.org, signing now", driver.FindElement(By.Id("ok")).Text, StringComparison.Ordinal);
        Assert.Equal("yes", driver.FindElement(By.CssSelector("#dkim tr[data-name='web1._domainkey.example.org']")).GetAttribute("data-active"));
        Assert.Contains("web1._domainkey.example.org. IN TXT", driver.FindElement(By.CssSelector("#dkim tr[data-name='web1._domainkey.example.org'] pre")).Text, StringComparison.Ordinal);
        driver.FindElement(By.XPath("//select[@id='dkim-algorithm']/option[text()='ed25519']")).Click();
        driver.FindElement(By.Id("dkim-selector")).SendKeys("web1");
        ClickAndWait(driver, driver.FindElement(By.Id("add-dkim")));
        Assert.Contains("selector web1", driver.FindElement(By.Id("error")).Text, StringComparison.Ordinal);
        ClickAndWait(driver, driver.FindElement(By.Id("rotate-example.org")));
        Assert.Contains("retired web1._domainkey.example.org: keep them published until", driver.FindElement(By.Id("ok")).Text, StringComparison.Ordinal);
        Assert.Equal("no", driver.FindElement(By.CssSelector("#dkim tr[data-name='web1._domainkey.example.org']")).GetAttribute("data-active"));
        Screenshot(driver, "console-domains.png");
        var dkimList = (await HostProcess.AdminOkAsync(_data.Path, "dkim", "list", "example.org")).StdOut;
        Assert.Contains("; example.org web1 ed25519 retired", dkimList, StringComparison.Ordinal);
        Assert.Contains("ed25519 active since", dkimList, StringComparison.Ordinal);

        // The DNS helper: each record's verdict and reason, as DNS answers now.
        driver.Navigate().GoToUrl(origin + "/dns?domain=example.org");
        string Verdict(string name, string type) => driver.FindElement(By.CssSelector($"#dns tr[data-name='{name}'][data-type='{type}'] .verdict")).Text;
        string Reason(string name, string type) => driver.FindElement(By.CssSelector($"#dns tr[data-name='{name}'][data-type='{type}'] .reason")).Text;
        Assert.Equal("right", Verdict("example.org", "MX"));
        Assert.Equal("wrong", Verdict("example.org", "TXT"));
        Assert.StartsWith("does not include our host: fail for 127.0.0.1", Reason("example.org", "TXT"), StringComparison.Ordinal);
        Assert.Equal("note", Verdict("_dmarc.example.org", "TXT"));
        Assert.Equal("missing", Verdict("_smtp._tls.example.org", "TXT"));
        Assert.Contains("record(s) missing, wrong or unknown", driver.FindElement(By.Id("dns-summary")).Text, StringComparison.Ordinal);
        Screenshot(driver, "console-dns.png");
        var dnsJson = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/api/dns/example.org")).RootElement;
        Assert.Equal(1, dnsJson.GetProperty("v").GetInt32());
        Assert.False(dnsJson.GetProperty("allRight").GetBoolean());
        Assert.Contains(dnsJson.GetProperty("records").EnumerateArray(), r => r.GetProperty("type").GetString() == "MX" && r.GetProperty("verdict").GetString() == "Right");

        // Message trace: the released message, step by step, from its queue id.
        driver.Navigate().GoToUrl(origin + "/trace");
        driver.FindElement(By.Id("trace-q")).SendKeys(queueId);
        ClickAndWait(driver, driver.FindElement(By.Id("trace-go")));
        var steps = driver.FindElements(By.CssSelector($".trace[data-id='{queueId}'] tr.step")).Select(e => e.GetAttribute("data-step")).ToList();
        Assert.Equal(["received", "verdict", "quarantined", "released", "delivered"], steps.Where(x => x != "check").ToList());
        Assert.Contains("to alice@example.org INBOX", driver.FindElement(By.CssSelector($".trace[data-id='{queueId}'] tr[data-step='delivered']")).Text, StringComparison.Ordinal);
        Screenshot(driver, "console-trace.png");
        using (var traceApi = await http.GetAsync("/api/trace/alice@example.org"))
        {
            Assert.Equal(HttpStatusCode.OK, traceApi.StatusCode);
            Assert.Equal(3, System.Text.Json.JsonDocument.Parse(await traceApi.Content.ReadAsStringAsync()).RootElement.GetArrayLength()); // hello, the released one, the newsletter
        }
        using (var traceNone = await http.GetAsync("/api/trace/nothing-such"))
            Assert.Equal(HttpStatusCode.NotFound, traceNone.StatusCode);

        // No state change without the session's anti-forgery token, by form or API; with it, the API works.
        using (var formPost = await http.PostAsync("/domains", new FormUrlEncodedContent([new("domain", "forged.example")])))
            Assert.Equal(HttpStatusCode.Forbidden, formPost.StatusCode);
        using (var apiPost = await http.PostAsync("/api/domains", Json("{\"domain\":\"forged.example\"}")))
            Assert.Equal(HttpStatusCode.Forbidden, apiPost.StatusCode);
        var session = await http.GetStringAsync("/api/session");
        var token = System.Text.Json.JsonDocument.Parse(session).RootElement.GetProperty("csrfToken").GetString()!;
        using (var wrong = new HttpRequestMessage(HttpMethod.Post, "/api/domains") { Content = Json("{\"domain\":\"forged.example\"}") })
        {
            wrong.Headers.Add("X-CSRF-Token", token + "x");
            using var r = await http.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Forbidden, r.StatusCode);
        }
        using (var right = new HttpRequestMessage(HttpMethod.Post, "/api/domains") { Content = Json("{\"domain\":\"new.example\"}") })
        {
            right.Headers.Add("X-CSRF-Token", token);
            using var r = await http.SendAsync(right);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }
        async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpMethod method, string path, string? json, string? csrf)
        {
            using var request = new HttpRequestMessage(method, path) { Content = json is null ? null : Json(json) };
            if (csrf is not null) request.Headers.Add("X-CSRF-Token", csrf);
            using var r = await http.SendAsync(request);
            return (r.StatusCode, await r.Content.ReadAsStringAsync());
        }
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Post, "/api/aliases", "{\"alias\":\"sales@example.org\",\"targets\":[\"bob@example.org\"]}", null)).Status);
        var saved = await SendAsync(HttpMethod.Post, "/api/aliases", "{\"alias\":\"sales@example.org\",\"targets\":[\"bob@example.org\"]}", token);
        Assert.Equal(HttpStatusCode.OK, saved.Status);
        Assert.Equal("alias sales@example.org -> bob@example.org", System.Text.Json.JsonDocument.Parse(saved.Body).RootElement.GetProperty("done").GetString());
        Assert.Contains("\"alias\":\"sales@example.org\"", await http.GetStringAsync("/api/aliases"), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Delete, "/api/aliases/sales%40example.org", null, token)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Delete, "/api/aliases/sales%40example.org", null, token)).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, "/api/aliases", "{\"alias\":\"not an address\",\"targets\":[\"bob@example.org\"]}", token)).Status);
        var key = await SendAsync(HttpMethod.Post, "/api/dkim", "{\"domain\":\"example.org\",\"selector\":\"api1\",\"algorithm\":\"ed25519\"}", token);
        Assert.Equal(HttpStatusCode.OK, key.Status);
        Assert.Equal("api1._domainkey.example.org", System.Text.Json.JsonDocument.Parse(key.Body).RootElement[0].GetProperty("dnsName").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, "/api/dkim", "{\"domain\":\"example.org\",\"algorithm\":\"dsa\"}", token)).Status);
        var rotated = await SendAsync(HttpMethod.Post, "/api/dkim/example.org/rotate", null, token);
        Assert.Equal(HttpStatusCode.OK, rotated.Status);
        Assert.Contains(System.Text.Json.JsonDocument.Parse(rotated.Body).RootElement.GetProperty("retired").EnumerateArray(), k => k.GetProperty("selector").GetString() == "api1");

        // Quota and Sieve over the API: refused without the token, the compiler's one line for a bad script.
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Post, "/api/users/alice%40example.org/quota", "{\"size\":\"1G\"}", null)).Status);
        var quota = await SendAsync(HttpMethod.Post, "/api/users/alice%40example.org/quota", "{\"size\":\"1G\"}", token);
        Assert.Equal(HttpStatusCode.OK, quota.Status);
        Assert.Equal(1L << 30, System.Text.Json.JsonDocument.Parse(quota.Body).RootElement.GetProperty("limit").GetInt64());
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Post, "/api/users/alice%40example.org/quota", "{\"size\":\"lots\"}", token)).Status);
        Assert.True(System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/api/users/alice%40example.org/quota")).RootElement.GetProperty("used").GetInt64() > 0);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Post, "/api/users/alice%40example.org/sieve", "{\"name\":\"api\",\"script\":\"keep;\"}", null)).Status);
        var badScript = await SendAsync(HttpMethod.Post, "/api/users/alice%40example.org/sieve", "{\"name\":\"api\",\"script\":\"fileinto \\\"x\\\";\"}", token);
        Assert.Equal(HttpStatusCode.BadRequest, badScript.Status);
        Assert.Contains("api: line 1: error:", System.Text.Json.JsonDocument.Parse(badScript.Body).RootElement.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/users/alice%40example.org/sieve", "{\"name\":\"api\",\"script\":\"keep;\"}", token)).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, "/api/users/alice%40example.org/sieve/api/activate", null, token)).Status);
        var scripts = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/api/users/alice%40example.org/sieve")).RootElement;
        Assert.Contains(scripts.EnumerateArray(), x => x.GetProperty("name").GetString() == "api" && x.GetProperty("active").GetBoolean());
        Assert.Equal("keep;", System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/api/users/alice%40example.org/sieve/api")).RootElement.GetProperty("script").GetString());
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Delete, "/api/users/alice%40example.org/sieve/filters", null, token)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, "/api/users/nobody%40example.org/sieve", null, null)).Status);

        // An administrator downloads any user's Apple profile.
        using (var profile = await http.GetAsync("/users/alice%40example.org/mobileconfig"))
        {
            Assert.Equal(HttpStatusCode.OK, profile.StatusCode);
            Assert.Equal("application/x-apple-aspen-config", profile.Content.Headers.ContentType?.MediaType);
            Assert.Equal("alice@example.org.mobileconfig", profile.Content.Headers.ContentDisposition?.FileName?.Trim('"'));
            var p = Plist(await profile.Content.ReadAsByteArrayAsync());
            Assert.Equal("alice@example.org", p["EmailAddress"]);
            Assert.Equal("alice@example.org", p["IncomingMailServerUsername"]);
        }
        using (var none = await http.GetAsync("/users/nobody%40example.org/mobileconfig"))
            Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
        var domains = await http.GetStringAsync("/api/domains");
        Assert.Contains("new.example", domains, StringComparison.Ordinal);
        Assert.DoesNotContain("forged.example", domains, StringComparison.Ordinal);
        Assert.Contains("bob@example.org", await http.GetStringAsync("/api/users"), StringComparison.Ordinal);

        // A user who is not an administrator: their own page and Apple profile, nothing else (403).
        ClickAndWait(driver, driver.FindElement(By.Id("signout")));
        SignIn(driver, "bob@example.org", "bob secret");
        Assert.EndsWith("/me", driver.Url, StringComparison.Ordinal);
        Assert.Contains("mail.example.org port", driver.FindElement(By.Id("settings")).Text, StringComparison.Ordinal);
        Screenshot(driver, "console-me.png");
        using (var bob = Http(origin, driver))
        {
            using var own = await bob.GetAsync(new Uri(driver.FindElement(By.Id("mobileconfig")).GetAttribute("href")!).PathAndQuery);
            Assert.Equal(HttpStatusCode.OK, own.StatusCode);
            var signed = await own.Content.ReadAsByteArrayAsync();
            var p = Plist(signed);
            Assert.Equal("com.apple.mail.managed", p["PayloadType"]);
            // As a device would check it, by another implementation: OpenSSL verifies the CMS signature (the chain is
            // the self-signed certificate's, so only the signature: -noverify) and gives back the profile.
            var file = Path.Combine(_data.Path, "bob.mobileconfig");
            await File.WriteAllBytesAsync(file, signed);
            var verify = await ExternalProcess.RunAsync("openssl", ["smime", "-verify", "-inform", "der", "-noverify", "-in", file]);
            Assert.True(verify.ExitCode == 0, verify.StdErr);
            Assert.Contains("Verification successful", verify.StdErr, StringComparison.Ordinal);
            Assert.Contains("<string>bob@example.org</string>", verify.StdOut, StringComparison.Ordinal);
            signed[^40] ^= 1; // a changed byte of the signature or the content: refused
            await File.WriteAllBytesAsync(file, signed);
            Assert.NotEqual(0, (await ExternalProcess.RunAsync("openssl", ["smime", "-verify", "-inform", "der", "-noverify", "-in", file])).ExitCode);
            Assert.Equal("EmailTypeIMAP", p["EmailAccountType"]);
            Assert.Equal("bob@example.org", p["EmailAddress"]);
            Assert.Equal("mail.example.org", p["IncomingMailServerHostName"]);
            Assert.Equal("mail.example.org", p["OutgoingMailServerHostName"]);
            Assert.Equal("bob@example.org", p["IncomingMailServerUsername"]);
            Assert.Equal("bob@example.org", p["OutgoingMailServerUsername"]);
            Assert.Equal("true", p["IncomingMailServerUseSSL"]);
            Assert.Equal("true", p["OutgoingMailServerUseSSL"]);
            Assert.Equal("EmailAuthPassword", p["OutgoingMailServerAuthentication"]);
            // The ports are the server's own listeners: IMAP with implicit TLS and submission with STARTTLS, signing in
            // as the profile says (mail.example.org is this loopback host).
            using (var imap = new ImapClient())
            {
                imap.ServerCertificateValidationCallback = (_, c, _, _) => c is not null; // the self-signed certificate of mail serve
                await imap.ConnectAsync("127.0.0.1", int.Parse(p["IncomingMailServerPortNumber"], System.Globalization.CultureInfo.InvariantCulture), MailKit.Security.SecureSocketOptions.SslOnConnect);
                await imap.AuthenticateAsync(p["IncomingMailServerUsername"], "bob secret");
                await imap.Inbox.OpenAsync(FolderAccess.ReadOnly);
                Assert.Single(await imap.Inbox.SearchAsync(SearchQuery.SubjectContains("via alias")));
            }
            using (var smtp = new MailKit.Net.Smtp.SmtpClient())
            {
                smtp.ServerCertificateValidationCallback = (_, c, _, _) => c is not null; // the self-signed certificate of mail serve
                await smtp.ConnectAsync("127.0.0.1", int.Parse(p["OutgoingMailServerPortNumber"], System.Globalization.CultureInfo.InvariantCulture), MailKit.Security.SecureSocketOptions.StartTls);
                await smtp.AuthenticateAsync(p["OutgoingMailServerUsername"], "bob secret");
                Assert.True(smtp.IsSecure);
            }
            using var other = await bob.GetAsync("/users/alice%40example.org/mobileconfig");
            Assert.Equal(HttpStatusCode.Forbidden, other.StatusCode);
            using var bobUsers = await bob.GetAsync("/api/users");
            Assert.Equal(HttpStatusCode.Forbidden, bobUsers.StatusCode);
            using var aliasApi = await bob.GetAsync("/api/aliases");
            Assert.Equal(HttpStatusCode.Forbidden, aliasApi.StatusCode);
        }
        driver.Navigate().GoToUrl(origin + "/domains");
        Assert.Contains("bob@example.org is not an administrator", driver.FindElement(By.Id("error")).Text, StringComparison.Ordinal);
        using (var noSession = new HttpClient { BaseAddress = new Uri(origin) })
        using (var api = await noSession.GetAsync("/api/users"))
            Assert.Equal(HttpStatusCode.Unauthorized, api.StatusCode);

        // Throttled: after Admin:MaxFailedLogins wrong passwords even the right one is refused for the window.
        for (var i = 0; i < 3; i++)
        {
            SignIn(driver, "admin@example.org", "wrong " + i);
            Assert.Contains("wrong address or password", driver.FindElement(By.Id("error")).Text, StringComparison.Ordinal);
        }
        SignIn(driver, "admin@example.org", AdminPassword);
        Assert.Contains("too many failed sign-ins", driver.FindElement(By.Id("error")).Text, StringComparison.Ordinal);
        Assert.Contains("sign-in as admin@example.org from 127.0.0.1 refused: too many failures", host.Output, StringComparison.Ordinal);
    }

    private static ChromeDriver Browser()
    {
        var options = new ChromeOptions { BinaryLocation = "/usr/bin/chromium" };
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900");
        var service = ChromeDriverService.CreateDefaultService("/usr/bin", "chromedriver");
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var driver = new ChromeDriver(service, options, TimeSpan.FromSeconds(120));
        driver.Manage().Timeouts().ImplicitWait = TimeSpan.FromSeconds(10);
        return driver;
    }

    private static void SignIn(IWebDriver driver, string user, string password)
    {
        driver.Navigate().GoToUrl(new Uri(new Uri(driver.Url), "/signin").ToString());
        driver.FindElement(By.Id("user")).SendKeys(user);
        driver.FindElement(By.Id("password")).SendKeys(password);
        ClickAndWait(driver, driver.FindElement(By.Id("submit")));
    }

    /// <summary>Clicks what navigates and waits until the old page is gone, so what is read next is the new page.</summary>
    private static void ClickAndWait(IWebDriver driver, IWebElement element)
    {
        var old = driver.FindElement(By.TagName("html"));
        element.Click();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                _ = old.Enabled;
            }
            catch (StaleElementReferenceException)
            {
                return;
            }
            catch (UnknownErrorException e) when (e.Message.Contains("does not belong to the document", StringComparison.Ordinal))
            {
                return; // chromium's word for the same thing when the old document is torn down mid-call
            }
            Thread.Sleep(100);
        }
        Assert.Fail("the click did not load a new page: " + driver.Url);
    }

    private static string Stat(IWebDriver driver, string name) => driver.FindElement(By.CssSelector($"[data-stat='{name}']")).Text;

    /// <summary>An HTTP client with the browser's session cookie (what a script of another site could not have, bar the token).</summary>
    private static HttpClient Http(string origin, IWebDriver driver)
    {
        var cookies = new CookieContainer();
        var c = driver.Manage().Cookies.GetCookieNamed("mail_console") ?? throw new InvalidOperationException("no session cookie");
        cookies.Add(new Uri(origin), new System.Net.Cookie(c.Name, c.Value, "/"));
        return new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = new Uri(origin) };
    }

    /// <summary>The account payload of a signed Apple profile: the CMS signature checked (SignedCms; the signer is the
    /// server's TLS certificate, for mail.example.org), then its content parsed as XML (System.Xml, no DTD fetched): key
    /// to value text, "true"/"false" for booleans.</summary>
    private static Dictionary<string, string> Plist(byte[] profile)
    {
        var cms = new System.Security.Cryptography.Pkcs.SignedCms();
        cms.Decode(profile);
        cms.CheckSignature(verifySignatureOnly: true); // throws when the signature does not match the content
        Assert.Equal("CN=mail.example.org", Assert.Single(cms.SignerInfos.Cast<System.Security.Cryptography.Pkcs.SignerInfo>()).Certificate!.Subject);
        var xml = Encoding.UTF8.GetString(cms.ContentInfo.Content);

        var doc = new System.Xml.XmlDocument();
        using (var reader = System.Xml.XmlReader.Create(new StringReader(xml), new System.Xml.XmlReaderSettings { DtdProcessing = System.Xml.DtdProcessing.Ignore }))
            doc.Load(reader);
        Assert.Equal("plist", doc.DocumentElement!.Name);
        Assert.Equal("Configuration", Values(doc.DocumentElement["dict"]!)["PayloadType"]);
        var payloads = doc.SelectNodes("/plist/dict/array/dict")!;
        Assert.Equal(1, payloads.Count);
        return Values((System.Xml.XmlElement)payloads[0]!);
    }

    private static Dictionary<string, string> Values(System.Xml.XmlElement dict)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var children = dict.ChildNodes.OfType<System.Xml.XmlElement>().ToList();
        for (var i = 0; i + 1 < children.Count; i += 2)
        {
            Assert.Equal("key", children[i].Name);
            var v = children[i + 1];
            values[children[i].InnerText] = v.Name is "true" or "false" ? v.Name : v.InnerText;
        }
        return values;
    }

    private static List<(string, string)> TopRows(IWebDriver driver, string id) =>
        [.. driver.FindElements(By.CssSelector($"#{id} tr")).Skip(1).Select(r => r.FindElements(By.TagName("td"))).Where(c => c.Count == 2 && c[0].GetAttribute("class") == "key")
            .Select(c => (c[0].Text, c[1].Text))];

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    /// <summary>Taken every run (a page that cannot be drawn fails the test); written into docs/images/ only with
    /// MAIL_SCREENSHOTS=1, so a test run leaves the working tree as it found it.</summary>
    private static void Screenshot(WebDriver driver, string name)
    {
        // The whole page, not the 900 px of the window: the window as tall as the document for the shot, then back.
        var height = Convert.ToInt32(driver.ExecuteScript("return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight);"), System.Globalization.CultureInfo.InvariantCulture);
        var window = driver.Manage().Window;
        var before = window.Size;
        if (height > before.Height) window.Size = new System.Drawing.Size(before.Width, height + (before.Height - ViewportHeight(driver)));
        Screenshot shot;
        try
        {
            shot = driver.GetScreenshot();
        }
        finally
        {
            window.Size = before;
        }
        if (Environment.GetEnvironmentVariable("MAIL_SCREENSHOTS") != "1") return;
        var dir = Path.Combine(HostProcess.RepositoryRoot, "docs", "images");
        Directory.CreateDirectory(dir);
        shot.SaveAsFile(Path.Combine(dir, name));
    }

    private static int ViewportHeight(WebDriver driver) =>
        Convert.ToInt32(driver.ExecuteScript("return window.innerHeight;"), System.Globalization.CultureInfo.InvariantCulture);

    private static async Task PollAsync(Func<bool> done, string failure)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, failure);
            await Task.Delay(500);
        }
    }

    private static Task<ExternalProcess.Result> Swaks(HostProcess host, params string[] extra) =>
        ExternalProcess.RunAsync("swaks", ["--server", $"127.0.0.1:{host.SmtpPort}", "--to", "alice@example.org", "--from", "bob@example.net", .. extra]);
}
