using System.Runtime.CompilerServices;
using Mail.Smtp.Protocol;

namespace Mail.Smtp.Session;

// Dispatch by verb, and the commands that need no file of their own (HELO/EHLO, RSET, NOOP, QUIT, VRFY, EXPN, HELP).
internal sealed partial class SmtpSession
{
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> DispatchAsync(SmtpCommand command)
    {
        if (!InTransaction && command.Verb is not (SmtpVerb.Mail or SmtpVerb.Quit) && !_limits.CountCommandWithoutMail())
        {
            _reply.Write(_hostReplies.TooManyCommandsWithoutMail);
            return false;
        }
        switch (command.Verb)
        {
            case SmtpVerb.Invalid:
                Reply(SmtpReplies.CommandSyntax(command.Error));
                return true;
            case SmtpVerb.Unknown:
                Reply(SmtpReplies.CommandUnrecognized);
                return true;
            case SmtpVerb.Ehlo:
                return await HeloAsync(command.Argument, esmtp: true);
            case SmtpVerb.Helo:
                return await HeloAsync(command.Argument, esmtp: false);
            case SmtpVerb.Mail:
                return await MailAsync(command.Argument ?? "");
            case SmtpVerb.Rcpt:
                return await RcptAsync(command.Argument ?? "");
            case SmtpVerb.Data:
                return await DataAsync(command.Argument);
            case SmtpVerb.Bdat:
                return await BdatAsync(command.Argument ?? "");
            case SmtpVerb.Rset:
                if (command.Argument is not null)
                {
                    Reply(SmtpReplies.RsetSyntax);
                    return true;
                }
                await ResetTransactionAsync();
                Reply(SmtpReplies.Ok);
                return true;
            case SmtpVerb.Noop:
                Reply(SmtpReplies.Ok);
                return true;
            case SmtpVerb.Quit:
                _state = SmtpState.Closing;
                _reply.Write(_hostReplies.Bye);
                return false;
            case SmtpVerb.Vrfy:
                Reply(string.IsNullOrWhiteSpace(command.Argument) ? SmtpReplies.VrfySyntax : SmtpReplies.CannotVrfy);
                return true;
            case SmtpVerb.Expn:
                Reply(SmtpReplies.ExpnNotAvailable);
                return true;
            case SmtpVerb.Help:
                Reply(SmtpReplies.Help);
                return true;
            case SmtpVerb.Auth:
                return await AuthAsync(command.Argument);
            case SmtpVerb.StartTls:
                return await StartTlsAsync(command.Argument);
            default:
                Reply(SmtpReplies.CommandUnrecognized);
                return true;
        }
    }

    /// <summary>Ends the open transaction, if any (RSET, HELO/EHLO, STARTTLS, the end of data): its data is discarded,
    /// its envelope forgotten, and the session is back to <see cref="SmtpState.Greeted"/>.</summary>
    private async ValueTask ResetTransactionAsync()
    {
        if (_tx is not null) await _tx.DiscardAsync();
        _tx = null;
        if (InTransaction) _state = SmtpState.Greeted;
        Facts.MailFrom = null;
        Facts.MailFromParameters = null;
        Facts.RecipientList.Clear();
    }

    private async ValueTask<bool> HeloAsync(string? argument, bool esmtp)
    {
        var name = argument?.Trim().Split(' ', 2)[0] ?? "";
        if (name.Length == 0)
        {
            Reply(esmtp ? SmtpReplies.EhloSyntax : SmtpReplies.HeloSyntax);
            return true;
        }
        await ResetTransactionAsync();
        Facts.Helo = name;
        Facts.Esmtp = esmtp;
        _state = SmtpState.Greeted;
        if (_services.Policy is { } policy)
        {
            var verdict = await policy.OnHeloAsync(Facts, _aborted.Token);
            if (verdict.Action == SmtpPolicyAction.Reject)
            {
                _state = SmtpState.Connected;
                Facts.Helo = null;
                Reply(verdict);
                return verdict.Code != 421;
            }
            _sessionDecisions = Record(Facts.ConnectionResultMap, _sessionDecisions, verdict);
        }
        // RFC 2034 section 3: replies to HELO/EHLO carry no enhanced status code.
        _reply.Write(_hostReplies.Hello(name, Facts.ClientEndPoint.Address, continues: esmtp));
        if (!esmtp) return true;
        _reply.Write(SmtpReplies.Pipelining);
        _reply.Write(SmtpReplies.Size(_options.MaxMessageSize));
        _reply.Write(SmtpReplies.EightBitMime);
        _reply.Write(SmtpReplies.SmtpUtf8);
        _reply.Write(SmtpReplies.EnhancedStatusCodes);
        _reply.Write(SmtpReplies.Chunking);
        if (_certificate is not null && Facts.Tls is null) _reply.Write(SmtpReplies.StartTlsOffered);
        if (AuthOffered) _reply.Write(SmtpReplies.AuthOffered);
        _reply.Write(SmtpReplies.Dsn);
        return true;
    }
}
