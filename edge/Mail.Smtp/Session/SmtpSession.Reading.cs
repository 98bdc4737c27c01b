using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using Mail.Smtp.Protocol;
using Microsoft.Extensions.Logging;

namespace Mail.Smtp.Session;

// Reading the connection: timeouts, shutdown, command lines and improper pipelining.
internal sealed partial class SmtpSession
{
    private void OnTimer()
    {
        if (!_timerArmed) return;
        _timedOut = true;
        try
        {
            _reader?.CancelPendingRead();
        }
        catch (InvalidOperationException)
        {
        }
    }

    PipeReader ISmtpInput.Reader => _reader;

    /// <summary>Reads with a timeout; null when the session must end (timeout or shutdown: the 421 is already written).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ReadResult?> ReadAsync(TimeSpan timeout)
    {
        while (true)
        {
            if (_stopping) return ShutdownReply();
            var result = await ReadWithTimerAsync(timeout);
            if (!result.IsCanceled) return result;
            _reader.AdvanceTo(result.Buffer.Start);
            if (_stopping) return ShutdownReply();
            if (_timedOut)
            {
                _reply.Write(_hostReplies.Timeout);
                return null;
            }
            // A cancellation meant for an earlier read: read again.
        }
    }

    /// <summary>One read that <see cref="OnTimer"/> cancels (setting <c>_timedOut</c>) when <paramref name="timeout"/> passes.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> ReadWithTimerAsync(TimeSpan timeout)
    {
        _timedOut = false;
        _timerArmed = true;
        _timer.Change(timeout, Timeout.InfiniteTimeSpan);
        try
        {
            return await _reader.ReadAsync();
        }
        finally
        {
            _timerArmed = false;
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    private ReadResult? ShutdownReply()
    {
        _reply.Write(_hostReplies.ShuttingDown);
        return null;
    }

    private int LineLimit(in ReadOnlySequence<byte> line, bool raw) =>
        raw || SmtpCommandParser.IsParameterCommand(line) ? _options.MaxCommandLineLength + _options.ParameterLineAllowance : _options.MaxCommandLineLength;

    /// <summary>Next command line, or null when the connection ended. Replies are flushed only when no more input is buffered (RFC 2920).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<SmtpCommand?> ReadCommandAsync(bool raw = false)
    {
        while (true)
        {
            ReadResult result = default;
            var have = false;
            if (!_needMore && _reader.TryRead(out result))
            {
                if (result.IsCanceled || (result.Buffer.IsEmpty && !result.IsCompleted)) _reader.AdvanceTo(result.Buffer.Start);
                else have = true;
            }
            if (!have)
            {
                await _reply.FlushAsync();
                // Idle: nothing of the next command yet. Partial: a command line has begun and must be complete within
                // CommandTimeout of its first octet (a client dripping one octet at a time gets no extra time).
                TimeSpan timeout;
                if (_needMore || _skippingLongLine)
                {
                    var now = _services.Time.GetTimestamp();
                    if (_lineStartedAt == 0) _lineStartedAt = now;
                    timeout = _options.CommandTimeout - _services.Time.GetElapsedTime(_lineStartedAt, now);
                    if (timeout <= TimeSpan.Zero) timeout = TimeSpan.FromTicks(1);
                }
                else
                {
                    _lineStartedAt = 0;
                    timeout = _options.IdleTimeout;
                }
                var r = await ReadAsync(timeout);
                if (r is null) return null;
                result = r.Value;
            }
            _needMore = false;
            var buffer = result.Buffer;
            if (SmtpCommandParser.TryReadLine(buffer, out var line, out var next) == LineStatus.Complete)
            {
                SmtpCommand command;
                if (_skippingLongLine)
                {
                    _skippingLongLine = false;
                    command = new SmtpCommand(SmtpVerb.Invalid, null, "Line too long");
                }
                else if (line.Length + 1 > LineLimit(line, raw)) command = new SmtpCommand(SmtpVerb.Invalid, null, "Line too long");
                else command = raw ? SmtpCommandParser.ParseRaw(line) : SmtpCommandParser.Parse(line);
                if (!raw && !Facts.Pipelined && !buffer.Slice(next).IsEmpty && IsImproperPipelining(command.Verb))
                {
                    Facts.Pipelined = true;
                    _logger.LogInformation("Session {SessionId}: improper command pipelining after {Verb} from {Client}", Facts.SessionId, command.Verb, Facts.ClientEndPoint);
                }
                _reader.AdvanceTo(next);
                _lineStartedAt = 0;
                return command;
            }
            if (result.IsCompleted)
            {
                _reader.AdvanceTo(buffer.End);
                return null;
            }
            if (_skippingLongLine || buffer.Length >= LineLimit(buffer, raw))
            {
                // Too long already: drop what we have and the rest of the line, answer once the line ends.
                _skippingLongLine = true;
                _reader.AdvanceTo(buffer.End);
            }
            else _reader.AdvanceTo(buffer.Start, buffer.End);
            _needMore = true;
        }
    }

    /// <summary>
    /// Postfix's improper pipelining (reject_unauth_pipelining): more input was already waiting when a command was read,
    /// and either the client has not been told PIPELINING (no EHLO answered yet, or HELO) or the command must end a
    /// group (RFC 2920 3.1: EHLO, DATA, VRFY, EXPN, NOOP; RFC 3207: STARTTLS) — e.g. message data sent before the 354.
    /// </summary>
    private bool IsImproperPipelining(SmtpVerb verb) =>
        !Facts.Esmtp || verb is SmtpVerb.Ehlo or SmtpVerb.Helo or SmtpVerb.Data or SmtpVerb.Vrfy or SmtpVerb.Expn or SmtpVerb.Noop or SmtpVerb.StartTls;
}
