namespace Mail.Defences.Tests;

/// <summary>A clock the test moves by hand (greylisting delays of minutes and days without waiting).</summary>
public sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
