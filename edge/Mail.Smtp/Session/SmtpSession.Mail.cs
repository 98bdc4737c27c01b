using System.Globalization;
using Mail.Core.Accounts;
using Mail.Core.Model;
using Mail.Core.Telemetry;
using Mail.Smtp.Protocol;
using Microsoft.Extensions.Logging;

namespace Mail.Smtp.Session;

// MAIL and RCPT: opening a transaction and collecting its recipients.
internal sealed partial class SmtpSession
{
    /// <summary>The path and parameters of MAIL FROM: or RCPT TO:; false when refused, the reply written: a path
    /// that is not RFC 5321 4.1.2 syntax, or parameters on a session that did not say EHLO (555, RFC 5321 4.1.1.11).</summary>
    private bool TryReadPath(string argument, string prefix, SmtpReply parametersNeedEhlo, out string path, out List<EsmtpParameter> parameters)
    {
        var syntax = MailPathParser.TryParse(argument, prefix, out path, out parameters);
        if (syntax is not null)
        {
            Reply(SmtpReplies.PathSyntax(syntax));
            return false;
        }
        if (!Facts.Esmtp && parameters.Count > 0)
        {
            Reply(parametersNeedEhlo);
            return false;
        }
        return true;
    }

    /// <summary>RCPT and DATA come after MAIL and not once BDAT has begun the data (RFC 3030 2); false when refused,
    /// the reply written (<paramref name="afterBdat"/> names the command).</summary>
    private bool InTransactionBeforeChunks(SmtpReply afterBdat)
    {
        if (!InTransaction)
        {
            Reply(SmtpReplies.NeedMail);
            return false;
        }
        if (_state == SmtpState.Chunking)
        {
            Reply(afterBdat);
            return false;
        }
        return true;
    }

    private async ValueTask<bool> MailAsync(string argument)
    {
        if (_state == SmtpState.Connected)
        {
            Reply(SmtpReplies.SendHeloFirst);
            return true;
        }
        if (InTransaction)
        {
            Reply(SmtpReplies.NestedMail);
            return true;
        }
        if (_listener.Role == SmtpListenerRole.Submission && Facts.AuthenticatedUser is null)
        {
            // RFC 6409 4.3 / RFC 4954 6: the submission service takes mail from authenticated users only.
            Reply(SmtpReplies.AuthenticationRequired);
            return true;
        }
        if (!TryReadPath(argument, "FROM:", SmtpReplies.MailParametersNeedEhlo, out var path, out var parameters)) return true;
        long? size = null;
        BodyType? body = null;
        DsnRet? ret = null;
        string? envId = null;
        var smtpUtf8 = false;
        foreach (var p in parameters)
        {
            switch (p.Keyword)
            {
                case "SIZE":
                    if (p.Value is null || !p.Value.All(char.IsAsciiDigit) || !long.TryParse(p.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var s))
                    {
                        Reply(SmtpReplies.BadSize);
                        return true;
                    }
                    if (s > _options.MaxMessageSize)
                    {
                        Rejected(RejectReason.Size, path);
                        Reply(SmtpReplies.MessageTooBig(_options.MaxMessageSize));
                        return true;
                    }
                    size = s;
                    break;
                case "BODY":
                    body = SmtpKeywords.ParseBody(p.Value);
                    if (body is not (BodyType.SevenBit or BodyType.EightBitMime))
                    {
                        Reply(body == BodyType.BinaryMime ? SmtpReplies.BodyNotImplemented : SmtpReplies.BodyInvalid);
                        return true;
                    }
                    break;
                case "SMTPUTF8":
                    if (p.Value is not null)
                    {
                        Reply(SmtpReplies.SmtpUtf8TakesNoValue);
                        return true;
                    }
                    smtpUtf8 = true;
                    break;
                case "RET":
                    ret = SmtpKeywords.ParseRet(p.Value);
                    if (ret is null)
                    {
                        Reply(SmtpReplies.RetInvalid);
                        return true;
                    }
                    break;
                case "ENVID":
                    if (p.Value is null || !Xtext.TryDecode(p.Value, out var decoded) || p.Value.Length > 100)
                    {
                        Reply(SmtpReplies.EnvIdInvalid);
                        return true;
                    }
                    envId = decoded;
                    break;
                case "AUTH":
                    // RFC 4954 5: accepted and checked, but not trusted or passed on (we are the first hop: the
                    // authenticated identity we record is the session's own).
                    if (p.Value is null || (p.Value != "<>" && (!Xtext.TryDecode(p.Value, out var authIdentity) || authIdentity.Length == 0)))
                    {
                        Reply(SmtpReplies.AuthParameterInvalid);
                        return true;
                    }
                    break;
                default:
                    Reply(SmtpReplies.UnsupportedParameter(p.Keyword));
                    return true;
            }
        }
        var mailFrom = "";
        if (path.Length > 0)
        {
            if (MailPathParser.ParseMailbox(path, smtpUtf8) is not { } sender)
            {
                Reply(!smtpUtf8 && path.Any(c => c > '~') ? SmtpReplies.NonAsciiNeedsSmtpUtf8 : SmtpReplies.BadSenderSyntax);
                return true;
            }
            mailFrom = sender.ToString();
        }
        if (Facts.AuthenticatedUser is { } user && _options.RequireSenderOwnership && mailFrom.Length > 0
            && !string.Equals(Mail.Core.Accounts.MailDirectory.Canonical(mailFrom), user, StringComparison.Ordinal))
        {
            // Postfix reject_sender_login_mismatch: a user may send as themselves (or with the null sender for bounces).
            Rejected(RejectReason.Sender, mailFrom);
            Reply(SmtpReplies.SenderNotOwned(mailFrom, user));
            return true;
        }
        if (_rateLimiter is not null && !Facts.InMyNetworks && await _rateLimiter.CountAsync(RateEvent.Message, Facts.ClientEndPoint.Address) is { } tooMany)
        {
            Rejected(RejectReason.RateLimit, mailFrom);
            Reply(SmtpReplies.RateLimited(tooMany));
            return true;
        }
        var mailParameters = new MailFromParameters { Size = size, Body = body, SmtpUtf8 = smtpUtf8, Ret = ret, EnvId = envId };
        Facts.MailFrom = mailFrom;
        Facts.MailFromParameters = mailParameters;
        await CheckSpfAsync(mailFrom);
        var tx = new SmtpTransaction();
        if (_services.Policy is { } policy)
        {
            var verdict = await policy.OnMailFromAsync(Facts, _aborted.Token);
            if (verdict.Action == SmtpPolicyAction.Reject)
            {
                Reply(verdict); // while Facts.MailFrom still names the refused sender (the console's top lists)
                Facts.MailFrom = null;
                Facts.MailFromParameters = null;
                return verdict.Code != 421;
            }
            tx.PolicyDecisions = Record(tx.PolicyResults, tx.PolicyDecisions, verdict);
        }
        _tx = tx;
        _state = SmtpState.MailGiven;
        _limits.ResetCommandsWithoutMail();
        Reply(SmtpReplies.SenderOk);
        return true;
    }

