using System.Globalization;
using Mail.Core.Model;
using Mail.Core.Telemetry;
using Mail.Smtp.Protocol;
using Microsoft.Extensions.Logging;

namespace Mail.Smtp.Session;

// DATA and BDAT: the message data, and the end of the transaction (store, queue, then 250).
internal sealed partial class SmtpSession
{
    /// <summary>Checks shared by DATA and the first BDAT; null when the transaction may carry data, else the refusal was written.</summary>
    private async ValueTask<bool?> BeginMessageAsync()
    {
        var tx = _tx!;
        if (_services.Policy is { } policy)
        {
            var verdict = await policy.OnDataAsync(Facts, _aborted.Token);
            if (verdict.Action == SmtpPolicyAction.Reject)
            {
                Reply(verdict);
                return verdict.Code != 421;
            }
            tx.PolicyDecisions = Record(tx.PolicyResults, tx.PolicyDecisions, verdict);
        }
        tx.ReceivedAt = _services.Time.GetUtcNow();
        tx.QueueId = QueueId.New(tx.ReceivedAt);
        try
        {
            tx.Writer = await _services.MessageStore.CreateAsync(tx.QueueId);
            var received = ReceivedHeader.Format(_options.HostName, ClientInfo(Facts.MailFromParameters!.SmtpUtf8), tx.QueueId, Facts.RecipientList, tx.ReceivedAt);
            await tx.Writer.WriteAsync(s_utf8.GetBytes(received));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.LogError(ex, "Session {SessionId}: cannot create message {QueueId}", Facts.SessionId, tx.QueueId);
            await tx.DiscardAsync();
            Rejected(RejectReason.LocalError);
            Reply(SmtpReplies.TemporaryLocalProblem);
            return true;
        }
        return null;
    }

    private async ValueTask<bool> DataAsync(string? argument)
    {
        if (!InTransactionBeforeChunks(SmtpReplies.DataAfterBdat)) return true;
        if (_state == SmtpState.MailGiven)
        {
            Rejected(RejectReason.Content);
            Reply(SmtpReplies.NoValidRecipients);
            return true;
        }
        if (argument is not null)
        {
            Reply(SmtpReplies.DataSyntax);
            return true;
        }
        if (await BeginMessageAsync() is { } refused) return refused;
        var tx = _tx!;
        _state = SmtpState.Data;
        _reply.Write(SmtpReplies.StartMailInput);
        await _reply.FlushAsync();

        var outcome = await (_dataReader ??= new DataReader()).ReadAsync(this, _options.CommandTimeout, tx, _options.MaxMessageSize, _options.MaxLineLength);
        if (outcome is not { } data) return false;
        tx.DataSize = data.Size;

        // Content faults first: they are permanent whatever happened to the store.
        if (data.BareLineEnding)
        {
            Rejected(RejectReason.Content); // before the reset: the sender is still known
            await ResetTransactionAsync();
            Reply(SmtpReplies.BareLineEnding);
            return true;
        }
        if (data.TooBig)
        {
            Rejected(RejectReason.Size); // before the reset: the sender is still known
            await ResetTransactionAsync();
            Reply(SmtpReplies.MessageTooBig(_options.MaxMessageSize));
            return true;
        }
        if (data.LineTooLong)
        {
            Rejected(RejectReason.Content); // before the reset: the sender is still known
            await ResetTransactionAsync();
            Reply(SmtpReplies.LineTooLongInData(_options.MaxLineLength));
            return true;
        }
        if (tx.StoreFailed) return await RefuseStoreFailureAsync(tx);
        return await EndOfMessageAsync();
    }

    private async ValueTask<bool> BdatAsync(string argument)
    {
        var parts = argument.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 1 or > 2 || !parts[0].All(char.IsAsciiDigit) || parts[0].Length > 18
            || (parts.Length == 2 && !parts[1].Equals("LAST", StringComparison.OrdinalIgnoreCase)))
        {
            // Without a valid size we cannot tell chunk data from commands: the connection cannot continue safely.
            Reply(SmtpReplies.BdatSyntax);
            _reply.Write(_hostReplies.BdatFramingLost);
            return false;
        }
        var size = long.Parse(parts[0], CultureInfo.InvariantCulture);
        var last = parts.Length == 2;

