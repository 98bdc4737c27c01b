using System.Globalization;
using System.Net;
using System.Text;
using Mail.Admin;
using Mail.Core.Accounts;

namespace Mail.WebConsole;

/// <summary>
/// The console's HTML, written on the server: no script framework, nothing from another origin. Every value that
/// comes from mail or from the stores goes through <see cref="H"/> (HTML-encoded), so a message's text can never
/// become markup. Forms that change state carry the session's anti-forgery token.
/// </summary>
internal static class Pages
{
    public static string H(string? text) => WebUtility.HtmlEncode(text ?? "");

    private static string At(DateTimeOffset? t) => t is { } v ? v.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) : "-";

    public static string Layout(string title, string? user, string? csrf, string body, bool script = false, bool admin = true)
    {
        var links = admin
            ? """<a href="/">Dashboard</a><a href="/queue">Queue</a><a href="/quarantine">Quarantine</a><a href="/trace">Trace</a><a href="/users">Users</a><a href="/domains">Domains</a><a href="/dns">DNS</a><a href="/me">Me</a>"""
            : """<a href="/me">Your account</a>""";
        var nav = user is null ? "" : $"""
            {links}
            <span class="who">{H(user)} <form method="post" action="/signout"><input type="hidden" name="csrf" value="{H(csrf)}"><button id="signout">Sign out</button></form></span>
            """;
        return $"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
            <title>{H(title)} · mail console</title><link rel="stylesheet" href="/static/console.css"></head>
            <body><header><strong>mail console</strong>{nav}</header><main><h1>{H(title)}</h1>
            {body}
            </main>{(script ? "<script src=\"/static/console.js\"></script>" : "")}</body></html>
            """;
    }

    public static string Form(string action, string csrf, string fields, string button, string? id = null) =>
        $"""<form class="inline" method="post" action="{H(action)}"><input type="hidden" name="csrf" value="{H(csrf)}">{fields}<button{(id is null ? "" : $" id=\"{H(id)}\"")}>{H(button)}</button></form>""";

    public static string Message(string? ok, string? error) =>
        (ok is null ? "" : $"<p class=\"ok\" id=\"ok\">{H(ok)}</p>") + (error is null ? "" : $"<p class=\"error\" id=\"error\">{H(error)}</p>");

    public static string SignIn(string preToken, string? error) => Layout("Sign in", null, null, $"""
        {Message(null, error)}
        <form method="post" action="/signin" id="signin">
        <input type="hidden" name="csrf" value="{H(preToken)}">
        <p><label>Address <input name="user" id="user" autocomplete="username" required></label></p>
        <p><label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label></p>
        <p><button id="submit">Sign in</button></p></form>
        """);

    private static readonly (string Name, string Label)[] Series =
        [(TrafficRecorder.Accepted, "Accepted"), (TrafficRecorder.Rejected, "Rejected"), ("sent", "Delivered"), ("deferred", "Deferred"), ("bounced", "Bounced")];

    public static string Dashboard(string user, string csrf, TrafficSnapshot t, int queueDepth, int quarantined, TopRejectedLists top)
    {
        var b = new StringBuilder();
        b.Append("<div class=\"cards\">");
        foreach (var (name, label) in Series)
            b.Append(CultureInfo.InvariantCulture, $"<div class=\"card s-{name}\">{label} (60 min)<b data-stat=\"{name}\">{t.Total(name)}</b></div>");
        b.Append(CultureInfo.InvariantCulture, $"<div class=\"card\">Queue<b data-stat=\"queue\">{queueDepth}</b></div>");
        b.Append(CultureInfo.InvariantCulture, $"<div class=\"card\">Quarantine<b data-stat=\"quarantine\">{quarantined}</b></div></div>");
        // The chart: one polyline per series over the last 60 minutes, scaled to the largest count (drawn here and
        // redrawn by console.js from /api/stats).
        var max = Math.Max(1, Series.Max(s => t.Series.TryGetValue(s.Name, out var v) ? v.Max() : 0));
        b.Append(CultureInfo.InvariantCulture, $"<h2>Per minute, last hour (top: <span id=\"chart-max\">{max}</span>)</h2><svg id=\"traffic\" viewBox=\"0 0 600 200\" width=\"600\" height=\"200\" role=\"img\" aria-label=\"messages per minute\">");
        foreach (var (name, _) in Series)
        {
            var counts = t.Series.TryGetValue(name, out var v) ? v : new long[TrafficRecorder.Minutes];
            var points = string.Join(' ', counts.Select((c, i) => string.Create(CultureInfo.InvariantCulture, $"{i * 10},{190 - (c * 180 / max)}")));
            b.Append(CultureInfo.InvariantCulture, $"<polyline id=\"line-{name}\" class=\"s-{name}\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"2\" points=\"{points}\"/>");
        }
        b.Append("</svg><p class=\"legend\">");
        foreach (var (name, label) in Series) b.Append(CultureInfo.InvariantCulture, $"<span class=\"s-{name}\">■ {label}</span>");
        b.Append("</p><h2>Rejected by reason (since start)</h2><table><tr><th>Reason</th><th>Count</th></tr>");
        foreach (var (reason, n) in t.RejectedByReason.OrderByDescending(r => r.Value))
            b.Append(CultureInfo.InvariantCulture, $"<tr><td>{H(reason)}</td><td>{n}</td></tr>");
        b.Append("</table><div class=\"tops\">");
        foreach (var (window, label, lists) in new[] { ("hour", "last hour", top.Hour), ("day", "last day", top.Day) })
        {
            TopTable(b, $"top-clients-{window}", $"Top rejected clients, {label}", "Client", lists.Clients);
            TopTable(b, $"top-senders-{window}", $"Top rejected senders, {label}", "MAIL FROM", lists.Senders);
        }
        b.Append("</div>");
        return Layout("Dashboard", user, csrf, b.ToString(), script: true);
    }

    private static void TopTable(StringBuilder b, string id, string title, string column, IReadOnlyList<TopRejectedEntry> entries)
    {
        b.Append(CultureInfo.InvariantCulture, $"<section><h2>{H(title)}</h2><table id=\"{id}\"><tr><th>{H(column)}</th><th>Refusals</th></tr>");
        foreach (var e in entries) b.Append(CultureInfo.InvariantCulture, $"<tr><td class=\"key\">{H(e.Key)}</td><td class=\"count\">{e.Count}</td></tr>");
        if (entries.Count == 0) b.Append("<tr><td colspan=\"2\">none</td></tr>");
        b.Append("</table></section>");
    }

    public static string Queue(string user, string csrf, IReadOnlyList<QueueItem> items, string? search, string? ok, string? error)
    {
        var b = new StringBuilder(Message(ok, error));
        b.Append(CultureInfo.InvariantCulture, $"""<form method="get" action="/queue"><input name="q" value="{H(search)}" placeholder="id, sender or recipient"> <button>Search</button></form>""");
        b.Append("<table id=\"queue\"><tr><th>Queue</th><th>ID</th><th>State</th><th>Due</th><th>Tries</th><th>Sender</th><th>Recipients</th><th></th></tr>");
        foreach (var e in items)
        {
            b.Append(CultureInfo.InvariantCulture, $"<tr><td>{H(e.Queue)}</td><td><a href=\"/queue/{H(e.QueueId)}\">{H(e.QueueId)}</a></td><td>{H(e.State)}</td><td>{At(e.VisibleAt)}</td><td>{e.Tries}</td><td>{H(e.MailFrom)}</td><td>");
            foreach (var r in e.Recipients) b.Append(CultureInfo.InvariantCulture, $"{H(r.Address)} ({H(r.Status)}{(r.LastReply is null ? "" : ": " + H(r.LastReply))})<br>");
            b.Append("</td><td>");
            if (e.Queue == "outbound")
                foreach (var verb in new[] { "hold", "release", "retry", "delete" })
                    b.Append(Form($"/queue/{e.QueueId}/{verb}", csrf, "", verb));
            b.Append("</td></tr>");
        }
        b.Append("</table>");
        if (items.Count == 0) b.Append("<p>The queue is empty.</p>");
        return Layout("Queue", user, csrf, b.ToString());
    }

    public static string QueueShow(string user, string csrf, IReadOnlyList<QueueItem> items, MessageSummary? summary)
    {
        var b = new StringBuilder();
        foreach (var e in items)
        {
            b.Append(CultureInfo.InvariantCulture, $"<table><tr><th>Queue</th><td>{H(e.Queue)} ({H(e.State)}, due {At(e.VisibleAt)})</td></tr>");
            b.Append(CultureInfo.InvariantCulture, $"<tr><th>Received</th><td>{At(e.ReceivedAt)} from {H(e.ClientHelo)} [{H(e.ClientAddress)}]{(e.AuthenticatedUser is { } u ? " user " + H(u) : "")}</td></tr>");
            b.Append(CultureInfo.InvariantCulture, $"<tr><th>Sender</th><td>&lt;{H(e.MailFrom)}&gt;, {e.Size} octets</td></tr>");
            if (summary is not null) b.Append(CultureInfo.InvariantCulture, $"<tr><th>From</th><td>{H(summary.From)}</td></tr><tr><th>Subject</th><td>{H(summary.Subject)}</td></tr>");
            b.Append("</table><h2>Recipients</h2><table><tr><th>Address</th><th>Status</th><th>Attempts</th><th>Next</th><th>Last reply</th></tr>");
            foreach (var r in e.Recipients)
                b.Append(CultureInfo.InvariantCulture, $"<tr><td>{H(r.Address)}</td><td>{H(r.Status)}</td><td>{r.Attempts}</td><td>{At(r.NextAttemptAt)}</td><td>{H(r.LastReply)} {H(r.LastReplyHost)}</td></tr>");
            b.Append("</table>");
            if (e.DeadLetterReason is not null) b.Append(CultureInfo.InvariantCulture, $"<p class=\"error\">dead: {H(e.DeadLetterReason)}</p>");
            b.Append(CultureInfo.InvariantCulture, $"<p><a href=\"/trace?q={Uri.EscapeDataString(e.QueueId)}\">Trace {H(e.QueueId)}</a></p>");
        }
        return Layout(items.Count == 0 ? "No such envelope" : "Envelope " + items[0].QueueId, user, csrf, b.ToString());
    }

    public static string Quarantine(string user, string csrf, IReadOnlyList<QuarantineItem> items, string? ok, string? error)
    {
        var b = new StringBuilder(Message(ok, error));
        b.Append("<table id=\"quarantine\"><tr><th>ID</th><th>Date</th><th>Sender</th><th>Recipients</th><th>Subject</th><th>Reason</th><th></th></tr>");
        foreach (var e in items)
            b.Append(CultureInfo.InvariantCulture, $"<tr><td><a href=\"/quarantine/{H(e.QueueId)}\">{H(e.QueueId)}</a></td><td>{At(e.Date)}</td><td>{H(e.MailFrom)}</td><td>{H(string.Join(", ", e.Recipients))}</td><td>{H(e.Subject)}</td><td>{H(e.Reason)}</td><td>{Actions(csrf, e.QueueId)}</td></tr>");
        b.Append("</table>");
        if (items.Count == 0) b.Append("<p id=\"empty\">Nothing is held.</p>");
        return Layout("Quarantine", user, csrf, b.ToString());
    }

    private static string Actions(string csrf, string id) =>
        Form($"/quarantine/{id}/release", csrf, "", "release", "release-" + id) + " " + Form($"/quarantine/{id}/delete", csrf, "", "delete", "delete-" + id);

    /// <summary>A held message, safely: header fields, the text part and the HTML part's source, all as escaped text.</summary>
    public static string Preview(string user, string csrf, MessagePreview p)
    {
        var b = new StringBuilder();
        b.Append(CultureInfo.InvariantCulture, $"<p>Reason: {H(p.Reason)}</p><p>{Actions(csrf, p.QueueId)}</p><h2>Header</h2><pre id=\"headers\">");
        foreach (var h in p.Headers) b.Append(CultureInfo.InvariantCulture, $"{H(h.Name)}: {H(h.Value)}\n");
        b.Append("</pre>");
        if (p.Text is not null) b.Append(CultureInfo.InvariantCulture, $"<h2>Text</h2><pre id=\"text\">{H(p.Text)}</pre>");
        if (p.HtmlSource is not null) b.Append(CultureInfo.InvariantCulture, $"<h2>HTML (source, not rendered)</h2><pre id=\"html\">{H(p.HtmlSource)}</pre>");
        if (p.Attachments.Count > 0) b.Append(CultureInfo.InvariantCulture, $"<p>Attachments: {H(string.Join(", ", p.Attachments))}</p>");
        if (p.Truncated) b.Append(CultureInfo.InvariantCulture, $"<p>(parts cut at {AdminService.PreviewLimit} characters)</p>");
        return Layout("Held message " + p.QueueId, user, csrf, b.ToString());
    }

    public static string Users(string user, string csrf, IReadOnlyList<UserInfo> users, IReadOnlyList<string> domains, string? ok, string? error)
    {
        var b = new StringBuilder(Message(ok, error));
        b.Append("<table id=\"users\"><tr><th>Address</th><th>Role</th><th>Quota</th><th></th></tr>");
        foreach (var u in users)
        {
            var quota = u.QuotaLimit is { } l ? $"{u.QuotaUsed} of {l} octets" : "none";
            var enc = Uri.EscapeDataString(u.Address);
            b.Append(CultureInfo.InvariantCulture, $"<tr><td>{H(u.Address)}</td><td>{(u.Admin ? "administrator" : "user")}</td><td>{H(quota)}</td><td>");
            b.Append(Form($"/users/{enc}/password", csrf, "<input type=\"password\" name=\"password\" placeholder=\"new password\" required> ", "reset password"));
            b.Append(Form($"/users/{enc}/admin", csrf, $"<input type=\"hidden\" name=\"on\" value=\"{(u.Admin ? "off" : "on")}\">", u.Admin ? "revoke admin" : "make admin"));
            b.Append(Form($"/users/{enc}/remove", csrf, "", "remove"));
            b.Append(CultureInfo.InvariantCulture, $" <a class=\"settings\" href=\"/users/{enc}\">Sieve and quota</a>");
            b.Append(CultureInfo.InvariantCulture, $" <a class=\"profile\" href=\"/users/{enc}/mobileconfig\" download>.mobileconfig</a>");
            b.Append("</td></tr>");
        }
        b.Append("</table><h2>Add a user</h2>");
        b.Append(Form("/users", csrf, $"<input name=\"address\" placeholder=\"user@{H(domains.FirstOrDefault() ?? "example.org")}\" required> <input type=\"password\" name=\"password\" placeholder=\"password\" required> <label><input type=\"checkbox\" name=\"admin\" value=\"on\"> administrator</label> ", "add user", "add-user"));
        return Layout("Users", user, csrf, b.ToString());
    }

    /// <summary>One user's Sieve scripts (view, upload, activate, remove) and storage quota (see, set), with
    /// <paramref name="shown"/> the script whose text is shown in the editor.</summary>
    public static string User(string user, string csrf, QuotaInfo quota, IReadOnlyList<SieveScriptInfo> scripts, (string Name, string Text)? shown, string? ok, string? error)
    {
        var enc = Uri.EscapeDataString(quota.User);
        var b = new StringBuilder(Message(ok, error));
        b.Append(CultureInfo.InvariantCulture, $"<h2>Quota</h2><p id=\"quota\">{H(quota.Limit is { } l ? $"{quota.Used} of {l} octets used ({QuotaSize.Format(l)})" : $"{quota.Used} octets used, no limit")}</p>");
        b.Append(Form($"/users/{enc}/quota", csrf, "<input name=\"size\" id=\"quota-size\" placeholder=\"500M, 2G, none or default\" required> ", "set quota", "set-quota"));
        b.Append("<h2>Sieve scripts</h2><table id=\"sieve\"><tr><th>Script</th><th>State</th><th></th></tr>");
        foreach (var sc in scripts)
        {
            var name = Uri.EscapeDataString(sc.Name);
            b.Append(CultureInfo.InvariantCulture, $"<tr data-script=\"{H(sc.Name)}\" data-active=\"{(sc.Active ? "yes" : "no")}\"><td><a href=\"/users/{enc}?script={name}\">{H(sc.Name)}</a></td><td>{(sc.Active ? "active" : "")}</td><td>");
            b.Append(sc.Active
                ? Form($"/users/{enc}/sieve/deactivate", csrf, "", "deactivate", "deactivate-" + sc.Name)
                : Form($"/users/{enc}/sieve/{name}/activate", csrf, "", "activate", "activate-" + sc.Name) + Form($"/users/{enc}/sieve/{name}/remove", csrf, "", "remove", "remove-" + sc.Name));
            b.Append("</td></tr>");
        }
        b.Append("</table><h3>Upload a script (checked by the same Sieve compiler delivery runs)</h3>");
        b.Append(CultureInfo.InvariantCulture, $"""
            <form method="post" action="/users/{enc}/sieve" id="sieve-form"><input type="hidden" name="csrf" value="{H(csrf)}">
            <p><input name="name" id="sieve-name" placeholder="name" value="{H(shown?.Name)}" required> <label><input type="checkbox" name="activate" id="sieve-activate" value="on"> activate</label></p>
            <textarea name="script" id="sieve-script" rows="14" cols="80" spellcheck="false" required>{H(shown?.Text)}</textarea>
            <p><button id="sieve-upload">save script</button></p></form>
            """);
        return Layout($"User {quota.User}", user, csrf, b.ToString());
    }

    public static string Domains(string user, string csrf, IReadOnlyList<string> domains, IReadOnlyList<AliasInfo> aliases, IReadOnlyList<DkimKeyInfo> keys, string? ok, string? error)
    {
        var b = new StringBuilder(Message(ok, error));
        b.Append("<table id=\"domains\"><tr><th>Domain</th></tr>");
        foreach (var d in domains) b.Append(CultureInfo.InvariantCulture, $"<tr><td>{H(d)}</td></tr>");
        b.Append("</table><h2>Add a domain</h2>");
        b.Append(Form("/domains", csrf, "<input name=\"domain\" placeholder=\"example.org\" required> ", "add domain", "add-domain"));
        b.Append("<h2>Aliases</h2><table id=\"aliases\"><tr><th>Alias</th><th>Targets</th><th></th></tr>");
        foreach (var a in aliases)
        {
            var enc = Uri.EscapeDataString(a.Alias);
            b.Append(CultureInfo.InvariantCulture, $"<tr data-alias=\"{H(a.Alias)}\"><td>{H(a.Alias)}{(a.Alias.StartsWith('@') ? " <small>(catch-all)</small>" : "")}</td><td>");
            foreach (var t in a.Targets)
                b.Append(CultureInfo.InvariantCulture, $"{H(t)} ").Append(Form($"/aliases/{enc}/remove", csrf, $"<input type=\"hidden\" name=\"target\" value=\"{H(t)}\">", "×")).Append("<br>");
            b.Append("</td><td>").Append(Form($"/aliases/{enc}/remove", csrf, "", "remove alias", "remove-alias-" + a.Alias)).Append("</td></tr>");
        }
        b.Append("</table><h3>Add an alias or targets (an address, or @domain for the catch-all)</h3>");
        b.Append(Form("/aliases", csrf, $"<input name=\"alias\" id=\"alias\" placeholder=\"info@{H(domains.FirstOrDefault() ?? "example.org")} or @{H(domains.FirstOrDefault() ?? "example.org")}\" required> <input name=\"targets\" id=\"alias-targets\" placeholder=\"target@example.org, other@example.net\" size=\"40\" required> ", "add alias", "add-alias"));
        b.Append("<h2>DKIM keys</h2><table id=\"dkim\"><tr><th>Name</th><th>Algorithm</th><th>State</th><th>Record to publish</th></tr>");
        foreach (var k in keys)
            b.Append(CultureInfo.InvariantCulture, $"<tr data-name=\"{H(k.DnsName)}\" data-active=\"{(k.Active ? "yes" : "no")}\"><td>{H(k.DnsName)}</td><td>{H(k.Algorithm)}</td><td>{(k.Active ? "active" : k.Published ? "retired, keep published until " + At(k.PublishedUntil) : "retired: remove from DNS")}</td><td><pre>{H(k.ZoneFileLine)}</pre></td></tr>");
        b.Append("</table><h3>New key, or rotate a domain's keys (the old ones stay published for their period)</h3>");
        var options = string.Concat(domains.Select(d => $"<option>{H(d)}</option>"));
        b.Append(Form("/dkim", csrf, $"<select name=\"domain\" id=\"dkim-domain\">{options}</select> <input name=\"selector\" id=\"dkim-selector\" placeholder=\"selector (optional)\"> <select name=\"algorithm\" id=\"dkim-algorithm\"><option value=\"\">rsa and ed25519</option><option>rsa</option><option>ed25519</option></select> ", "add key", "add-dkim"));
        b.Append("<p>");
        foreach (var d in domains.Where(d => keys.Any(k => k.Domain == d && k.Active)))
            b.Append(Form($"/dkim/{Uri.EscapeDataString(d)}/rotate", csrf, "", "rotate keys of " + d, "rotate-" + d)).Append(' ');
        b.Append("</p>");
        return Layout("Domains", user, csrf, b.ToString());
    }

    /// <summary>Message trace: each message's recorded steps, oldest first, and where it is now.</summary>
    public static string Trace(string user, string csrf, string? q, IReadOnlyList<MessageTrace> traces, string? error)
    {
        var b = new StringBuilder(Message(null, error));
        b.Append(CultureInfo.InvariantCulture, $"""<form method="get" action="/trace"><input name="q" id="trace-q" value="{H(q)}" placeholder="queue id or address" required> <button id="trace-go">Trace</button></form>""");
        foreach (var t in traces)
        {
            b.Append(CultureInfo.InvariantCulture, $"<section class=\"trace\" data-id=\"{H(t.QueueId)}\"><h2>{H(t.QueueId)}: &lt;{H(t.MailFrom)}&gt; to {H(string.Join(", ", t.Recipients))}</h2>");
            b.Append("<table><tr><th>When</th><th>Step</th><th>Recipient</th><th>What</th></tr>");
            foreach (var s in t.Steps)
                b.Append(CultureInfo.InvariantCulture, $"<tr class=\"step\" data-step=\"{H(s.Step)}\"><td>{At(s.At)}</td><td>{H(s.Step)}</td><td>{H(s.Recipient)}</td><td>{H(s.Text)}</td></tr>");
            b.Append("</table>");
            foreach (var e in t.Queued)
                b.Append(CultureInfo.InvariantCulture, $"<p class=\"now\">Now in the {H(e.Queue)} queue ({H(e.State)}): <a href=\"/queue/{H(e.QueueId)}\">{H(e.QueueId)}</a>, {H(string.Join("; ", e.Recipients.Select(r => $"{r.Address} {r.Status}{(r.LastReply is null ? "" : ": " + r.LastReply)}")))}</p>");
            if (t.Quarantined is { } why)
                b.Append(CultureInfo.InvariantCulture, $"<p class=\"now\">Now held in the <a href=\"/quarantine/{H(t.QueueId)}\">quarantine</a>: {H(why)}</p>");
            b.Append("</section>");
        }
        return Layout("Message trace", user, csrf, b.ToString());
    }

    /// <summary>The DNS helper: one domain's records to publish (zone-file lines) and the verdict of what DNS answers now.</summary>
    public static string Dns(string user, string csrf, IReadOnlyList<string> domains, string? domain, Mail.Admin.Dns.DomainDnsReport? report, string? error)
    {
        var b = new StringBuilder(Message(null, error));
        b.Append("<form method=\"get\" action=\"/dns\"><select name=\"domain\" id=\"dns-domain\">");
        foreach (var d in domains) b.Append(CultureInfo.InvariantCulture, $"<option{(d == domain ? " selected" : "")}>{H(d)}</option>");
        b.Append("</select> <button id=\"dns-check\">Check now</button></form>");
        if (report is not null)
        {
            b.Append(CultureInfo.InvariantCulture, $"<p id=\"dns-summary\" class=\"{(report.AllRight ? "ok" : "error")}\">{(report.AllRight ? "All records are right." : $"{report.Records.Count(r => r.Verdict is not (Mail.Admin.Dns.DnsVerdict.Right or Mail.Admin.Dns.DnsVerdict.Note))} record(s) missing, wrong or unknown.")}</p>");
            b.Append("<table id=\"dns\"><tr><th>Record</th><th>Verdict</th><th>Why</th><th>DNS answers now</th><th>Publish</th></tr>");
            foreach (var r in report.Records)
            {
                var verdict = r.Verdict.ToString().ToLowerInvariant();
                b.Append(CultureInfo.InvariantCulture, $"<tr data-name=\"{H(r.Name)}\" data-type=\"{H(r.Type)}\"><td>{H(r.Name)} {H(r.Type)}<br><small>{H(r.Purpose)}</small></td><td class=\"verdict v-{verdict}\">{verdict}</td><td class=\"reason\">{H(r.Reason)}</td><td>{H(string.Join("\n", r.Found))}</td><td><pre>{H(r.ZoneLine)}</pre></td></tr>");
            }
            b.Append(CultureInfo.InvariantCulture, $"</table><h2>MTA-STS policy (serve at https://mta-sts.{H(report.Domain)}/.well-known/mta-sts.txt)</h2><pre id=\"mta-sts-policy\">{H(report.MtaStsPolicy)}</pre>");
        }
        return Layout("DNS" + (domain is null ? "" : " of " + domain), user, csrf, b.ToString());
    }

    /// <summary>The signed-in user's own page: their Apple configuration profile, and the settings for any other client.</summary>
    public static string Me(string user, string csrf, bool admin, ((string Host, int Port) Imap, (string Host, int Port) Submission)? servers)
    {
        var b = new StringBuilder();
        if (servers is { } s)
        {
            b.Append(CultureInfo.InvariantCulture, $"<p><a id=\"mobileconfig\" href=\"/me/mobileconfig\" download>Download the profile for iPhone, iPad and Mac</a> (<code>{H(AppleMailProfile.FileName(user))}</code>; not signed, so the device calls it \"Not Signed\"; it asks for your password when installed).</p>");
            b.Append(CultureInfo.InvariantCulture, $"<table id=\"settings\"><tr><th>Address and user name</th><td>{H(user)}</td></tr><tr><th>Incoming (IMAP, SSL/TLS)</th><td>{H(s.Imap.Host)} port {s.Imap.Port}</td></tr><tr><th>Outgoing (SMTP, STARTTLS)</th><td>{H(s.Submission.Host)} port {s.Submission.Port}</td></tr></table>");
        }
        else b.Append(Message(null, "the server's host names are not known in this process"));
        return Layout("Your account", user, csrf, b.ToString(), admin: admin);
    }

    public static string Status(string title, string text) => Layout(title, null, null, $"<p class=\"error\" id=\"error\">{H(text)}</p><p><a href=\"/signin\">Sign in</a></p>");
}
