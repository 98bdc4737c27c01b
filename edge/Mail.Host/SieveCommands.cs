using Mail.Admin;

namespace Mail.Host;

/// <summary>`mail sieve put|list|get|activate|deactivate|remove`: a user's Sieve scripts, what Pigeonhole keeps in
/// ~/sieve with the active one linked from ~/.dovecot.sieve. The work is the <see cref="AdminService"/>'s, which the
/// console calls too: a script is compiled before it is stored, so a broken one is refused with its line, as
/// ManageSieve's PUTSCRIPT does.</summary>
public sealed class SieveCommands(AdminService admin, TextWriter output)
{
    public async Task<int> PutAsync(string address, string name, string file)
    {
        string text;
        try
        {
            text = file == "-" ? await Console.In.ReadToEndAsync() : await File.ReadAllTextAsync(file);
        }
        catch (IOException e)
        {
            return Fail($"cannot read {file}: {e.Message}");
        }
        return await Run(async () => output.WriteLine($"sieve script {name} stored for {await admin.PutSieveScriptAsync(address, name, text)}"));
    }

    /// <summary>One line per script, "NAME" or "NAME active" (ManageSieve's LISTSCRIPTS).</summary>
    public Task<int> ListAsync(string address) => Run(async () =>
    {
        foreach (var s in await admin.ListSieveScriptsAsync(address))
            output.WriteLine(s.Active ? s.Name + " active" : s.Name);
    });

    public Task<int> GetAsync(string address, string name) => Run(async () => output.Write(await admin.GetSieveScriptAsync(address, name)));

    public Task<int> ActivateAsync(string address, string name) =>
        Run(async () => output.WriteLine($"sieve script {name} is active for {await admin.ActivateSieveScriptAsync(address, name)}"));

    public Task<int> DeactivateAsync(string address) =>
        Run(async () => output.WriteLine($"no sieve script is active for {await admin.DeactivateSieveAsync(address)}"));

    public Task<int> RemoveAsync(string address, string name) =>
        Run(async () => output.WriteLine($"sieve script {name} removed for {await admin.RemoveSieveScriptAsync(address, name)}"));

    private static async Task<int> Run(Func<Task> work)
    {
        try
        {
            await work();
            return ExitCodes.Ok;
        }
        catch (AdminException e)
        {
            return Fail(e.Message);
        }
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine("mail: " + message);
        return ExitCodes.DataError;
    }
}
