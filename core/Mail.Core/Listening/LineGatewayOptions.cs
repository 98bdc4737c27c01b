namespace Mail.Core.Listening;

/// <summary>The settings of a gateway whose sessions are a <see cref="LineProtocolSession{TCommand}"/> (POP3,
/// ManageSieve) on top of the shared ones: the longest command line, the idle timeout and the bad-command limit. The
/// protocol gives the defaults; the keys stay "&lt;Section&gt;:MaxLineLength" and so on.</summary>
public abstract class LineGatewayOptions<TListener>(int maxLineLength, TimeSpan idleTimeout) : GatewayOptions<TListener> where TListener : ListenerOptions
{
    /// <summary>Longest command line a client may send, CRLF excluded (a ManageSieve literal's octets are not part of it).</summary>
    public int MaxLineLength { get; set; } = maxLineLength;

    /// <summary>Inactivity autologout.</summary>
    public TimeSpan IdleTimeout { get; set; } = idleTimeout;

    /// <summary>Unknown commands, commands in the wrong state and bad arguments a session may send before it is closed.</summary>
    public int MaxBadCommands { get; set; } = 10;

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the first bad line setting of <paramref name="section"/>:
    /// <paramref name="minLineLength"/> and <paramref name="why"/> are the protocol's floor for MaxLineLength and its reason,
    /// <paramref name="idleNote"/> is appended to the IdleTimeout error.</summary>
    protected void ValidateLines(string section, int minLineLength, string why, string? idleNote = null)
    {
        if (MaxLineLength < minLineLength) throw new InvalidOperationException($"{section}:MaxLineLength must be at least {minLineLength} ({why}).");
        if (IdleTimeout <= TimeSpan.Zero) throw new InvalidOperationException($"{section}:IdleTimeout must be positive{(idleNote is null ? "" : " " + idleNote)}.");
        if (MaxBadCommands < 1) throw new InvalidOperationException($"{section}:MaxBadCommands must be at least 1.");
    }
}
