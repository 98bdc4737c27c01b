namespace Mail.Core.Accounts;

/// <summary>
/// The state store's partitions that say who and what is ours: domains, users, aliases, storage limits and Sieve
/// scripts. They change only by an administrator's or user's action (`mail`, the console, ManageSieve), while every
/// message reads several of them, so a store may keep them in memory (<c>DirectoryCacheTtl</c>); a command that changes
/// one from another process tells the server (its control socket).
/// </summary>
public static class DirectoryPartitions
{
    public const string Domain = "domain";
    public const string User = "user";
    public const string Alias = "alias";
    public const string Quota = "quota";
    /// <summary>A user's Sieve scripts: <c>sieve:USER</c>.</summary>
    public const string SievePrefix = "sieve:";

    public static bool Contains(string partition) =>
        partition is Domain or User or Alias or Quota || partition.StartsWith(SievePrefix, StringComparison.Ordinal);
}
