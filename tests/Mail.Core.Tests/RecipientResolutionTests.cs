using Mail.Core.Accounts;
using Mail.Storage.Embedded;
using Mail.Testing;

namespace Mail.Core.Tests;

/// <summary>Which user a recipient address of a local domain reaches (MailDirectory.ResolveAsync), on the real SQLite
/// state store: the user's own address, a subaddress (Postfix recipient_delimiter), postmaster@ and abuse@.</summary>
public sealed class RecipientResolutionTests : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    private async Task<MailDirectory> DirectoryAsync(RecipientRules rules)
    {
        var directory = new MailDirectory(new SqliteStateStore(Path.Combine(_data.Path, "mail.db")), passwordIterations: 1000) { Recipients = rules };
        await directory.AddDomainAsync("example.org");
        await directory.AddDomainAsync("empty.example");
        await directory.SetUserAsync("zoe@example.org", "pw");
        await directory.SetUserAsync("alice@example.org", "pw");
        await directory.SetUserAsync("alice-team@example.org", "pw");
        return directory;
    }

    [Fact]
    public async Task Own_address_subaddress_and_role_addresses_resolve_by_the_default_rules()
    {
        var d = await DirectoryAsync(RecipientRules.Default);
        Assert.Equal("alice@example.org", await UserOf(d, "Alice@Example.ORG"));
        Assert.Equal("alice@example.org", await UserOf(d, "alice+lists@example.org"));
        Assert.Equal("alice@example.org", await UserOf(d, "alice+a+b@example.org"));
        // A user whose name holds another character is itself; "-" is no delimiter by default.
        Assert.Equal("alice-team@example.org", await UserOf(d, "alice-team@example.org"));
        Assert.Null(await UserOf(d, "alice-x@example.org"));
        // The first user in address order gets postmaster and abuse.
        Assert.Equal("alice-team@example.org", await UserOf(d, "postmaster@example.org"));
        Assert.Equal("alice-team@example.org", await UserOf(d, "ABUSE+report@example.org"));
        Assert.Null(await UserOf(d, "postmaster@empty.example"));
        Assert.Null(await UserOf(d, "+lists@example.org"));
        Assert.Null(await UserOf(d, "alice+x@elsewhere.example"));
        Assert.Null(await UserOf(d, "not an address"));
    }

    [Fact]
    public async Task A_configured_postmaster_and_delimiters_are_followed_and_an_empty_delimiter_turns_subaddresses_off()
    {
        var d = await DirectoryAsync(new RecipientRules("+-", "zoe@example.org"));
        Assert.Equal("zoe@example.org", await UserOf(d, "postmaster@example.org"));
        Assert.Equal("zoe@example.org", await UserOf(d, "postmaster@empty.example"));
        Assert.Equal("alice@example.org", await UserOf(d, "alice-x@example.org"));
        Assert.Equal("alice-team@example.org", await UserOf(d, "alice-team@example.org"));

        var off = await DirectoryAsync(new RecipientRules("", "nobody@example.org"));
        Assert.Null(await UserOf(off, "alice+lists@example.org"));
        // A configured postmaster that is not a user falls back to the domain's first user.
        Assert.Equal("alice-team@example.org", await UserOf(off, "postmaster@example.org"));
    }

    /// <summary>The one mailbox an address reaches, or null when it reaches none (or more than one).</summary>
    private static async Task<string?> UserOf(MailDirectory d, string address) =>
        await d.ResolveAsync(address) is { Outcome: ResolutionOutcome.Deliverable, Users: [var user], Forwards: [] } ? user : null;
}
