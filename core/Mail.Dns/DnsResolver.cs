using Mail.Core.Caching;
using System.Net;
using System.Net.Sockets;
using System.Text;
using DnsClient;
using DnsClient.Protocol;
using Mail.Core.Ports;
using MxRecord = Mail.Core.Ports.MxRecord;
using SrvRecord = Mail.Core.Ports.SrvRecord;
using TlsaMatchingType = Mail.Core.Ports.TlsaMatchingType;
using TlsaRecord = Mail.Core.Ports.TlsaRecord;
using TlsaSelector = Mail.Core.Ports.TlsaSelector;
using Mail.Core.Listening;

namespace Mail.Dns;

/// <summary>
/// <see cref="IDnsResolver"/> over DnsClient's <see cref="LookupClient"/>. DnsClient's own cache is off: this class keeps
/// its own (<see cref="DnsCache"/>) so TTL, negative caching and "failures are never cached" are ours and testable.
/// DnsClient errors are mapped precisely: NXDOMAIN is NxDomain, NOERROR without records of the type is NoData, and
/// anything else (timeout, SERVFAIL, REFUSED, FORMERR, network error) is Failed — never an empty success.
/// </summary>
public sealed class DnsResolver : IDnsResolver
{
    // A recursive server follows CNAMEs for us; this bound only matters when an answer stops at a CNAME.
    private const int MaxCnameChain = 8;

    private readonly DnsResolverOptions _options;
    private readonly LookupClient _client;
    private readonly DnsCache? _cache;

    public DnsResolver(DnsResolverOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        var lookupOptions = options.NameServers.Count > 0
            ? new LookupClientOptions(options.NameServers.ToArray())
            : new LookupClientOptions();
        lookupOptions.UseCache = false;
        lookupOptions.Timeout = options.Timeout;
        lookupOptions.Retries = options.Retries;
        lookupOptions.UseTcpFallback = options.UseTcpFallback;
        lookupOptions.ThrowDnsErrors = false;
        // A SERVFAIL from one server is worth asking the next; an authoritative "no records" is an answer.
        lookupOptions.ContinueOnDnsError = true;
        lookupOptions.ContinueOnEmptyResponse = false;
        lookupOptions.UseRandomNameServer = false;
        // The DO bit (RFC 3225): a validating resolver then reports validated answers with the AD bit, which
        // DnsResult.Authenticated carries to DANE (RFC 7672). RRSIGs come along in the answers and are ignored here.
        lookupOptions.RequestDnsSecRecords = true;
        _client = new LookupClient(lookupOptions);
        _cache = options.UseCache ? new DnsCache(time ?? TimeProvider.System, options.MaxCacheEntries) : null;
    }

    /// <summary>Number of entries currently cached (for diagnostics and tests).</summary>
    public int CachedEntries => _cache?.Count ?? 0;

    public Task<DnsResult<string>> TxtAsync(string name, CancellationToken cancellationToken = default) =>
        LookupAsync(name, QueryType.TXT, static answers => answers.OfType<TxtRecord>().Select(t => string.Concat(t.Text)).ToList(), cancellationToken);

    public Task<DnsResult<IPAddress>> AAsync(string name, CancellationToken cancellationToken = default) =>
        LookupAsync(name, QueryType.A, static answers => answers.OfType<ARecord>().Select(a => a.Address).ToList(), cancellationToken);

    public Task<DnsResult<IPAddress>> AaaaAsync(string name, CancellationToken cancellationToken = default) =>
        LookupAsync(name, QueryType.AAAA, static answers => answers.OfType<AaaaRecord>().Select(a => a.Address).ToList(), cancellationToken);

    public Task<DnsResult<MxRecord>> MxAsync(string name, CancellationToken cancellationToken = default) =>
        LookupAsync(name, QueryType.MX, static answers => answers.OfType<DnsClient.Protocol.MxRecord>()
            .Select(m => new MxRecord(m.Preference, TrimDot(m.Exchange.Value))).ToList(), cancellationToken);

    public Task<DnsResult<SrvRecord>> SrvAsync(string name, CancellationToken cancellationToken = default) =>
        LookupAsync(name, QueryType.SRV, static answers => answers.OfType<DnsClient.Protocol.SrvRecord>()
            .Select(s => new SrvRecord(s.Priority, s.Weight, s.Port, TrimDot(s.Target.Value))).ToList(), cancellationToken);

