using System.Globalization;
using System.IO.Compression;
using System.Text.Json;

namespace Mail.Outbound.Tls.Reporting;

/// <summary>
/// One TLS-RPT aggregate report (RFC 8460 4): the JSON of one UTC day's sessions toward one policy domain, all its
/// policies (MTA-STS and DANE) in it, written with <see cref="Utf8JsonWriter"/> (no reflection: the host is Native AOT).
/// </summary>
public static class TlsReport
{
    public const string MediaType = "application/tlsrpt+gzip";

    public static byte[] Json(string organization, string contact, string reportId, DateOnly day, IReadOnlyList<TlsRptDay> policies)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false }))
        {
            w.WriteStartObject();
            w.WriteString("organization-name", organization);
            w.WriteStartObject("date-range");
            w.WriteString("start-datetime", day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) + "T00:00:00Z");
            w.WriteString("end-datetime", day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) + "T23:59:59Z");
            w.WriteEndObject();
            w.WriteString("contact-info", contact);
            w.WriteString("report-id", reportId);
            w.WriteStartArray("policies");
            foreach (var p in policies)
            {
                w.WriteStartObject();
                w.WriteStartObject("policy");
                w.WriteString("policy-type", p.PolicyType == TlsRptPolicyType.Sts ? "sts" : "tlsa");
                w.WriteStartArray("policy-string");
                foreach (var s in p.PolicyStrings) w.WriteStringValue(s);
                w.WriteEndArray();
                w.WriteString("policy-domain", p.PolicyDomain);
                w.WriteStartArray("mx-host");
                foreach (var mx in p.MxHosts) w.WriteStringValue(mx);
                w.WriteEndArray();
                w.WriteEndObject();
                w.WriteStartObject("summary");
                w.WriteNumber("total-successful-session-count", p.Successes);
                w.WriteNumber("total-failure-session-count", p.Failures.Sum(f => f.Count));
                w.WriteEndObject();
                w.WriteStartArray("failure-details");
                foreach (var f in p.Failures)
                {
                    w.WriteStartObject();
                    w.WriteString("result-type", f.ResultType);
                    if (f.SendingIp is { Length: > 0 } sending) w.WriteString("sending-mta-ip", sending);
                    w.WriteString("receiving-mx-hostname", f.ReceivingMxHostname);
                    w.WriteString("receiving-ip", f.ReceivingIp);
                    w.WriteNumber("failed-session-count", f.Count);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    public static byte[] Gzip(byte[] json)
    {
        using var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(json);
        return output.ToArray();
    }

    /// <summary>RFC 8460 5.1: submitter!policy-domain!begin-timestamp!end-timestamp!unique-id.json.gz (Unix seconds).</summary>
    public static string FileName(string submitter, string policyDomain, DateOnly day, string uniqueId)
    {
        var begin = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero).ToUnixTimeSeconds();
        var end = begin + 86399;
        return FormattableString.Invariant($"{submitter}!{policyDomain}!{begin}!{end}!{uniqueId}.json.gz");
    }
}
