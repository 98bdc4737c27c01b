using Mail.Core.Accounts;
using Mail.Sieve;

namespace Mail.Host;

/// <summary>`mail sieve put|list|get|activate|deactivate|remove`: a user's Sieve scripts (<see cref="SieveScripts"/>),
/// what Pigeonhole keeps in ~/sieve with the active one linked from ~/.dovecot.sieve. A script is compiled before it
/// is stored, so a broken one is refused here with its line, as ManageSieve's PUTSCRIPT does.</summary>
public sealed class SieveCommands(MailDirectory directory, TextWriter output)
{
    public async Task<int> PutAsync(string address, string name, string file)
    {
        if (await User(address) is not { } user) return Fail($"no user {address}");
        if (SieveScripts.CheckName(name) is { } bad) return Fail($"script name '{name}': {bad}");
        string text;
        try
        {
            text = file == "-" ? await Console.In.ReadToEndAsync() : await File.ReadAllTextAsync(file);
        }
        catch (IOException e)
        {
            return Fail($"cannot read {file}: {e.Message}");
        }
        if (SieveScript.Check(text) is { } error) return Fail($"{name}: {error.Message}");
        try
        {
            await directory.Sieve.PutAsync(user, name, text);
        }
        catch (ArgumentException e)
        {
            return Fail(e.Message.Split(" (Parameter", 2)[0]);
        }
        output.WriteLine($"sieve script {name} stored for {user}");
        return ExitCodes.Ok;
    }

    /// <summary>One line per script, "NAME" or "NAME active" (ManageSieve's LISTSCRIPTS).</summary>
    public async Task<int> ListAsync(string address)
    {
        if (await User(address) is not { } user) return Fail($"no user {address}");
        foreach (var (name, active) in await directory.Sieve.ListAsync(user))
            output.WriteLine(active ? name + " active" : name);
        return ExitCodes.Ok;
    }

    public async Task<int> GetAsync(string address, string name)
    {
        if (await User(address) is not { } user) return Fail($"no user {address}");
        if (await directory.Sieve.GetAsync(user, name) is not { } text) return Fail($"no script '{name}' for {user}");
        output.Write(text);
        return ExitCodes.Ok;
    }

    public async Task<int> ActivateAsync(string address, string name)
    {
        if (await User(address) is not { } user) return Fail($"no user {address}");
        if (!await directory.Sieve.ActivateAsync(user, name)) return Fail($"no script '{name}' for {user}");
        output.WriteLine($"sieve script {name} is active for {user}");
        return ExitCodes.Ok;
    }

    public async Task<int> DeactivateAsync(string address)
    {
        if (await User(address) is not { } user) return Fail($"no user {address}");
        await directory.Sieve.DeactivateAsync(user);
        output.WriteLine($"no sieve script is active for {user}");
        return ExitCodes.Ok;
    }

    public async Task<int> RemoveAsync(string address, string name)
    {
        if (await User(address) is not { } user) return Fail($"no user {address}");
        var (removed, why) = await directory.Sieve.RemoveAsync(user, name);
        if (!removed) return Fail(why!);
        output.WriteLine($"sieve script {name} removed for {user}");
        return ExitCodes.Ok;
    }

    private async Task<string?> User(string address) =>
        MailDirectory.Canonical(address) is { } user && await directory.UserExistsAsync(user) ? user : null;

    private static int Fail(string message)
    {
        Console.Error.WriteLine("mail: " + message);
        return ExitCodes.DataError;
    }
}
