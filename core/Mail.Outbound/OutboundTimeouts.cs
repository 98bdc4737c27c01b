using Mail.Outbound.Smtp;

namespace Mail.Outbound;

/// <summary>
/// How long the SMTP client waits at each stage of a conversation (configuration section "Outbound:Timeouts"):
/// RFC 5321 4.5.3.2's values, under the names of Postfix's smtp_helo_timeout, smtp_mail_timeout, smtp_rcpt_timeout,
/// smtp_data_init_timeout, smtp_data_xfer_timeout and smtp_data_done_timeout. Each is the limit of one read or write
/// (the server's reply, or one block of the message), as in Postfix, not of the whole stage.
/// </summary>
public sealed class OutboundTimeouts
{
    /// <summary>The one line for a configuration that still sets the single timeout these replaced.</summary>
    public const string CommandTimeoutRetired =
        "Outbound:CommandTimeout is no longer read: set Outbound:Timeouts:Helo, Mail, Rcpt, DataInit, DataXfer and DataDone (RFC 5321 4.5.3.2) instead";

    /// <summary>The initial 220 greeting, EHLO/HELO, STARTTLS with its handshake, AUTH (RFC 5321 4.5.3.2.1: 5 minutes).</summary>
    public TimeSpan Helo { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The reply to MAIL FROM (4.5.3.2.2: 5 minutes); also RSET, QUIT and any other command.</summary>
    public TimeSpan Mail { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The reply to each RCPT TO (4.5.3.2.3: 5 minutes).</summary>
    public TimeSpan Rcpt { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The 354 reply to DATA (4.5.3.2.4: 2 minutes).</summary>
    public TimeSpan DataInit { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Each write of the message content, DATA or BDAT (4.5.3.2.5: 3 minutes per data block).</summary>
    public TimeSpan DataXfer { get; set; } = TimeSpan.FromMinutes(3);

    /// <summary>The reply after the final "." or the last BDAT chunk (4.5.3.2.6: 10 minutes, as the server may be
    /// processing the message; a shorter wait risks sending it twice).</summary>
    public TimeSpan DataDone { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Throws naming the first setting that cannot work.</summary>
    public void Validate()
    {
        foreach (var (name, value) in new[] { ("Helo", Helo), ("Mail", Mail), ("Rcpt", Rcpt), ("DataInit", DataInit), ("DataXfer", DataXfer), ("DataDone", DataDone) })
        {
            if (value <= TimeSpan.Zero || value.TotalMilliseconds > int.MaxValue)
                throw new ArgumentException($"Outbound:Timeouts:{name} must be positive and at most 24 days (got {value})");
        }
    }

    /// <summary>The limit while the conversation is at <paramref name="stage"/>.</summary>
    internal TimeSpan For(SmtpStage stage) => stage switch
    {
        SmtpStage.Greeting or SmtpStage.Ehlo or SmtpStage.StartTls or SmtpStage.TlsHandshake or SmtpStage.Auth => Helo,
        SmtpStage.RcptTo => Rcpt,
        SmtpStage.Data => DataInit,
        SmtpStage.MessageBody => DataXfer,
        SmtpStage.EndOfData => DataDone,
        _ => Mail,
    };
}
