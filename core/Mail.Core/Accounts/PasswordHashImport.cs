using System.Text.Json;
using Mail.Core.Ports;

namespace Mail.Core.Accounts;

/// <summary>
/// Adds or replaces a user with a password hash brought from elsewhere (a Dovecot/Postfix passwd-file's
/// "{SHA512-CRYPT}$6$..."), stored as given after <see cref="PasswordHasher.Validate"/> accepted it, so the user
/// keeps the password without anyone knowing it. The record is the one <see cref="MailDirectory"/> reads
/// (partition "user", JSON {"PasswordHash": ...}); Mail.Core.Tests' PasswordHashImportTests log in through
/// <see cref="MailDirectory.AuthenticateAsync"/> to keep the two in step.
/// </summary>
public sealed class PasswordHashImport(IStateStore state, MailDirectory directory)
{
    /// <summary>Returns the canonical user. Throws <see cref="ArgumentException"/> for a bad address or hash and
    /// <see cref="InvalidOperationException"/> when the domain is not local.</summary>
    public async Task<string> SetUserHashAsync(string address, string passwordHash, CancellationToken cancellationToken = default)
    {
        var user = MailDirectory.Canonical(address) ?? throw new ArgumentException($"Not a valid address: {address}", nameof(address));
        var hash = passwordHash.Trim();
        if (PasswordHasher.Validate(hash) is { } why) throw new ArgumentException(why, nameof(passwordHash));
        var domain = user[(user.LastIndexOf('@') + 1)..];
        if (!await directory.IsLocalDomainAsync(domain, cancellationToken))
            throw new InvalidOperationException($"Domain {domain} is not a local domain; add it first.");
        await state.PutAsync(UserRecordJson.Partition, user, JsonSerializer.Serialize(new Record(hash)), cancellationToken: cancellationToken);
        return user;
    }

    private sealed record Record(string PasswordHash);
}
