using System.Text;
using Mail.Core.Ports;

namespace Mail.Storage.Embedded;

/// <summary>
/// Secrets as files under the data directory, one per name (<c>dkim/example.com/202612r.pem</c> for the name
/// <c>dkim/example.com/202612r.pem</c>), so an operator can back them up, read them with openssl, or bring a key
/// from elsewhere. Each file is created with mode 0600 and its directories 0700 (set at creation, never widened
/// and then narrowed), written to a temporary name, fsynced and then linked into place, so a crash leaves either
/// no secret or a whole one.
/// </summary>
public sealed class FileSecretStore(string root) : ISecretStore
{
    private const UnixFileMode OwnerFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public string Root { get; } = root;

    /// <summary>Where a secret lives (for messages to the operator).</summary>
    public string PathOf(string name)
    {
        SecretName.Validate(name);
        return Path.Combine(Root, name.Replace('/', Path.DirectorySeparatorChar));
    }

    public async Task CreateAsync(string name, string value, CancellationToken cancellationToken = default)
    {
        var path = PathOf(name);
        var directory = Path.GetDirectoryName(path)!;
        CreateDirectories(directory);
        if (File.Exists(path)) throw new InvalidOperationException($"secret {path} already exists");
        var temporary = Path.Combine(directory, "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = OwnerFile;
        try
        {
            await using (var stream = new FileStream(temporary, options))
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes(value), cancellationToken);
                stream.Flush(flushToDisk: true);
            }
            try
            {
                File.Move(temporary, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                throw new InvalidOperationException($"secret {path} already exists");
            }
            DurableFile.SyncDirectory(directory);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    public async Task<string?> GetAsync(string name, CancellationToken cancellationToken = default)
    {
        var path = PathOf(name);
        try
        {
            return await File.ReadAllTextAsync(path, Encoding.UTF8, cancellationToken);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public Task DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        try
        {
            File.Delete(PathOf(name));
        }
        catch (DirectoryNotFoundException)
        {
        }
        return Task.CompletedTask;
    }

    private void CreateDirectories(string directory)
    {
        if (Directory.Exists(directory)) return;
        // Each missing level is created 0700, from the root down (CreateDirectory's mode applies to what it creates).
        var parent = Path.GetDirectoryName(directory);
        if (parent is not null && !Directory.Exists(parent) && parent.StartsWith(Root, StringComparison.Ordinal)) CreateDirectories(parent);
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(directory);
        else Directory.CreateDirectory(directory, OwnerDirectory);
    }
}
