using Mail.Core.Accounts;
using Mail.Storage.Embedded;
using Mail.Testing;

namespace Mail.Core.Tests;

/// <summary>SHA-crypt ($5$/$6$) verification, the hashes users bring from Dovecot/Postfix.</summary>
public sealed class PasswordHashTests
{
    // The test vectors published with the specification (akkadia.org/drepper/SHA-crypt.txt); the C source there
    // splits the long key over two lines without a space, hence "morethan".
    public static TheoryData<string, string, string> SpecVectors => new()
    {
        { "$5$saltstring", "Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5" },
        { "$5$rounds=10000$saltstringsaltstring", "Hello world!", "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA" },
        { "$5$rounds=5000$toolongsaltstring", "This is just a test", "$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5" },
        { "$5$rounds=1400$anotherlongsaltstring", "a very much longer text to encrypt.  This one even stretches over morethan one line.", "$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1" },
        { "$5$rounds=77777$short", "we have a short salt string but not a short password", "$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/" },
        { "$5$rounds=123456$asaltof16chars..", "a short string", "$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD" },
        { "$5$rounds=10$roundstoolow", "the minimum number is still observed", "$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC" },
        { "$6$saltstring", "Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1" },
        { "$6$rounds=10000$saltstringsaltstring", "Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v." },
        { "$6$rounds=5000$toolongsaltstring", "This is just a test", "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0" },
        { "$6$rounds=1400$anotherlongsaltstring", "a very much longer text to encrypt.  This one even stretches over morethan one line.", "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1" },
        { "$6$rounds=77777$short", "we have a short salt string but not a short password", "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0" },
        { "$6$rounds=123456$asaltof16chars..", "a short string", "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1" },
        { "$6$rounds=10$roundstoolow", "the minimum number is still observed", "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX." },
    };

    [Theory]
    [MemberData(nameof(SpecVectors))]
    public void Crypt_matches_the_specifications_vectors(string setting, string password, string expected)
    {
        Assert.Equal(expected, ShaCrypt.Crypt(password, setting));
        Assert.True(PasswordHasher.Verify(password, expected));
        Assert.False(PasswordHasher.Verify(password + "x", expected));
    }

    [Theory]
    [InlineData("-6", "", "")]
    [InlineData("-5", "", "")]
    [InlineData("-6", "{SHA512-CRYPT}", "")]
    [InlineData("-5", "{SHA256-CRYPT}", "")]
    [InlineData("-6", "{CRYPT}", "")]
    [InlineData("-6", "", "pässwörd ünïcode")]
    public async Task Verifies_hashes_made_by_openssl_passwd(string variant, string prefix, string extra)
    {
        var password = "correct horse " + extra + variant;
        var salt = "s" + Guid.NewGuid().ToString("N")[..15];
        var made = await ExternalProcess.RunAsync("openssl", ["passwd", variant, "-salt", salt, password]);
        Assert.Equal(0, made.ExitCode);
        var stored = prefix + made.StdOut.Trim();
        Assert.Null(PasswordHasher.Validate(stored));
        Assert.True(PasswordHasher.Verify(password, stored));
        Assert.False(PasswordHasher.Verify("correct horse", stored));
        Assert.False(PasswordHasher.Verify(password.ToUpperInvariant(), stored));
    }

    [Theory]
    [InlineData("{SHA256-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")] // prefix names the other variant
    [InlineData("{MD5-CRYPT}$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1")]
    [InlineData("$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz")] // one short
    [InlineData("$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz!")] // bad alphabet
    [InlineData("$6$saltstring")]
    [InlineData("$6$rounds=x$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")]
    [InlineData("$6$saltstringsaltstringx$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")] // salt > 16
    [InlineData("plaintext")]
    [InlineData("pbkdf2-sha256$x$AAAA$AAAA")]
    [InlineData("")]
    public void Malformed_hashes_are_refused_with_a_reason_and_never_verify(string stored)
    {
        Assert.NotNull(PasswordHasher.Validate(stored));
        Assert.False(PasswordHasher.Verify("Hello world!", stored));
        Assert.False(PasswordHasher.Verify("", stored));
    }

