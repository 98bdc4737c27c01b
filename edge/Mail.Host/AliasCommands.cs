using Mail.Admin;

namespace Mail.Host;

/// <summary>`mail alias add|list|remove`: Postfix's virtual_alias_maps, kept in the state store. The work is the
/// <see cref="AdminService"/>'s (the console's Domains page calls the same); this prints it.</summary>
public sealed class AliasCommands(AdminService admin, TextWriter output)
{
    /// <summary>Adds targets to ADDRESS (an address or <c>@domain</c>, the catch-all), making it when new.</summary>
    public Task<int> AddAsync(string address, IReadOnlyList<string> targets) => AdminCommands.RunAsync(async () =>
    {
        var change = await admin.AddAliasAsync(address, targets);
        output.WriteLine($"alias {change.Alias} -> {string.Join(", ", change.Targets ?? [])}");
        if (change.Warning is { } warning) Console.Error.WriteLine("mail: warning: " + warning);
    });

    /// <summary>One line per alias, "alias -> target, target", optionally of one domain only.</summary>
    public async Task<int> ListAsync(string? domain)
    {
        foreach (var (alias, targets) in await admin.ListAliasesAsync(domain))
            output.WriteLine($"{alias} -> {string.Join(", ", targets)}");
        return ExitCodes.Ok;
    }

    /// <summary>Removes the given targets, or the whole alias when none are named.</summary>
    public Task<int> RemoveAsync(string address, IReadOnlyList<string> targets) => AdminCommands.RunAsync(async () =>
    {
        var change = await admin.RemoveAliasAsync(address, targets);
        output.WriteLine(change.Targets is null ? $"alias {change.Alias} removed" : $"alias {change.Alias} -> {string.Join(", ", change.Targets)}");
    });
}
