using System.Text;
using Mail.Imap.Protocol;

namespace Mail.Imap.Session;

/// <summary>The ESEARCH response of SEARCH RETURN (RFC 4731) and SORT RETURN (ESORT, RFC 5267).</summary>
internal static class EsearchResponse
{
    /// <summary>
    /// <c>* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [ALL set] [PARTIAL (m:n set)] [COUNT n] [MODSEQ n]</c>, the
    /// return options asked for, of <paramref name="numbers"/> in result order (mailbox order for SEARCH, the sort
    /// order for SORT): MIN and MAX are its first and last (RFC 5267 3.2), ALL keeps its order.
    /// </summary>
    public static string Format(string tag, bool uid, ICollection<string> returns, List<long> numbers, PartialRange? partial, long? modSeq)
    {
        var sb = new StringBuilder($"* ESEARCH (TAG {Wire.String(tag, false)})");
        if (uid) sb.Append(" UID");
        if (numbers.Count > 0)
        {
            if (returns.Contains("MIN")) sb.Append(" MIN ").Append(numbers[0]);
            if (returns.Contains("MAX")) sb.Append(" MAX ").Append(numbers[^1]);
            if (returns.Contains("ALL")) sb.Append(" ALL ").Append(SequenceSet.Format(numbers));
        }
        if (partial is { } p) sb.Append(p.Format(p.Window(numbers)));
        if (returns.Contains("COUNT")) sb.Append(" COUNT ").Append(numbers.Count);
        if (modSeq is not null) sb.Append(" MODSEQ ").Append(modSeq);
        return sb.ToString();
    }
}
