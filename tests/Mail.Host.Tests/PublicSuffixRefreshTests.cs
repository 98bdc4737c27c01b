using Mail.Testing;

namespace Mail.Host.Tests;

/// <summary>`mail psl refresh` against a real HTTP server on loopback, run as the real `mail` process.</summary>
[Collection("host")]
public sealed class PublicSuffixRefreshTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    private static string ShippedList =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "core", "Mail.Auth", "PublicSuffix", "public_suffix_list.dat"));

    [Fact]
    public async Task Good_list_is_written_to_the_data_directory()
    {
        // A marker rule that the shipped list lacks proves the file came from this server.
        var body = ShippedList + "\n// test marker\nrefresh-marker.example\n";
        await using var server = await CannedHttpServer.StartAsync(200, "text/plain", body);
        var r = await HostProcess.AdminAsync(_data.Path, "psl", "refresh", "--url", server.BaseUrl + "list/public_suffix_list.dat");
        Assert.True(r.ExitCode == 0, r.StdOut + r.StdErr);
        var written = await File.ReadAllTextAsync(Path.Combine(_data.Path, "public_suffix_list.dat"));
        Assert.Contains("refresh-marker.example", written, StringComparison.Ordinal);
        Assert.Contains("rules", r.StdOut, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(200, "text/html", "<!DOCTYPE html><html><body>Oops, maintenance</body></html>")]
    [InlineData(200, "text/plain", "")]
    [InlineData(200, "text/plain", "// just a comment\nfoo\nbar\n")]
    [InlineData(503, "text/plain", "come back later")]
    public async Task Bad_answer_exits_69_and_leaves_the_old_file(int status, string contentType, string body)
    {
        var target = Path.Combine(_data.Path, "public_suffix_list.dat");
        await File.WriteAllTextAsync(target, "// old list\ncom\n");
        await using var server = await CannedHttpServer.StartAsync(status, contentType, body);
        var r = await HostProcess.AdminAsync(_data.Path, "psl", "refresh", "--url", server.BaseUrl + "list/public_suffix_list.dat");
        Assert.Equal(69, r.ExitCode); // EX_UNAVAILABLE
        Assert.Contains("the list was not changed", r.StdErr, StringComparison.Ordinal);
        Assert.Equal("// old list\ncom\n", await File.ReadAllTextAsync(target));
        Assert.Single(Directory.GetFiles(_data.Path, "public_suffix_list.dat*"));
    }

    [Fact]
    public void Validate_accepts_the_shipped_list() => Assert.Null(PublicSuffixRefresh.Validate(ShippedList));
}
