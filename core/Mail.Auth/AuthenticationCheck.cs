using System.Buffers;
using System.Net;
using Mail.Core.Messages;
using Mail.Auth.Arc;
using Mail.Auth.Dkim;
using Mail.Auth.Dmarc;
using Mail.Auth.PublicSuffix;
using Mail.Auth.Results;
using Mail.Core.Ports;
using Mail.Core.InboundChecks;
using Mail.Spf;
using MimeKit;

namespace Mail.Auth;

/// <summary>
/// Sender authentication in the inbound stage: SPF (MAIL FROM, or postmaster@HELO for the null sender), DKIM (every
/// signature), ARC (the chain and its newest sealer), then DMARC over the SPF and DKIM results, with a trusted ARC
/// sealer able to lift a DMARC failure. Records context.Results ("spf", "dkim", "dmarc", "arc", ...), prepends one
/// Authentication-Results field with our authserv-id, removes incoming ones that claim it, and files DMARC
/// failures under p=reject/quarantine to Junk or quarantine (never a bounce).
/// </summary>
public sealed class AuthenticationCheck : IInboundCheck
{
    private readonly AuthenticationOptions _options;
    private readonly SpfChecker _spf;
    private readonly DkimChecker _dkim;
    private readonly ArcChecker _arc;
    private readonly DmarcChecker _dmarc;
    private readonly HashSet<string> _trustedSealers;
    private readonly DmarcReportStore? _reports;
    private readonly TimeProvider _time;

    /// <param name="percentSample">DMARC pct= sampling source (0..99); random when null.</param>
    /// <param name="reports">When set, every DMARC-evaluated message of a domain that publishes rua= is recorded
    /// for aggregate reports (sending them is a separate job).</param>
    public AuthenticationCheck(IDnsResolver dns, AuthenticationOptions options, SpfChecker? spf = null,
        PublicSuffixList? publicSuffixList = null, TimeProvider? time = null, Func<int>? percentSample = null,
        DmarcReportStore? reports = null)
    {
        _reports = reports;
        _time = time ?? TimeProvider.System;
        ArgumentNullException.ThrowIfNull(dns);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _spf = spf ?? new SpfChecker(dns, new SpfOptions { ReceiverName = options.AuthServId });
        _dkim = new DkimChecker(dns, options.Dkim, time);
        _arc = new ArcChecker(dns);
        if (publicSuffixList is null && options.PublicSuffixListPath is { } path)
        {
            try
            {
                publicSuffixList = PublicSuffixList.Load(path);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                throw new ArgumentException($"Authentication:PublicSuffixListPath could not be read ({path}): {e.Message}", nameof(options), e);
            }
        }
        _dmarc = new DmarcChecker(dns, publicSuffixList, percentSample);
        _trustedSealers = new HashSet<string>(options.TrustedArcSealers.Select(s => s.Trim().TrimEnd('.').ToLowerInvariant()), StringComparer.Ordinal);
    }

    public string Name => "authentication";

