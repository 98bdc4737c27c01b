using System.Text;
using System.Text.Json;
using Mail.Outbound.Tls.Reporting;
using Mail.Storage.Embedded;
using Mail.Testing;

namespace Mail.Host.Tests;

/// <summary>TLS-RPT (RFC 8460) pieces: the _smtp._tls record, the report JSON's shape (4.4), the file name (5.1) and the
/// per-day counts kept in the state store across flushes.</summary>
public sealed class TlsReportTests
{
    [Theory]
    [InlineData("v=TLSRPTv1; rua=mailto:tlsrpt@example.net", "mailto:tlsrpt@example.net")]
    [InlineData("v=TLSRPTv1;rua=mailto:a@example.net,https://reports.example.net/v1", "mailto:a@example.net https://reports.example.net/v1")]
    [InlineData("v=TLSRPTv1; rua=http://insecure.example.net/", "")]
    [InlineData("v=TLSRPTv1", "")]
    [InlineData("v=spf1 -all", "")]
    public void The_rua_of_one_tlsrptv1_record_is_read(string record, string expected)
    {
        var (rua, problem) = TlsRptRecord.Parse([record]);
        Assert.Equal(expected, string.Join(' ', rua.Select(u => u.OriginalString)));
        Assert.Equal(expected.Length == 0, problem is not null);
    }

    [Fact]
    public void Two_tlsrptv1_records_mean_no_reports()
    {
        var (rua, problem) = TlsRptRecord.Parse(["v=TLSRPTv1; rua=mailto:a@example.net", "v=TLSRPTv1; rua=mailto:b@example.net"]);
        Assert.Empty(rua);
        Assert.Contains("2 v=TLSRPTv1 records", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void The_report_json_has_rfc_8460_shape_with_failure_details()
    {
        var day = new TlsRptDay
        {
            Day = "2026-12-05", PolicyDomain = "example.net", PolicyType = TlsRptPolicyType.Tlsa, PolicyStrings = ["3 1 1 ABCD"], MxHosts = ["mx.example.net"],
            Successes = 3, Failures = [new TlsRptFailure("tlsa-invalid", "mx.example.net", "192.0.2.1", 2, "198.51.100.7")],
        };
        var json = TlsReport.Json("Example Org", "postmaster@example.org", "r1", new DateOnly(2026, 12, 5), [day]);
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        Assert.Equal("Example Org", root.GetProperty("organization-name").GetString());
        Assert.Equal("2026-12-05T00:00:00Z", root.GetProperty("date-range").GetProperty("start-datetime").GetString());
        Assert.Equal("2026-12-05T23:59:59Z", root.GetProperty("date-range").GetProperty("end-datetime").GetString());
        Assert.Equal("r1", root.GetProperty("report-id").GetString());
        var policy = Assert.Single(root.GetProperty("policies").EnumerateArray().ToList());
        Assert.Equal("tlsa", policy.GetProperty("policy").GetProperty("policy-type").GetString());
        Assert.Equal("3 1 1 ABCD", Assert.Single(policy.GetProperty("policy").GetProperty("policy-string").EnumerateArray().ToList()).GetString());
        Assert.Equal(3, policy.GetProperty("summary").GetProperty("total-successful-session-count").GetInt64());
        Assert.Equal(2, policy.GetProperty("summary").GetProperty("total-failure-session-count").GetInt64());
        var failure = Assert.Single(policy.GetProperty("failure-details").EnumerateArray().ToList());
        Assert.Equal("tlsa-invalid", failure.GetProperty("result-type").GetString());
        Assert.Equal("198.51.100.7", failure.GetProperty("sending-mta-ip").GetString());
        Assert.Equal("mx.example.net", failure.GetProperty("receiving-mx-hostname").GetString());
        Assert.Equal("192.0.2.1", failure.GetProperty("receiving-ip").GetString());
        Assert.Equal(2, failure.GetProperty("failed-session-count").GetInt64());
        Assert.Equal("mail.example.org!example.net!1764892800!1764979199!r1.json.gz", TlsReport.FileName("mail.example.org", "example.net", new DateOnly(2025, 12, 5), "r1"));
    }

    [Fact]
    public async Task Counts_of_one_day_add_up_across_flushes_in_the_state_store()
    {
        using var data = new TempData();
        var state = new SqliteStateStore(Path.Combine(data.Path, "state.db"));
        var results = new TlsSessionResults(state);
        results.Record("Example.NET", TlsRptPolicyType.Sts, ["mode: enforce"], "mx.example.net", "192.0.2.1", "127.0.0.1", null);
        results.Record("example.net", TlsRptPolicyType.Sts, ["mode: enforce"], "mx.example.net", "192.0.2.1", "127.0.0.1", "certificate-expired");
        await results.FlushAsync();
        results.Record("example.net", TlsRptPolicyType.Sts, ["mode: enforce"], "mx2.example.net", "192.0.2.2", "127.0.0.1", null);
        results.Record("example.net", TlsRptPolicyType.Sts, ["mode: enforce"], "mx.example.net", "192.0.2.1", "127.0.0.1", "certificate-expired");
        await results.FlushAsync();

        var entries = new List<Mail.Core.Ports.StateEntry>();
        await foreach (var e in state.ListAsync(TlsSessionResults.Partition)) entries.Add(e);
        var stored = TlsSessionResults.Parse(Assert.Single(entries).Value)!;
        Assert.Equal("example.net", stored.PolicyDomain);
        Assert.Equal(2, stored.Successes);
        Assert.Equal(["mx.example.net", "mx2.example.net"], stored.MxHosts);
        var failure = Assert.Single(stored.Failures);
        Assert.Equal(("certificate-expired", 2L), (failure.ResultType, failure.Count));
        Assert.Null(TlsSessionResults.Parse(Encoding.UTF8.GetString(Encoding.UTF8.GetBytes("{\"FormatVersion\":2}"))));
    }
}
