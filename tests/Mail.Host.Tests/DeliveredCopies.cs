using System.Text;
using Mail.Storage.Embedded;
using MimeKit;

namespace Mail.Host.Tests;

/// <summary>The copies delivered to mailboxes in a data directory, read wherever they live: the copies' segments
/// (<c>mailbox-messages/</c>), or files (<c>messages/</c>: written by another process or before the segments).</summary>
internal static class DeliveredCopies
{
    public static async Task<Stream?> TryOpenAsync(string data, string messageRef)
    {
        using var segments = new SegmentMessageStore(Path.Combine(data, "mailbox-messages"));
        return await segments.OpenReadAsync(messageRef) ?? await new FileMessageStore(Path.Combine(data, "messages")).OpenReadAsync(messageRef);
    }

    public static async Task<Stream> OpenAsync(string data, string messageRef) =>
        await TryOpenAsync(data, messageRef) ?? throw new FileNotFoundException($"{messageRef} is neither in mailbox-messages/ nor in messages/ of {data}");

    public static async Task<string> ReadTextAsync(string data, string messageRef)
    {
        await using var s = await OpenAsync(data, messageRef);
        using var reader = new StreamReader(s, Encoding.UTF8);
        return await reader.ReadToEndAsync();
    }

    public static async Task<MimeMessage> LoadAsync(string data, string messageRef)
    {
        await using var s = await OpenAsync(data, messageRef);
        return await MimeMessage.LoadAsync(s);
    }
}
