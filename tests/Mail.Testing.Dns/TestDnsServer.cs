using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Mail.Testing.Dns;

/// <summary>
/// A small, real, authoritative DNS server for tests: UDP and TCP on 127.0.0.1 (one OS-chosen port for both), serving
/// an in-memory zone. It answers like a recursive resolver would for names it holds: in-zone CNAMEs are followed,
/// NXDOMAIN for unknown names, NODATA (NOERROR, no answers) for known names without the type, an SOA in the authority
/// section of negative answers when one was added at or above the name, "*.zone" wildcards for names that do not exist.
/// Names can be made to time out (never answered, per name or per name and type), to SERVFAIL or to be REFUSED. UDP answers larger than 512 bytes (or the client's EDNS size) are truncated with TC so clients fall
/// back to TCP.
/// </summary>
public sealed class TestDnsServer : IAsyncDisposable
{
    private sealed record Rr(string Name, DnsRecordType Type, int Ttl, Action<DnsWire.Writer> WriteRData, string Text);

    private readonly Socket _udp;
    private readonly TcpListener _tcp;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _udpLoop;
    private readonly Task _tcpLoop;
    private readonly object _gate = new();
    private readonly List<Rr> _records = [];
    private readonly HashSet<string> _nxDomain = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _timeout = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, int> _rcodes = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<(string, int)> _typeTimeout = [];
    private readonly ConcurrentDictionary<(string, int), int> _counts = new();
    private readonly ConcurrentBag<Task> _connections = [];
    private int _tcpQueries;

    private TestDnsServer(Socket udp, TcpListener tcp)
    {
        _udp = udp;
        _tcp = tcp;
        EndPoint = (IPEndPoint)udp.LocalEndPoint!;
        _udpLoop = Task.Run(UdpLoopAsync);
        _tcpLoop = Task.Run(TcpLoopAsync);
    }

    /// <summary>Where the server listens, for both UDP and TCP.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>If set, UDP answers longer than this are truncated even when the client advertised a larger EDNS size.</summary>
    public int? MaxUdpPayload { get; set; }

    /// <summary>
    /// True (default): in-zone CNAMEs are followed and the target's records added to the answer, as a recursive
    /// resolver does. False: the answer stops at the CNAME, so the client has to follow it.
    /// </summary>
    public bool FollowCnames { get; set; } = true;

    /// <summary>Queries received over TCP (all names).</summary>
    public int TcpQueries => Volatile.Read(ref _tcpQueries);