    /// <summary>
    /// SPF of the MAIL FROM identity (postmaster@HELO for the null sender), recorded for the policy (reject_spf_fail,
    /// greylisting by SPF domain) and the envelope. Authenticated and MyNetworks clients are not checked: SPF describes where
    /// a domain's mail comes from on the Internet, not who may submit or relay it here. Each transaction replaces the result.
    /// </summary>
    private async ValueTask CheckSpfAsync(string mailFrom)
    {
        Facts.ConnectionResultMap.Remove("spf");
        Facts.ConnectionResultMap.Remove("spf.domain");
        if (_services.Spf is not { } spf || Facts.AuthenticatedUser is not null || Facts.InMyNetworks) return;
        var helo = Facts.Helo ?? "";
        var domain = mailFrom.Length == 0 ? helo : mailFrom[(mailFrom.LastIndexOf('@') + 1)..];
        string result;
        using var timeout = new CancellationTokenSource(_options.SpfTimeout, _services.Time);
        try
        {
            var r = await spf.CheckMailFromAsync(Facts.ClientEndPoint.Address, mailFrom, helo, timeout.Token).WaitAsync(timeout.Token);
            result = r.ResultName;
            if (r.Domain.Length > 0) domain = r.Domain;
        }
        catch (OperationCanceledException)
        {
            result = "temperror";
        }
        catch (Exception ex)
        {
            _logger.LogWarning(ex, "Session {SessionId}: SPF check failed", Facts.SessionId);
            result = "temperror";
        }
        Facts.ConnectionResultMap["spf"] = result;
        Facts.ConnectionResultMap["spf.domain"] = domain;
    }