    [Fact]
    public void Hash_still_writes_pbkdf2_and_it_verifies()
    {
        var h = PasswordHasher.Hash("pw", iterations: 1000);
        Assert.StartsWith("pbkdf2-sha256$1000$", h, StringComparison.Ordinal);
        Assert.Null(PasswordHasher.Validate(h));
        Assert.True(PasswordHasher.Verify("pw", h));
        Assert.False(PasswordHasher.Verify("pW", h));
    }

    [Fact]
    public async Task An_imported_hash_logs_in_through_the_directory()
    {
        using var data = new TempData();
        var state = new SqliteStateStore(Path.Combine(data.Path, "mail.db"));
        var directory = new MailDirectory(state);
        var made = await ExternalProcess.RunAsync("openssl", ["passwd", "-6", "-salt", "importsalt", "s3cret"]);
        await Assert.ThrowsAsync<InvalidOperationException>(() => directory.SetUserPasswordHashAsync("alice@example.org", made.StdOut));
        await directory.AddDomainAsync("example.org");
        await Assert.ThrowsAsync<ArgumentException>(() => directory.SetUserPasswordHashAsync("alice@example.org", "s3cret"));
        Assert.Equal("alice@example.org", await directory.SetUserPasswordHashAsync("Alice@Example.org", "{SHA512-CRYPT}" + made.StdOut));
        Assert.Equal("alice@example.org", await directory.AuthenticateAsync("alice@example.org", "s3cret"));
        Assert.Null(await directory.AuthenticateAsync("alice@example.org", "S3cret"));
    }

    [Fact]
    public async Task The_credential_is_the_stored_hash_and_changes_with_the_password()
    {
        using var data = new TempData();
        var state = new SqliteStateStore(Path.Combine(data.Path, "mail.db"));
        var directory = new MailDirectory(state, passwordIterations: 1000);
        await directory.AddDomainAsync("example.org");
        await directory.SetUserAsync("alice@example.org", "pw+/=\"\u00e9");
        var first = await directory.GetCredentialAsync("Alice@example.org");
        Assert.NotNull(first);
        Assert.Equal("alice@example.org", first.User);
        Assert.StartsWith("pbkdf2-sha256$1000$", first.PasswordHash, StringComparison.Ordinal);
        Assert.True(PasswordHasher.Verify("pw+/=\"\u00e9", first.PasswordHash));
        await directory.SetUserAsync("alice@example.org", "pw+/=\"\u00e9");
        Assert.NotEqual(first.PasswordHash, (await directory.GetCredentialAsync("alice@example.org"))!.PasswordHash);
        Assert.Null(await directory.GetCredentialAsync("nobody@example.org"));
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{}")]
    [InlineData("{\"PasswordHash\": 5}")]
    [InlineData("{\"Other\": {\"PasswordHash\": \"x\"}}")]
    [InlineData("{\"PasswordHash\": ")]
    public async Task A_user_record_without_a_readable_hash_never_logs_in(string record)
    {
        using var data = new TempData();
        var state = new SqliteStateStore(Path.Combine(data.Path, "mail.db"));
        var directory = new MailDirectory(state);
        await state.PutAsync("user", "alice@example.org", record);
        Assert.Null(await directory.GetCredentialAsync("alice@example.org"));
        Assert.Null(await directory.AuthenticateAsync("alice@example.org", "x"));
    }

    [Fact]
    public async Task Records_written_before_and_with_other_properties_still_read()
    {
        using var data = new TempData();
        var state = new SqliteStateStore(Path.Combine(data.Path, "mail.db"));
        var directory = new MailDirectory(state);
        var hash = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
        await state.PutAsync("user", "bob@example.org", $"{{\"Disabled\": {{\"a\": [1, 2]}}, \"PasswordHash\": \"{hash}\"}}");
        Assert.Equal("bob@example.org", await directory.AuthenticateAsync("bob@example.org", "Hello world!"));
    }
}
