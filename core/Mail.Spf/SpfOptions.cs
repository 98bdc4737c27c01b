namespace Mail.Spf;

/// <summary>Limits and texts of <see cref="SpfChecker"/> (RFC 7208 section 4.6.4 defaults).</summary>
public sealed class SpfOptions
{
    /// <summary>Terms that cause DNS queries (include, a, mx, ptr, exists, redirect) allowed per check; more is permerror.</summary>
    public int MaxDnsMechanisms { get; init; } = 10;

    /// <summary>Lookups answering NXDOMAIN or no records allowed per check; more is permerror.</summary>
    public int MaxVoidLookups { get; init; } = 2;

    /// <summary>MX names one "mx" mechanism may look up; a longer MX set is permerror.</summary>
    public int MaxMxNames { get; init; } = 10;

    /// <summary>PTR names considered by "ptr" and %{p}; the rest are ignored.</summary>
    public int MaxPtrNames { get; init; } = 10;

    /// <summary>Our own host name, the %{r} macro of explanations.</summary>
    public string ReceiverName { get; init; } = "unknown";

    /// <summary>Longest time one whole check may take; past it the result is temperror (RFC 7208 4.6.4 suggests at least 20 s).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Explanation (a macro string, explain-string syntax) used for fail when the record has no usable exp=.</summary>
    public string DefaultExplanation { get; init; } = "%{i} is not one of %{d}'s designated mail servers";

    internal void Validate()
    {
        if (MaxDnsMechanisms < 1) throw new ArgumentOutOfRangeException(nameof(MaxDnsMechanisms), MaxDnsMechanisms, "Spf MaxDnsMechanisms must be at least 1.");
        if (MaxVoidLookups < 0) throw new ArgumentOutOfRangeException(nameof(MaxVoidLookups), MaxVoidLookups, "Spf MaxVoidLookups must not be negative.");
        if (MaxMxNames < 1) throw new ArgumentOutOfRangeException(nameof(MaxMxNames), MaxMxNames, "Spf MaxMxNames must be at least 1.");
        if (MaxPtrNames < 1) throw new ArgumentOutOfRangeException(nameof(MaxPtrNames), MaxPtrNames, "Spf MaxPtrNames must be at least 1.");
        if (Timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, "Spf Timeout must be positive.");
        ArgumentException.ThrowIfNullOrWhiteSpace(ReceiverName, nameof(ReceiverName));
        ArgumentNullException.ThrowIfNull(DefaultExplanation, nameof(DefaultExplanation));
    }
}