        // RFC 3030 section 3: whatever the verdict, the chunk's octets follow and must be read, never executed.
        SmtpReply? refusal = null;
        if (!InTransaction) refusal = SmtpReplies.NeedMail;
        else if (_state == SmtpState.MailGiven) refusal = SmtpReplies.NoValidRecipients;
        else if (_state != SmtpState.Chunking)
        {
            _state = SmtpState.Chunking;
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
            Reply(r);
            return true;
        }
        var tx = _tx!;
        var tooBig = tx.DataSize + size > _options.MaxMessageSize;
        if (!await BdatReader.ReadChunkAsync(this, _options.CommandTimeout, size, tooBig ? null : tx)) return false;
        tx.DataSize += size;
        if (tx.StoreFailed) return await RefuseStoreFailureAsync(tx);
        if (tooBig)
        {
            Rejected(RejectReason.Size); // before the reset: the sender is still known
            await ResetTransactionAsync();
            Reply(SmtpReplies.MessageTooBig(_options.MaxMessageSize));
            return true;
        }
        if (!last)
        {
            Reply(SmtpReplies.ChunkReceived(size));
            return true;
        }
        return await EndOfMessageAsync();
    }

    /// <summary>Writing to the message store failed while the data was read (it was read to its end): 451, no transaction.</summary>
    private async ValueTask<bool> RefuseStoreFailureAsync(SmtpTransaction tx)
    {
        _logger.LogError(tx.StoreError, "Session {SessionId}: writing message {QueueId} failed", Facts.SessionId, tx.QueueId);
        Rejected(RejectReason.LocalError); // before the reset: the sender is still known
        await ResetTransactionAsync();
        Reply(SmtpReplies.LocalErrorInProcessing);
        return true;
    }

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
                var verdict = await policy.OnEndOfDataAsync(Facts, stored, _aborted.Token);
                if (verdict.Action == SmtpPolicyAction.Reject)
                {
                    await _services.MessageStore.DeleteAsync(queueId);
                    await ResetTransactionAsync();
                    Reply(verdict);
                    return verdict.Code != 421;
                }
                tx.PolicyDecisions = Record(tx.PolicyResults, tx.PolicyDecisions, verdict);
            }
            var results = new Dictionary<string, string>(Facts.ConnectionResultMap, StringComparer.Ordinal);
            foreach (var (key, value) in tx.PolicyResults) results[key] = value;
            var decisions = _sessionDecisions.Then(tx.PolicyDecisions);
            var envelope = new Envelope
            {
                QueueId = queueId,
                MessageRef = stored.Id,
                ReceivedAt = tx.ReceivedAt,
                Size = stored.Size,
                Client = ClientInfo(Facts.MailFromParameters!.SmtpUtf8),
                MailFrom = Facts.MailFrom!,
                MailFromParameters = Facts.MailFromParameters,
                Recipients = Facts.RecipientList.ToArray(),
                AuthenticatedUser = Facts.AuthenticatedUser,
                ConnectionResults = results,
                Decisions = decisions.IsEmpty ? null : decisions,
                TraceParent = activity?.Id,
            };
            await _services.InboundQueue.SendAsync(envelope);
            _logger.LogInformation("Session {SessionId}: queued {QueueId} from <{MailFrom}> for {Count} recipient(s), {Size} octets",
                Facts.SessionId, queueId, envelope.MailFrom, envelope.Recipients.Count, stored.Size);
            await ResetTransactionAsync();
            Reply(SmtpReplies.Queued(queueId));
            MailTelemetry.Accepted.Add(1);
            MailTelemetry.Stage("smtp.transaction", System.Diagnostics.Stopwatch.GetElapsedTime(tx.StartedTimestamp));
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.LogError(ex, "Session {SessionId}: could not store or queue {QueueId}", Facts.SessionId, queueId);
            if (committed) await DeleteUnqueuedAsync(queueId);
            Rejected(RejectReason.LocalError); // before the reset: the sender is still known
            await ResetTransactionAsync();
            Reply(SmtpReplies.LocalErrorInProcessing);
            return true;
        }
        catch (OperationCanceledException) when (committed && _aborted.IsCancellationRequested)
        {
            // The session was aborted (a shutdown past its grace period) while the end-of-data hook ran: the client
            // never heard 250 and will send again, so the stored copy, without an envelope, must not stay.
            await DeleteUnqueuedAsync(queueId);
            throw;
        }
    }

    private async ValueTask DeleteUnqueuedAsync(string queueId)
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
}
