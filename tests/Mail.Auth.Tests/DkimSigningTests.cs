using System.Text;
using System.Text.RegularExpressions;
using Mail.Auth.Dkim;
using Mail.Auth.Dkim.Signing;
using Mail.Core.Accounts;
using Mail.Core.Secrets;
using Mail.Storage.Embedded;
using MimeKit.Cryptography;

namespace Mail.Auth.Tests;

/// <summary>Outbound DKIM signing: keys made by <see cref="DkimKeyStore"/>, signatures by <see cref="DkimMessageSigner"/>,
/// verified by dkimpy with the zone-file line the key prints, and by our own <see cref="DkimChecker"/>.</summary>
public sealed partial class DkimSigningTests : IClassFixture<DnsFixture>, IDisposable
{
    private readonly DnsFixture _dns;
    private readonly string _dir = Directory.CreateTempSubdirectory("mail-dkim-sign-").FullName;
    private readonly SqliteStateStore _state;
    private readonly MailDirectory _directory;
    private readonly FileSecretStore _secrets;
    private readonly SettableTime _clock = new(new DateTimeOffset(2026, 10, 15, 12, 0, 0, TimeSpan.Zero));
    private readonly DkimKeyStore _keys;

    public DkimSigningTests(DnsFixture dns)
    {
        _dns = dns;
        _state = new SqliteStateStore(Path.Combine(_dir, "mail.db"));
        _directory = new MailDirectory(_state);
        _secrets = new FileSecretStore(_dir);
        _keys = new DkimKeyStore(_state, _secrets, _directory, TimeSpan.FromDays(7), _clock);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("rsa", "a=rsa-sha256")]
    [InlineData("ed25519", "a=ed25519-sha256")]
    public async Task Dkimpy_verifies_a_signature_with_the_printed_record(string algorithm, string expected)
    {
        await _directory.AddDomainAsync("example.com");
        var key = Assert.Single(await _keys.AddAsync("example.com", algorithm: DkimKeyAlgorithms.Parse(algorithm)));
        Assert.Equal("202610" + (algorithm == "rsa" ? "r" : "e"), key.Selector);
        var message = Messages.Simple();

        var signed = await SignAsync(message);

        Assert.EndsWith(message, signed, StringComparison.Ordinal);
        var verdict = Assert.Single(await Dkimpy.VerifyAsync(signed, Dns(key)));
        Assert.Equal($"d=example.com s={key.Selector} {expected} pass", verdict);
    }

    [Fact]
    public async Task Both_keys_sign_by_default_and_both_signatures_verify()
    {
        await _directory.AddDomainAsync("example.com");
        var keys = await _keys.AddAsync("example.com");
        Assert.Equal([DkimKeyAlgorithm.Rsa, DkimKeyAlgorithm.Ed25519], keys.Select(k => k.Algorithm));

        var signed = await SignAsync(Messages.Simple());

        var verdicts = await Dkimpy.VerifyAsync(signed, Dns([.. keys]));
        Assert.Equal(2, verdicts.Count);
        Assert.All(verdicts, v => Assert.EndsWith(" pass", v, StringComparison.Ordinal));
        Assert.Contains(verdicts, v => v.Contains("a=rsa-sha256", StringComparison.Ordinal));
        Assert.Contains(verdicts, v => v.Contains("a=ed25519-sha256", StringComparison.Ordinal));

        // Our own verifier agrees, through a real DNS server serving the printed records.
        foreach (var key in keys) _dns.Server.AddTxt(key.DnsName, ZoneStrings(key.ZoneFileLine));
        var results = await new DkimChecker(_dns.NewResolver()).VerifyAsync(Messages.Parse(signed));
        Assert.Equal(2, results.Count);
        Assert.All(results, r => Assert.Equal(DkimResultCode.Pass, r.Code));
    }

