using System.Text;
using Mail.Pipeline.Inbound;

namespace Mail.Core.Tests;

public sealed class HeaderBlockTests
{
    private static async Task<HeaderBlock> ReadAsync(string raw) => await HeaderBlock.ReadAsync(new MemoryStream(Encoding.ASCII.GetBytes(raw)), default);

    [Fact]
    public async Task Splits_fields_with_continuations_and_finds_the_body()
    {
        const string raw = "A: 1\r\nB: 2\r\n\tcontinued\r\nC: 3\r\n\r\nbody\r\n";
        var h = await ReadAsync(raw);
        Assert.Equal(["A: 1\r\n", "B: 2\r\n\tcontinued\r\n", "C: 3\r\n"], h.Fields.Select(f => Encoding.ASCII.GetString(f)));
        Assert.Equal(raw.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 2, h.BodyOffset);
    }

    [Fact]
    public async Task Message_without_body_ends_at_the_stream_end()
    {
        const string raw = "A: 1\r\nB: 2";
        var h = await ReadAsync(raw);
        Assert.Equal(["A: 1\r\n", "B: 2"], h.Fields.Select(f => Encoding.ASCII.GetString(f)));
        Assert.Equal(raw.Length, h.BodyOffset);
    }

    [Fact]
    public async Task Bare_lf_line_endings_are_understood()
    {
        var h = await ReadAsync("A: 1\nB: 2\n\nbody");
        Assert.Equal(2, h.Fields.Count);
        Assert.Equal(10, h.BodyOffset);
    }

    [Fact]
    public void Delivery_ids_are_deterministic_safe_and_distinct_per_recipient()
    {
        var a = DeliveryId.MessageId("Q123", "alice@example.org");
        Assert.Equal(a, DeliveryId.MessageId("Q123", "alice@example.org"));
        Assert.NotEqual(a, DeliveryId.MessageId("Q123", "bob@example.org"));
        Assert.NotEqual(a, DeliveryId.MessageId("Q124", "alice@example.org"));
        Assert.True(Mail.Storage.Embedded.FileMessageStore.IsValidId(DeliveryId.MessageId("../../etc/passwd", "x@y")));
        Assert.Equal("Q123/alice@example.org", DeliveryId.Key("Q123", "alice@example.org"));
    }
}
