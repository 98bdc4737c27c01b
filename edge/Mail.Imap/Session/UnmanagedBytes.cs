using System.Runtime.InteropServices;

namespace Mail.Imap.Session;

/// <summary>
/// A block of bytes held outside the GC heap, freed when the object is collected. For a cache file's list header,
/// which a <see cref="MessageList"/> decodes records from for as long as it is shared: as an array it would be a
/// large-object allocation, and in a process that has just started the first one starts a background collection
/// (its thread created, every thread suspended) while the SELECT's client waits. Read only once filled; whoever takes
/// <see cref="Span"/> keeps the object alive (<see cref="GC.KeepAlive"/>) until done with it.
/// </summary>
internal sealed unsafe class UnmanagedBytes
{
    private readonly byte* _data;

    public UnmanagedBytes(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _data = (byte*)NativeMemory.Alloc((nuint)Math.Max(length, 1));
        Length = length;
        // The GC does not see this memory: told of it, it collects lists no longer used as it would arrays as large.
        GC.AddMemoryPressure(Math.Max(length, 1));
    }

    ~UnmanagedBytes()
    {
        NativeMemory.Free(_data);
        GC.RemoveMemoryPressure(Math.Max(Length, 1));
    }

    public int Length { get; }

    public Span<byte> Span => new(_data, Length);
}
