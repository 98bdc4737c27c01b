using Mail.Storage.Embedded;

namespace Mail.Storage.Tests;

/// <summary>Private keys as files: written whole, 0600 from creation, never replaced, names that cannot escape the root.</summary>
public sealed class FileSecretStoreTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("mail-secrets-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_secret_is_a_0600_file_written_once()
    {
        var store = new FileSecretStore(_root);

        await store.CreateAsync("dkim/example.com/202612r.pem", "secret one");

        var path = Path.Combine(_root, "dkim", "example.com", "202612r.pem");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal("secret one", await store.GetAsync("dkim/example.com/202612r.pem"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => store.CreateAsync("dkim/example.com/202612r.pem", "secret two"));
        Assert.Equal("secret one", await File.ReadAllTextAsync(path));
        Assert.Equal(["202612r.pem"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName)); // no temporary left

        await store.DeleteAsync("dkim/example.com/202612r.pem");
        Assert.Null(await store.GetAsync("dkim/example.com/202612r.pem"));
        Assert.Null(await store.GetAsync("dkim/nowhere/x.pem"));
        await store.DeleteAsync("dkim/example.com/202612r.pem");
        await store.DeleteAsync("dkim/nowhere/x.pem");
    }

    [Theory]
    [InlineData("../escape.pem")]
    [InlineData("dkim/../../escape.pem")]
    [InlineData("/etc/passwd")]
    [InlineData("dkim/.hidden")]
    [InlineData("dkim//x")]
    [InlineData("Dkim/Upper")]
    [InlineData("")]
    public async Task Names_that_could_leave_the_root_are_refused(string name)
    {
        var store = new FileSecretStore(_root);

        await Assert.ThrowsAsync<ArgumentException>(() => store.CreateAsync(name, "x"));
        await Assert.ThrowsAsync<ArgumentException>(() => store.GetAsync(name));
        Assert.Empty(Directory.GetFileSystemEntries(_root));
    }
}
