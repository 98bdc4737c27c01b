namespace Mail.Smtp.Protocol;

/// <summary>
/// Reads one BDAT chunk (RFC 3030): exactly the announced number of octets, verbatim (no dot-stuffing, no line rules:
/// the length frames the data). Refused chunks are read too, into no sink, so they are never taken for commands.
/// </summary>
internal static class BdatReader
{
    /// <returns>False when the connection ended (or timed out) before the chunk was complete.</returns>
    public static async ValueTask<bool> ReadChunkAsync(ISmtpInput input, TimeSpan timeout, long size, IMessageSink? sink)
    {
        var remaining = size;
        while (remaining > 0)
        {
            var read = await input.ReadAsync(timeout);
            if (read is null) return false;
            var buffer = read.Value.Buffer;
            var take = Math.Min(remaining, buffer.Length);
            if (sink is not null)
                foreach (var segment in buffer.Slice(0, take))
                    await sink.WriteAsync(segment);
            input.Reader.AdvanceTo(buffer.GetPosition(take));
            remaining -= take;
            if (remaining > 0 && read.Value.IsCompleted) return false;
        }
        return true;
    }
}