    private async ValueTask<bool> RcptAsync(string argument)
    {
        if (!InTransactionBeforeChunks(SmtpReplies.RcptAfterBdat)) return true;
        if (!TryReadPath(argument, "TO:", SmtpReplies.RcptParametersNeedEhlo, out var path, out var parameters)) return true;
        if (Facts.RecipientList.Count >= _options.MaxRecipients)
        {
            Rejected(RejectReason.Recipients);
            Reply(SmtpReplies.TooManyRecipients);
            return true;
        }
        if (_rateLimiter is not null && !Facts.InMyNetworks && await _rateLimiter.CountAsync(RateEvent.Recipient, Facts.ClientEndPoint.Address) is { } tooMany)
        {
            Rejected(RejectReason.RateLimit);
            Reply(SmtpReplies.RateLimited(tooMany));
            return true;
        }
        DsnNotify? notify = null;
        string? orcpt = null;
        foreach (var p in parameters)
        {
            switch (p.Keyword)
            {
                case "NOTIFY":
                    notify = SmtpKeywords.ParseNotify(p.Value);
                    if (notify is null)
                    {
                        Reply(SmtpReplies.NotifyInvalid);
                        return true;
                    }
                    break;
                case "ORCPT":
                    if (p.Value is null || !OriginalRecipient.TryParse(p.Value, out var original))
                    {
                        Reply(SmtpReplies.OrcptInvalid);
                        return true;
                    }
                    orcpt = original;
                    break;
                default:
                    Reply(SmtpReplies.UnsupportedParameter(p.Keyword));
                    return true;
            }
        }
        if (path.Equals("postmaster", StringComparison.OrdinalIgnoreCase))
        {
            // RFC 5321 4.5.1: "<Postmaster>" without a domain must be accepted; it means our postmaster.
            path = $"postmaster@{await PostmasterDomainAsync()}";
        }
        var smtpUtf8 = Facts.MailFromParameters!.SmtpUtf8;
        if (MailPathParser.ParseMailbox(path, smtpUtf8) is not { } mailbox)
        {
            Reply(!smtpUtf8 && path.Any(c => c > '~') ? SmtpReplies.NonAsciiNeedsSmtpUtf8 : SmtpReplies.BadRecipientSyntax);
            return true;
        }
        // The route (if any) is gone and the domain is normalised: "@ours:u@other" is u@other, "u@OURS." is u@ours.
        var recipient = new Recipient { Address = mailbox.ToString(), Notify = notify, ORcpt = orcpt };
        var accepted = false;
        SmtpPolicyResult rcptVerdict = default;
        if (_services.Policy is { } policy)
        {
            rcptVerdict = await policy.OnRcptToAsync(Facts, recipient, _aborted.Token);
            if (rcptVerdict.Action == SmtpPolicyAction.Reject)
            {
                Reply(rcptVerdict);
                return rcptVerdict.Code != 421;
            }
            accepted = rcptVerdict.Action == SmtpPolicyAction.Accept;
        }
        if (!accepted)
        {
            // Relay control: only our domains. A '%', '!' or quoted '@' in the local part is never routed anywhere;
            // it is just a local part no user has, so it gets 550 5.1.1 like any unknown user.
            // Authenticated users and MyNetworks clients may relay (permit_sasl_authenticated, permit_mynetworks);
            // for our own domains the user must still exist.
            if (!await _recipients.IsLocalDomainAsync(mailbox.Domain))
            {
                if (Facts.AuthenticatedUser is null && !Facts.InMyNetworks)
                {
                    Rejected(RejectReason.Relay);
                    Reply(SmtpReplies.RelayDenied(path));
                    return true;
                }
            }
            else
            {
                var resolution = await _recipients.ResolveAsync(mailbox.ToString());
                switch (resolution.Outcome)
                {
                    case ResolutionOutcome.Unknown:
                        Rejected(RejectReason.UnknownRecipient);
                        Reply(SmtpReplies.UserUnknown(path));
                        return true;
                    case ResolutionOutcome.AliasLoop:
                        _logger.LogWarning("Session {SessionId}: RCPT <{Recipient}> refused: {Why}", Facts.SessionId, path, resolution.Why);
                        Rejected(RejectReason.UnknownRecipient);
                        Reply(SmtpReplies.AliasLoop(path));
                        return true;
                    case ResolutionOutcome.InvalidSrs:
                        Rejected(RejectReason.UnknownRecipient);
                        Reply(SmtpReplies.RecipientRejected(path, resolution.Why));
                        return true;
                }
            }
        }
        if (await RefuseRecipientOverQuotaAsync(mailbox, path)) return true;
        _tx!.PolicyDecisions = Record(_tx.PolicyResults, _tx.PolicyDecisions, rcptVerdict);
        Facts.RecipientList.Add(recipient);
        _state = SmtpState.RcptGiven;
        if (Facts.RecipientList.Count == 1) await WaitForInFlowAsync();
        Reply(SmtpReplies.RecipientOk);
        return true;
    }

    /// <summary>
    /// In-flow control (<see cref="SmtpServices.InFlow"/>): before the first accepted recipient's reply, where Postfix's
    /// smtpd opens its cleanup(8) stream (smtpd_delay_open_until_valid_rcpt, the default) and cleanup waits for qmgr's
    /// token. So only a transaction that will carry a message waits, once, before any of its data is sent; a refused
    /// recipient or a probe never waits, and the 250 after the data is never held back.
    /// </summary>
    private async ValueTask WaitForInFlowAsync()
    {
        if (_services.InFlow is not { } inFlow) return;
        var started = _services.Time.GetTimestamp();
        var outcome = await inFlow.WaitAsync(_aborted.Token);
        if (outcome != Mail.Core.Queues.InFlowWait.None)
            _logger.LogDebug("Session {SessionId}: waited {Elapsed} ms for the worker (in-flow control, inbound backlog over Smtp:InFlowBacklog): {Outcome}",
                Facts.SessionId, (long)_services.Time.GetElapsedTime(started).TotalMilliseconds, outcome);
    }

    /// <summary>Our host name when it is one of our domains, else the first local domain.</summary>
    private async ValueTask<string> PostmasterDomainAsync()
    {
        if (await _services.Directory.IsLocalDomainAsync(_options.HostName)) return _options.HostName;
        var domains = await _services.Directory.ListDomainsAsync();
        return domains.Count > 0 ? domains[0] : _options.HostName;
    }
}
