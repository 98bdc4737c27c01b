namespace Mail.WebConsole;

/// <summary>
/// The most rejected clients (IP) and senders (MAIL FROM) over the last hour and the last day, in bounded memory. Each
/// window is a ring of slots (the hour: 12 of 5 minutes; the day: 24 of an hour), and each slot keeps its counts in a
/// <see cref="SpaceSaving"/> summary of at most <see cref="SlotCapacity"/> keys, so a flood of distinct addresses
/// (a botnet, a dictionary of senders) costs no more than 36 slots x 2 x <see cref="SlotCapacity"/> entries. A list
/// is the slots of the window merged. Counts are exact while a slot sees fewer distinct keys than its capacity; past
/// that a count may be too high by what the slot's evicted keys had, and a key rejected more than 1/<see cref="SlotCapacity"/>
/// of a slot's refusals is always kept. Not thread-safe: the caller locks.
/// </summary>
public sealed class TopRejected
{
    public const int SlotCapacity = 100;

    /// <summary>A longer key (a sender of 64 KiB) is cut: memory stays bounded per entry too.</summary>
    public const int MaxKeyLength = 320;

    private readonly Window _hour = new(TimeSpan.FromMinutes(5), 12);
    private readonly Window _day = new(TimeSpan.FromHours(1), 24);

    /// <param name="client">The client's address; null when unknown.</param>
    /// <param name="sender">The MAIL FROM ("" is the null sender, shown as &lt;&gt;); null before MAIL (not counted).</param>
    public void Add(DateTimeOffset at, string? client, string? sender)
    {
        var s = sender is null ? null : sender.Length == 0 ? "<>" : Cut(sender.ToLowerInvariant());
        var c = client is null ? null : Cut(client);
        _hour.Add(at, c, s);
        _day.Add(at, c, s);
    }

    private static string Cut(string key) => key.Length <= MaxKeyLength ? key : key[..MaxKeyLength];

    /// <summary>The <paramref name="count"/> most rejected clients and senders of the last hour and day, most first.</summary>
    public TopRejectedLists Top(DateTimeOffset now, int count) => new(_hour.Top(now, count), _day.Top(now, count));

    /// <summary>The slots changed since the last call (named "hour-N" and "day-N" by ring position), to be kept.</summary>
    public IReadOnlyList<(string Name, TopRejectedSlot Slot, DateTimeOffset Expires)> TakeChanged() => [.. _hour.TakeChanged("hour-"), .. _day.TakeChanged("day-")];

    /// <summary>The names <see cref="TakeChanged"/> uses, every one of them.</summary>
    public static IEnumerable<string> SlotNames => Enumerable.Range(0, 12).Select(i => $"hour-{i}").Concat(Enumerable.Range(0, 24).Select(i => $"day-{i}"));

