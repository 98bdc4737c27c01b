using System.Buffers.Binary;
using System.Text;

namespace Mail.Testing.Dns;

/// <summary>The bits of the RFC 1035 wire format the test server needs: read a query, write an answer.</summary>
internal static class DnsWire
{
    public const int HeaderSize = 12;
    public const ushort OptType = 41;

    public sealed record Query(ushort Id, ushort Flags, string Name, int Type, int Class, int? EdnsPayloadSize, int QuestionEnd);

    /// <summary>Parses the header, the first question and (if present) the EDNS OPT record. Null if malformed.</summary>
    public static Query? ParseQuery(ReadOnlySpan<byte> m)
    {
        if (m.Length < HeaderSize) return null;
        var id = BinaryPrimitives.ReadUInt16BigEndian(m);
        var flags = BinaryPrimitives.ReadUInt16BigEndian(m[2..]);
        var qd = BinaryPrimitives.ReadUInt16BigEndian(m[4..]);
        var an = BinaryPrimitives.ReadUInt16BigEndian(m[6..]);
        var ns = BinaryPrimitives.ReadUInt16BigEndian(m[8..]);
        var ar = BinaryPrimitives.ReadUInt16BigEndian(m[10..]);
        if (qd != 1) return null;
        var pos = HeaderSize;
        var name = ReadName(m, ref pos);
        if (name is null || pos + 4 > m.Length) return null;
        var type = BinaryPrimitives.ReadUInt16BigEndian(m[pos..]);
        var cls = BinaryPrimitives.ReadUInt16BigEndian(m[(pos + 2)..]);
        pos += 4;
        var questionEnd = pos;
        int? edns = null;
        for (var i = 0; i < an + ns + ar; i++)
        {
            if (ReadName(m, ref pos) is null || pos + 10 > m.Length) break;
            var rtype = BinaryPrimitives.ReadUInt16BigEndian(m[pos..]);
            var rclass = BinaryPrimitives.ReadUInt16BigEndian(m[(pos + 2)..]);
            var rdlen = BinaryPrimitives.ReadUInt16BigEndian(m[(pos + 8)..]);
            pos += 10 + rdlen;
            if (rtype == OptType) edns = Math.Max(512, (int)rclass);
        }
        return new Query(id, flags, name, type, cls, edns, questionEnd);
    }

    private static string? ReadName(ReadOnlySpan<byte> m, ref int pos)
    {
        var sb = new StringBuilder();
        var p = pos;
        var jumped = false;
        for (var guard = 0; guard < 128; guard++)
        {
            if (p >= m.Length) return null;
            var len = m[p];
            if (len == 0)
            {
                if (!jumped) pos = p + 1;
                return sb.ToString();
            }
            if ((len & 0xC0) == 0xC0)
            {
                if (p + 1 >= m.Length) return null;
                if (!jumped) pos = p + 2;
                jumped = true;
                p = ((len & 0x3F) << 8) | m[p + 1];
                continue;
            }
            if (p + 1 + len > m.Length) return null;
            if (sb.Length > 0) sb.Append('.');
            sb.Append(Encoding.Latin1.GetString(m.Slice(p + 1, len)));
            p += 1 + len;
        }
        return null;
    }

    /// <summary>Writes DNS messages; owner names equal to the question name are compressed to a pointer at offset 12.</summary>
    public sealed class Writer
    {
        private readonly MemoryStream _s = new();
        private readonly string _qname;

        public Writer(string qname) => _qname = qname;

        public int Length => (int)_s.Length;

        public void U8(byte b) => _s.WriteByte(b);

        public void U16(int v)
        {
            _s.WriteByte((byte)(v >> 8));
            _s.WriteByte((byte)v);
        }

        public void U32(uint v)
        {
            U16((int)(v >> 16));
            U16((int)(v & 0xFFFF));
        }

        public void Bytes(ReadOnlySpan<byte> b) => _s.Write(b);

        public void Name(string name, bool allowPointer = true)
        {
            if (allowPointer && _s.Length > HeaderSize && string.Equals(name, _qname, StringComparison.OrdinalIgnoreCase))
            {
                U16(0xC000 | HeaderSize);
                return;
            }
            if (name.Length > 0)
            {
                foreach (var label in name.Split('.'))
                {
                    var bytes = Encoding.UTF8.GetBytes(label);
                    if (bytes.Length is 0 or > 63) throw new ArgumentException($"Invalid DNS label in '{name}'.");
                    U8((byte)bytes.Length);
                    Bytes(bytes);
                }
            }
            U8(0);
        }

        /// <summary>Reserves the 2-byte RDLENGTH, runs <paramref name="rdata"/>, then fills the length in.</summary>
        public void RData(Action<Writer> rdata)
        {
            var at = _s.Position;
            U16(0);
            rdata(this);
            var end = _s.Position;
            var len = (int)(end - at - 2);
            _s.Position = at;
            U16(len);
            _s.Position = end;
        }

        public byte[] ToArray() => _s.ToArray();
    }
}
