using System.Buffers;
using System.Globalization;
using Mail.Core.Accounts;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Telemetry;
using Mail.Smtp.Protocol;
using Microsoft.Extensions.Logging;

namespace Mail.Smtp.Session;

// MAIL, RCPT, DATA, BDAT and the end of a message.
internal sealed partial class SmtpSession
{
    private async ValueTask<bool> MailAsync(string argument)
    {
        if (!_heloSeen)
        {
            Reply(503, "5.5.1", "Send HELO/EHLO first");
            return true;
        }
        if (_tx is not null)
        {
            Reply(503, "5.5.1", "Nested MAIL command");
            return true;
        }
        if (_listener.Role == SmtpListenerRole.Submission && Facts.AuthenticatedUser is null)
        {
            // RFC 6409 4.3 / RFC 4954 6: the submission service takes mail from authenticated users only.
            Reply(530, "5.7.0", "Authentication required");
            return true;
        }
        var syntax = MailPathParser.TryParse(argument, "FROM:", out var path, out var parameters);
        if (syntax is not null)
        {
            Reply(501, "5.5.4", syntax);
            return true;
        }
        if (!Facts.Esmtp && parameters.Count > 0)
        {
            Reply(555, "5.5.4", "MAIL parameters need EHLO");
            return true;
        }
        long? size = null;
        string? body = null, ret = null, envId = null;
        var smtpUtf8 = false;
        foreach (var p in parameters)
        {
            switch (p.Keyword)
            {
                case "SIZE":
                    if (p.Value is null || !p.Value.All(char.IsAsciiDigit) || !long.TryParse(p.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var s))
                    {
                        Reply(501, "5.5.4", "Bad SIZE value");
                        return true;
                    }
                    if (s > _options.MaxMessageSize)
                    {
                        MailTelemetry.Reject(RejectReason.Size);
                        Reply(552, "5.3.4", $"Message size exceeds fixed maximum message size ({_options.MaxMessageSize} octets)");
                        return true;
                    }
                    size = s;
                    break;
                case "BODY":
                    body = p.Value?.ToUpperInvariant();
                    if (body is not ("7BIT" or "8BITMIME"))
                    {
                        Reply(body == "BINARYMIME" ? 555 : 501, "5.5.4", "BODY must be 7BIT or 8BITMIME");
                        return true;
                    }
                    break;
                case "SMTPUTF8":
                    if (p.Value is not null)
                    {
                        Reply(501, "5.5.4", "SMTPUTF8 takes no value");
                        return true;
                    }
                    smtpUtf8 = true;
                    break;
                case "RET":
                    ret = p.Value?.ToUpperInvariant();
                    if (ret is not ("FULL" or "HDRS"))
                    {
                        Reply(501, "5.5.4", "RET must be FULL or HDRS");
                        return true;
                    }
                    break;
                case "ENVID":
                    if (p.Value is null || !Xtext.TryDecode(p.Value, out var decoded) || p.Value.Length > 100)
                    {
                        Reply(501, "5.5.4", "ENVID must be xtext of at most 100 characters");
                        return true;
                    }
                    envId = decoded;
                    break;
                case "AUTH":
                    // RFC 4954 5: accepted and checked, but not trusted or passed on (we are the first hop: the
                    // authenticated identity we record is the session's own).
                    if (p.Value is null || (p.Value != "<>" && (!Xtext.TryDecode(p.Value, out var authIdentity) || authIdentity.Length == 0)))
                    {
                        Reply(501, "5.5.4", "AUTH must be <> or an xtext mailbox");
                        return true;
                    }
                    break;
                default:
                    Reply(555, "5.5.4", $"Unsupported parameter {p.Keyword}");
                    return true;
            }
        }
        var mailFrom = "";
        if (path.Length > 0)
        {
            if (MailPathParser.ParseMailbox(path, smtpUtf8) is not { } sender)
            {
                if (!smtpUtf8 && path.Any(c => c > '~')) Reply(553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
                else Reply(553, "5.1.7", "Bad sender address syntax");
                return true;
            }
            mailFrom = sender.ToString();
        }
        if (Facts.AuthenticatedUser is { } user && _options.RequireSenderOwnership && mailFrom.Length > 0
            && !string.Equals(Mail.Core.Accounts.MailDirectory.Canonical(mailFrom), user, StringComparison.Ordinal))
        {
            // Postfix reject_sender_login_mismatch: a user may send as themselves (or with the null sender for bounces).
            MailTelemetry.Reject(RejectReason.Sender);
            Reply(553, "5.7.1", $"<{mailFrom}>: Sender address rejected: not owned by user {user}");
            return true;
        }
        if (_rateLimiter is not null && !Facts.InMyNetworks && await _rateLimiter.CountAsync(RateEvent.Message, Facts.ClientEndPoint.Address) is { } tooMany)
        {
            MailTelemetry.Reject(RejectReason.RateLimit);
            Reply(450, "4.7.1", $"{tooMany}: rate limit exceeded, try again later");
            return true;
        }
        var mailParameters = new MailFromParameters { Size = size, Body = body, SmtpUtf8 = smtpUtf8, Ret = ret, EnvId = envId };
        Facts.MailFrom = mailFrom;
        Facts.MailFromParameters = mailParameters;
        await CheckSpfAsync(mailFrom);
        var tx = new SmtpTransaction(mailFrom, mailParameters);
        if (_services.Policy is { } policy)
        {
            var verdict = await policy.OnMailFromAsync(Facts, CancellationToken.None);
            if (verdict.Action == SmtpPolicyAction.Reject)
            {
                Facts.MailFrom = null;
                Facts.MailFromParameters = null;
                Reply(verdict);
                return verdict.Code != 421;
            }
            Record(tx.PolicyResults, verdict);
        }
        _tx = tx;
        _limits.ResetCommandsWithoutMail();
        Reply(250, "2.1.0", "Ok");
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
        if (_tx is null)
        {
            Reply(503, "5.5.1", "Need MAIL command");
            return true;
        }
        if (_tx.Chunking)
        {
            Reply(503, "5.5.1", "RCPT not allowed after BDAT");
            return true;
        }
        var syntax = MailPathParser.TryParse(argument, "TO:", out var path, out var parameters);
        if (syntax is not null)
        {
            Reply(501, "5.5.4", syntax);
            return true;
        }
        if (!Facts.Esmtp && parameters.Count > 0)
        {
            Reply(555, "5.5.4", "RCPT parameters need EHLO");
            return true;
        }
        if (_tx.Recipients.Count >= _options.MaxRecipients)
        {
            MailTelemetry.Reject(RejectReason.Recipients);
            Reply(452, "4.5.3", "Too many recipients");
            return true;
        }
        if (_rateLimiter is not null && !Facts.InMyNetworks && await _rateLimiter.CountAsync(RateEvent.Recipient, Facts.ClientEndPoint.Address) is { } tooMany)
        {
            MailTelemetry.Reject(RejectReason.RateLimit);
            Reply(450, "4.7.1", $"{tooMany}: rate limit exceeded, try again later");
            return true;
        }
        List<string>? notify = null;
        string? orcpt = null;
        foreach (var p in parameters)
        {
            switch (p.Keyword)
            {
                case "NOTIFY":
                    notify = p.Value?.ToUpperInvariant().Split(',').ToList();
                    if (notify is null || notify.Count == 0 || notify.Distinct().Count() != notify.Count
                        || notify.Any(n => n is not ("NEVER" or "SUCCESS" or "FAILURE" or "DELAY"))
                        || (notify.Contains("NEVER") && notify.Count > 1))
                    {
                        Reply(501, "5.5.4", "NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY");
                        return true;
                    }
                    break;
                case "ORCPT":
                    var semi = p.Value?.IndexOf(';') ?? -1;
                    if (p.Value is null || semi <= 0 || p.Value.Length > 500
                        || !p.Value[..semi].All(c => char.IsAsciiLetterOrDigit(c) || c == '-')
                        || !Xtext.TryDecode(p.Value[(semi + 1)..], out var address) || address.Length == 0)
                    {
                        Reply(501, "5.5.4", "ORCPT must be addr-type;xtext");
                        return true;
                    }
                    orcpt = $"{p.Value[..semi]};{address}";
                    break;
                default:
                    Reply(555, "5.5.4", $"Unsupported parameter {p.Keyword}");
                    return true;
            }
        }
        if (path.Equals("postmaster", StringComparison.OrdinalIgnoreCase))
        {
            // RFC 5321 4.5.1: "<Postmaster>" without a domain must be accepted; it means our postmaster.
            path = $"postmaster@{await PostmasterDomainAsync()}";
        }
        if (MailPathParser.ParseMailbox(path, _tx.Parameters.SmtpUtf8) is not { } mailbox)
        {
            if (!_tx.Parameters.SmtpUtf8 && path.Any(c => c > '~')) Reply(553, "5.6.7", "Non-ASCII address needs SMTPUTF8");
            else Reply(501, "5.1.3", "Bad recipient address syntax");
            return true;
        }
        // The route (if any) is gone and the domain is normalised: "@ours:u@other" is u@other, "u@OURS." is u@ours.
        var recipient = new Recipient { Address = mailbox.ToString(), Notify = notify, ORcpt = orcpt };
        var accepted = false;
        SmtpPolicyResult rcptVerdict = default;
        if (_services.Policy is { } policy)
        {
            rcptVerdict = await policy.OnRcptToAsync(Facts, recipient, CancellationToken.None);
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
                    MailTelemetry.Reject(RejectReason.Relay);
                    Reply(554, "5.7.1", $"<{path}>: Relay access denied");
                    return true;
                }
            }
            else
            {
                var resolution = await _recipients.ResolveAsync(mailbox.ToString());
                switch (resolution.Outcome)
                {
                    case ResolutionOutcome.Unknown:
                        MailTelemetry.Reject(RejectReason.UnknownRecipient);
                        Reply(550, "5.1.1", $"<{path}>: Recipient address rejected: User unknown");
                        return true;
                    case ResolutionOutcome.AliasLoop:
                        // RFC 3463 X.4.6 "Routing loop detected": the mistake is ours, the sender can only be told.
                        _logger.LogWarning("Session {SessionId}: RCPT <{Recipient}> refused: {Why}", Facts.SessionId, path, resolution.Why);
                        MailTelemetry.Reject(RejectReason.UnknownRecipient);
                        Reply(550, "5.4.6", $"<{path}>: Recipient address rejected: Alias loop");
                        return true;
                    case ResolutionOutcome.InvalidSrs:
                        MailTelemetry.Reject(RejectReason.UnknownRecipient);
                        Reply(550, "5.1.1", $"<{path}>: Recipient address rejected: {resolution.Why}");
                        return true;
                }
            }
        }
        if (await RefuseRecipientOverQuotaAsync(mailbox, path)) return true;
        Record(_tx.PolicyResults, rcptVerdict);
        _tx.Recipients.Add(recipient);
        Facts.RecipientList.Add(recipient);
        Reply(250, "2.1.5", "Ok");
        return true;
    }

    /// <summary>Our host name when it is one of our domains, else the first local domain.</summary>
    private async ValueTask<string> PostmasterDomainAsync()
    {
        if (await _services.Directory.IsLocalDomainAsync(_options.HostName)) return _options.HostName;
        var domains = await _services.Directory.ListDomainsAsync();
        return domains.Count > 0 ? domains[0] : _options.HostName;
    }

    /// <summary>Checks shared by DATA and the first BDAT; null when the transaction may carry data, else the refusal was written.</summary>
    private async ValueTask<bool?> BeginMessageAsync()
    {
        var tx = _tx!;
        if (_services.Policy is { } policy)
        {
            var verdict = await policy.OnDataAsync(Facts, CancellationToken.None);
            if (verdict.Action == SmtpPolicyAction.Reject)
            {
                Reply(verdict);
                return verdict.Code != 421;
            }
            Record(tx.PolicyResults, verdict);
        }
        tx.ReceivedAt = _services.Time.GetUtcNow();
        tx.QueueId = QueueId.New(tx.ReceivedAt);
        try
        {
            tx.Writer = await _services.MessageStore.CreateAsync(tx.QueueId);
            var received = ReceivedHeader.Format(_options.HostName, ClientInfo(tx.Parameters.SmtpUtf8), tx.QueueId, tx.Recipients, tx.ReceivedAt);
            await tx.Writer.WriteAsync(s_utf8.GetBytes(received));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.LogError(ex, "Session {SessionId}: cannot create message {QueueId}", Facts.SessionId, tx.QueueId);
            await tx.DiscardAsync();
            MailTelemetry.Reject(RejectReason.LocalError);
            Reply(451, "4.3.0", "Temporary local problem, try again later");
            return true;
        }
        return null;
    }

    private async ValueTask<bool> DataAsync(string? argument)
    {
        if (_tx is null)
        {
            Reply(503, "5.5.1", "Need MAIL command");
            return true;
        }
        if (_tx.Chunking)
        {
            Reply(503, "5.5.1", "DATA not allowed after BDAT");
            return true;
        }
        if (_tx.Recipients.Count == 0)
        {
            MailTelemetry.Reject(RejectReason.Content);
            Reply(554, "5.5.1", "No valid recipients");
            return true;
        }
        if (argument is not null)
        {
            Reply(501, "5.5.4", "Syntax: DATA");
            return true;
        }
        if (await BeginMessageAsync() is { } refused) return refused;
        var tx = _tx;
        _reply.Write(354, null, "End data with <CR><LF>.<CR><LF>");
        await _reply.FlushAsync();

        var outcome = await (_dataReader ??= new DataReader()).ReadAsync(this, _options.CommandTimeout, tx, _options.MaxMessageSize, _options.MaxLineLength);
        if (outcome is not { } data) return false;
        tx.DataSize = data.Size;

        // Content faults first: they are permanent whatever happened to the store.
        if (data.BareLineEnding)
        {
            await ResetTransactionAsync();
            MailTelemetry.Reject(RejectReason.Content);
            Reply(550, "5.6.0", "Message refused: bare <CR> or <LF> in message data (RFC 5321 2.3.8)");
            return true;
        }
        if (data.TooBig)
        {
            await ResetTransactionAsync();
            MailTelemetry.Reject(RejectReason.Size);
            Reply(552, "5.3.4", $"Message size exceeds fixed maximum message size ({_options.MaxMessageSize} octets)");
            return true;
        }
        if (data.LineTooLong)
        {
            await ResetTransactionAsync();
            MailTelemetry.Reject(RejectReason.Content);
            Reply(552, "5.6.0", $"Message refused: text line longer than {_options.MaxLineLength} octets (RFC 5321 4.5.3.1.6)");
            return true;
        }
        if (tx.StoreFailed)
        {
            LogStoreError(tx);
            await ResetTransactionAsync();
            MailTelemetry.Reject(RejectReason.LocalError);
            Reply(451, "4.3.0", "Local error in processing, try again later");
            return true;
        }
        return await EndOfMessageAsync();
    }

    private async ValueTask<bool> BdatAsync(string argument)
    {
        var parts = argument.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 1 or > 2 || !parts[0].All(char.IsAsciiDigit) || parts[0].Length > 18
            || (parts.Length == 2 && !parts[1].Equals("LAST", StringComparison.OrdinalIgnoreCase)))
        {
            // Without a valid size we cannot tell chunk data from commands: the connection cannot continue safely.
            Reply(501, "5.5.4", "Syntax: BDAT chunk-size [LAST]");
            _reply.Write(421, "4.5.0", $"{_options.HostName} BDAT framing lost, closing connection");
            return false;
        }
        var size = long.Parse(parts[0], CultureInfo.InvariantCulture);
        var last = parts.Length == 2;

        // RFC 3030 section 3: whatever the verdict, the chunk's octets follow and must be read, never executed.
        (int Code, string Enhanced, string Text)? refusal = null;
        if (_tx is null) refusal = (503, "5.5.1", "Need MAIL command");
        else if (_tx.Recipients.Count == 0) refusal = (554, "5.5.1", "No valid recipients");
        else if (!_tx.Chunking)
        {
            _tx.Chunking = true;
            if (await BeginMessageAsync() is { } keepOpen)
            {
                // Refused (reply written) or storage unavailable: drain the chunk, drop the transaction.
                if (!await BdatReader.ReadChunkAsync(this, _options.CommandTimeout, size, null)) return false;
                await ResetTransactionAsync();
                return keepOpen;
            }
        }
        if (refusal is { } r)
        {
            if (!await BdatReader.ReadChunkAsync(this, _options.CommandTimeout, size, null)) return false;
            Reply(r.Code, r.Enhanced, r.Text);
            return true;
        }
        var tx = _tx!;
        var tooBig = tx.DataSize + size > _options.MaxMessageSize;
        if (!await BdatReader.ReadChunkAsync(this, _options.CommandTimeout, size, tooBig ? null : tx)) return false;
        tx.DataSize += size;
        if (tx.StoreFailed)
        {
            LogStoreError(tx);
            await ResetTransactionAsync();
            MailTelemetry.Reject(RejectReason.LocalError);
            Reply(451, "4.3.0", "Local error in processing, try again later");
            return true;
        }
        if (tooBig)
        {
            await ResetTransactionAsync();
            MailTelemetry.Reject(RejectReason.Size);
            Reply(552, "5.3.4", $"Message size exceeds fixed maximum message size ({_options.MaxMessageSize} octets)");
            return true;
        }
        if (!last)
        {
            Reply(250, "2.0.0", $"{size} octets received");
            return true;
        }
        return await EndOfMessageAsync();
    }

    private void LogStoreError(SmtpTransaction tx) =>
        _logger.LogError(tx.StoreError, "Session {SessionId}: writing message {QueueId} failed", Facts.SessionId, tx.QueueId);

    /// <summary>Commits the message, queues its envelope, and only then says 250.</summary>
    private async ValueTask<bool> EndOfMessageAsync()
    {
        var tx = _tx!;
        var queueId = tx.QueueId!;
        var committed = false;
        // The trace starts here and travels in the envelope, so the pipeline's spans join it (null without a listener).
        // The span covers the transaction from MAIL; it is started now, when its outcome is known, with MAIL's time.
        using var activity = MailTelemetry.Smtp.HasListeners()
            ? MailTelemetry.Smtp.StartActivity("smtp.transaction", System.Diagnostics.ActivityKind.Server, default(System.Diagnostics.ActivityContext), startTime: tx.StartedAt)
            : null;
        activity?.SetTag("mail.queue_id", queueId);
        try
        {
            // Before the commit: a refused message never reaches the store (a failed lookup is the 451 below).
            if (await RefuseMessageOverQuotaAsync(tx)) return true;
            var stored = await tx.Writer!.CommitAsync();
            committed = true;
            await tx.DiscardAsync();
            if (_services.Policy is { } policy)
            {
                var verdict = await policy.OnEndOfDataAsync(Facts, stored, CancellationToken.None);
                if (verdict.Action == SmtpPolicyAction.Reject)
                {
                    await _services.MessageStore.DeleteAsync(queueId);
                    await ResetTransactionAsync();
                    Reply(verdict);
                    return verdict.Code != 421;
                }
                Record(tx.PolicyResults, verdict);
            }
            var results = new Dictionary<string, string>(Facts.ConnectionResultMap, StringComparer.Ordinal);
            foreach (var (key, value) in tx.PolicyResults) results[key] = value;
            var envelope = new Envelope
            {
                QueueId = queueId,
                MessageRef = stored.Id,
                ReceivedAt = tx.ReceivedAt,
                Size = stored.Size,
                Client = ClientInfo(tx.Parameters.SmtpUtf8),
                MailFrom = tx.MailFrom,
                MailFromParameters = tx.Parameters,
                Recipients = tx.Recipients.ToArray(),
                AuthenticatedUser = Facts.AuthenticatedUser,
                ConnectionResults = results,
                TraceParent = activity?.Id,
            };
            await _services.InboundQueue.SendAsync(envelope);
            _logger.LogInformation("Session {SessionId}: queued {QueueId} from <{MailFrom}> for {Count} recipient(s), {Size} octets",
                Facts.SessionId, queueId, tx.MailFrom, tx.Recipients.Count, stored.Size);
            await ResetTransactionAsync();
            Reply(250, "2.0.0", $"Ok: queued as {queueId}");
            MailTelemetry.Accepted.Add(1);
            MailTelemetry.Stage("smtp.transaction", System.Diagnostics.Stopwatch.GetElapsedTime(tx.StartedTimestamp));
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.LogError(ex, "Session {SessionId}: could not store or queue {QueueId}", Facts.SessionId, queueId);
            if (committed)
            {
                try
                {
                    await _services.MessageStore.DeleteAsync(queueId);
                }
                catch (Exception deleteError) when (deleteError is not OperationCanceledException)
                {
                    _logger.LogWarning(deleteError, "Session {SessionId}: could not remove unqueued message {QueueId}", Facts.SessionId, queueId);
                }
            }
            await ResetTransactionAsync();
            MailTelemetry.Reject(RejectReason.LocalError);
            Reply(451, "4.3.0", "Local error in processing, try again later");
            return true;
        }
    }
}
