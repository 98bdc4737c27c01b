using System.Security.Cryptography;
using Mail.Core.Tls;
using Mail.Host.Tls;
using Mail.Testing;
using Microsoft.Extensions.Logging;

namespace Mail.Host.Tests;

/// <summary>
/// The reloader against a fake source (what the Key Vault source looks like to it: a new version, no change, a
/// failure): no Key Vault is reachable here, so the Key Vault source itself is proven only by its identifier parsing.
/// </summary>
public sealed class CertificateReloaderTests
{
    private sealed class FakeSource : ICertificateSource
    {
        public Queue<Func<CertificateChain?>> Answers { get; } = new();
        public string Name => "fake vault";
        public string Setting => "Tls:KeyVaultCertificate";
        public Task<CertificateChain?> ReadIfChangedAsync(CancellationToken ct) => Task.FromResult(Answers.Dequeue()());
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, string Text)> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add((logLevel, formatter(state, exception)));
    }

    [Fact]
    public async Task New_version_replaces_the_context_unchanged_and_failures_keep_it()
    {
        var first = TestCertificates.SelfSigned("first.example.org");
        var second = TestCertificates.SelfSigned("second.example.org");
        var holder = new ServerCertificate(first);
        var before = holder.Context;
        var source = new FakeSource();
        var log = new ListLogger();
        var reloader = new CertificateReloader(holder, source, TimeSpan.FromMinutes(5), log);

        source.Answers.Enqueue(() => null);
        Assert.False(await reloader.CheckAsync(CancellationToken.None));
        Assert.Same(before, holder.Context);

        source.Answers.Enqueue(() => throw new CryptographicException("the secret's content type is 'text/plain'"));
        Assert.False(await reloader.CheckAsync(CancellationToken.None));
        Assert.Same(first, holder.Certificate);
        var warning = Assert.Single(log.Lines, l => l.Level == LogLevel.Warning).Text;
        Assert.Equal("TLS: the certificate from fake vault could not be reloaded, the one in use is kept: the secret's content type is 'text/plain' (check Tls:KeyVaultCertificate)", warning);

        source.Answers.Enqueue(() => new CertificateChain(second, []));
        Assert.True(await reloader.CheckAsync(CancellationToken.None));
        Assert.Same(second, holder.Certificate);
        Assert.NotSame(before, holder.Context);
        Assert.Same(second, holder.Context.TargetCertificate);
    }

    [Fact]
    public async Task File_source_reports_each_version_once()
    {
        using var dir = new TempData();
        var path = Path.Combine(dir.Path, "cert.pfx");
        await File.WriteAllBytesAsync(path, TestCertificates.SelfSigned("a.example.org").Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12));
        var source = new CertificateFileSource(path, null, null);
        Assert.Equal("CN=a.example.org", (await source.ReadIfChangedAsync(CancellationToken.None))!.Leaf.Subject);
        Assert.Null(await source.ReadIfChangedAsync(CancellationToken.None));
        await File.WriteAllTextAsync(path, "garbage");
        await Assert.ThrowsAnyAsync<CryptographicException>(() => source.ReadIfChangedAsync(CancellationToken.None));
        Assert.Null(await source.ReadIfChangedAsync(CancellationToken.None));
    }

    [Theory]
    [InlineData("https://v.vault.azure.net/certificates/mail", "mail", null)]
    [InlineData("https://v.vault.azure.net/certificates/mail/0123abcd", "mail", "0123abcd")]
    public void Key_vault_identifier_gives_name_and_version(string id, string name, string? version) =>
        Assert.Equal((name, version), KeyVaultCertificateSource.Parse(new Uri(id)));

    [Theory]
    [InlineData("https://v.vault.azure.net/secrets/mail")]
    [InlineData("http://v.vault.azure.net/certificates/mail")]
    [InlineData("https://v.vault.azure.net/certificates")]
    public void Other_urls_are_not_key_vault_certificates(string id) =>
        Assert.Throws<ArgumentException>(() => KeyVaultCertificateSource.Parse(new Uri(id)));
}
