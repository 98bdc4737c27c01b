namespace Mail.Sieve;

/// <summary>What a script asks for. The interpreter only decides; the delivery applies (see the inbound stage).</summary>
public abstract record SieveAction;

/// <summary>keep (<see cref="IsKeep"/>, mailbox INBOX) or fileinto: store into <see cref="Mailbox"/> with these flags;
/// <see cref="Create"/> is :create (RFC 5490), <see cref="Copy"/> is :copy (RFC 3894, the implicit keep stays).</summary>
public sealed record StoreAction(string Mailbox, IReadOnlyList<string> Flags, bool Create, bool Copy, bool IsKeep) : SieveAction;

/// <summary>redirect (RFC 5228 4.2), :copy keeps the implicit keep.</summary>
public sealed record RedirectAction(string Address, bool Copy) : SieveAction;

public sealed record DiscardAction : SieveAction;

/// <summary>reject (RFC 5429 2.2, <see cref="Extended"/> false) or ereject (2.1).</summary>
public sealed record RejectAction(string Reason, bool Extended) : SieveAction;

/// <summary>vacation (RFC 5230). <see cref="Period"/> is :days clamped to the configured range.</summary>
public sealed record VacationAction(string Reason, TimeSpan Period, string? Subject, string? From, IReadOnlyList<string> Addresses, bool Mime, string? Handle) : SieveAction;

/// <summary>The outcome of one run: the explicit actions in order and whether the implicit keep (INBOX, with the
/// flags the script left set) still applies.</summary>
public sealed record SieveResult(IReadOnlyList<SieveAction> Actions, bool ImplicitKeep, IReadOnlyList<string> ImplicitKeepFlags);

/// <summary>Bounds on what one run may do, so a hostile script cannot hurt the server (Pigeonhole's sieve_max_actions,
/// sieve_max_redirects, sieve_vacation_min_period / sieve_vacation_max_period / sieve_vacation_default_period).</summary>
public sealed record SieveLimits(int MaxActions = 32, int MaxRedirects = 4, int MaxVariableLength = 4096, int MaxVariables = 255)
{
    public static readonly SieveLimits Default = new();
    public TimeSpan VacationMinPeriod { get; init; } = TimeSpan.FromDays(1);
    public TimeSpan VacationMaxPeriod { get; init; } = TimeSpan.FromDays(60);
    public TimeSpan VacationDefaultPeriod { get; init; } = TimeSpan.FromDays(7);
}
