using System.Security.Cryptography;
using Mail.Core.Model;
using Mail.Core.Ports;

namespace Mail.Core.Forwarding;

/// <summary>
/// SRS for forwarded mail (what postsrsd does for Postfix): the secret is made once, on first use, and kept in the
/// secret store (<see cref="SecretName"/>), so every process of the system (the edge checking RCPT, the inbound stage
/// forwarding, the Functions app) rewrites and reverses with the same one.
/// </summary>
public sealed class SenderRewriting(ISecretStore secrets, TimeProvider? time = null)
{
    public const string SecretName = "srs/secret";

    private Srs0? _srs;

    /// <summary>The reverse-path for mail from <paramref name="sender"/> forwarded by <paramref name="forwardingDomain"/>:
    /// SRS0 at that domain. The null sender stays null (a bounce is never answered), and so does an address that is
    /// not local@domain.</summary>
    public async Task<string> ForwardAsync(string sender, string forwardingDomain, CancellationToken cancellationToken = default)
    {
        if (sender.Length == 0 || !Address.TryParse(sender, out var from)) return sender;
        return (await GetAsync(cancellationToken)).Forward(from.LocalPart, from.Domain, forwardingDomain);
    }

    /// <summary>The original sender behind an SRS0 local part of ours, or null with the reason.</summary>
    public async Task<(string? Original, string? Why)> ReverseAsync(string localPart, CancellationToken cancellationToken = default)
    {
        var original = (await GetAsync(cancellationToken)).Reverse(localPart, out var why);
        return (original, why);
    }

    private async Task<Srs0> GetAsync(CancellationToken cancellationToken)
    {
        if (_srs is { } ready) return ready;
        var secret = await secrets.GetAsync(SecretName, cancellationToken);
        if (secret is null)
        {
            try
            {
                await secrets.CreateAsync(SecretName, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), cancellationToken);
            }
            catch (InvalidOperationException)
            {
                // Another process made it first: theirs is the one.
            }
            secret = await secrets.GetAsync(SecretName, cancellationToken)
                ?? throw new InvalidOperationException($"the SRS secret {SecretName} was created but cannot be read back");
        }
        // libsrs2 keys the HMAC with the secret's text, as written.
        return _srs = new Srs0(System.Text.Encoding.UTF8.GetBytes(secret.Trim()), time);
    }
}
