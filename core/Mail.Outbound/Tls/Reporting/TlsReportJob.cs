using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Mail.Core.Ports;
using Microsoft.Extensions.Logging;
using MimeKit;

namespace Mail.Outbound.Tls.Reporting;

/// <summary>
/// The daily TLS-RPT job (RFC 8460): for every policy domain with sessions on a finished UTC day, looks up
/// _smtp._tls.DOMAIN and sends the day's report (gzipped JSON, <see cref="TlsReport"/>) to each rua: a mailto: address as
/// a multipart/report; report-type="tlsrpt" message through the outbound queue (DKIM-signed there like any mail of
/// ours, from the null sender so a failed report bounces nowhere), an https: URI as a POST. A day is reported once:
/// its stored results are removed after the attempt, whether or not the domain asked for reports.
/// </summary>
public sealed class TlsReportJob(IStateStore state, IDnsResolver dns, TlsReportingOptions options, string hostName,
    Func<string, string, byte[], CancellationToken, Task> submitMail, ILogger log, TimeProvider? time = null, HttpMessageHandler? https = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    private string Organization => options.OrganizationName ?? hostName;
    private string Contact => options.ContactInfo ?? "postmaster@" + hostName;
    private string From => options.From ?? "postmaster@" + hostName;

    /// <summary>Reports every finished day not yet reported; returns how many reports were sent.</summary>
    public async Task<int> RunAsync(CancellationToken cancellationToken = default)
    {
        var today = DateOnly.FromDateTime(_time.GetUtcNow().UtcDateTime);
        var due = new List<(StateEntry Entry, TlsRptDay Day)>();
        await foreach (var entry in state.ListAsync(TlsSessionResults.Partition, cancellationToken))
        {
            var d = TlsSessionResults.Parse(entry.Value);
            if (d is null)
            {
                await state.DeleteAsync(TlsSessionResults.Partition, entry.Key, cancellationToken);
                continue;
            }
            if (DateOnly.TryParseExact(d.Day, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day) && day < today) due.Add((entry, d));
        }
        var sent = 0;
        foreach (var group in due.GroupBy(x => (x.Day.Day, x.Day.PolicyDomain)))
        {
            try
            {
                sent += await ReportAsync(DateOnly.ParseExact(group.Key.Day, "yyyy-MM-dd", CultureInfo.InvariantCulture), group.Key.PolicyDomain,
                    [.. group.Select(x => x.Day)], cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogWarning("TLS-RPT: report of {Day} for {Domain} failed: {Reason}", group.Key.Day, group.Key.PolicyDomain, e.Message);
            }
            foreach (var (entry, _) in group) await state.DeleteAsync(TlsSessionResults.Partition, entry.Key, cancellationToken);
        }
        return sent;
    }

    private async Task<int> ReportAsync(DateOnly day, string domain, IReadOnlyList<TlsRptDay> policies, CancellationToken cancellationToken)
    {
        var txt = await dns.TxtAsync(TlsRptRecord.Prefix + domain, cancellationToken);
        var (rua, problem) = TlsRptRecord.Parse(txt.Records);
        if (rua.Count == 0)
        {
            log.LogInformation("TLS-RPT: {Domain} asks for no reports ({Problem}); the results of {Day} are dropped", domain, problem, day);
            return 0;
        }
        var id = $"{day:yyyyMMdd}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}@{hostName}";
        var gz = TlsReport.Gzip(TlsReport.Json(Organization, Contact, id, day, policies));
        var file = TlsReport.FileName(hostName, domain, day, id.Split('@')[0]);
        var sent = 0;
        foreach (var uri in rua)
        {
            if (uri.Scheme == Uri.UriSchemeMailto)
            {
                var to = Uri.UnescapeDataString(uri.AbsoluteUri["mailto:".Length..].Split('?')[0]);
                await submitMail("", to, Message(domain, id, file, gz, to), cancellationToken);
            }
            else
            {
                await PostAsync(uri, gz, cancellationToken);
            }
            sent++;
            log.LogInformation("TLS-RPT: report {ReportId} of {Day} for {Domain} sent to {Rua}", id, day, domain, uri);
        }
        return sent;
    }

    /// <summary>RFC 8460 5.3: the report as mail, with the TLS-Report-Domain and TLS-Report-Submitter fields.</summary>
    private byte[] Message(string domain, string id, string file, byte[] gz, string to)
    {
        using var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(From));
        message.To.Add(MailboxAddress.Parse(to));
        message.Subject = $"Report Domain: {domain} Submitter: {hostName} Report-ID: <{id}>";
        message.MessageId = id;
        message.Date = _time.GetUtcNow();
        message.Headers.Add("TLS-Report-Domain", domain);
        message.Headers.Add("TLS-Report-Submitter", hostName);
        var report = new MultipartReport("tlsrpt")
        {
            new TextPart("plain") { Text = $"This is an aggregate TLS report (RFC 8460) from {hostName} for {domain}.\r\n" },
            new MimePart("application", "tlsrpt+gzip")
            {
                Content = new MimeContent(new MemoryStream(gz)),
                ContentDisposition = new ContentDisposition(ContentDisposition.Attachment) { FileName = file },
                ContentTransferEncoding = ContentEncoding.Base64,
                FileName = file,
            },
        };
        message.Body = report;
        using var bytes = new MemoryStream();
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        message.WriteTo(format, bytes);
        return bytes.ToArray();
    }

    private async Task PostAsync(Uri uri, byte[] gz, CancellationToken cancellationToken)
    {
        using var http = https is null ? new HttpClient() : new HttpClient(https, disposeHandler: false);
        http.Timeout = options.PostTimeout;
        using var content = new ByteArrayContent(gz);
        content.Headers.ContentType = new MediaTypeHeaderValue(TlsReport.MediaType);
        using var response = await http.PostAsync(uri, content, cancellationToken);
        // RFC 8460 5.4: a 2xx accepts the report; anything else is the receiver's refusal (not retried).
        if (!response.IsSuccessStatusCode) throw new HttpRequestException($"POST {uri}: HTTP {(int)response.StatusCode}");
    }
}

/// <summary>TLS-RPT settings (section "Outbound:TlsReporting").</summary>
public sealed class TlsReportingOptions
{
    /// <summary>Record MTA-STS and DANE session results and send the daily reports (RFC 8460).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>organization-name of the reports; default Smtp:HostName.</summary>
    public string? OrganizationName { get; set; }

    /// <summary>contact-info of the reports; default postmaster@ Smtp:HostName.</summary>
    public string? ContactInfo { get; set; }

    /// <summary>From: of mailed reports; default postmaster@ Smtp:HostName.</summary>
    public string? From { get; set; }

    /// <summary>Limit of one HTTPS POST of a report.</summary>
    public TimeSpan PostTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often finished days are looked for (reports go out once per day and policy domain).</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromHours(1);
}
