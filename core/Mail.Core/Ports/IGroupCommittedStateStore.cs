namespace Mail.Core.Ports;

/// <summary>
/// A state store whose writes are already group-committed: concurrent writes share one transaction and one sync
/// (SQLite: every write queued while a batch runs goes into the next one). Its callers write directly; batching in
/// front of it (<see cref="Threading.GroupWriter{T}"/>, which the Table store needs) would only add a second queue
/// and its wait.
/// </summary>
public interface IGroupCommittedStateStore : IStateStore
{
    /// <summary>
    /// Read-modify-write of one key in one write transaction: <paramref name="update"/> gets the live value (null when
    /// missing or expired) and returns the new one, stored unconditionally with <paramref name="expiresAt"/>. No other
    /// write to the key, from this process or another, comes between the read and the write.
    /// </summary>
    Task UpdateAsync(string partition, string key, Func<string?, string> update, DateTimeOffset? expiresAt = null, CancellationToken cancellationToken = default);
}
