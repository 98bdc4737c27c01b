namespace Mail.Core.InboundChecks;

/// <summary>
/// One check of the inbound stage (SPF, DKIM, DMARC, ARC, header/body rules, scoring).
/// Checks run in order over the same <see cref="InboundContext"/>: they read the envelope and the
/// parsed message, record results, add header fields and adjust the verdict. A check must not
/// throw for anything the sender controls; DNS trouble is a temperror result, not an exception.
/// </summary>
public interface IInboundCheck
{
    string Name { get; }

    Task RunAsync(InboundContext context, CancellationToken cancellationToken);
}