    public Task<DnsResult<string>> PtrAsync(IPAddress address, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(address);
        return LookupAsync(ReverseName(address), QueryType.PTR, static answers => answers.OfType<PtrRecord>().Select(p => TrimDot(p.PtrDomainName.Value)).ToList(), cancellationToken);
    }

    public Task<DnsResult<TlsaRecord>> TlsaAsync(string host, int port, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        // RFC 6698 3: _port._tcp.host (SMTP is always TCP).
        return LookupAsync($"_{port}._tcp.{TrimDot(host.Trim())}", QueryType.TLSA, static answers => answers.OfType<DnsClient.Protocol.TlsaRecord>()
            .Select(t => new TlsaRecord((TlsaUsage)t.CertificateUsage, (TlsaSelector)t.Selector, (TlsaMatchingType)t.MatchingType, t.CertificateAssociationData.ToArray())).ToList(), cancellationToken);
    }

    /// <summary>The in-addr.arpa (IPv4) or ip6.arpa (IPv6, one label per nibble) name of an address, without trailing dot.</summary>
    public static string ReverseName(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        address = address.Unmapped();
        var bytes = address.GetAddressBytes();
        var sb = new StringBuilder(address.AddressFamily == AddressFamily.InterNetwork ? 29 : 73);
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            for (var i = bytes.Length - 1; i >= 0; i--) sb.Append(bytes[i]).Append('.');
            return sb.Append("in-addr.arpa").ToString();
        }
        const string hex = "0123456789abcdef";
        for (var i = bytes.Length - 1; i >= 0; i--)
            sb.Append(hex[bytes[i] & 0xF]).Append('.').Append(hex[bytes[i] >> 4]).Append('.');
        return sb.Append("ip6.arpa").ToString();
    }

    private async Task<DnsResult<T>> LookupAsync<T>(string name, QueryType type, Func<IEnumerable<DnsResourceRecord>, List<T>> extract, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(name);
        name = TrimDot(name.Trim());
        if (!IsValidName(name))
            return new DnsResult<T>(DnsStatus.NxDomain, [], $"'{name}' is not a valid DNS name");

        var key = new DnsCache.Key(name.ToLowerInvariant(), (int)type);
        if (_cache is not null && _cache.TryGet(key, out var cached))
            return (DnsResult<T>)cached;

        var (result, ttl) = await QueryAsync(name, type, extract, ct);
        if (_cache is not null && result.Status != DnsStatus.Failed && ttl > TimeSpan.Zero)
            _cache.Set(key, result, ttl);
        return result;
    }

    private async Task<(DnsResult<T> Result, TimeSpan Ttl)> QueryAsync<T>(string name, QueryType type, Func<IEnumerable<DnsResourceRecord>, List<T>> extract, CancellationToken ct)
    {
        var current = name;
        var visited = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { name };
        // Validated only if every answer on the way (each CNAME hop we followed) carried the AD bit.
        var authenticated = true;
        for (var hop = 0; ; hop++)
        {
            IDnsQueryResponse response;
            try
            {
                response = await _client.QueryAsync(current, type, QueryClass.IN, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (DnsResponseException e)
            {
                // DnsClient reports a cancelled query as a failed one; the caller's cancellation must stay a cancellation.
                ct.ThrowIfCancellationRequested();
                return (DnsResult<T>.Failure($"{type} {current}: {e.Code}: {e.Message}"), TimeSpan.Zero);
            }
            catch (Exception e)
            {
                // Socket errors, unparseable answers (DnsResponseParseException), names DnsClient refuses: all mean
                // "nothing is known", which must be Failed and never an empty success.
                ct.ThrowIfCancellationRequested();
                return (DnsResult<T>.Failure($"{type} {current}: {e.GetType().Name}: {e.Message}"), TimeSpan.Zero);
            }

            authenticated &= response.Header.IsAuthenticData;
            var rcode = response.Header.ResponseCode;
            if (rcode == DnsHeaderResponseCode.NotExistentDomain)
                return (DnsResult<T>.NxDomain() with { Authenticated = authenticated }, NegativeTtl(response));
            if (rcode != DnsHeaderResponseCode.NoError || response.HasError)
                return (DnsResult<T>.Failure($"{type} {current}: {rcode}: {response.ErrorMessage}"), TimeSpan.Zero);

            var records = extract(response.Answers);
            // A truncated UDP answer we could not (or may not) repeat over TCP tells us nothing about absence.
            if (records.Count == 0 && response.Header.ResultTruncated)
                return (DnsResult<T>.Failure($"{type} {current}: answer truncated and TCP fallback is off"), TimeSpan.Zero);
            if (records.Count > 0)
            {
                var ttl = response.Answers.Where(r => r.RecordType == (ResourceRecordType)type || r.RecordType == ResourceRecordType.CNAME)
                    .Min(r => r.InitialTimeToLive);
                // The records' owner: the end of the CNAME chain in this answer, or the target we followed ourselves.
                var canonical = FinalCnameTarget(response.Answers, current) ?? (current == name ? null : current);
                return (DnsResult<T>.Found(records) with { Authenticated = authenticated, CanonicalName = canonical }, Clamp(TimeSpan.FromSeconds(Math.Max(0, ttl))));
            }

            // The answer stopped at a CNAME without its target's records: follow it ourselves (bounded).
            var target = FinalCnameTarget(response.Answers, current);
            if (target is null)
                return (DnsResult<T>.NoData() with { Authenticated = authenticated }, NegativeTtl(response));
            // RFC 1034 3.6.2: CNAME loops are signalled as an error.
            if (!visited.Add(target) || hop >= MaxCnameChain)
                return (DnsResult<T>.Failure($"{type} {name}: CNAME loop or chain longer than {MaxCnameChain} at {target}"), TimeSpan.Zero);
            current = target;
        }
    }

    private static string? FinalCnameTarget(IReadOnlyList<DnsResourceRecord> answers, string name)
    {
        string? target = null;
        var current = name;
        // At most one hop per answer record, so a looping answer cannot spin here.
        for (var i = 0; i < answers.Count; i++)
        {
            var cname = answers.OfType<CNameRecord>().FirstOrDefault(c => string.Equals(TrimDot(c.DomainName.Value), current, StringComparison.OrdinalIgnoreCase));
            if (cname is null) break;
            current = target = TrimDot(cname.CanonicalName.Value);
        }
        return target;
    }

    // RFC 2308 section 5: a negative answer lives min(SOA TTL, SOA MINIMUM); without an SOA, our configured default.
    private TimeSpan NegativeTtl(IDnsQueryResponse response)
    {
        var soa = response.Authorities.OfType<SoaRecord>().FirstOrDefault();
        if (soa is null) return Clamp(_options.NegativeCacheTtl);
        var seconds = Math.Min((long)Math.Max(0, soa.InitialTimeToLive), soa.Minimum);
        return Clamp(TimeSpan.FromSeconds(seconds));
    }

    private TimeSpan Clamp(TimeSpan ttl) =>
        ttl < _options.MinimumCacheTtl ? _options.MinimumCacheTtl : ttl > _options.MaximumCacheTtl ? _options.MaximumCacheTtl : ttl;

    private static string TrimDot(string name) => name.EndsWith('.') ? name[..^1] : name;

    /// <summary>RFC 1035 limits: labels 1..63 octets, whole name up to 253 characters (255 on the wire).</summary>
    internal static bool IsValidName(string name)
    {
        if (name.Length is 0 or > 253) return false;
        foreach (var label in name.Split('.'))
        {
            if (label.Length is 0 or > 63) return false;
            foreach (var c in label)
                if (c < ' ' || c >= 0x7F) return false;
        }
        return true;
    }
}

/// <summary>Positive and negative answers keyed by (name, type), each with its own expiry on a <see cref="TimeProvider"/>.</summary>
internal sealed class DnsCache(TimeProvider time, int maxEntries)
{
    internal readonly record struct Key(string Name, int Type);

    private readonly record struct Entry(object Value, DateTimeOffset Expires);

    private readonly ClearingCache<Key, Entry> _entries = new(maxEntries);

    public int Count => _entries.Count;

    public bool TryGet(Key key, out object value)
    {
        if (_entries.TryGetValue(key, out var e))
        {
            if (time.GetUtcNow() < e.Expires)
            {
                value = e.Value;
                return true;
            }
            _entries.TryRemove(new KeyValuePair<Key, Entry>(key, e));
        }
        value = null!;
        return false;
    }

    public void Set(Key key, object value, TimeSpan ttl)
    {
        var now = time.GetUtcNow();
        // Full: drop what has expired first; Set empties the cache only when that was not enough.
        if (_entries.IsFull)
        {
            foreach (var (k, e) in _entries)
                if (e.Expires <= now) _entries.TryRemove(new KeyValuePair<Key, Entry>(k, e));
        }
        _entries.Set(key, new Entry(value, now + ttl));
    }
}
