using Mail.Core.Ports;

namespace Mail.Core.Accounts;

/// <summary>
/// Each user's Sieve scripts (RFC 5228), several per user and at most one active (RFC 5804's model, so ManageSieve can
/// sit on this store): Pigeonhole's <c>sieve = file:~/sieve;active=~/.dovecot.sieve</c>. Kept in the state store,
/// partition <c>sieve:USER</c> (keys <c>script:NAME</c> and <c>active</c>), so the CLI, the inbound stage and the
/// cloud Functions read the same scripts. This only stores: compiling is the caller's (Mail.Sieve), so a script is
/// checked before <see cref="PutAsync"/>.
/// </summary>
public sealed class SieveScripts(IStateStore state)
{
    /// <summary>Table storage keeps a string property up to 64 KiB (32 K UTF-16 characters): one row per script.</summary>
    public const int MaxScriptLength = 32 * 1024;

    /// <summary>How many scripts one user may keep (Pigeonhole's sieve_quota_max_scripts, unlimited there by default).</summary>
    public const int MaxScripts = 64;

    private const string ActiveKey = "active";
    private const string ScriptPrefix = "script:";

    private static string Partition(string user) => DirectoryPartitions.SievePrefix + user;

    /// <summary>Why a script name is not acceptable, or null. RFC 5804 1.6 allows any Unicode but controls; we also keep
    /// it short and free of the characters Table keys refuse.</summary>
    public static string? CheckName(string name)
    {
        if (name.Length is 0 or > 128) return "a script name is 1 to 128 characters";
        if (name.Any(c => char.IsControl(c) || c is '/' or '\\' or '#' or '?')) return "a script name has no control characters and none of / \\ # ?";
        return null;
    }

    /// <summary>Stores (or replaces) a script. Throws <see cref="ArgumentException"/> for a bad name, an oversized
    /// script or one too many.</summary>
    public async Task PutAsync(string user, string name, string script, CancellationToken cancellationToken = default)
    {
        if (CheckName(name) is { } why) throw new ArgumentException(why, nameof(name));
        if (script.Length > MaxScriptLength) throw new ArgumentException($"a script is at most {MaxScriptLength} characters", nameof(script));
        if (await GetAsync(user, name, cancellationToken) is null && (await ListAsync(user, cancellationToken)).Count >= MaxScripts)
            throw new ArgumentException($"a user keeps at most {MaxScripts} scripts", nameof(name));
        await state.PutAsync(Partition(user), ScriptPrefix + name, script, cancellationToken: cancellationToken);
    }

    public async Task<string?> GetAsync(string user, string name, CancellationToken cancellationToken = default) =>
        (await state.GetAsync(Partition(user), ScriptPrefix + name, cancellationToken))?.Value;

    /// <summary>The user's scripts by name, and which one is active.</summary>
    public async Task<IReadOnlyList<(string Name, bool Active)>> ListAsync(string user, CancellationToken cancellationToken = default)
    {
        var active = await GetActiveNameAsync(user, cancellationToken);
        var list = new List<(string, bool)>();
        await foreach (var e in state.ListAsync(Partition(user), cancellationToken))
            if (e.Key.StartsWith(ScriptPrefix, StringComparison.Ordinal))
                list.Add((e.Key[ScriptPrefix.Length..], e.Key[ScriptPrefix.Length..] == active));
        return list;
    }

    /// <summary>Makes a stored script the active one; false when there is no such script.</summary>
    public async Task<bool> ActivateAsync(string user, string name, CancellationToken cancellationToken = default)
    {
        if (await GetAsync(user, name, cancellationToken) is null) return false;
        await state.PutAsync(Partition(user), ActiveKey, name, cancellationToken: cancellationToken);
        return true;
    }

    /// <summary>No script runs for the user any more (RFC 5804 SETACTIVE "").</summary>
    public Task DeactivateAsync(string user, CancellationToken cancellationToken = default) =>
        state.DeleteAsync(Partition(user), ActiveKey, cancellationToken);

    /// <summary>Removes a script; the active one cannot be removed (RFC 5804 2.10), so false with a reason.</summary>
    public async Task<(bool Removed, string? Why)> RemoveAsync(string user, string name, CancellationToken cancellationToken = default)
    {
        if (await GetAsync(user, name, cancellationToken) is null) return (false, $"no script '{name}'");
        if (await GetActiveNameAsync(user, cancellationToken) == name) return (false, $"script '{name}' is active; deactivate it first");
        await state.DeleteAsync(Partition(user), ScriptPrefix + name, cancellationToken);
        return (true, null);
    }

    /// <summary>Renames a script, the active one staying active (RFC 5804 2.11.1); false with a reason when there is no
    /// such script or the new name is taken. Not atomic: the copy is written, made active if the old one was, then the
    /// old one removed, so a failure half-way leaves both rather than neither.</summary>
    public async Task<(bool Renamed, string? Why)> RenameAsync(string user, string name, string newName, CancellationToken cancellationToken = default)
    {
        if (CheckName(newName) is { } bad) throw new ArgumentException(bad, nameof(newName));
        if (await GetAsync(user, name, cancellationToken) is not { } script) return (false, $"no script '{name}'");
        if (await GetAsync(user, newName, cancellationToken) is not null) return (false, $"a script '{newName}' exists already");
        await state.PutAsync(Partition(user), ScriptPrefix + newName, script, cancellationToken: cancellationToken);
        if (await GetActiveNameAsync(user, cancellationToken) == name)
            await state.PutAsync(Partition(user), ActiveKey, newName, cancellationToken: cancellationToken);
        await state.DeleteAsync(Partition(user), ScriptPrefix + name, cancellationToken);
        return (true, null);
    }

    public async Task<string?> GetActiveNameAsync(string user, CancellationToken cancellationToken = default) =>
        (await state.GetAsync(Partition(user), ActiveKey, cancellationToken))?.Value;

    /// <summary>The active script's name and text, or null when the user has none: what delivery runs.</summary>
    public async Task<(string Name, string Script)?> GetActiveAsync(string user, CancellationToken cancellationToken = default)
    {
        if (await GetActiveNameAsync(user, cancellationToken) is not { } name) return null;
        return await GetAsync(user, name, cancellationToken) is { } script ? (name, script) : null;
    }
}