    [Fact]
    public async Task Concurrent_signing_with_shared_keys_gives_valid_signatures()
    {
        // Its own domain: the DNS server is shared by the class's tests, and selectors follow the (fixed) clock.
        await _directory.AddDomainAsync("parallel.example.com");
        var keys = await _keys.AddAsync("parallel.example.com");
        foreach (var key in keys) _dns.Server.AddTxt(key.DnsName, ZoneStrings(key.ZoneFileLine));
        var signer = new DkimMessageSigner(_keys, _clock);
        var messages = Enumerable.Range(0, 32).Select(i => Messages.Simple(fromDomain: "parallel.example.com", subject: "parallel " + i)).ToArray();

        var signed = await Task.WhenAll(messages.Select(m => Task.Run(async () =>
            await signer.SignAsync(new MemoryStream(Encoding.UTF8.GetBytes(m)), default) + m)));

        var checker = new DkimChecker(_dns.NewResolver(), time: _clock);
        foreach (var message in signed)
        {
            var results = await checker.VerifyAsync(Messages.Parse(message));
            Assert.Equal(2, results.Count);
            Assert.All(results, r => Assert.Equal(DkimResultCode.Pass, r.Code));
        }
    }

    [Fact]
    public async Task A_relayed_message_keeps_its_senders_signature_and_gains_ours()
    {
        await _directory.AddDomainAsync("example.com");
        var ours = await _keys.AddAsync("example.com");
        // The sender's ESP signed as esp.example.net before the message reached us.
        var theirs = await TestKeys.Rsa;
        var original = await Dkimpy.SignAsync(Messages.Simple(), "esp1", "esp.example.net", theirs);

        var signed = await SignAsync(original);

        Assert.EndsWith(original, signed, StringComparison.Ordinal);
        var txt = new Dictionary<string, string>(Dns([.. ours])) { ["esp1._domainkey.esp.example.net"] = theirs.Record() };
        var verdicts = await Dkimpy.VerifyAsync(signed, txt);
        Assert.Equal(3, verdicts.Count);
        Assert.All(verdicts, v => Assert.EndsWith(" pass", v, StringComparison.Ordinal));
        Assert.StartsWith("d=esp.example.net s=esp1", verdicts[2], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Multipart_message_with_folded_headers_and_8bit_text_verifies()
    {
        await _directory.AddDomainAsync("example.com");
        var keys = await _keys.AddAsync("example.com");
        var message =
            "Received: from client by mx; Fri, 4 Dec 2026 12:00:00 +0000\r\n" +
            "From: \"Zoë\" <zoe@Example.COM>\r\nTo: a@example.net,\r\n\tb@example.net\r\nCc: c@example.org\r\n" +
            "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n   folded  subject   \r\nDate: Fri, 4 Dec 2026 12:00:00 +0000\r\n" +
            "Message-ID: <m1@example.com>\r\nIn-Reply-To: <m0@example.org>\r\nReferences: <m0@example.org>\r\n" +
            "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n" +
            "preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
            "Grüße   aus   Köln  \r\n\r\n\r\n--b1\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--b1--\r\nepilogue\r\n\r\n";

        var signed = await SignAsync(message);

        Assert.EndsWith(message, signed, StringComparison.Ordinal);
        var verdicts = await Dkimpy.VerifyAsync(signed, Dns([.. keys]));
        Assert.Equal(2, verdicts.Count);
        Assert.All(verdicts, v => Assert.EndsWith(" pass", v, StringComparison.Ordinal));
        var header = signed[..signed.IndexOf("Received:", StringComparison.Ordinal)];
        Assert.Contains("h=from:from:to:cc:subject:date:message-id:in-reply-to:references:mime-version:content-type;", Unfold(header), StringComparison.Ordinal);
        Assert.Contains("c=relaxed/relaxed", header, StringComparison.Ordinal);
    }

    /// <summary>The signer reads the stored header section itself (no MIME parse): repeated fields are signed as many
    /// times as they occur, bottom-up as the verifier selects them (RFC 6376 5.4.2), Content-* fields among the rest,
    /// folded and 8-bit values as stored, and the From domain from an encoded display name.</summary>
    [Theory]
    [InlineData("Received: from a by b; Sat, 28 Nov 2026 12:00:00 +0000\r\nFrom: \"Alice, A.\"\r\n <alice@example.com>\r\n" +
        "To: Bob <bob@example.net>,\r\n\tCarol <carol@example.net>\r\nTo: Dave <dave@example.net>\r\nCc: x@example.net\r\n" +
        "Subject: folded\r\n  subject   line \t \r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
        "Content-Type: text/plain;\r\n\tcharset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nContent-Type: text/html\r\n\r\nH\u00e9llo w\u00f6rld  \r\n\r\n\r\n",
        "from:from:to:to:cc:subject:date:mime-version:content-type:content-type:content-transfer-encoding;")]
    [InlineData("From: =?utf-8?q?J=C3=B6rg?= <joerg@Example.COM>\r\nSubject: Gr\u00fc\u00dfe aus K\u00f6ln\r\nTO: bob@example.net\r\n" +
        "Subject: second\r\nReferences: <a@b>\r\n <c@d>\r\nIn-Reply-To: <c@d>\r\nReply-To: r@example.com\r\n\r\nno final line break",
        "from:from:to:subject:subject:reply-to:in-reply-to:references;")]
    public async Task Repeated_folded_and_8bit_fields_are_signed_as_stored(string message, string signedFields)
    {
        await _directory.AddDomainAsync("example.com");
        var keys = await _keys.AddAsync("example.com");

        var headers = await SignHeadersAsync(message);

        Assert.Equal(2, Regex.Count(Unfold(headers), "h=" + signedFields));
        var verdicts = await Dkimpy.VerifyAsync(headers + message, Dns([.. keys]));
        Assert.Equal(2, verdicts.Count);
        Assert.All(verdicts, v => Assert.EndsWith(" pass", v, StringComparison.Ordinal));
    }

    /// <summary>Both keys sign with one body hash (computed once, the same bh= in both fields), under either body
    /// canonicalization; a body whose trailing spaces, runs of spaces and blank lines make the two differ.</summary>
    [Theory]
    [InlineData(DkimCanonicalizationAlgorithm.Relaxed, "relaxed/relaxed")]
    [InlineData(DkimCanonicalizationAlgorithm.Simple, "relaxed/simple")]
    public async Task Both_keys_share_one_body_hash_and_dkimpy_verifies_both(DkimCanonicalizationAlgorithm body, string c)
    {
        await _directory.AddDomainAsync("example.com");
        var keys = await _keys.AddAsync("example.com");
        var message = Messages.Simple(body: "Hi  there.\r\nsecond  line\twith   runs \t \r\n\r\nlast\r\n\r\n\r\n");
        var signer = new DkimMessageSigner(_keys, _clock, body);

        var headers = await signer.SignAsync(new MemoryStream(Encoding.UTF8.GetBytes(message)), default);

        var bodyHashes = Regex.Matches(Unfold(headers), "bh=([^;]+);").Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(2, bodyHashes.Count);
        Assert.Equal(bodyHashes[0], bodyHashes[1]);
        Assert.Equal(2, Regex.Count(headers, "c=" + c + ";"));
        var verdicts = await Dkimpy.VerifyAsync(headers + message, Dns([.. keys]));
        Assert.Equal(2, verdicts.Count);
        Assert.All(verdicts, v => Assert.EndsWith(" pass", v, StringComparison.Ordinal));
        Assert.Contains(verdicts, v => v.Contains("a=rsa-sha256", StringComparison.Ordinal));
        Assert.Contains(verdicts, v => v.Contains("a=ed25519-sha256", StringComparison.Ordinal));
    }

    /// <summary>Shapes where re-serializing a parsed message could drift from its bytes: what the signer hashes must be
    /// what the receiver gets.</summary>
    [Theory]
    [InlineData("no body", "From: a@example.com\r\nSubject: s\r\n")]
    [InlineData("empty body", "From: a@example.com\r\nSubject: s\r\n\r\n")]
    [InlineData("no final CRLF", "From: a@example.com\r\nSubject: s\r\n\r\nlast line")]
    [InlineData("trailing blank lines and spaces", "From: a@example.com\r\n\r\ntext \t \r\n \r\n\r\n\r\n")]
    [InlineData("long line", "From: a@example.com\r\n\r\n{long}\r\n")]
    [InlineData("attached message", "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n" +
        "Content-Type: message/rfc822\r\n\r\nFrom: inner@example.org\r\nSubject: inner\r\n\r\ninner body\r\n--x\r\n" +
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQ==\r\n--x--\r\n")]
    [InlineData("header without space after colon", "From:a@example.com\r\nSubject:tight\r\nX-Empty:\r\n\r\nbody\r\n")]
    public async Task Message_shapes_verify(string shape, string message)
    {
        Assert.NotNull(shape);
        message = message.Replace("{long}", new string('x', 5000), StringComparison.Ordinal);
        await _directory.AddDomainAsync("example.com");
        var keys = await _keys.AddAsync("example.com");

        var verdicts = await Dkimpy.VerifyAsync(await SignAsync(message), Dns([.. keys]));

        Assert.Equal(2, verdicts.Count);
        Assert.All(verdicts, v => Assert.EndsWith(" pass", v, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_second_From_added_after_signing_breaks_the_signature()
    {
        await _directory.AddDomainAsync("example.com");
        var keys = await _keys.AddAsync("example.com", algorithm: DkimKeyAlgorithm.Ed25519);
        var signed = await SignAsync(Messages.Simple());
        var at = signed.IndexOf("From:", StringComparison.Ordinal);
        var tampered = signed[..at] + "From: mallory@evil.example\r\n" + signed[at..];

        Assert.EndsWith(" fail", Assert.Single(await Dkimpy.VerifyAsync(tampered, Dns([.. keys]))), StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_key_for_the_From_domain_signs_nothing()
    {
        await _directory.AddDomainAsync("example.com");
        await _keys.AddAsync("example.com");

        Assert.Equal("", await SignHeadersAsync(Messages.Simple(fromDomain: "other.example")));
        Assert.Equal("", await SignHeadersAsync("To: bob@example.net\r\nSubject: no from\r\n\r\nhi\r\n"));
        Assert.Equal("", await SignHeadersAsync(""));
        Assert.Equal("", await SignHeadersAsync("\u0001\u0002 not a message at all"));
    }

    [Fact]
    public async Task Keys_only_for_our_domains_with_a_clear_error()
    {
        var e = await Assert.ThrowsAsync<DkimKeyException>(() => _keys.AddAsync("example.com"));
        Assert.Equal("example.com is not one of our domains (add it first: mail domain add example.com)", e.Message);
        await _directory.AddDomainAsync("example.com");
        await Assert.ThrowsAsync<DkimKeyException>(() => _keys.AddAsync("example.com", selector: "bad_selector!"));
        await _keys.AddAsync("example.com", selector: "mail", algorithm: DkimKeyAlgorithm.Rsa);
        var taken = await Assert.ThrowsAsync<DkimKeyException>(() => _keys.AddAsync("example.com", selector: "mail", algorithm: DkimKeyAlgorithm.Ed25519));
        Assert.Contains("selector mail already exists", taken.Message, StringComparison.Ordinal);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Private_keys_are_files_readable_only_by_the_owner()
    {
        await _directory.AddDomainAsync("example.com");
        var keys = await _keys.AddAsync("example.com", selector: "sel");
        Assert.Equal(["selr", "sele"], keys.Select(k => k.Selector));

        foreach (var key in keys)
        {
            var path = _secrets.PathOf(key.SecretName);
            Assert.Equal(Path.Combine(_dir, "dkim", "example.com", key.Selector + ".pem"), path);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.StartsWith("-----BEGIN PRIVATE KEY-----", await File.ReadAllTextAsync(path), StringComparison.Ordinal);
        }
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(_dir, "dkim")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(_dir, "dkim", "example.com")));
        // The state store holds only the public half.
        await foreach (var row in _state.ListAsync("dkim:example.com"))
            Assert.DoesNotContain("PRIVATE", row.Value, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rotation_signs_with_the_new_keys_at_once_and_keeps_the_old_published_for_a_while()
    {
        await _directory.AddDomainAsync("example.com");
        var old = await _keys.AddAsync("example.com");
        _clock.Now = _clock.Now.AddDays(40);

        var (created, retired) = await _keys.RotateAsync("example.com");

        Assert.Equal(["202611r", "202611e"], created.Select(k => k.Selector));
        Assert.Equal(["202610r", "202610e"], retired.Select(k => k.Selector));
        Assert.All(retired, k => Assert.Equal(_clock.Now.AddDays(7), k.PublishedUntil));
        var signed = await SignAsync(Messages.Simple());
        var verdicts = await Dkimpy.VerifyAsync(signed, Dns([.. created]));
        Assert.Equal(2, verdicts.Count);
        Assert.All(verdicts, v => Assert.Matches(@"s=202611[re] .* pass$", v));

        var all = await _keys.ListAsync("example.com");
        Assert.Equal(4, all.Count);
        Assert.All(all, k => Assert.True(_keys.IsPublished(k)));
        _clock.Now = _clock.Now.AddDays(8);
        Assert.Equal(["202611r", "202611e"], (await _keys.ListAsync("example.com")).Where(_keys.IsPublished).Select(k => k.Selector));

        // A second rotation in the same month gets numbered selectors.
        var (again, _) = await _keys.RotateAsync("example.com");
        Assert.Equal(["202612r", "202612e"], again.Select(k => k.Selector));
        var (third, _) = await _keys.RotateAsync("example.com");
        Assert.Equal(["202612r2", "202612e2"], third.Select(k => k.Selector));
    }

    [Fact]
    public async Task Active_keys_are_cached_for_their_ttl_and_a_change_through_the_same_store_signs_at_once()
    {
        await _directory.AddDomainAsync("example.com");
        var server = new DkimKeyStore(_state, _secrets, _directory, TimeSpan.FromDays(7), _clock, keyCacheTtl: TimeSpan.FromSeconds(5));
        Assert.Empty(await server.GetSigningKeysAsync("example.com"));

        // Another process (the `mail dkim` CLI) adds keys: the server sees them once its answer is older than the TTL.
        var added = await _keys.AddAsync("example.com");
        Assert.Empty(await server.GetSigningKeysAsync("example.com"));
        _clock.Now = _clock.Now.AddSeconds(5);
        Assert.Equal(added.Select(k => k.Selector).Order(), (await server.GetSigningKeysAsync("example.com")).Select(k => k.Key.Selector).Order());

        // A rotation through the server's own store (the web console) signs with the new keys at once.
        var (created, _) = await server.RotateAsync("example.com");
        Assert.Equal(created.Select(k => k.Selector).Order(), (await server.GetSigningKeysAsync("example.com")).Select(k => k.Key.Selector).Order());
    }

    [Fact]
    public async Task Zone_file_line_splits_long_records_into_255_octet_strings()
    {
        await _directory.AddDomainAsync("example.com");
        var rsa = Assert.Single(await _keys.AddAsync("example.com", algorithm: DkimKeyAlgorithm.Rsa));

        Assert.StartsWith("202610r._domainkey.example.com. IN TXT \"v=DKIM1; k=rsa; p=MIIBIjAN", rsa.ZoneFileLine, StringComparison.Ordinal);
        var strings = ZoneStrings(rsa.ZoneFileLine);
        Assert.True(strings.Length > 1);
        Assert.All(strings, s => Assert.True(s.Length <= 255));
        Assert.Equal(rsa.DnsRecord, string.Concat(strings));
    }

    [Fact]
    public async Task Sealed_secrets_open_only_with_their_key_and_name()
    {
        var kek = new byte[32];
        Random.Shared.NextBytes(kek);
        var store = new SealedSecretStore(_state, kek);
        await store.CreateAsync("dkim/example.com/s1.pem", "-----BEGIN PRIVATE KEY-----\nabc\n");

        Assert.Equal("-----BEGIN PRIVATE KEY-----\nabc\n", await store.GetAsync("dkim/example.com/s1.pem"));
        var row = await _state.GetAsync("secret", "dkim/example.com/s1.pem");
        Assert.StartsWith("v1:", row!.Value, StringComparison.Ordinal);
        Assert.DoesNotContain("PRIVATE", Encoding.UTF8.GetString(Convert.FromBase64String(row.Value[3..])), StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.CreateAsync("dkim/example.com/s1.pem", "other"));

        var otherKey = new byte[32];
        var wrong = await Assert.ThrowsAsync<InvalidOperationException>(() => new SealedSecretStore(_state, otherKey).GetAsync("dkim/example.com/s1.pem"));
        Assert.Contains("Dkim:KeyEncryptionKey", wrong.Message, StringComparison.Ordinal);
        await _state.PutAsync("secret", "dkim/example.com/s2.pem", row.Value);
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.GetAsync("dkim/example.com/s2.pem"));
        Assert.Null(SealedSecretStore.ParseKey("c2hvcnQ=", out var error));
        Assert.Contains("32", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keys_sealed_in_the_state_store_sign_like_file_keys()
    {
        var kek = new byte[32];
        Random.Shared.NextBytes(kek);
        var keys = new DkimKeyStore(_state, new SealedSecretStore(_state, kek), _directory, TimeSpan.FromDays(7), _clock);
        await _directory.AddDomainAsync("example.com");
        var created = await keys.AddAsync("example.com");

        var headers = await new DkimMessageSigner(keys, _clock).SignAsync(new MemoryStream(Encoding.UTF8.GetBytes(Messages.Simple())), default);

        Assert.False(Directory.Exists(Path.Combine(_dir, "dkim")));
        var verdicts = await Dkimpy.VerifyAsync(headers + Messages.Simple(), Dns([.. created]));
        Assert.Equal(2, verdicts.Count);
    }

    private async Task<string> SignAsync(string message) => await SignHeadersAsync(message) + message;

    private async Task<string> SignHeadersAsync(string message)
    {
        var signer = new DkimMessageSigner(_keys, _clock);
        var headers = await signer.SignAsync(new MemoryStream(Encoding.UTF8.GetBytes(message)), default);
        Assert.True(headers.Length == 0 || headers.EndsWith("\r\n", StringComparison.Ordinal));
        Assert.DoesNotMatch("(?<!\r)\n", headers);
        return headers;
    }

    /// <summary>What DNS would answer for the printed zone-file lines: each name with its strings joined.</summary>
    private static Dictionary<string, string> Dns(params DkimKey[] keys) =>
        keys.ToDictionary(k => ZoneName(k.ZoneFileLine), k => string.Concat(ZoneStrings(k.ZoneFileLine)));

    private static string ZoneName(string line) => line[..line.IndexOf(". IN TXT ", StringComparison.Ordinal)];

    private static string[] ZoneStrings(string line) => [.. QuotedString().Matches(line).Select(m => m.Groups[1].Value)];

    private static string Unfold(string header) => Regex.Replace(header, @"\r\n[ \t]+", " ").Replace(" ", "", StringComparison.Ordinal);

    [GeneratedRegex("\"([^\"]*)\"")]
    private static partial Regex QuotedString();

    private sealed class SettableTime(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;
        public override DateTimeOffset GetUtcNow() => Now;
    }
}
