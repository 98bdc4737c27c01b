namespace Mail.Core.Accounts;

/// <summary>What a recipient address comes to (<see cref="MailDirectory.ResolveAsync"/>).</summary>
public enum ResolutionOutcome
{
    /// <summary>Not one of our domains: relayed as it is (when relaying is allowed at all).</summary>
    Remote,
    /// <summary>One of ours, reaching at least one mailbox or forward.</summary>
    Deliverable,
    /// <summary>One of ours, reaching nobody: "User unknown".</summary>
    Unknown,
    /// <summary>Its aliases lead back to themselves, or deeper than <see cref="MailDirectory.MaxAliasDepth"/>.</summary>
    AliasLoop,
    /// <summary>An SRS0 address of ours that we did not write, or wrote too long ago.</summary>
    InvalidSrs,
}

/// <summary>The mailboxes and forwards one recipient address reaches.</summary>
/// <param name="Users">Local users to deliver a copy to, each once.</param>
/// <param name="Forwards">Remote addresses reached through an alias or a reversed SRS address: forwarded mail.</param>
/// <param name="Unknown">Local addresses named as alias targets that reach nobody (logged, not delivered).</param>
/// <param name="Why">For <see cref="ResolutionOutcome.AliasLoop"/> and <see cref="ResolutionOutcome.InvalidSrs"/>: the detail.</param>
public sealed record Resolution(ResolutionOutcome Outcome, IReadOnlyList<string> Users, IReadOnlyList<string> Forwards, IReadOnlyList<string> Unknown, string? Why = null)
{
    public static readonly Resolution Remote = new(ResolutionOutcome.Remote, [], [], []);
}
