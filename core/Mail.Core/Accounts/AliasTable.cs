using System.Text.Json;
using Mail.Core.Model;
using Mail.Core.Ports;

namespace Mail.Core.Accounts;

/// <summary>
/// Postfix's <c>virtual_alias_maps</c>, kept in the state store: an address of a local domain (or <c>@domain</c>, the
/// catch-all) and the addresses it stands for, local or remote. Keys and targets are canonical
/// (<see cref="MailDirectory.Canonical"/>). Expansion is <see cref="MailDirectory.ResolveAsync"/>'s job; this only stores.
/// </summary>
public sealed class AliasTable(IStateStore state, Func<string, CancellationToken, Task<bool>> isLocalDomain)
{
    private const string Partition = DirectoryPartitions.Alias;

    /// <summary>The canonical key for an alias address, or "@domain" for a catch-all; null when neither.</summary>
    public static string? Key(string address)
    {
        if (address.StartsWith('@')) return Address.NormalizeDomain(address[1..]) is { } d ? "@" + d : null;
        return MailDirectory.Canonical(address);
    }

    /// <summary>Adds targets to an alias (made when new). The alias must be in a local domain; a target must be a whole
    /// address (a catch-all is not a destination). Returns the alias's targets now.</summary>
    public async Task<IReadOnlyList<string>> AddAsync(string address, IEnumerable<string> targets, CancellationToken cancellationToken = default)
    {
        var key = Key(address) ?? throw new ArgumentException($"Not an address or @domain: {address}", nameof(address));
        var domain = key[(key.LastIndexOf('@') + 1)..];
        if (!await isLocalDomain(domain, cancellationToken))
            throw new InvalidOperationException($"Domain {domain} is not a local domain; add it first.");
        var add = new List<string>();
        foreach (var t in targets)
            add.Add(MailDirectory.Canonical(t) ?? throw new ArgumentException($"Not an address: {t} (a target is local@domain)", nameof(targets)));
        if (add.Count == 0) throw new ArgumentException("An alias needs at least one target", nameof(targets));
        return await UpdateAsync(key, current => [.. current.Concat(add).Distinct(StringComparer.Ordinal)], cancellationToken);
    }

    /// <summary>Removes the given targets, or the whole alias when none are given (or none remain). False when there
    /// was no such alias.</summary>
    public async Task<bool> RemoveAsync(string address, IEnumerable<string> targets, CancellationToken cancellationToken = default)
    {
        var key = Key(address) ?? throw new ArgumentException($"Not an address or @domain: {address}", nameof(address));
        if (await GetAsync(key, cancellationToken) is null) return false;
        var drop = targets.Select(t => MailDirectory.Canonical(t) ?? t).ToHashSet(StringComparer.Ordinal);
        await UpdateAsync(key, current => drop.Count == 0 ? [] : [.. current.Where(t => !drop.Contains(t))], cancellationToken);
        return true;
    }

    /// <summary>The targets of one alias key (<see cref="Key"/>), or null when there is none.</summary>
    public async Task<IReadOnlyList<string>?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        var entry = await state.GetAsync(Partition, key, cancellationToken);
        return entry is null ? null : Read(entry);
    }

    /// <summary>Every alias, ordered by key; only those of <paramref name="domain"/> when given.</summary>
    public async Task<IReadOnlyList<(string Alias, IReadOnlyList<string> Targets)>> ListAsync(string? domain = null, CancellationToken cancellationToken = default)
    {
        var suffix = domain is null ? null : "@" + (Address.NormalizeDomain(domain) ?? domain);
        var list = new List<(string, IReadOnlyList<string>)>();
        await foreach (var e in state.ListAsync(Partition, cancellationToken))
            if (suffix is null || e.Key.EndsWith(suffix, StringComparison.Ordinal)) list.Add((e.Key, Read(e)));
        return list;
    }

    /// <summary>Read, change, write under the row's version, so two admins adding at once both keep their targets.</summary>
    private async Task<IReadOnlyList<string>> UpdateAsync(string key, Func<IReadOnlyList<string>, List<string>> change, CancellationToken cancellationToken)
    {
        while (true)
        {
            var entry = await state.GetAsync(Partition, key, cancellationToken);
            var next = change(entry is null ? [] : Read(entry));
            if (next.Count == 0)
            {
                await state.DeleteAsync(Partition, key, cancellationToken);
                return next;
            }
            var value = JsonSerializer.Serialize(new AliasRecord(next), AccountsJson.Default.AliasRecord);
            if (await state.TryPutAsync(Partition, key, value, entry?.Version, cancellationToken: cancellationToken)) return next;
        }
    }

    private static IReadOnlyList<string> Read(StateEntry entry)
    {
        try
        {
            return JsonSerializer.Deserialize(entry.Value, AccountsJson.Default.AliasRecord)?.Targets ?? [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    internal sealed record AliasRecord(IReadOnlyList<string> Targets);
}
