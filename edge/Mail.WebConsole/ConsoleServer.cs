using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Mail.Admin;
using Mail.Admin.Dns;
using Mail.Core.Accounts;
using Mail.Core.Listening;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Mail.WebConsole;

/// <summary>The API's constants.</summary>
public static class ConsoleApi
{
    /// <summary>The version every JSON body carries ("v"); a client reads a higher one as a format it may not know.</summary>
    public const int Version = 1;

    /// <summary>The header an API client sends the session's anti-forgery token in (forms send the field "csrf").</summary>
    public const string CsrfHeader = "X-CSRF-Token";
}

/// <summary>
/// The web console (Admin:Endpoint): its pipeline (<see cref="Configure"/>) runs on the one HTTP host of `mail serve`
/// (edge/Mail.Host, HttpHost), on its own listener. Pages and /api share one
/// session cookie; <see cref="GuardAsync"/> lets nothing but /signin and /static through without a session of a user
/// who is an administrator now, and no state-changing request without the session's anti-forgery token.
/// </summary>
/// <param name="dnsHelper">The DNS helper's view of this server (null: the DNS page says it is not available).</param>
/// <param name="state">Where the top rejected lists are kept across restarts (null: in this process only).</param>
/// <param name="applyQueueRequests">Tells the outbound stage to apply the queue requests just recorded (hold, release,
/// retry, delete) now, as `mail queue` does through the server's control socket; true once applied. Null, or false
/// (no stage reached): the stage's own poll applies them within a second.</param>
public sealed class ConsoleServer(ConsoleOptions options, AdminService admin, ILoggerFactory loggers, DnsHelper? dnsHelper = null, Mail.Core.Ports.IStateStore? state = null,
    Func<CancellationToken, Task<bool>>? applyQueueRequests = null)
    : IHostedService, IAsyncDisposable
{
    private const string PreCookie = "mail_console_pre";
    private const string PageCsp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    /// <summary>A held message's preview: nothing may load or run, whatever got past the escaping.</summary>
    public const string PreviewCsp = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    private readonly ILogger _log = loggers.CreateLogger("Mail.WebConsole");
    private readonly ConsoleSessions _sessions = new(options.SessionIdle, TimeProvider.System, state);
    private readonly LoginThrottle _throttle = new(options.MaxFailedLogins, options.FailedLoginWindow, TimeProvider.System);
    private readonly TrafficRecorder _traffic = new(TimeProvider.System);
    private readonly TopRejectedStore? _topStore = state is null ? null : new TopRejectedStore(state);
    private readonly CancellationTokenSource _stop = new();
    private Task? _topSaver;

    /// <summary>Where the console listens (Admin:Endpoint) and, when not loopback, the certificate it serves TLS with.</summary>
    public ConsoleOptions Options => options;

    /// <summary>Reads the kept top rejected lists and starts keeping them (the HTTP host is started by `mail serve`).</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.UsesTls && options.Certificate is null)
            throw new InvalidOperationException($"{ConsoleOptions.EndpointSetting} {options.Endpoint} is not loopback, so the console needs TLS, and there is no certificate");
        if (_topStore is not null)
        {
            await _topStore.LoadAsync(_traffic, cancellationToken);
            _topSaver = Task.Run(() => _topStore.RunAsync(_traffic, e => _log.LogWarning("console: the top rejected lists were not saved: {Error}", e.Message), _stop.Token), CancellationToken.None);
        }
        _log.LogInformation("console on {Scheme}://{Endpoint}", options.UsesTls ? "https" : "http", options.Endpoint);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync();
        if (_topSaver is not null) await _topSaver;
        if (_topStore is not null) await _topStore.SaveAsync(_traffic, cancellationToken);
    }

    public ValueTask DisposeAsync()
    {
        _stop.Dispose();
        _traffic.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed record Signed(string User, string Csrf, bool Admin);

    /// <summary>What any signed-in user may reach: their own account page and profile, and sign-out.</summary>
    private static bool SelfService(PathString path) =>
        path.Equals("/me", StringComparison.Ordinal) || path.Equals("/me/mobileconfig", StringComparison.Ordinal) || path.Equals("/signout", StringComparison.Ordinal);

    private static bool IsApi(HttpContext ctx) => ctx.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal);

    /// <summary>The console's middleware, before its routes (<see cref="Map"/>), on its own listener of the HTTP host.</summary>
    public async Task GuardAsync(HttpContext ctx, RequestDelegate next)
    {
        var h = ctx.Response.Headers;
        h.ContentSecurityPolicy = PageCsp;
        h.XContentTypeOptions = "nosniff";
        h.XFrameOptions = "DENY";
        h["Referrer-Policy"] = "no-referrer";
        h.CacheControl = "no-store";
        var path = ctx.Request.Path;
        if (path.StartsWithSegments("/static", StringComparison.Ordinal) || path.Equals("/signin", StringComparison.Ordinal))
        {
            await next(ctx);
            return;
        }
        var session = await _sessions.FindAsync(ctx.Request.Cookies[ConsoleSessions.CookieName], ctx.RequestAborted);
        if (session is null)
        {
            if (IsApi(ctx)) await ErrorAsync(ctx, StatusCodes.Status401Unauthorized, "sign in first (POST /signin)");
            else ctx.Response.Redirect("/signin");
            return;
        }
        // The role is read at every request: an administrator demoted (mail user admin ADDRESS off) or removed is out at
        // once. A user who is not one reaches only their own page (their .mobileconfig) and sign-out.
        var isAdmin = await admin.Directory.IsAdminAsync(session.User, ctx.RequestAborted);
        if (!isAdmin && !(SelfService(path) && await admin.Directory.UserExistsAsync(session.User, ctx.RequestAborted)))
        {
            await DenyAsync(ctx, StatusCodes.Status403Forbidden, $"{session.User} is not an administrator");
            return;
        }
        if (!HttpMethods.IsGet(ctx.Request.Method) && !HttpMethods.IsHead(ctx.Request.Method))
        {
            var token = ctx.Request.Headers[ConsoleApi.CsrfHeader].FirstOrDefault();
            if (token is null && ctx.Request.HasFormContentType) token = (await ctx.Request.ReadFormAsync(ctx.RequestAborted))["csrf"].FirstOrDefault();
            if (!ConsoleSessions.SameToken(session.CsrfToken, token))
            {
                _log.LogWarning("console: {Method} {Path} refused: no valid anti-forgery token (user {User})", ctx.Request.Method, path, session.User);
                await DenyAsync(ctx, StatusCodes.Status403Forbidden, "the anti-forgery token is missing or wrong: reload the page and try again");
                return;
            }
        }
        ctx.Items[typeof(Signed)] = new Signed(session.User, session.CsrfToken, isAdmin);
        await next(ctx);
    }

    private static Signed Who(HttpContext ctx) => (Signed)ctx.Items[typeof(Signed)]!;

    private static Task DenyAsync(HttpContext ctx, int status, string text) =>
        IsApi(ctx) ? ErrorAsync(ctx, status, text) : HtmlAsync(ctx, Pages.Status(status == 403 ? "Forbidden" : "Refused", text), status);

    private static Task ErrorAsync(HttpContext ctx, int status, string text)
    {
        ctx.Response.StatusCode = status;
        return ctx.Response.WriteAsJsonAsync(new ApiError(text), ConsoleJson.Default.ApiError);
    }

    private static Task HtmlAsync(HttpContext ctx, string html, int status = StatusCodes.Status200OK)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "text/html; charset=utf-8";
        return ctx.Response.WriteAsync(html);
    }

    private static Task JsonAsync<T>(HttpContext ctx, T value, JsonTypeInfo<T> type) => ctx.Response.WriteAsJsonAsync(value, type);

    private static string Route(HttpContext ctx, string name) => ctx.Request.RouteValues[name] as string ?? "";

    /// <summary>The pages and the API.</summary>
    public void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/static/{name}", (RequestDelegate)StaticAsync);
        app.MapGet("/signin", (RequestDelegate)SignInPageAsync);
        app.MapPost("/signin", (RequestDelegate)SignInAsync);
        app.MapPost("/signout", (RequestDelegate)(async ctx =>
        {
            await _sessions.EndAsync(ctx.Request.Cookies[ConsoleSessions.CookieName], ctx.RequestAborted);
            ctx.Response.Cookies.Delete(ConsoleSessions.CookieName);
            ctx.Response.Redirect("/signin");
        }));

        // ---- pages
        app.MapGet("/me", (RequestDelegate)(ctx =>
            HtmlAsync(ctx, Pages.Me(Who(ctx).User, Who(ctx).Csrf, Who(ctx).Admin, dnsHelper is null ? null : AppleMailProfile.Servers(dnsHelper.Host)))));
        app.MapGet("/me/mobileconfig", (RequestDelegate)(ctx => MobileConfigAsync(ctx, Who(ctx).User)));
        app.MapGet("/users/{address}/mobileconfig", (RequestDelegate)(async ctx =>
        {
            try
            {
                await MobileConfigAsync(ctx, await admin.ExistingUserAsync(Route(ctx, "address"), ctx.RequestAborted));
            }
            catch (AdminException e)
            {
                await HtmlAsync(ctx, Pages.Layout("Not found", Who(ctx).User, Who(ctx).Csrf, Pages.Message(null, e.Message)), e.NotFound ? 404 : 400);
            }
        }));
        app.MapGet("/", (RequestDelegate)(async ctx =>
        {
            var (depth, held) = await CountsAsync(ctx.RequestAborted);
            await HtmlAsync(ctx, Pages.Dashboard(Who(ctx).User, Who(ctx).Csrf, _traffic.Snapshot(), depth, held, _traffic.TopRejected()));
        }));
        app.MapGet("/queue", (RequestDelegate)(async ctx =>
        {
            var q = ctx.Request.Query["q"].FirstOrDefault();
            await HtmlAsync(ctx, Pages.Queue(Who(ctx).User, Who(ctx).Csrf, await admin.ListQueueAsync(q, ctx.RequestAborted), q, Query(ctx, "ok"), Query(ctx, "error")));
        }));
        app.MapGet("/queue/{id}", (RequestDelegate)(async ctx =>
        {
            var items = await admin.FindQueuedAsync(Route(ctx, "id"), ctx.RequestAborted);
            var summary = items.Count > 0 ? await admin.SummaryAsync(items[0].MessageRef, ctx.RequestAborted) : null;
            await HtmlAsync(ctx, Pages.QueueShow(Who(ctx).User, Who(ctx).Csrf, items, summary), items.Count == 0 ? 404 : 200);
        }));
        app.MapPost("/queue/{id}/{action}", (RequestDelegate)(ctx => PageActionAsync(ctx, "/queue", async () =>
        {
            var action = AdminService.ParseQueueAction(Route(ctx, "action")) ?? throw new AdminException($"unknown queue action '{Route(ctx, "action")}'");
            var ids = await admin.QueueActionAsync(action, Route(ctx, "id"), ctx.RequestAborted);
            var applied = await ApplyQueueRequestsAsync(ctx.RequestAborted);
            return $"{Route(ctx, "action")}: {string.Join(", ", ids)} ({(applied ? "applied by the running server" : "the server applies it within a second")})";
        })));
        app.MapGet("/quarantine", (RequestDelegate)(async ctx =>
            await HtmlAsync(ctx, Pages.Quarantine(Who(ctx).User, Who(ctx).Csrf, await admin.ListQuarantineAsync(ctx.RequestAborted), Query(ctx, "ok"), Query(ctx, "error")))));
        app.MapGet("/quarantine/{id}", (RequestDelegate)(async ctx =>
        {
            ctx.Response.Headers.ContentSecurityPolicy = PreviewCsp;
            try
            {
                await HtmlAsync(ctx, Pages.Preview(Who(ctx).User, Who(ctx).Csrf, await admin.PreviewQuarantinedAsync(Route(ctx, "id"), ctx.RequestAborted)));
            }
            catch (AdminException e)
            {
                await HtmlAsync(ctx, Pages.Layout("Not found", Who(ctx).User, Who(ctx).Csrf, Pages.Message(null, e.Message)), 404);
            }
        }));
        app.MapPost("/quarantine/{id}/release", (RequestDelegate)(ctx => PageActionAsync(ctx, "/quarantine", async () =>
            Released(await admin.ReleaseQuarantinedAsync(Route(ctx, "id"), ctx.RequestAborted), Route(ctx, "id")))));
        app.MapPost("/quarantine/{id}/delete", (RequestDelegate)(ctx => PageActionAsync(ctx, "/quarantine", async () =>
        {
            await admin.DeleteQuarantinedAsync(Route(ctx, "id"), ctx.RequestAborted);
            return $"{Route(ctx, "id")} deleted";
        })));
        app.MapGet("/users", (RequestDelegate)(async ctx =>
            await HtmlAsync(ctx, Pages.Users(Who(ctx).User, Who(ctx).Csrf, await admin.ListUsersAsync(ctx.RequestAborted), await admin.ListDomainsAsync(ctx.RequestAborted), Query(ctx, "ok"), Query(ctx, "error")))));
        app.MapPost("/users", (RequestDelegate)(ctx => PageActionAsync(ctx, "/users", async () =>
        {
            var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
            var user = await admin.SetUserAsync(form["address"].ToString(), form["password"].ToString(), ctx.RequestAborted);
            if (form["admin"] == "on") await admin.SetAdminAsync(user, true, ctx.RequestAborted);
            return $"user {user} saved";
        })));
        app.MapPost("/users/{address}/password", (RequestDelegate)(ctx => PageActionAsync(ctx, "/users", async () =>
        {
            var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
            return $"password of {await admin.ResetPasswordAsync(Route(ctx, "address"), form["password"].ToString(), ctx.RequestAborted)} reset";
        })));
        app.MapPost("/users/{address}/admin", (RequestDelegate)(ctx => PageActionAsync(ctx, "/users", async () =>
        {
            var on = (await ctx.Request.ReadFormAsync(ctx.RequestAborted))["on"] == "on";
            if (!on && string.Equals(MailDirectory.Canonical(Route(ctx, "address")), Who(ctx).User, StringComparison.Ordinal))
                throw new AdminException("you cannot revoke your own administrator role here (mail user admin ADDRESS off does)");
            return $"{await admin.SetAdminAsync(Route(ctx, "address"), on, ctx.RequestAborted)} is {(on ? "an administrator" : "no longer an administrator")}";
        })));
        app.MapPost("/users/{address}/remove", (RequestDelegate)(ctx => PageActionAsync(ctx, "/users", async () =>
            $"user {await admin.RemoveUserAsync(Route(ctx, "address"), ctx.RequestAborted)} removed (their mail is kept)")));
        // One user's Sieve scripts and quota: the same AdminService calls as `mail sieve` and `mail user quota`.
        app.MapGet("/users/{address}", (RequestDelegate)(async ctx =>
        {
            try
            {
                var user = await admin.ExistingUserAsync(Route(ctx, "address"), ctx.RequestAborted);
                (string, string)? shown = Query(ctx, "script") is { Length: > 0 } name ? (name, await admin.GetSieveScriptAsync(user, name, ctx.RequestAborted)) : null;
                await HtmlAsync(ctx, Pages.User(Who(ctx).User, Who(ctx).Csrf, await admin.GetQuotaAsync(user, ctx.RequestAborted),
                    await admin.ListSieveScriptsAsync(user, ctx.RequestAborted), shown, Query(ctx, "ok"), Query(ctx, "error")));
            }
            catch (AdminException e)
            {
                await HtmlAsync(ctx, Pages.Layout("Not found", Who(ctx).User, Who(ctx).Csrf, Pages.Message(null, e.Message)), e.NotFound ? 404 : 400);
            }
        }));
        app.MapPost("/users/{address}/quota", (RequestDelegate)(ctx => PageActionAsync(ctx, UserPage(ctx), async () =>
        {
            var q = await admin.SetQuotaAsync(Route(ctx, "address"), (await ctx.Request.ReadFormAsync(ctx.RequestAborted))["size"].ToString(), ctx.RequestAborted);
            return $"quota of {q.User}: {(q.Limit is { } l ? QuotaSize.Format(l) : "none")}, {q.Used} octets used";
        })));
        app.MapPost("/users/{address}/sieve", (RequestDelegate)(ctx => PageActionAsync(ctx, UserPage(ctx), async () =>
        {
            var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
            var (name, activate) = (form["name"].ToString().Trim(), form["activate"] == "on");
            var user = await admin.PutSieveScriptAsync(Route(ctx, "address"), name, form["script"].ToString(), activate, ctx.RequestAborted);
            return $"sieve script {name} stored for {user}{(activate ? " and active" : "")}";
        })));
        app.MapPost("/users/{address}/sieve/deactivate", (RequestDelegate)(ctx => PageActionAsync(ctx, UserPage(ctx), async () =>
            $"no sieve script is active for {await admin.DeactivateSieveAsync(Route(ctx, "address"), ctx.RequestAborted)}")));
        app.MapPost("/users/{address}/sieve/{name}/activate", (RequestDelegate)(ctx => PageActionAsync(ctx, UserPage(ctx), async () =>
            $"sieve script {Route(ctx, "name")} is active for {await admin.ActivateSieveScriptAsync(Route(ctx, "address"), Route(ctx, "name"), ctx.RequestAborted)}")));
        app.MapPost("/users/{address}/sieve/{name}/remove", (RequestDelegate)(ctx => PageActionAsync(ctx, UserPage(ctx), async () =>
            $"sieve script {Route(ctx, "name")} removed for {await admin.RemoveSieveScriptAsync(Route(ctx, "address"), Route(ctx, "name"), ctx.RequestAborted)}")));
        app.MapGet("/domains", (RequestDelegate)(async ctx =>
            await HtmlAsync(ctx, Pages.Domains(Who(ctx).User, Who(ctx).Csrf, await admin.ListDomainsAsync(ctx.RequestAborted), await AliasesAsync(ctx.RequestAborted),
                await admin.ListDkimKeysAsync(null, ctx.RequestAborted), Query(ctx, "ok"), Query(ctx, "error")))));
        app.MapPost("/domains", (RequestDelegate)(ctx => PageActionAsync(ctx, "/domains", async () =>
            $"domain {await admin.AddDomainAsync((await ctx.Request.ReadFormAsync(ctx.RequestAborted))["domain"].ToString(), ctx.RequestAborted)} added")));

        app.MapPost("/aliases", (RequestDelegate)(ctx => PageActionAsync(ctx, "/domains", async () =>
        {
            var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
            return Changed(await admin.AddAliasAsync(form["alias"].ToString(), Targets(form["targets"].ToString()), ctx.RequestAborted));
        })));
        app.MapPost("/aliases/{alias}/remove", (RequestDelegate)(ctx => PageActionAsync(ctx, "/domains", async () =>
        {
            var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
            return Changed(await admin.RemoveAliasAsync(Route(ctx, "alias"), Targets(form["target"].ToString()), ctx.RequestAborted));
        })));
        app.MapPost("/dkim", (RequestDelegate)(ctx => PageActionAsync(ctx, "/domains", async () =>
        {
            var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
            var created = await admin.AddDkimKeyAsync(form["domain"].ToString(), form["selector"].ToString(), form["algorithm"].ToString(), ctx.RequestAborted);
            return $"new DKIM key(s) {string.Join(", ", created.Select(k => k.DnsName))}, signing now: publish their records";
        })));
        app.MapPost("/dkim/{domain}/rotate", (RequestDelegate)(ctx => PageActionAsync(ctx, "/domains", async () =>
        {
            var (created, retired) = await admin.RotateDkimKeysAsync(Route(ctx, "domain"), ctx.RequestAborted);
            return $"new DKIM key(s) {string.Join(", ", created.Select(k => k.DnsName))}, signing now: publish their records"
                + (retired.Count == 0 ? "" : $"; retired {string.Join(", ", retired.Select(k => k.DnsName))}: keep them published until {retired[0].PublishedUntil:yyyy-MM-dd}");
        })));

        app.MapGet("/trace", (RequestDelegate)(async ctx =>
        {
            var q = Query(ctx, "q");
            IReadOnlyList<MessageTrace> traces = [];
            string? error = null;
            if (!string.IsNullOrWhiteSpace(q))
            {
                try
                {
                    traces = await admin.TraceAsync(q, ctx.RequestAborted);
                }
                catch (AdminException e)
                {
                    error = e.Message;
                }
            }
            await HtmlAsync(ctx, Pages.Trace(Who(ctx).User, Who(ctx).Csrf, q, traces, error), error is null ? 200 : 404);
        }));
        app.MapGet("/dns", (RequestDelegate)(async ctx =>
        {
            var domain = Query(ctx, "domain");
            var domains = await admin.ListDomainsAsync(ctx.RequestAborted);
            domain ??= domains.FirstOrDefault();
            DomainDnsReport? report = null;
            string? error = dnsHelper is null ? "the DNS helper is not available in this process" : null;
            if (dnsHelper is not null && domain is not null)
            {
                try
                {
                    report = await dnsHelper.CheckAsync(domain, ctx.RequestAborted);
                }
                catch (AdminException e)
                {
                    error = e.Message;
                }
            }
            await HtmlAsync(ctx, Pages.Dns(Who(ctx).User, Who(ctx).Csrf, domains, domain, report, error), report is null && domain is not null ? 404 : 200);
        }));

        // ---- JSON API
        app.MapGet("/api/trace/{key}", (RequestDelegate)(ctx => ApiReadAsync(ctx, async () =>
            await JsonAsync(ctx, await admin.TraceAsync(Route(ctx, "key"), ctx.RequestAborted), ConsoleJson.Default.IReadOnlyListMessageTrace))));
        app.MapGet("/api/dns/{domain}", (RequestDelegate)(ctx => ApiReadAsync(ctx, async () =>
        {
            if (dnsHelper is null) throw new AdminException("the DNS helper is not available in this process", notFound: true);
            await JsonAsync(ctx, await dnsHelper.CheckAsync(Route(ctx, "domain"), ctx.RequestAborted), ConsoleJson.Default.DomainDnsReport);
        })));
        app.MapGet("/api/session", (RequestDelegate)(ctx => JsonAsync(ctx, new SessionReply(Who(ctx).User, Who(ctx).Csrf), ConsoleJson.Default.SessionReply)));
        app.MapGet("/api/stats", (RequestDelegate)(async ctx =>
        {
            var (depth, held) = await CountsAsync(ctx.RequestAborted);
            var t = _traffic.Snapshot();
            await JsonAsync(ctx, new StatsReply(t.LastMinute, t.Series, t.RejectedByReason, depth, held, _traffic.TopRejected()), ConsoleJson.Default.StatsReply);
        }));
        app.MapGet("/api/domains", (RequestDelegate)(async ctx => await JsonAsync(ctx, await admin.ListDomainsAsync(ctx.RequestAborted), ConsoleJson.Default.IReadOnlyListString)));
        app.MapPost("/api/domains", (RequestDelegate)(ctx => ApiActionAsync(ctx, async () =>
        {
            var body = await ctx.Request.ReadFromJsonAsync(ConsoleJson.Default.DomainRequest, ctx.RequestAborted);
            return new ApiDone("domain added", [await admin.AddDomainAsync(body?.Domain ?? "", ctx.RequestAborted)]);
        })));
        app.MapGet("/api/users", (RequestDelegate)(async ctx => await JsonAsync(ctx, await admin.ListUsersAsync(ctx.RequestAborted), ConsoleJson.Default.IReadOnlyListUserInfo)));
        app.MapPost("/api/users", (RequestDelegate)(ctx => ApiActionAsync(ctx, async () =>
        {
            var body = await ctx.Request.ReadFromJsonAsync(ConsoleJson.Default.UserRequest, ctx.RequestAborted);
            var user = await admin.SetUserAsync(body?.Address ?? "", body?.Password ?? "", ctx.RequestAborted);
            if (body?.Admin == true) await admin.SetAdminAsync(user, true, ctx.RequestAborted);
            return new ApiDone("user saved", [user]);
        })));
        app.MapPost("/api/users/{address}/password", (RequestDelegate)(ctx => ApiActionAsync(ctx, async () =>
        {
            var body = await ctx.Request.ReadFromJsonAsync(ConsoleJson.Default.PasswordRequest, ctx.RequestAborted);
            return new ApiDone("password reset", [await admin.ResetPasswordAsync(Route(ctx, "address"), body?.Password ?? "", ctx.RequestAborted)]);
        })));
        app.MapDelete("/api/users/{address}", (RequestDelegate)(ctx => ApiActionAsync(ctx, async () =>
            new ApiDone("user removed", [await admin.RemoveUserAsync(Route(ctx, "address"), ctx.RequestAborted)]))));
        app.MapGet("/api/users/{address}/quota", (RequestDelegate)(ctx => ApiReadAsync(ctx, async () =>
            await JsonAsync(ctx, await admin.GetQuotaAsync(Route(ctx, "address"), ctx.RequestAborted), ConsoleJson.Default.QuotaInfo))));
        app.MapPost("/api/users/{address}/quota", (RequestDelegate)(ctx => ApiReadAsync(ctx, async () =>
        {
            var body = await ctx.Request.ReadFromJsonAsync(ConsoleJson.Default.QuotaRequest, ctx.RequestAborted);
            var q = await admin.SetQuotaAsync(Route(ctx, "address"), body?.Size ?? "", ctx.RequestAborted);
            _log.LogInformation("console: {User}: quota of {Address} set to {Limit}", Who(ctx).User, q.User, q.Limit?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none");
            await JsonAsync(ctx, q, ConsoleJson.Default.QuotaInfo);
        })));
        app.MapGet("/api/users/{address}/sieve", (RequestDelegate)(ctx => ApiReadAsync(ctx, async () =>
            await JsonAsync(ctx, await admin.ListSieveScriptsAsync(Route(ctx, "address"), ctx.RequestAborted), ConsoleJson.Default.IReadOnlyListSieveScriptInfo))));
        app.MapGet("/api/users/{address}/sieve/{name}", (RequestDelegate)(ctx => ApiReadAsync(ctx, async () =>
        {
            var (address, name) = (Route(ctx, "address"), Route(ctx, "name"));
            var text = await admin.GetSieveScriptAsync(address, name, ctx.RequestAborted);
            var active = (await admin.ListSieveScriptsAsync(address, ctx.RequestAborted)).Any(s => s.Active && s.Name == name);
            await JsonAsync(ctx, new SieveScriptRequest(name, text, active), ConsoleJson.Default.SieveScriptRequest);
        })));
        app.MapPost("/api/users/{address}/sieve", (RequestDelegate)(ctx => ApiActionAsync(ctx, async () =>
        {
            var body = await ctx.Request.ReadFromJsonAsync(ConsoleJson.Default.SieveScriptRequest, ctx.RequestAborted);
            var user = await admin.PutSieveScriptAsync(Route(ctx, "address"), body?.Name ?? "", body?.Script ?? "", body?.Activate == true, ctx.RequestAborted);
            return new ApiDone(body?.Activate == true ? "sieve script stored and active" : "sieve script stored", [user, body?.Name ?? ""]);
        })));
        app.MapPost("/api/users/{address}/sieve/{name}/activate", (RequestDelegate)(ctx => ApiActionAsync(ctx, async () =>
            new ApiDone("sieve script active", [await admin.ActivateSieveScriptAsync(Route(ctx, "address"), Route(ctx, "name"), ctx.RequestAborted), Route(ctx, "name")]))));
        app.MapPost("/api/users/{address}/sieve/deactivate", (RequestDelegate)(ctx => ApiActionAsync(ctx, async () =>
            new ApiDone("no sieve script active", [await admin.DeactivateSieveAsync(Route(ctx, "address"), ctx.RequestAborted)]))));
        app.MapDelete("/api/users/{address}/sieve/{name}", (RequestDelegate)(ctx => ApiActionAsync(ctx, async () =>
            new ApiDone("sieve script removed", [await admin.RemoveSieveScriptAsync(Route(ctx, "address"), Route(ctx, "name"), ctx.RequestAborted), Route(ctx, "name")]))));
        app.MapGet("/api/aliases", (RequestDelegate)(async ctx => await JsonAsync(ctx, await AliasesAsync(ctx.RequestAborted), ConsoleJson.Default.IReadOnlyListAliasInfo)));
        app.MapGet("/api/dkim", (RequestDelegate)(async ctx => await JsonAsync(ctx, await admin.ListDkimKeysAsync(null, ctx.RequestAborted), ConsoleJson.Default.IReadOnlyListDkimKeyInfo)));
        app.MapPost("/api/aliases", (RequestDelegate)(ctx => ApiActionAsync(ctx, async () =>
        {
            var body = await ctx.Request.ReadFromJsonAsync(ConsoleJson.Default.AliasRequest, ctx.RequestAborted);
            var change = await admin.AddAliasAsync(body?.Alias ?? "", body?.Targets ?? [], ctx.RequestAborted);
            return new ApiDone(Changed(change), [change.Alias]);
        })));
        app.MapDelete("/api/aliases/{alias}", (RequestDelegate)(ctx => ApiActionAsync(ctx, async () =>
        {
            var change = await admin.RemoveAliasAsync(Route(ctx, "alias"), [.. ctx.Request.Query["target"].Select(t => t ?? "")], ctx.RequestAborted);
            return new ApiDone(Changed(change), [change.Alias]);
        })));
        app.MapPost("/api/dkim", (RequestDelegate)(ctx => ApiReadAsync(ctx, async () =>
        {
            var body = await ctx.Request.ReadFromJsonAsync(ConsoleJson.Default.DkimRequest, ctx.RequestAborted);
            var created = await admin.AddDkimKeyAsync(body?.Domain ?? "", body?.Selector, body?.Algorithm, ctx.RequestAborted);
            _log.LogInformation("console: {User}: new DKIM key(s) {Keys}", Who(ctx).User, string.Join(", ", created.Select(k => k.DnsName)));
            await JsonAsync(ctx, created, ConsoleJson.Default.IReadOnlyListDkimKeyInfo);
        })));
        app.MapPost("/api/dkim/{domain}/rotate", (RequestDelegate)(ctx => ApiReadAsync(ctx, async () =>
        {
            var rotation = await admin.RotateDkimKeysAsync(Route(ctx, "domain"), ctx.RequestAborted);
            _log.LogInformation("console: {User}: DKIM keys rotated: new {Keys}", Who(ctx).User, string.Join(", ", rotation.Created.Select(k => k.DnsName)));
            await JsonAsync(ctx, rotation, ConsoleJson.Default.DkimRotation);
        })));
        app.MapGet("/api/queue", (RequestDelegate)(async ctx =>
            await JsonAsync(ctx, await admin.ListQueueAsync(ctx.Request.Query["q"].FirstOrDefault(), ctx.RequestAborted), ConsoleJson.Default.IReadOnlyListQueueItem)));
        app.MapGet("/api/queue/{id}", (RequestDelegate)(async ctx =>
        {
            var items = await admin.FindQueuedAsync(Route(ctx, "id"), ctx.RequestAborted);
            if (items.Count == 0) await ErrorAsync(ctx, 404, $"no queued envelope {Route(ctx, "id")}");
            else await JsonAsync(ctx, items, ConsoleJson.Default.IReadOnlyListQueueItem);
        }));
        app.MapPost("/api/queue/{id}/{action}", (RequestDelegate)(ctx => ApiActionAsync(ctx, async () =>
        {
            var action = AdminService.ParseQueueAction(Route(ctx, "action")) ?? throw new AdminException($"unknown queue action '{Route(ctx, "action")}' (hold, release, retry, delete)");
            var ids = await admin.QueueActionAsync(action, Route(ctx, "id"), ctx.RequestAborted);
            await ApplyQueueRequestsAsync(ctx.RequestAborted);
            return new ApiDone(Route(ctx, "action"), ids);
        })));
        app.MapGet("/api/quarantine", (RequestDelegate)(async ctx => await JsonAsync(ctx, await admin.ListQuarantineAsync(ctx.RequestAborted), ConsoleJson.Default.IReadOnlyListQuarantineItem)));
        app.MapGet("/api/quarantine/{id}", (RequestDelegate)(ctx => ApiReadAsync(ctx, async () =>
            await JsonAsync(ctx, await admin.PreviewQuarantinedAsync(Route(ctx, "id"), ctx.RequestAborted), ConsoleJson.Default.MessagePreview))));
        app.MapPost("/api/quarantine/{id}/release", (RequestDelegate)(ctx => ApiActionAsync(ctx, async () =>
        {
            var result = await admin.ReleaseQuarantinedAsync(Route(ctx, "id"), ctx.RequestAborted);
            return new ApiDone(Released(result, Route(ctx, "id")), [Route(ctx, "id")]);
        })));
        app.MapDelete("/api/quarantine/{id}", (RequestDelegate)(ctx => ApiActionAsync(ctx, async () =>
        {
            await admin.DeleteQuarantinedAsync(Route(ctx, "id"), ctx.RequestAborted);
            return new ApiDone("deleted", [Route(ctx, "id")]);
        })));
    }

    /// <summary>The Apple configuration profile of <paramref name="user"/> (an existing user), as a download.</summary>
    private async Task MobileConfigAsync(HttpContext ctx, string user)
    {
        if (dnsHelper is null)
        {
            await HtmlAsync(ctx, Pages.Layout("Not available", Who(ctx).User, Who(ctx).Csrf, Pages.Message(null, "the server's host names are not known in this process")), 404);
            return;
        }
        ctx.Response.ContentType = AppleMailProfile.ContentType;
        ctx.Response.Headers.ContentDisposition = $"attachment; filename=\"{AppleMailProfile.FileName(user)}\"";
        var profile = AppleMailProfile.Build(dnsHelper.Host, user);
        _log.LogInformation("console: {User}: mobileconfig of {Address} downloaded{Signed}", Who(ctx).User, user, options.Certificate is null ? " (not signed: no certificate)" : "");
        if (options.Certificate is { } certificate) await ctx.Response.Body.WriteAsync(ProfileSigner.Sign(profile, certificate), ctx.RequestAborted);
        else await ctx.Response.WriteAsync(profile, ctx.RequestAborted);
    }

    private static string UserPage(HttpContext ctx) => "/users/" + Uri.EscapeDataString(Route(ctx, "address"));

    private static string? Query(HttpContext ctx, string name) => ctx.Request.Query[name].FirstOrDefault();

    /// <summary>Target addresses as typed in a form: separated by commas, spaces or new lines.</summary>
    private static List<string> Targets(string text) => [.. text.Split([',', ' ', '\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries)];

    private string Changed(AliasChange change) =>
        (change.Targets is null ? $"alias {change.Alias} removed" : $"alias {change.Alias} -> {string.Join(", ", change.Targets)}")
        + (change.Warning is null ? "" : "; warning: " + change.Warning);

    private async Task<IReadOnlyList<AliasInfo>> AliasesAsync(CancellationToken cancellationToken) =>
        [.. (await admin.ListAliasesAsync(null, cancellationToken)).Select(a => new AliasInfo(a.Alias, a.Targets))];

    private async Task<(int Queue, int Quarantine)> CountsAsync(CancellationToken cancellationToken) =>
        ((await admin.ListQueueAsync(null, cancellationToken)).Count, (await admin.ListQuarantineAsync(cancellationToken)).Count);

    private static string Released(Mail.Pipeline.Inbound.InboundResult r, string id)
    {
        var parts = r.Delivered.Select(d => $"delivered to {d.User} {d.Mailbox}").Concat(r.Forwarded.Select(f => "forwarded to " + f)).ToList();
        if (r.Remote.Count > 0) parts.Add($"{r.Remote.Count} remote recipient(s) queued");
        parts.AddRange(r.UnknownLocal.Select(u => $"no such user {u}"));
        return $"{id} released: {string.Join("; ", parts)}";
    }

    /// <summary>A form's action: done, back to the list with the outcome (POST-redirect-GET), or the refusal as its one line.</summary>
    private async Task<bool> ApplyQueueRequestsAsync(CancellationToken cancellationToken) =>
        applyQueueRequests is not null && await applyQueueRequests(cancellationToken);

    private async Task PageActionAsync(HttpContext ctx, string back, Func<Task<string>> work)
    {
        string query;
        try
        {
            var done = await work();
            _log.LogInformation("console: {User}: {Done}", Who(ctx).User, done);
            query = "ok=" + Uri.EscapeDataString(done);
        }
        catch (Exception e) when (e is AdminException or Mail.Auth.Dkim.Signing.DkimKeyException)
        {
            query = "error=" + Uri.EscapeDataString(e.Message);
        }
        ctx.Response.Redirect($"{back}?{query}");
    }

    private async Task ApiActionAsync(HttpContext ctx, Func<Task<ApiDone>> work) => await ApiReadAsync(ctx, async () =>
    {
        var done = await work();
        _log.LogInformation("console: {User}: {Done} {Ids}", Who(ctx).User, done.Done, string.Join(", ", done.Ids));
        await JsonAsync(ctx, done, ConsoleJson.Default.ApiDone);
    });

    private static async Task ApiReadAsync(HttpContext ctx, Func<Task> work)
    {
        try
        {
            await work();
        }
        catch (AdminException e)
        {
            await ErrorAsync(ctx, e.NotFound ? 404 : 400, e.Message);
        }
        catch (Mail.Auth.Dkim.Signing.DkimKeyException e)
        {
            await ErrorAsync(ctx, 400, e.Message); // no store for private keys: the message names the setting
        }
        catch (Exception e) when (e is JsonException or Microsoft.AspNetCore.Http.BadHttpRequestException)
        {
            await ErrorAsync(ctx, 400, "the body is not the JSON this call takes: " + e.Message);
        }
    }

    private static async Task StaticAsync(HttpContext ctx)
    {
        var name = Route(ctx, "name");
        var type = Path.GetExtension(name) switch { ".css" => "text/css; charset=utf-8", ".js" => "text/javascript; charset=utf-8", _ => null };
        await using var s = type is null ? null : typeof(ConsoleServer).Assembly.GetManifestResourceStream("wwwroot/" + name);
        if (s is null)
        {
            ctx.Response.StatusCode = 404;
            return;
        }
        ctx.Response.ContentType = type;
        ctx.Response.Headers.CacheControl = "max-age=300";
        await s.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    }

    private Task SignInPageAsync(HttpContext ctx)
    {
        // Login CSRF: the form's token must match a cookie this origin set (double submit), so another site cannot
        // sign a browser in to an account of its choosing.
        return HtmlAsync(ctx, Pages.SignIn(NewPre(ctx), Query(ctx, "error")));
    }

    private CookieOptions Cookie() => new() { HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = options.UsesTls, Path = "/", IsEssential = true };

    private async Task SignInAsync(HttpContext ctx)
    {
        var form = ctx.Request.HasFormContentType ? await ctx.Request.ReadFormAsync(ctx.RequestAborted) : null;
        if (form is null || !ConsoleSessions.SameToken(ctx.Request.Cookies[PreCookie], form["csrf"].FirstOrDefault()))
        {
            await HtmlAsync(ctx, Pages.Status("Refused", "the sign-in form's anti-forgery token is missing or wrong: reload the sign-in page"), 403);
            return;
        }
        var address = form["user"].ToString().Trim();
        var user = MailDirectory.Canonical(address) ?? address;
        var client = ctx.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        if (_throttle.IsBlocked(client, user))
        {
            _log.LogWarning("console: sign-in as {User} from {Client} refused: too many failures", user, client);
            await HtmlAsync(ctx, Pages.SignIn(NewPre(ctx), "too many failed sign-ins: wait and try again later"), StatusCodes.Status429TooManyRequests);
            return;
        }
        if (await admin.Directory.AuthenticateAsync(address, form["password"].ToString(), ctx.RequestAborted) is not { } who)
        {
            _throttle.RecordFailure(client, user);
            _log.LogWarning("console: sign-in as {User} from {Client} failed", user, client);
            await HtmlAsync(ctx, Pages.SignIn(NewPre(ctx), "wrong address or password"), StatusCodes.Status401Unauthorized);
            return;
        }
        // A user who is not an administrator signs in to their own page only (GuardAsync keeps them there).
        var isAdmin = await admin.Directory.IsAdminAsync(who, ctx.RequestAborted);
        var (id, _) = await _sessions.CreateAsync(who, ctx.RequestAborted);
        ctx.Response.Cookies.Delete(PreCookie);
        ctx.Response.Cookies.Append(ConsoleSessions.CookieName, id, Cookie());
        _log.LogInformation("console: {User} signed in from {Client}{Role}", who, client, isAdmin ? "" : " (not an administrator: own page only)");
        ctx.Response.Redirect(isAdmin ? "/" : "/me", permanent: false);
        ctx.Response.StatusCode = StatusCodes.Status303SeeOther;
    }

    /// <summary>The sign-in form's token: the one this browser already holds, else a new one. Kept rather than renewed,
    /// since any request of the browser's own without a session (its favicon) lands on /signin too, and a new token then
    /// would refuse the form already shown.</summary>
    private string NewPre(HttpContext ctx)
    {
        if (ctx.Request.Cookies[PreCookie] is { Length: 43 } held) return held;
        var pre = ConsoleSessions.NewToken();
        ctx.Response.Cookies.Append(PreCookie, pre, Cookie());
        return pre;
    }
}

/// <summary>/api/session: who is signed in and the token to send in <see cref="ConsoleApi.CsrfHeader"/>.</summary>
public sealed record SessionReply(string User, string CsrfToken, int V = ConsoleApi.Version);