    public async Task RunAsync(InboundContext context, CancellationToken cancellationToken)
    {
        var authServId = _options.AuthServId;
        context.RemoveHeaders.Add(h => AuthenticationResultsHeader.ClaimsAuthServId(h, authServId));
        var envelope = context.Envelope;

        if (envelope.AuthenticatedUser is { } user && !_options.CheckAuthenticatedSubmissions)
        {
            context.Results["auth"] = "pass";
            Prepend(context, new AuthenticationSummary { AuthenticatedUser = user });
            return;
        }

        // SPF needs only DNS; it runs while DKIM and ARC work on the message. DKIM and DMARC read the stored bytes
        // (one header scan, the body hashed as it is); ARC uses the MimeKit parse, only when there are ARC fields.
        var spfTask = CheckSpfAsync(context, cancellationToken);
        var (message, rented) = await OriginalAsync(context, cancellationToken);
        IReadOnlyList<DkimResult> dkim;
        DmarcResult dmarc;
        ArcResult arc;
        SpfResult? spf;
        try
        {
            dkim = await _dkim.VerifyAsync(message, cancellationToken);
            arc = ArcChecker.HasArcFields(message)
                ? await _arc.VerifyAsync(context.Message, cancellationToken)
                : new ArcResult { Code = ArcResultCode.None };
            spf = await spfTask;
            var spfPassDomain = spf?.Code == SpfResultCode.Pass ? spf.Domain : null;
            dmarc = await _dmarc.CheckAsync(message, spfPassDomain, dkim, cancellationToken);
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }

        string? dmarcOverride = null;
        if (dmarc.Code == DmarcResultCode.Fail && dmarc.AppliedPolicy != DmarcPolicy.None
            && arc.Code == ArcResultCode.Pass && arc.SealerDomain is { } sealer && _trustedSealers.Contains(sealer)
            && arc.UpstreamPass() is { } upstream)
        {
            // RFC 7489 7.2.1 local policy override "trusted_forwarder": the forwarder saw the message authenticate.
            dmarcOverride = $"arc:{sealer}:{upstream}";
        }

        Record(context, spf, dkim, dmarc, arc, dmarcOverride);
        ApplyVerdict(context, dmarc, dmarcOverride);
        Prepend(context, new AuthenticationSummary
        {
            Spf = new SpfSummary(spf?.ResultName ?? "none", envelope.IsNullSender ? null : envelope.MailFrom, envelope.Client.Helo,
                spf is null ? "client address is not an IP address" : spf.Problem),
            Dkim = dkim,
            Dmarc = dmarc,
            DmarcOverride = dmarcOverride,
            Arc = arc,
            ClientAddress = envelope.Client.Address,
        });
        if (_reports is not null && dmarc.Record is { AggregateReportUris.Count: > 0 } && dmarc.Code is DmarcResultCode.Pass or DmarcResultCode.Fail)
            await _reports.RecordAsync(ReportEntry(envelope, spf, dkim, dmarc, dmarcOverride), cancellationToken);

        // RFC 7208 9.1 trace field, below our Authentication-Results.
        if (spf is not null && _options.AddReceivedSpf)
            context.PrependHeaders.Add(FoldedHeader.Create(ReceivedSpfHeader.Name, ReceivedSpfHeader.Format(spf, _options.AuthServId)));
    }

    /// <summary>The stored original as bytes: the stream's own buffer when it is a memory stream, otherwise read
    /// into a pooled buffer (returned by the caller); without an original, the bytes MimeKit writes for the parse.</summary>
    private static async Task<(RawMessage Message, byte[]? Rented)> OriginalAsync(InboundContext context, CancellationToken cancellationToken)
    {
        if (context.Original is not { } original || original.Length > int.MaxValue)
        {
            using var written = new MemoryStream();
            await context.Message.WriteToAsync(FormatOptions.Default, written, cancellationToken);
            return (RawMessage.Parse(written.ToArray()), null);
        }
        if (original is MemoryStream memory && memory.TryGetBuffer(out var segment))
            return (RawMessage.Parse(segment.AsMemory(0, (int)memory.Length)), null);
        var length = (int)original.Length;
        var rented = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        var position = original.Position;
        try
        {
            original.Position = 0;
            await original.ReadExactlyAsync(rented.AsMemory(0, length), cancellationToken);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(rented);
            throw;
        }
        finally
        {
            original.Position = position;
        }
        return (RawMessage.Parse(rented.AsMemory(0, length)), rented);
    }

    private DmarcReportEntry ReportEntry(Core.Model.Envelope envelope, SpfResult? spf, IReadOnlyList<DkimResult> dkim, DmarcResult dmarc, string? dmarcOverride)
    {
        var record = dmarc.Record!;
        static string Mode(DmarcAlignment a) => a == DmarcAlignment.Strict ? "s" : "r";
        return new DmarcReportEntry
        {
            QueueId = envelope.QueueId,
            EvaluatedAt = _time.GetUtcNow(),
            PolicyDomain = dmarc.RecordDomain!,
            SourceIp = envelope.Client.Address,
            HeaderFrom = dmarc.FromDomain!,
            Adkim = Mode(record.DkimAlignment),
            Aspf = Mode(record.SpfAlignment),
            P = DmarcRecord.ToToken(record.Policy),
            Sp = record.SubdomainPolicy is { } sp ? DmarcRecord.ToToken(sp) : null,
            Pct = record.Percent,
            // After 250 we never reject: a failing message under p=reject or p=quarantine was filed to Junk or
            // quarantine, which is what a report calls "quarantine".
            Disposition = dmarcOverride is null && dmarc.AppliedPolicy != DmarcPolicy.None ? "quarantine" : "none",
            DkimAligned = dmarc.DkimAligned,
            SpfAligned = dmarc.SpfAligned,
            OverrideType = dmarcOverride is not null ? "trusted_forwarder" : dmarc.SampledOut ? "sampled_out" : null,
            OverrideComment = dmarcOverride,
            Dkim = [.. dkim.Where(d => d.Domain is not null).Select(d => new DmarcReportDkim(d.Domain!, d.Selector, DkimResult.ToToken(d.Code)))],
            SpfDomain = spf?.Domain,
            SpfScope = envelope.IsNullSender ? "helo" : "mfrom",
            SpfResult = spf?.ResultName ?? "none",
        };
    }

