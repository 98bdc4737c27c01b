namespace Mail.Smtp.Session;

/// <summary>The per-session counters behind MaxErrors and MaxCommandsBeforeMail.</summary>
internal sealed class SessionLimits(int maxErrors, int maxCommandsBeforeMail)
{
    private int _errors;
    private int _commandsWithoutMail;

    /// <summary>Counts an error reply (4xx/5xx).</summary>
    public void CountError() => _errors++;

    /// <summary>True once the session has earned its maximum of error replies and must be closed with 421.</summary>
    public bool TooManyErrors => _errors >= maxErrors;

    /// <summary>Counts a command given outside a transaction; false when it is one too many.</summary>
    public bool CountCommandWithoutMail() => ++_commandsWithoutMail <= maxCommandsBeforeMail;

    /// <summary>A transaction started (MAIL accepted) or the session was reset by STARTTLS.</summary>
    public void ResetCommandsWithoutMail() => _commandsWithoutMail = 0;
}
