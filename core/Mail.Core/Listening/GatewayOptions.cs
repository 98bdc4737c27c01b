namespace Mail.Core.Listening;

/// <summary>The settings every mailbox-access gateway (IMAP, POP3, ManageSieve) has beyond those of every listening
/// server (<see cref="ListeningOptions{TListener}"/>, which SMTP shares): plaintext login on loopback and the login
/// throttle. Each protocol's options class derives from it; the keys stay "&lt;Section&gt;:MaxFailedLogins" and so on.</summary>
public abstract class GatewayOptions<TListener> : ListeningOptions<TListener> where TListener : ListenerOptions
{
    /// <summary>Login without TLS when the client is on loopback (embedded mode convenience; IMAP's LOGINDISABLED rule).
    /// `mail serve` gives POP3 and ManageSieve Imap:AllowPlaintextLoginOnLoopback unless their section sets it.</summary>
    public bool AllowPlaintextLoginOnLoopback { get; set; } = true;

    /// <summary>Pause after each failed login (slows down password guessing).</summary>
    public TimeSpan FailedLoginDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Failed logins per client address, or per user, within <see cref="FailedLoginWindow"/> before logins are
    /// refused; used only when the server is given no shared <see cref="LoginThrottle"/> (`mail serve` shares IMAP's).</summary>
    public int MaxFailedLogins { get; set; } = 5;

    /// <summary>Window over which failures are counted, and how long a client or user stays refused.</summary>
    public TimeSpan FailedLoginWindow { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the first bad setting.</summary>
    public abstract void Validate();

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the first bad shared setting of
    /// <paramref name="section"/>; <paramref name="whenNone"/> and <paramref name="noImplicitTls"/> as in
    /// <see cref="ListenerOptions.Problems"/>. The protocol's own settings are checked by its Validate after this.</summary>
    protected void ValidateGateway(string section, string? whenNone = null, string? noImplicitTls = null)
    {
        if (string.IsNullOrWhiteSpace(HostName)) throw new InvalidOperationException($"{section}:HostName must not be empty.");
        if (ListeningProblems(section, whenNone, noImplicitTls) is [var first, ..]) throw new InvalidOperationException(first);
        if (FailedLoginDelay < TimeSpan.Zero) throw new InvalidOperationException($"{section}:FailedLoginDelay must not be negative.");
        if (MaxFailedLogins < 1) throw new InvalidOperationException($"{section}:MaxFailedLogins must be at least 1.");
        if (FailedLoginWindow <= TimeSpan.Zero) throw new InvalidOperationException($"{section}:FailedLoginWindow must be positive.");
    }
}
