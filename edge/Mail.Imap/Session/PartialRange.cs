using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>RETURN (PARTIAL first:last) of RFC 5267 4.4: the first..last results, 1-based, of the whole result.</summary>
internal readonly record struct PartialRange(long First, long Last)
{
    /// <summary>partial-range = nz-number ":" nz-number; "500:400" is the same as "400:500", "*" is not allowed.</summary>
    public static PartialRange Read(ArgReader r)
    {
        var a = r.NzNumber();
        r.Expect(':');
        var b = r.NzNumber();
        return new PartialRange(Math.Min(a, b), Math.Max(a, b));
    }

    public List<T> Window<T>(List<T> results) =>
        First > results.Count ? [] : results.GetRange((int)(First - 1), (int)(Math.Min(Last, results.Count) - First + 1));

    /// <summary>" PARTIAL (first:last set)", NIL when no result falls in the range; a SEARCH window in mailbox
    /// order, a SORT window in its order.</summary>
    public string Format(List<long> window) =>
        $" PARTIAL ({First}:{Last} {(window.Count == 0 ? "NIL" : SequenceSet.Format(window))})";
}
