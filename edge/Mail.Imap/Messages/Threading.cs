namespace Mail.Imap.Messages;

/// <summary>What THREAD needs of one message.</summary>
internal sealed record ThreadMessage(long Number, int Seq, string? MessageId, IReadOnlyList<string> References, DateTimeOffset SentDate, string? Subject);

/// <summary>
/// THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 section 3), formatted as the THREAD response's list of
/// threads: "(1 2)(3 (4)(5))".
/// </summary>
internal static class Threading
{
    private sealed class Node(ThreadMessage? message)
    {
        public ThreadMessage? Message { get; set; } = message;
        public Node? Parent { get; set; }
        public List<Node> Children { get; } = [];

        public bool IsAncestorOf(Node other)
        {
            for (var p = other; p is not null; p = p.Parent)
                if (p == this) return true;
            return false;
        }

        public void Adopt(Node child)
        {
            child.Parent?.Children.Remove(child);
            child.Parent = this;
            Children.Add(child);
        }

        /// <summary>The date a node sorts by: its message's, or for a dummy its first child's (children sorted first).</summary>
        public (DateTimeOffset Date, int Seq) SortKey =>
            Message is not null ? (Message.SentDate, Message.Seq) : Children.Count > 0 ? Children[0].SortKey : (DateTimeOffset.MaxValue, int.MaxValue);
    }

    /// <summary>ORDEREDSUBJECT: messages grouped by base subject; each group is its earliest message with the rest as
    /// its children, in sent-date order; groups ordered by their first message.</summary>
    public static string OrderedSubject(IEnumerable<ThreadMessage> messages)
    {
        var roots = new List<Node>();
        var bySubject = new Dictionary<string, Node>(StringComparer.Ordinal);
        foreach (var m in messages.OrderBy(m => BaseSubject.SortKey(m.Subject), StringComparer.Ordinal).ThenBy(m => m.SentDate).ThenBy(m => m.Seq))
        {
            var key = BaseSubject.SortKey(m.Subject);
            var node = new Node(m);
            if (bySubject.TryGetValue(key, out var root)) root.Adopt(node);
            else
            {
                bySubject[key] = node;
                roots.Add(node);
            }
        }
        return Format(roots.OrderBy(r => r.SortKey.Date).ThenBy(r => r.SortKey.Seq));
    }