    /// <summary>Puts back a slot kept before a restart; one of another shape or too old is ignored.</summary>
    public void Restore(string name, TopRejectedSlot slot)
    {
        var (window, prefix) = name.StartsWith("hour-", StringComparison.Ordinal) ? (_hour, "hour-") : (_day, "day-");
        if (int.TryParse(name.AsSpan(prefix.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var i))
            window.Restore(i, slot);
    }

    private sealed class Window(TimeSpan slotLength, int slots)
    {
        private readonly SpaceSaving[] _clients = [.. Enumerable.Range(0, slots).Select(_ => new SpaceSaving(SlotCapacity))];
        private readonly SpaceSaving[] _senders = [.. Enumerable.Range(0, slots).Select(_ => new SpaceSaving(SlotCapacity))];
        // Which slot number (time / slotLength) each ring position holds; a stale one is cleared before reuse.
        private readonly long[] _slotOf = [.. Enumerable.Repeat(-1L, slots)];

        private readonly bool[] _changed = new bool[slots];

        private long SlotNumber(DateTimeOffset at) => at.UtcTicks / slotLength.Ticks;

        public IEnumerable<(string Name, TopRejectedSlot Slot, DateTimeOffset Expires)> TakeChanged(string prefix)
        {
            var list = new List<(string, TopRejectedSlot, DateTimeOffset)>();
            for (var i = 0; i < slots; i++)
            {
                if (!_changed[i]) continue;
                _changed[i] = false;
                // Useless once the window has passed it: the store may drop it then.
                var expires = new DateTimeOffset((_slotOf[i] + 1 + slots) * slotLength.Ticks, TimeSpan.Zero);
                list.Add(($"{prefix}{i}", new TopRejectedSlot(_slotOf[i], Copy(_clients[i]), Copy(_senders[i])), expires));
            }
            return list;
        }

        private static Dictionary<string, long> Copy(SpaceSaving s) => new(s.Counts, StringComparer.Ordinal);

        public void Restore(int i, TopRejectedSlot slot)
        {
            // Ring position i holds slot numbers n with n % slots == i; the newer of what is held and what was kept wins.
            if (i < 0 || i >= slots || slot.Slot < 0 || slot.Slot % slots != i || slot.Slot <= _slotOf[i]) return;
            _clients[i].Clear();
            _senders[i].Clear();
            foreach (var (k, n) in slot.Clients.Take(SlotCapacity)) _clients[i].Restore(Cut(k), n);
            foreach (var (k, n) in slot.Senders.Take(SlotCapacity)) _senders[i].Restore(Cut(k), n);
            _slotOf[i] = slot.Slot;
        }

        public void Add(DateTimeOffset at, string? client, string? sender)
        {
            var n = SlotNumber(at);
            var i = (int)(n % slots);
            if (_slotOf[i] != n)
            {
                _clients[i].Clear();
                _senders[i].Clear();
                _slotOf[i] = n;
            }
            if (client is not null) _clients[i].Add(client);
            if (sender is not null) _senders[i].Add(sender);
            _changed[i] = true;
        }

        public TopRejectedWindow Top(DateTimeOffset now, int count)
        {
            var newest = SlotNumber(now);
            return new(Merge(_clients, newest, count), Merge(_senders, newest, count));
        }

        private List<TopRejectedEntry> Merge(SpaceSaving[] summaries, long newest, int count)
        {
            var sum = new Dictionary<string, long>(StringComparer.Ordinal);
            for (var i = 0; i < slots; i++)
            {
                if (_slotOf[i] < 0 || _slotOf[i] > newest || _slotOf[i] <= newest - slots) continue;
                foreach (var (key, n) in summaries[i].Counts) sum[key] = sum.GetValueOrDefault(key) + n;
            }
            return [.. sum.OrderByDescending(e => e.Value).ThenBy(e => e.Key, StringComparer.Ordinal).Take(count).Select(e => new TopRejectedEntry(e.Key, e.Value))];
        }
    }
}

/// <summary>
/// The Space-Saving summary (Metwally, Agrawal, El Abbadi, "Efficient computation of frequent and top-k elements in
/// data streams", 2005): at most <c>capacity</c> counters; a new key when all are taken replaces the key with the
/// smallest count and starts from that count plus one. No count is ever too low, and any key seen more than
/// total/capacity times is in the summary.
/// </summary>
public sealed class SpaceSaving(int capacity)
{
    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, long> Counts => _counts;

    public void Add(string key)
    {
        if (_counts.TryGetValue(key, out var n))
        {
            _counts[key] = n + 1;
            return;
        }
        if (_counts.Count < capacity)
        {
            _counts[key] = 1;
            return;
        }
        // Full: the smallest counter goes (a scan of at most capacity entries, only for a key not yet counted).
        var (least, min) = (default(string)!, long.MaxValue);
        foreach (var (k, c) in _counts)
            if (c < min) (least, min) = (k, c);
        _counts.Remove(least);
        _counts[key] = min + 1;
    }

    public void Clear() => _counts.Clear();

    /// <summary>A count kept before a restart.</summary>
    public void Restore(string key, long count)
    {
        if (count > 0 && (_counts.Count < capacity || _counts.ContainsKey(key))) _counts[key] = count;
    }
}

/// <summary>One slot's counts as kept in the state store (partition "console", key "top-rejected-hour-N"/"-day-N"),
/// format <paramref name="V"/>; <paramref name="Slot"/> is the slot's number (time / slot length).</summary>
public sealed record TopRejectedSlot(long Slot, Dictionary<string, long> Clients, Dictionary<string, long> Senders, int V = 1);

/// <summary>One client or sender and how many refusals it had in the window.</summary>
public sealed record TopRejectedEntry(string Key, long Count);

public sealed record TopRejectedWindow(IReadOnlyList<TopRejectedEntry> Clients, IReadOnlyList<TopRejectedEntry> Senders);

/// <summary>The top lists of the last hour and of the last day.</summary>
public sealed record TopRejectedLists(TopRejectedWindow Hour, TopRejectedWindow Day);
