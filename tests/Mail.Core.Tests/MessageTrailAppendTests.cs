using System.Text.Json;
using Mail.Core.Model;
using Mail.Core.Ports;
using Mail.Core.Tracing;
using Mail.Storage.Embedded;
using Mail.Testing;

namespace Mail.Core.Tests;

/// <summary>
/// The trail appends a step inside the stored entry's JSON instead of parsing and writing the whole entry: what is
/// stored must be exactly what the whole-entry write stored, through SQLite's own group commit and through the batched
/// read-merge-write a store without one gets (Table storage), and an entry of another form still takes the step.
/// </summary>
public sealed class MessageTrailAppendTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    private static Envelope Sample(string queueId) => new()
    {
        QueueId = queueId, MessageRef = queueId, ReceivedAt = new DateTimeOffset(2026, 12, 7, 19, 0, 0, TimeSpan.Zero),
        Client = new ClientInfo { Address = "192.0.2.1", Helo = "client.example" }, MailFrom = "alice@example.org",
        Recipients = [new Recipient { Address = "bob@example.net" }, new Recipient { Address = "zoë@example.net" }],
    };

    private static readonly TraceEvent[] Steps =
    [
        new(new DateTimeOffset(2026, 12, 7, 19, 0, 1, TimeSpan.Zero), TraceStep.Received, "from client.example [192.0.2.1]"),
        new(new DateTimeOffset(2026, 12, 7, 19, 0, 2, TimeSpan.FromHours(1)), TraceStep.Check, "dkim=pass header.d=\"example.org\" <ok> & done"),
        new(new DateTimeOffset(2026, 12, 7, 19, 0, 3, TimeSpan.Zero), TraceStep.Delivered, "INBOX of zoë", "zoë@example.net"),
        new(new DateTimeOffset(2026, 12, 7, 19, 0, 4, TimeSpan.Zero), TraceStep.Attempt, "250 2.0.0 Ok: queued as 4F\u00e9\\x", "bob@example.net"),
    ];

    public static TheoryData<bool> Stores => new() { true, false };

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Steps_appended_one_call_at_a_time_are_stored_as_the_whole_entry_would_be(bool groupCommitted)
    {
        var state = Store(groupCommitted);
        var trail = new MessageTrail(state);
        var envelope = Sample("TRAIL1");
        await trail.AppendAsync(envelope, [Steps[0]]);
        await trail.AppendAsync(envelope, [Steps[1], Steps[2]]);
        await trail.AppendAsync(envelope, [Steps[3]]);

        var stored = (await state.GetAsync(MessageTrail.Partition, "TRAIL1"))!.Value;
        var expected = new MessageTrailEntry("TRAIL1", envelope.ReceivedAt, "alice@example.org", ["bob@example.net", "zoë@example.net"], Steps);
        Assert.Equal(JsonSerializer.Serialize(expected, MessageTrailJson.Default.MessageTrailEntry), stored);
        var read = await trail.GetAsync("TRAIL1");
        Assert.NotNull(read);
        Assert.Equal(Steps, read.Events);
        Assert.Equal(expected.Recipients, read.Recipients);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Concurrent_appends_to_one_message_keep_every_step(bool groupCommitted)
    {
        var state = Store(groupCommitted);
        var trail = new MessageTrail(state);
        var envelope = Sample("TRAIL2");
        var steps = Enumerable.Range(0, 30).Select(i => new TraceEvent(Steps[0].At.AddSeconds(i), TraceStep.Check, $"check {i}")).ToList();
        await Task.WhenAll(steps.Select(s => Task.Run(() => trail.AppendAsync(envelope, [s]))));
        var read = await trail.GetAsync("TRAIL2");
        Assert.Equal(steps.Select(s => s.Text).Order(), read!.Events.Select(e => e.Text).Order());
    }

    [Theory]
    [InlineData("""{"V":1,"QueueId":"TRAIL3","ReceivedAt":"2026-12-07T19:00:00+00:00","MailFrom":"a@example.org","Recipients":["b@example.net"],"Events":[{"At":"2026-12-07T19:00:01+00:00","Step":"Received","Text":"first"}]}""")]
    [InlineData("""{"QueueId":"TRAIL3","ReceivedAt":"2026-12-07T19:00:00+00:00","MailFrom":"a@example.org","Recipients":["b@example.net"],"Events":[{"At":"2026-12-07T19:00:01+00:00","Step":"Received","Text":"first"}],"V":1}""")]
    [InlineData("""{ "QueueId": "TRAIL3", "ReceivedAt": "2026-12-07T19:00:00+00:00", "MailFrom": "a@example.org", "Recipients": ["b@example.net"], "Events": [ {"At":"2026-12-07T19:00:01+00:00","Step":"Received","Text":"first"} ], "V": 1 }""")]
    public void An_entry_of_another_form_is_parsed_and_takes_the_step(string existing)
    {
        var merged = MessageTrail.Merge(existing, Sample("TRAIL3"), [Steps[2]]);
        var entry = JsonSerializer.Deserialize(merged, MessageTrailJson.Default.MessageTrailEntry)!;
        Assert.Equal(["first", Steps[2].Text], entry.Events.Select(e => e.Text));
        Assert.Equal(["b@example.net"], entry.Recipients);
    }

    [Fact]
    public void A_step_goes_into_an_empty_events_array_without_a_leading_comma()
    {
        const string existing = """{"QueueId":"TRAIL4","ReceivedAt":"2026-12-07T19:00:00+00:00","MailFrom":"","Recipients":[],"Events":[],"V":1}""";
        var merged = MessageTrail.Merge(existing, Sample("TRAIL4"), [Steps[0], Steps[1]]);
        var entry = JsonSerializer.Deserialize(merged, MessageTrailJson.Default.MessageTrailEntry)!;
        Assert.Equal(Steps[..2], entry.Events);
        Assert.Equal(JsonSerializer.Serialize(entry, MessageTrailJson.Default.MessageTrailEntry), merged);
    }

    private IStateStore Store(bool groupCommitted)
    {
        var sqlite = new SqliteStateStore(Path.Combine(_data.Path, $"mail-{groupCommitted}.db"));
        return groupCommitted ? sqlite : new WithoutGroupCommit(sqlite);
    }

    /// <summary>A store the trail must batch for itself, as it does Table storage: SQLite without its group-commit face.</summary>
    private sealed class WithoutGroupCommit(IStateStore inner) : IStateStore
    {
        public Task<StateEntry?> GetAsync(string partition, string key, CancellationToken cancellationToken = default) => inner.GetAsync(partition, key, cancellationToken);
        public Task<bool> TryPutAsync(string partition, string key, string value, string? expectedVersion, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default) =>
            inner.TryPutAsync(partition, key, value, expectedVersion, expiresAt, cancellationToken);
        public Task PutAsync(string partition, string key, string value, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default) =>
            inner.PutAsync(partition, key, value, expiresAt, cancellationToken);
        public Task DeleteAsync(string partition, string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(partition, key, cancellationToken);
        public Task<long> IncrementAsync(string partition, string key, long delta, DateTimeOffset expiresAt, CancellationToken cancellationToken = default) =>
            inner.IncrementAsync(partition, key, delta, expiresAt, cancellationToken);
        public IAsyncEnumerable<StateEntry> ListAsync(string partition, CancellationToken cancellationToken = default) => inner.ListAsync(partition, cancellationToken);
        public Task<int> PurgeExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken = default) => inner.PurgeExpiredAsync(now, cancellationToken);
    }
}
