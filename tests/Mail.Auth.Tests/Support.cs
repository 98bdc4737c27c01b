using System.Text;
using Mail.Dns;
using Mail.Testing;
using Mail.Testing.Dns;
using MimeKit;

namespace Mail.Auth.Tests;

/// <summary>A real DNS server on loopback and our resolver pointed at it.</summary>
public sealed class DnsFixture : IAsyncLifetime
{
    public TestDnsServer Server { get; private set; } = null!;
    public DnsResolver Resolver { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await TestDnsServer.StartAsync();
        Resolver = NewResolver();
    }

    /// <summary>A resolver with its own (empty) cache.</summary>
    public DnsResolver NewResolver() => new(new DnsResolverOptions
    {
        NameServers = [Server.EndPoint],
        Timeout = TimeSpan.FromSeconds(3),
        Retries = 1,
    });

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>Keys made once per test run (RSA key generation in Python is the slow part of these tests).</summary>
public static class TestKeys
{
    private static readonly Lazy<Task<Dkimpy.Key>> s_rsa = new(() => Dkimpy.KeygenAsync("rsa", 2048));
    private static readonly Lazy<Task<Dkimpy.Key>> s_ed25519 = new(() => Dkimpy.KeygenAsync("ed25519"));

    public static Task<Dkimpy.Key> Rsa => s_rsa.Value;
    public static Task<Dkimpy.Key> Ed25519 => s_ed25519.Value;
}

/// <summary>dkimpy (Debian python3-dkim) as an independent signer, through Tools/dkimtool.py.</summary>
public static class Dkimpy
{
    public const string Python = "/usr/bin/python3";
    private static readonly string s_tool = Path.Combine(AppContext.BaseDirectory, "Tools", "dkimtool.py");
    private static readonly string s_dir = CreateKeyDirectory();

    private static string CreateKeyDirectory()
    {
        var dir = Directory.CreateTempSubdirectory("mail-auth-tests-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        return dir;
    }

    public sealed record Key(string File, string PublicKey, string KeyType)
    {
        /// <summary>The DNS TXT record for this key, with extra tags (e.g. "t=y; ").</summary>
        public string Record(string extra = "") => $"v=DKIM1; k={KeyType}; {extra}p={PublicKey}";
    }

    public static async Task<Key> KeygenAsync(string kind, int bits = 2048)
    {
        var r = await RunAsync(["keygen", kind, bits.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        var lines = r.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var file = Path.Combine(s_dir, Guid.NewGuid().ToString("N") + ".key");
        var privateKey = kind == "rsa" ? Encoding.ASCII.GetString(Convert.FromBase64String(lines[0])) : lines[0];
        await File.WriteAllTextAsync(file, privateKey);
        return new Key(file, lines[1], kind);
    }

    /// <summary>Signs with dkimpy; <paramref name="extra"/>: "length", "identity=@sub.example.com", "headers=from:subject".</summary>
    public static Task<string> SignAsync(string message, string selector, string domain, Key key, string algorithm = "rsa-sha256",
        string canonicalization = "relaxed/relaxed", params string[] extra) =>
        RunAsync(["sign", selector, domain, key.File, algorithm, canonicalization, .. extra], message);

    public static Task<string> ArcSignAsync(string message, string selector, string domain, Key key, string authServId) =>
        RunAsync(["arcsign", selector, domain, key.File, authServId], message);

    /// <summary>dkimpy's verdict on every DKIM-Signature, top to bottom ("d=example.com s=202612r a=rsa-sha256 pass"),
    /// with DNS answered from <paramref name="txt"/> (name without the root dot -> record text).</summary>
    public static async Task<IReadOnlyList<string>> VerifyAsync(string message, IReadOnlyDictionary<string, string> txt)
    {
        var env = new Dictionary<string, string> { ["DKIMTOOL_TXT"] = string.Join('|', txt.Select(kv => kv.Key + "=" + kv.Value)) };
        var r = await RunAsync(["verify"], message, env);
        return r.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>dkimpy's body canonicalization (its rfc822_parse, then simple or relaxed): base64 SHA-256 of at most
    /// <paramref name="length"/> bytes, and the whole canonical body's length.</summary>
    public static async Task<(string Hash, long Length)> BodyHashAsync(string message, string canonicalization, long? length = null)
    {
        var r = (await RunAsync(["bodyhash", canonicalization, length?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-"], message)).Trim().Split(' ');
        return (r[0], long.Parse(r[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    private static async Task<string> RunAsync(IEnumerable<string> args, string? stdin = null, IDictionary<string, string>? environment = null)
    {
        var r = await ExternalProcess.RunAsync(Python, [s_tool, .. args], stdin, TimeSpan.FromSeconds(60), environment);
        if (r.ExitCode != 0) throw new InvalidOperationException($"dkimtool failed ({r.ExitCode}): {r.StdErr}");
        return r.StdOut;
    }
}

public static class Messages
{
    public static string Simple(string fromDomain = "example.com", string subject = "Hello", string body = "Hi there.\r\nSee you soon.\r\n") =>
        $"From: Alice <alice@{fromDomain}>\r\nTo: Bob <bob@example.net>\r\nSubject: {subject}\r\n" +
        $"Date: Sat, 28 Nov 2026 12:00:00 +0000\r\nMessage-ID: <{Guid.NewGuid():N}@{fromDomain}>\r\n\r\n{body}";

    public static MimeMessage Parse(string text) => MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(text)));

    /// <summary>The message as the inbound stage hands over the stored original: a seekable stream of its bytes.</summary>
    public static Stream Original(string text) => new MemoryStream(Encoding.UTF8.GetBytes(text));
}

/// <summary>A clock fixed at a given instant.</summary>
public sealed class FixedTime(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
