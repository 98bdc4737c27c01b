using System.Runtime.InteropServices;

namespace Mail.Imap.Session;

/// <summary>
/// A formatted FETCH item (ENVELOPE, BODYSTRUCTURE, BODY) as a <see cref="MailboxCacheFile"/> holds it: UTF-16 code
/// units in the file's bytes as read, or a string computed since. A response is written from <see cref="Span"/>, so
/// the items of a FETCH after a restart are never copied into strings.
/// </summary>
internal readonly struct CachedText
{
    private readonly byte[]? _bytes;
    private readonly int _at;
    private readonly int _byteCount;
    private readonly string? _text;

    public CachedText(string text) => _text = text;

    /// <summary>The text at <paramref name="at"/> of <paramref name="bytes"/> (never changed once read).</summary>
    public CachedText(byte[] bytes, int at, int byteCount)
    {
        _bytes = bytes;
        _at = at;
        _byteCount = byteCount;
    }

    public ReadOnlySpan<char> Span => _text is not null ? _text.AsSpan() : MemoryMarshal.Cast<byte, char>(new ReadOnlySpan<byte>(_bytes, _at, _byteCount));

    public override string ToString() => _text ?? new string(Span);
}
