using Mail.Core.Accounts;

namespace Mail.Host;

/// <summary>`mail alias add|list|remove`: Postfix's virtual_alias_maps, kept in the state store (<see cref="AliasTable"/>).</summary>
public sealed class AliasCommands(MailDirectory directory, TextWriter output)
{
    /// <summary>Adds targets to ADDRESS (an address or <c>@domain</c>, the catch-all), making it when new.</summary>
    public async Task<int> AddAsync(string address, IReadOnlyList<string> targets)
    {
        if (AliasTable.Key(address) is null) return Fail($"'{address}' is not an address (local@domain) or a catch-all (@domain)");
        if (targets.Count == 0) return Fail($"alias add {address}: name at least one target address");
        if (targets.FirstOrDefault(t => MailDirectory.Canonical(t) is null) is { } bad) return Fail($"'{bad}' is not a target address (local@domain)");
        IReadOnlyList<string> now;
        try
        {
            now = await directory.Aliases.AddAsync(address, targets);
        }
        catch (InvalidOperationException e)
        {
            return Fail(e.Message);
        }
        output.WriteLine($"alias {AliasTable.Key(address)} -> {string.Join(", ", now)}");
        // A loop is refused at RCPT, not here: the alias that closes it may be the one an admin means to fix next.
        if (!address.StartsWith('@') && await directory.ResolveAsync(address) is { Outcome: ResolutionOutcome.AliasLoop } check) Console.Error.WriteLine($"mail: warning: {check.Why}; mail to it is refused until that is fixed");
        return ExitCodes.Ok;
    }

    /// <summary>One line per alias, "alias -> target, target", optionally of one domain only.</summary>
    public async Task<int> ListAsync(string? domain)
    {
        foreach (var (alias, targets) in await directory.Aliases.ListAsync(domain))
            output.WriteLine($"{alias} -> {string.Join(", ", targets)}");
        return ExitCodes.Ok;
    }

    /// <summary>Removes the given targets, or the whole alias when none are named.</summary>
    public async Task<int> RemoveAsync(string address, IReadOnlyList<string> targets)
    {
        if (AliasTable.Key(address) is not { } key) return Fail($"'{address}' is not an address (local@domain) or a catch-all (@domain)");
        if (!await directory.Aliases.RemoveAsync(address, targets)) return Fail($"no alias {key}");
        var left = await directory.Aliases.GetAsync(key);
        output.WriteLine(left is null ? $"alias {key} removed" : $"alias {key} -> {string.Join(", ", left)}");
        return ExitCodes.Ok;
    }

    /// <summary>The command's input is wrong: one line, EX_DATAERR.</summary>
    private static int Fail(string message)
    {
        Console.Error.WriteLine("mail: " + message);
        return ExitCodes.DataError;
    }
}
