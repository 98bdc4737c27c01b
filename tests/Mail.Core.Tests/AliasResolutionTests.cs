using Mail.Core.Accounts;
using Mail.Core.Forwarding;
using Mail.Storage.Embedded;
using Mail.Testing;

namespace Mail.Core.Tests;

/// <summary>Alias expansion in MailDirectory.ResolveAsync (Postfix virtual_alias_maps) on the real SQLite state store:
/// local and remote targets, recursion with one copy per user, loops and depth, the catch-all's place, postmaster@,
/// and SRS0 addresses of ours.</summary>
public sealed class AliasResolutionTests : IDisposable
{
    private readonly TempData _data = new();
    private readonly MailDirectory _d;

    public AliasResolutionTests()
    {
        _d = new MailDirectory(new SqliteStateStore(Path.Combine(_data.Path, "mail.db")), passwordIterations: 1000)
        {
            Srs = new SenderRewriting(new FileSecretStore(_data.Path)),
        };
    }

    public void Dispose() => _data.Dispose();

    private async Task UsersAsync()
    {
        await _d.AddDomainAsync("example.org");
        await _d.AddDomainAsync("example.com");
        foreach (var u in new[] { "alice@example.org", "bob@example.org", "carol@example.com" }) await _d.SetUserAsync(u, "pw");
    }

    [Fact]
    public async Task An_alias_reaches_local_and_remote_targets_recursively_each_once()
    {
        await UsersAsync();
        await _d.Aliases.AddAsync("team@example.org", ["alice@example.org", "Sales@Example.ORG", "dave@elsewhere.example"]);
        await _d.Aliases.AddAsync("sales@example.org", ["bob@example.org", "alice@example.org", "carol@example.com", "dave@elsewhere.example"]);

        var r = await _d.ResolveAsync("TEAM@example.org");
        Assert.Equal(ResolutionOutcome.Deliverable, r.Outcome);
        Assert.Equal(["alice@example.org", "bob@example.org", "carol@example.com"], r.Users);
        Assert.Equal(["dave@elsewhere.example"], r.Forwards);
    }

    [Fact]
    public async Task A_loop_and_a_chain_deeper_than_20_are_refused_a_diamond_is_not()
    {
        await UsersAsync();
        await _d.Aliases.AddAsync("a@example.org", ["b@example.org"]);
        await _d.Aliases.AddAsync("b@example.org", ["alice@example.org", "a@example.org"]);
        var loop = await _d.ResolveAsync("a@example.org");
        Assert.Equal(ResolutionOutcome.AliasLoop, loop.Outcome);
        Assert.Equal("alias loop: a@example.org -> b@example.org -> a@example.org", loop.Why);
        Assert.Empty(loop.Users);

        // Two paths to one alias is a diamond, not a loop.
        await _d.Aliases.AddAsync("top@example.org", ["left@example.org", "right@example.org"]);
        await _d.Aliases.AddAsync("left@example.org", ["end@example.org"]);
        await _d.Aliases.AddAsync("right@example.org", ["end@example.org"]);
        await _d.Aliases.AddAsync("end@example.org", ["bob@example.org"]);
        Assert.Equal(["bob@example.org"], (await _d.ResolveAsync("top@example.org")).Users);

        // d1 -> d2 -> ... -> d20 -> alice: 20 aliases deep is allowed; one more is not.
        for (var i = 1; i <= 20; i++) await _d.Aliases.AddAsync($"d{i}@example.org", [i == 20 ? "alice@example.org" : $"d{i + 1}@example.org"]);
        Assert.Equal(["alice@example.org"], (await _d.ResolveAsync("d1@example.org")).Users);
        await _d.Aliases.AddAsync("d0@example.org", ["d1@example.org"]);
        var deep = await _d.ResolveAsync("d0@example.org");
        Assert.Equal(ResolutionOutcome.AliasLoop, deep.Outcome);
        Assert.StartsWith("aliases nested more than 20 deep", deep.Why);
    }