    public static string References(IReadOnlyList<ThreadMessage> messages)
    {
        // (1) Link messages and the ids they reference into a tree of containers.
        var byId = new Dictionary<string, Node>(StringComparer.Ordinal);
        var all = new List<Node>();
        Node Container(string id)
        {
            if (!byId.TryGetValue(id, out var c))
            {
                byId[id] = c = new Node(null);
                all.Add(c);
            }
            return c;
        }
        foreach (var m in messages)
        {
            Node node;
            if (m.MessageId is { } id && byId.TryGetValue(id, out var existing) && existing.Message is null)
            {
                existing.Message = m;
                node = existing;
            }
            else
            {
                // No Message-ID, or one already used by another message: a container of its own.
                node = new Node(m);
                all.Add(node);
                if (m.MessageId is { } unused && !byId.ContainsKey(unused)) byId[unused] = node;
            }
            Node? previous = null;
            foreach (var reference in m.References)
            {
                var c = Container(reference);
                if (previous is not null && c.Parent is null && c != previous && !c.IsAncestorOf(previous)) previous.Adopt(c);
                previous = c;
            }
            // The message's own last reference is its parent: a link guessed from another message's References is
            // broken first, and the new one is not made when it would close a loop (the message stays a root).
            if (node.Parent is not null && node.Parent != previous)
            {
                node.Parent.Children.Remove(node);
                node.Parent = null;
            }
            if (previous is not null && node.Parent is null && previous != node && !node.IsAncestorOf(previous)) previous.Adopt(node);
        }

        // (2) The root set, (4) without empty dummies.
        var roots = all.Where(n => n.Parent is null).ToList();
        roots = Prune(roots, atRoot: true);
        foreach (var r in roots) r.Parent = null;
        SortTree(roots);

        // (5) Threads whose roots share a base subject are gathered together.
        var table = new Dictionary<string, Node>(StringComparer.Ordinal);
        foreach (var r in roots)
        {
            var (subject, reply) = ThreadSubject(r);
            if (subject.Length == 0) continue;
            if (!table.TryGetValue(subject, out var old)
                || (r.Message is null && old.Message is not null)
                || (old.Message is not null && ThreadSubject(old).Reply && !reply))
                table[subject] = r;
        }
        var result = new List<Node>(roots);
        var emptied = new HashSet<Node>();
        foreach (var r in roots)
        {
            if (r.Parent is not null) continue;
            var (subject, reply) = ThreadSubject(r);
            if (subject.Length == 0 || !table.TryGetValue(subject, out var target) || target == r) continue;
            if (target.Message is null && r.Message is null)
            {
                foreach (var child in r.Children.ToList()) target.Adopt(child);
                emptied.Add(r);
            }
            else if (target.Message is null) target.Adopt(r);
            else if (!ThreadSubject(target).Reply && reply) target.Adopt(r);
            else
            {
                // Neither is the other's original: both go under a new dummy that takes the target's place.
                var dummy = new Node(null);
                dummy.Adopt(target);
                dummy.Adopt(r);
                table[subject] = dummy;
                result.Add(dummy);
            }
        }
        result = result.Where(n => n.Parent is null && !emptied.Contains(n)).ToList();

        // (6) Siblings in sent-date order; threads by their first message.
        SortTree(result);
        return Format(result);
    }

    private static (string Subject, bool Reply) ThreadSubject(Node n)
    {
        var m = n.Message ?? n.Children.FirstOrDefault()?.Message;
        if (m is null) return ("", false);
        var subject = BaseSubject.Extract(m.Subject, out var reply);
        return (BaseSubject.AsciiUpper(subject), reply);
    }

    /// <summary>Dummies without children go; a dummy's children take its place, except a dummy at the root with
    /// more than one child.</summary>
    private static List<Node> Prune(List<Node> nodes, bool atRoot)
    {
        var result = new List<Node>();
        foreach (var n in nodes)
        {
            var children = Prune(n.Children, atRoot: false);
            n.Children.Clear();
            foreach (var c in children)
            {
                c.Parent = n;
                n.Children.Add(c);
            }
            if (n.Message is not null) result.Add(n);
            else if (n.Children.Count == 0) continue;
            else if (atRoot && n.Children.Count > 1) result.Add(n);
            else
            {
                foreach (var c in n.Children) c.Parent = n.Parent;
                result.AddRange(n.Children);
            }
        }
        return result;
    }

    private static void SortTree(List<Node> nodes)
    {
        foreach (var n in nodes) SortTree(n.Children);
        nodes.Sort((a, b) =>
        {
            var (da, sa) = a.SortKey;
            var (db, sb) = b.SortKey;
            var c = da.CompareTo(db);
            return c != 0 ? c : sa.CompareTo(sb);
        });
    }

    private static string Format(IEnumerable<Node> roots)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var r in roots) sb.Append('(').Append(Body(r)).Append(')');
        return sb.ToString();
    }

    /// <summary>A node and what hangs below it: one child continues the chain ("1 2 3"), several are each in
    /// parentheses ("1 (2)(3)").</summary>
    private static string Body(Node n)
    {
        var head = n.Message is null ? "" : n.Message.Number.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (n.Children.Count == 0) return head;
        var tail = n.Children.Count == 1 && n.Message is not null
            ? Body(n.Children[0])
            : string.Concat(n.Children.Select(c => "(" + Body(c) + ")"));
        return head.Length == 0 ? tail : head + " " + tail;
    }
}
