namespace Mail.Smtp.Session;

/// <summary>
/// Where an SMTP session is in RFC 5321's dialogue (section 4.1.4 orders the commands; section 3.3 the transaction).
/// What is orthogonal to the dialogue stays a fact of the session, not a state: TLS active, the authenticated user,
/// HELO versus EHLO (<see cref="SmtpSessionFacts"/>).
/// </summary>
internal enum SmtpState
{
    /// <summary>The 220 greeting is sent (or about to be); no HELO/EHLO yet, so no MAIL (RFC 5321 4.1.4). STARTTLS returns here (RFC 3207 4.2).</summary>
    Connected,

    /// <summary>HELO or EHLO accepted; no transaction. RSET, and the end of a transaction, return here.</summary>
    Greeted,

    /// <summary>MAIL accepted: a transaction is open, no recipient yet (DATA would get 554).</summary>
    MailGiven,

    /// <summary>At least one RCPT accepted: DATA or BDAT may follow.</summary>
    RcptGiven,

    /// <summary>Between DATA's 354 and the end of the data.</summary>
    Data,

    /// <summary>BDAT chunks are being received (RFC 3030 3): RCPT and DATA are refused until the transaction ends.</summary>
    Chunking,

    /// <summary>QUIT answered, or a 421 sent: nothing more is read.</summary>
    Closing,
}