    public static Task<TestDnsServer> StartAsync()
    {
        for (var attempt = 0; ; attempt++)
        {
            var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)udp.LocalEndPoint!).Port;
            var tcp = new TcpListener(IPAddress.Loopback, port);
            try
            {
                tcp.Start();
                return Task.FromResult(new TestDnsServer(udp, tcp));
            }
            catch (SocketException) when (attempt < 50)
            {
                udp.Dispose();
            }
        }
    }

    /// <summary>
    /// Adds a record. Data by type: A/AAAA an address; MX "preference exchange"; SRV "priority weight port target"; TXT/SPF the text (split into
    /// 255-byte character-strings if longer); PTR/CNAME/NS a name; SOA "mname rname serial refresh retry expire minimum".
    /// </summary>
    public void Add(string name, DnsRecordType type, string data, int ttl = 300)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (type is DnsRecordType.TXT or DnsRecordType.SPF)
        {
            AddTxt(name, [data], ttl, type);
            return;
        }
        Action<DnsWire.Writer> rdata = type switch
        {
            DnsRecordType.A or DnsRecordType.AAAA => ParseAddress(type, data),
            DnsRecordType.MX => ParseMx(data),
            DnsRecordType.SRV => ParseSrv(data),
            DnsRecordType.PTR or DnsRecordType.CNAME or DnsRecordType.NS => w => w.Name(TrimDot(data.Trim()), allowPointer: false),
            DnsRecordType.SOA => ParseSoa(data),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "Unsupported record type."),
        };
        AddRecord(new Rr(Normalize(name), type, ttl, rdata, data));
    }

    /// <summary>Adds an MX record; an empty or "." exchange is the null MX of RFC 7505.</summary>
    public void AddMx(string name, int preference, string exchange, int ttl = 300)
    {
        ArgumentNullException.ThrowIfNull(exchange);
        var target = TrimDot(exchange.Trim());
        AddRecord(new Rr(Normalize(name), DnsRecordType.MX, ttl, w =>
        {
            w.U16(preference);
            w.Name(target, allowPointer: false);
        }, $"{preference} {exchange}"));
    }

    /// <summary>
    /// Adds a TXT (or SPF) record made of the given character-strings, each written as its own string (a string over
    /// 255 bytes is split into several). Text is encoded as UTF-8.
    /// </summary>
    public void AddTxt(string name, IEnumerable<string> strings, int ttl = 300, DnsRecordType type = DnsRecordType.TXT)
    {
        if (type is not (DnsRecordType.TXT or DnsRecordType.SPF)) throw new ArgumentOutOfRangeException(nameof(type), type, "TXT or SPF only.");
        var chunks = new List<byte[]>();
        foreach (var s in strings)
        {
            var bytes = Encoding.UTF8.GetBytes(s);
            if (bytes.Length == 0) chunks.Add([]);
            for (var i = 0; i < bytes.Length; i += 255) chunks.Add(bytes[i..Math.Min(bytes.Length, i + 255)]);
        }
        AddRecord(new Rr(Normalize(name), type, ttl, w =>
        {
            foreach (var c in chunks)
            {
                w.U8((byte)c.Length);
                w.Bytes(c);
            }
        }, string.Join("|", strings)));
    }

    /// <summary>Answers NXDOMAIN for this name whatever records it has.</summary>
    public void SetNxDomain(string name)
    {
        lock (_gate) _nxDomain.Add(Normalize(name));
    }

    /// <summary>Never answers queries for this name (over UDP or TCP), so clients time out.</summary>
    public void SetTimeout(string name)
    {
        lock (_gate) _timeout.Add(Normalize(name));
    }

    /// <summary>Never answers queries for this name and type (other types are answered normally).</summary>
    public void SetTimeout(string name, DnsRecordType type)
    {
        lock (_gate) _typeTimeout.Add((Normalize(name), (int)type));
    }

    /// <summary>Answers REFUSED for this name.</summary>
    public void SetRefused(string name) => SetResponseCode(name, 5);

    /// <summary>Answers SERVFAIL for this name.</summary>
    public void SetServFail(string name) => SetResponseCode(name, 2);

    /// <summary>Answers this RCODE (1 FORMERR, 2 SERVFAIL, 4 NOTIMP, 5 REFUSED, ...) with no records for this name.</summary>
    public void SetResponseCode(string name, int rcode)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rcode);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rcode, 15);
        lock (_gate) _rcodes[Normalize(name)] = rcode;
    }

    /// <summary>Removes every record and every NXDOMAIN/timeout/SERVFAIL setting, and resets the counters.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _records.Clear();
            _nxDomain.Clear();
            _timeout.Clear();
            _rcodes.Clear();
            _typeTimeout.Clear();
        }
        _counts.Clear();
        Interlocked.Exchange(ref _tcpQueries, 0);
    }

    /// <summary>How many queries (UDP and TCP) arrived for this name and type.</summary>
    public int QueryCount(string name, DnsRecordType type) => _counts.GetValueOrDefault((Normalize(name), (int)type));

    /// <summary>How many queries arrived in total.</summary>
    public int TotalQueries => _counts.Values.Sum();

    private void AddRecord(Rr rr)
    {
        lock (_gate) _records.Add(rr);
    }

    private static string TrimDot(string name) => name.EndsWith('.') ? name[..^1] : name;

    private static string Normalize(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        name = name.Trim();
        return (name.EndsWith('.') ? name[..^1] : name).ToLowerInvariant();
    }

    private static Action<DnsWire.Writer> ParseAddress(DnsRecordType type, string data)
    {
        var ip = IPAddress.Parse(data.Trim());
        var expected = type == DnsRecordType.A ? AddressFamily.InterNetwork : AddressFamily.InterNetworkV6;
        if (ip.AddressFamily != expected) throw new ArgumentException($"'{data}' is not a valid {type} address.", nameof(data));
        var bytes = ip.GetAddressBytes();
        return w => w.Bytes(bytes);
    }

    private static Action<DnsWire.Writer> ParseMx(string data)
    {
        var parts = data.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2) throw new ArgumentException($"MX data must be 'preference exchange': '{data}'.", nameof(data));
        var pref = ushort.Parse(parts[0], CultureInfo.InvariantCulture);
        var exchange = TrimDot(parts[1]);
        return w =>
        {
            w.U16(pref);
            w.Name(exchange, allowPointer: false);
        };
    }

    private static Action<DnsWire.Writer> ParseSrv(string data)
    {
        var p = data.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (p.Length != 4) throw new ArgumentException($"SRV data must be 'priority weight port target': '{data}'.", nameof(data));
        var nums = p[..3].Select(x => ushort.Parse(x, CultureInfo.InvariantCulture)).ToArray();
        var target = TrimDot(p[3]);
        return w =>
        {
            foreach (var n in nums) w.U16(n);
            w.Name(target, allowPointer: false);
        };
    }

    private static Action<DnsWire.Writer> ParseSoa(string data)
    {
        var p = data.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (p.Length != 7) throw new ArgumentException($"SOA data must be 'mname rname serial refresh retry expire minimum': '{data}'.", nameof(data));
        var nums = p[2..].Select(x => uint.Parse(x, CultureInfo.InvariantCulture)).ToArray();
        return w =>
        {
            w.Name(Normalize(p[0]), allowPointer: false);
            w.Name(Normalize(p[1]), allowPointer: false);
            foreach (var n in nums) w.U32(n);
        };
    }

    /// <summary>Builds the reply for one query; null means "stay silent" (timeout simulation or unparseable query).</summary>
    private byte[]? Respond(ReadOnlySpan<byte> request, bool overUdp)
    {
        var q = DnsWire.ParseQuery(request);
        if (q is null) return null;
        var qname = Normalize(q.Name);
        _counts.AddOrUpdate((qname, q.Type), 1, static (_, n) => n + 1);

        List<Rr> answers = [];
        Rr? soa = null;
        var rcode = 0;
        lock (_gate)
        {
            if (_timeout.Contains(qname) || _typeTimeout.Contains((qname, q.Type))) return null;
            if (_rcodes.TryGetValue(qname, out var forced)) rcode = forced;
            else if (_nxDomain.Contains(qname)) rcode = 3;
            else
            {
                var name = qname;
                for (var hop = 0; hop < 8; hop++)
                {
                    var here = RecordsAt(name);
                    var direct = here.Where(r => (int)r.Type == q.Type).ToList();
                    if (direct.Count > 0 || q.Type == (int)DnsRecordType.CNAME)
                    {
                        answers.AddRange(direct);
                        break;
                    }
                    var cname = here.FirstOrDefault(r => r.Type == DnsRecordType.CNAME);
                    if (cname is null)
                    {
                        if (hop == 0 && here.Count == 0 && !HasDescendants(name))
                            rcode = 3;
                        break;
                    }
                    answers.Add(cname);
                    if (!FollowCnames) break;
                    name = Normalize(cname.Text);
                    if (_timeout.Contains(name) || _typeTimeout.Contains((name, q.Type))) return null;
                }
            }
            if (answers.Count == 0 && rcode is 0 or 3)
                soa = FindSoa(qname);
        }

        var w = new DnsWire.Writer(q.Name);
        WriteHeader(w, q, rcode, answers.Count, soa is null ? 0 : 1, truncated: false);
        w.Bytes(request[DnsWire.HeaderSize..q.QuestionEnd]);
        foreach (var rr in answers) WriteRr(w, rr, rr.Name == qname ? q.Name : rr.Name);
        if (soa is not null) WriteRr(w, soa, soa.Name);
        var reply = w.ToArray();

        if (overUdp)
        {
            var limit = Math.Min(q.EdnsPayloadSize ?? 512, MaxUdpPayload ?? int.MaxValue);
            if (reply.Length > limit)
            {
                var t = new DnsWire.Writer(q.Name);
                WriteHeader(t, q, rcode, 0, 0, truncated: true);
                t.Bytes(request[DnsWire.HeaderSize..q.QuestionEnd]);
                reply = t.ToArray();
            }
        }
        return reply;
    }

    private bool HasDescendants(string name) => _records.Any(r => r.Name.EndsWith("." + name, StringComparison.Ordinal));

    /// <summary>
    /// Records owned by the name; if it has none and nothing below it, those of the closest "*.ancestor" wildcard
    /// (RFC 4592, simplified: an existing name never gets wildcard records).
    /// </summary>
    private List<Rr> RecordsAt(string name)
    {
        var exact = _records.Where(r => r.Name == name).ToList();
        if (exact.Count > 0 || HasDescendants(name)) return exact;
        for (var n = name; n.Contains('.', StringComparison.Ordinal);)
        {
            n = n[(n.IndexOf('.', StringComparison.Ordinal) + 1)..];
            var wildcard = _records.Where(r => r.Name == "*." + n).ToList();
            if (wildcard.Count > 0) return wildcard.Select(r => r with { Name = name }).ToList();
            if (_records.Any(r => r.Name == n)) break; // the closest encloser exists without a wildcard
        }
        return exact;
    }

    private Rr? FindSoa(string name)
    {
        for (var n = name; ; )
        {
            var soa = _records.FirstOrDefault(r => r.Type == DnsRecordType.SOA && r.Name == n);
            if (soa is not null) return soa;
            var dot = n.IndexOf('.', StringComparison.Ordinal);
            if (dot < 0) return _records.FirstOrDefault(r => r.Type == DnsRecordType.SOA && r.Name.Length == 0);
            n = n[(dot + 1)..];
        }
    }

    private static void WriteHeader(DnsWire.Writer w, DnsWire.Query q, int rcode, int answers, int authorities, bool truncated)
    {
        w.U16(q.Id);
        var opcode = q.Flags & 0x7800;
        var rd = q.Flags & 0x0100;
        // QR, AA, (TC), RD copied, RA.
        var flags = 0x8000 | opcode | 0x0400 | (truncated ? 0x0200 : 0) | rd | 0x0080 | rcode;
        w.U16(flags);
        w.U16(1);
        w.U16(answers);
        w.U16(authorities);
        w.U16(0);
    }

    private static void WriteRr(DnsWire.Writer w, Rr rr, string ownerName)
    {
        w.Name(ownerName);
        w.U16((int)rr.Type);
        w.U16(1);
        w.U32((uint)Math.Max(0, rr.Ttl));
        w.RData(rr.WriteRData);
    }

    private async Task UdpLoopAsync()
    {
        var buffer = new byte[65535];
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult got;
            try
            {
                got = await _udp.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                // e.g. ICMP port unreachable from an earlier reply to a client that went away: keep serving.
                continue;
            }
            byte[]? reply;
            try
            {
                reply = Respond(buffer.AsSpan(0, got.ReceivedBytes), overUdp: true);
            }
            catch (ArgumentException)
            {
                reply = null;
            }
            if (reply is null) continue;
            try
            {
                await _udp.SendToAsync(reply, SocketFlags.None, got.RemoteEndPoint, _stop.Token);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }
    }

    private async Task TcpLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _tcp.AcceptTcpClientAsync(_stop.Token);
            }
            // InvalidOperationException: DisposeAsync stopped the listener between the loop's check and the accept.
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException or InvalidOperationException)
            {
                return;
            }
            _connections.Add(Task.Run(() => ServeTcpAsync(client)));
        }
    }

    private async Task ServeTcpAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var len = new byte[2];
                while (!_stop.IsCancellationRequested)
                {
                    await stream.ReadExactlyAsync(len, _stop.Token);
                    var message = new byte[(len[0] << 8) | len[1]];
                    await stream.ReadExactlyAsync(message, _stop.Token);
                    Interlocked.Increment(ref _tcpQueries);
                    var reply = Respond(message, overUdp: false);
                    if (reply is null) continue; // timeout simulation: hold the connection, say nothing
                    var framed = new byte[reply.Length + 2];
                    framed[0] = (byte)(reply.Length >> 8);
                    framed[1] = (byte)reply.Length;
                    reply.CopyTo(framed, 2);
                    await stream.WriteAsync(framed, _stop.Token);
                }
            }
            catch (Exception e) when (e is IOException or EndOfStreamException or OperationCanceledException or SocketException or ObjectDisposedException or ArgumentException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _udp.Dispose();
        _tcp.Stop();
        try
        {
            await Task.WhenAll([_udpLoop, _tcpLoop, .. _connections]);
        }
        catch (OperationCanceledException)
        {
        }
        _tcp.Dispose();
        _stop.Dispose();
    }
}
