using Mail.Core.Tls;
using Microsoft.Extensions.Logging;

namespace Mail.Host.Tls;

/// <summary>
/// Asks the certificate source for a renewed certificate every "Tls:ReloadInterval" and gives it to SMTP and IMAP
/// (through their shared <see cref="ServerCertificate"/>): the next handshake presents it, without a restart. A new
/// version that cannot be read leaves the certificate in use as it is, with one warning naming the setting.
/// </summary>
public sealed class CertificateReloader(ServerCertificate certificate, ICertificateSource source, TimeSpan interval, ILogger logger, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public TimeSpan Interval => interval;

    /// <summary>One look at the source; true when the certificate was replaced.</summary>
    public async Task<bool> CheckAsync(CancellationToken ct)
    {
        try
        {
            if (await source.ReadIfChangedAsync(ct) is not { } chain) return false;
            certificate.Replace(chain);
            logger.LogInformation("TLS: certificate from {Source} reloaded: {Subject}, serial {Serial}, valid until {NotAfter:u}",
                source.Name, chain.Leaf.Subject, chain.Leaf.SerialNumber, chain.Leaf.NotAfter.ToUniversalTime());
            return true;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e)
        {
            // Deliberately broad: whatever the new version's fault (unreadable, no key, the wrong password, Key Vault
            // refusing), mail goes on with the certificate it has.
            logger.LogWarning("TLS: the certificate from {Source} could not be reloaded, the one in use is kept: {Reason} (check {Setting})",
                source.Name, e.Message, source.Setting);
            return false;
        }
    }

    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                await Task.Delay(interval, _time, ct);
                await CheckAsync(ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }
}