    [Fact]
    public async Task The_catch_all_serves_only_addresses_nothing_else_reaches()
    {
        await UsersAsync();
        await _d.Aliases.AddAsync("info@example.org", ["bob@example.org"]);
        Assert.Equal(ResolutionOutcome.Unknown, (await _d.ResolveAsync("nobody@example.org")).Outcome);
        await _d.Aliases.AddAsync("@example.org", ["carol@example.com"]);

        Assert.Equal(["carol@example.com"], (await _d.ResolveAsync("nobody@example.org")).Users);
        Assert.Equal(["alice@example.org"], (await _d.ResolveAsync("alice@example.org")).Users);
        Assert.Equal(["alice@example.org"], (await _d.ResolveAsync("alice+tag@example.org")).Users);
        Assert.Equal(["bob@example.org"], (await _d.ResolveAsync("info@example.org")).Users);
        Assert.Equal(["bob@example.org"], (await _d.ResolveAsync("info+x@example.org")).Users);
        Assert.Equal(ResolutionOutcome.Unknown, (await _d.ResolveAsync("nobody@example.com")).Outcome);
        // A catch-all that points into its own domain at nobody is a loop, found and refused.
        await _d.Aliases.AddAsync("@example.com", ["ghost@example.com"]);
        Assert.Equal(ResolutionOutcome.AliasLoop, (await _d.ResolveAsync("x@example.com")).Outcome);
    }

    [Fact]
    public async Task An_explicit_alias_wins_over_postmaster_and_over_a_user_and_may_keep_a_copy()
    {
        await UsersAsync();
        Assert.Equal(["alice@example.org"], (await _d.ResolveAsync("postmaster@example.org")).Users);
        await _d.Aliases.AddAsync("postmaster@example.org", ["bob@example.org"]);
        Assert.Equal(["bob@example.org"], (await _d.ResolveAsync("postmaster@example.org")).Users);
        Assert.Equal(["bob@example.org"], (await _d.ResolveAsync("postmaster+x@example.org")).Users);
        Assert.Equal(["alice@example.org"], (await _d.ResolveAsync("abuse@example.org")).Users);

        // Postfix's idiom: alice -> alice, a remote copy. The alias names its own mailbox; it is no loop.
        await _d.Aliases.AddAsync("alice@example.org", ["alice@example.org", "alice@elsewhere.example"]);
        var r = await _d.ResolveAsync("alice@example.org");
        Assert.Equal(["alice@example.org"], r.Users);
        Assert.Equal(["alice@elsewhere.example"], r.Forwards);
    }

    [Fact]
    public async Task Targets_can_be_removed_one_by_one_and_a_target_that_reaches_nobody_is_reported()
    {
        await UsersAsync();
        await _d.Aliases.AddAsync("list@example.org", ["alice@example.org", "gone@example.org"]);
        var r = await _d.ResolveAsync("list@example.org");
        Assert.Equal(["alice@example.org"], r.Users);
        Assert.Equal(["gone@example.org"], r.Unknown);

        Assert.True(await _d.Aliases.RemoveAsync("list@example.org", ["alice@example.org"]));
        Assert.Equal(ResolutionOutcome.Unknown, (await _d.ResolveAsync("list@example.org")).Outcome);
        Assert.True(await _d.Aliases.RemoveAsync("list@example.org", []));
        Assert.Null(await _d.Aliases.GetAsync("list@example.org"));
        Assert.False(await _d.Aliases.RemoveAsync("list@example.org", []));
        await Assert.ThrowsAsync<InvalidOperationException>(() => _d.Aliases.AddAsync("x@elsewhere.example", ["alice@example.org"]));
        await Assert.ThrowsAsync<ArgumentException>(() => _d.Aliases.AddAsync("x@example.org", ["@example.org"]));
    }

    [Fact]
    public async Task An_SRS0_address_of_ours_reaches_the_original_sender_and_a_forged_one_is_refused()
    {
        await UsersAsync();
        var srs = await _d.Srs!.ForwardAsync("dave@elsewhere.example", "example.org");
        var back = await _d.ResolveAsync(srs);
        Assert.Equal(ResolutionOutcome.Deliverable, back.Outcome);
        Assert.Equal(["dave@elsewhere.example"], back.Forwards);
        // Its hash has '+' or '/' at times: never cut as a subaddress. Lower-cased on the way back: still ours.
        Assert.Equal(["dave@elsewhere.example"], (await _d.ResolveAsync(srs.ToLowerInvariant())).Forwards);

        var local = srs.Split('@')[0];
        var forged = await _d.ResolveAsync(local.Replace("=dave", "=eve") + "@example.org");
        Assert.Equal(ResolutionOutcome.InvalidSrs, forged.Outcome);
        Assert.Equal("SRS hash does not match", forged.Why);
        Assert.Equal(ResolutionOutcome.Remote, (await _d.ResolveAsync(local + "@elsewhere.example")).Outcome);
    }
}
