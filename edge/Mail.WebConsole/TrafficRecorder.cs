using System.Diagnostics.Metrics;
using Mail.Core.Telemetry;

namespace Mail.WebConsole;

/// <summary>
/// The dashboard's per-minute counts, read in-process from the system's own instruments (<see cref="MailTelemetry"/>)
/// with a <see cref="MeterListener"/>: messages accepted, rejected (by reason), and outbound recipients by delivery
/// status, for the last <see cref="Minutes"/> minutes. What Prometheus scrapes (Metrics:Endpoint) is the same counters.
/// Who was rejected (client address, MAIL FROM) comes from <see cref="MailTelemetry.ObserveRejections"/> into the
/// bounded <see cref="Mail.WebConsole.TopRejected"/> lists.
/// </summary>
public sealed class TrafficRecorder : IDisposable
{
    public const int Minutes = 60;
    public const string Accepted = "accepted";
    public const string Rejected = "rejected";

    private readonly MeterListener _listener = new();
    private readonly TimeProvider _time;
    private readonly object _lock = new();
    // series name -> counts, index = minute number modulo Minutes; _minuteOf says which minute a slot holds.
    private readonly Dictionary<string, long[]> _series = new(StringComparer.Ordinal);
    private readonly long[] _minuteOf = new long[Minutes];
    private readonly Dictionary<string, long> _rejectReasons = new(StringComparer.Ordinal);
    private readonly TopRejected _top = new();
    private readonly IDisposable _rejections;

    /// <summary>How many clients and senders each top list shows.</summary>
    public const int TopCount = 10;

    public TrafficRecorder(TimeProvider time)
    {
        _time = time;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MailTelemetry.MeterName && instrument.Name is "mail.smtp.messages.accepted" or "mail.smtp.messages.rejected" or "mail.delivery.results")
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>(OnMeasurement);
        _listener.Start();
        // Who was refused comes beside the counter, not in its tags (addresses would be unbounded tag values).
        _rejections = MailTelemetry.ObserveRejections(r =>
        {
            var now = _time.GetUtcNow();
            lock (_lock) _top.Add(now, r.Client?.ToString(), r.Sender);
        });
    }

    private void OnMeasurement(Instrument instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        string? tag = null;
        foreach (var t in tags)
            if (t.Key is "reason" or "status") tag = t.Value as string;
        var series = instrument.Name switch
        {
            "mail.smtp.messages.accepted" => Accepted,
            "mail.smtp.messages.rejected" => Rejected,
            _ => tag ?? "unknown", // delivery status: sent, deferred, bounced...
        };
        lock (_lock)
        {
            Add(series, value);
            if (series == Rejected && tag is not null) _rejectReasons[tag] = _rejectReasons.GetValueOrDefault(tag) + value;
        }
    }

    private long Minute => _time.GetUtcNow().ToUnixTimeSeconds() / 60;

    private void Add(string series, long value)
    {
        var minute = Minute;
        var slot = (int)(minute % Minutes);
        if (_minuteOf[slot] != minute)
        {
            foreach (var s in _series.Values) s[slot] = 0;
            _minuteOf[slot] = minute;
        }
        if (!_series.TryGetValue(series, out var counts)) _series[series] = counts = new long[Minutes];
        counts[slot] += value;
    }

    /// <summary>The most rejected clients and senders of the last hour and day (<see cref="TopCount"/> each).</summary>
    public TopRejectedLists TopRejected()
    {
        var now = _time.GetUtcNow();
        lock (_lock) return _top.Top(now, TopCount);
    }

    /// <summary>The top lists' slots changed since the last call (<see cref="TopRejectedStore"/> keeps them).</summary>
    public IReadOnlyList<(string Name, TopRejectedSlot Slot, DateTimeOffset Expires)> TakeChangedTopRejected()
    {
        lock (_lock) return _top.TakeChanged();
    }

    public void RestoreTopRejected(string name, TopRejectedSlot slot)
    {
        lock (_lock) _top.Restore(name, slot);
    }

    /// <summary>The last <see cref="Minutes"/> minutes, oldest first, per series; and the rejections by reason since start.</summary>
    public TrafficSnapshot Snapshot()
    {
        var now = Minute;
        lock (_lock)
        {
            var series = new Dictionary<string, long[]>(StringComparer.Ordinal);
            foreach (var (name, counts) in _series)
            {
                var ordered = new long[Minutes];
                for (var i = 0; i < Minutes; i++)
                {
                    var minute = now - (Minutes - 1) + i;
                    var slot = (int)(((minute % Minutes) + Minutes) % Minutes);
                    ordered[i] = _minuteOf[slot] == minute ? counts[slot] : 0;
                }
                series[name] = ordered;
            }
            return new TrafficSnapshot(DateTimeOffset.FromUnixTimeSeconds(now * 60), series, new Dictionary<string, long>(_rejectReasons, StringComparer.Ordinal));
        }
    }

    public void Dispose()
    {
        _rejections.Dispose();
        _listener.Dispose();
    }
}

/// <param name="LastMinute">The start of the newest minute in <paramref name="Series"/>.</param>
public sealed record TrafficSnapshot(DateTimeOffset LastMinute, IReadOnlyDictionary<string, long[]> Series, IReadOnlyDictionary<string, long> RejectedByReason)
{
    public long Total(string series) => Series.TryGetValue(series, out var s) ? s.Sum() : 0;
}