    private async Task<SpfResult?> CheckSpfAsync(InboundContext context, CancellationToken cancellationToken)
    {
        var envelope = context.Envelope;
        var address = envelope.Client.Address.Trim('[', ']');
        if (address.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase)) address = address[5..];
        if (!IPAddress.TryParse(address, out var ip)) return null;
        try
        {
            return await _spf.CheckMailFromAsync(ip, envelope.IsNullSender ? null : envelope.MailFrom, envelope.Client.Helo, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The SPF checker should not throw; if it does, the message still gets an honest "temperror".
            return new SpfResult { Code = SpfResultCode.TempError, Domain = "", Problem = "SPF check failed: " + e.Message };
        }
    }

    private static void Record(InboundContext context, SpfResult? spf, IReadOnlyList<DkimResult> dkim, DmarcResult dmarc, ArcResult arc, string? dmarcOverride)
    {
        var r = context.Results;
        r["spf"] = spf?.ResultName ?? "none";
        if (spf is not null) r["spf.domain"] = spf.Domain;

        var passing = dkim.Where(d => d.Code == DkimResultCode.Pass && d.Domain is not null).Select(d => d.Domain!).Distinct().ToList();
        r["dkim"] = passing.Count > 0 ? "pass" : dkim.Count == 0 ? "none" : DkimResult.ToToken(dkim[0].Code);
        if (passing.Count > 0) r["dkim.domains"] = string.Join(',', passing);

        r["dmarc"] = DmarcResult.ToToken(dmarc.Code);
        if (dmarc.FromDomain is not null) r["dmarc.from"] = dmarc.FromDomain;
        if (dmarc.Record is not null)
        {
            r["dmarc.policy"] = DmarcRecord.ToToken(dmarc.RequestedPolicy);
            r["dmarc.disposition"] = dmarcOverride is null ? DmarcRecord.ToToken(dmarc.AppliedPolicy) : "none";
        }
        if (dmarcOverride is not null) r["dmarc.override"] = dmarcOverride;

        r["arc"] = ArcResult.ToToken(arc.Code);
        if (arc.SealerDomain is not null) r["arc.sealer"] = arc.SealerDomain;
    }

    private void ApplyVerdict(InboundContext context, DmarcResult dmarc, string? dmarcOverride)
    {
        if (dmarc.Code == DmarcResultCode.PermError && dmarc.FromDomain is null && _options.JunkAmbiguousFrom)
        {
            context.Verdict.Require(Disposition.Junk, $"DMARC: {dmarc.Reason}");
            return;
        }
        if (dmarc.Code != DmarcResultCode.Fail || dmarcOverride is not null) return;
        switch (dmarc.AppliedPolicy)
        {
            case DmarcPolicy.Reject:
                context.Verdict.Require(_options.DmarcRejectDisposition, $"DMARC policy reject for {dmarc.FromDomain}");
                break;
            case DmarcPolicy.Quarantine:
                context.Verdict.Require(_options.DmarcQuarantineDisposition, $"DMARC policy quarantine for {dmarc.FromDomain}");
                break;
        }
    }

    private void Prepend(InboundContext context, AuthenticationSummary summary)
    {
        context.PrependHeaders.Add(AuthenticationResultsHeader.ToHeader(AuthenticationResultsHeader.Format(_options.AuthServId, summary)));
    }
}
