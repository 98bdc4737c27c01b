using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Mail.Auth.Dkim.Signing;
using Mail.Configuration;
using Mail.Core.Accounts;
using Mail.Storage.Azure;
using Mail.Testing;
using Microsoft.Extensions.Configuration;

namespace Mail.Azure.Tests;

/// <summary>`mail dkim add` in cloud mode against Azurite: private keys sealed in Table storage under
/// Dkim:KeyEncryptionKey, and the signer the Functions app builds from the same settings signs with them.</summary>
[Collection(AzuriteCollection.Name)]
public sealed partial class CloudDkimTests(AzuriteFixture azurite) : IDisposable
{
    private readonly TempData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task Sealed_keys_in_table_storage_sign_mail_that_dkimpy_verifies()
    {
        var stateTable = AzuriteFixture.UniqueName("state");
        var kek = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        string[] cloud = ["--Mode=cloud", $"--Azure:ConnectionString={azurite.ConnectionString}", $"--Azure:StateTable={stateTable}"];
        await HostProcess.AdminOkAsync(_data.Path, ["domain", "add", "example.org", .. cloud]);

        var missing = await HostProcess.AdminAsync(_data.Path, ["dkim", "add", "example.org", .. cloud]);
        Assert.Equal(78, missing.ExitCode); // EX_CONFIG: a setting is missing
        Assert.Equal("mail: dkim: private keys have no store here: in cloud mode set Dkim:KeyEncryptionKey (32 random bytes, base64)", missing.StdErr.Trim());
        var bad = await HostProcess.AdminAsync(_data.Path, ["dkim", "add", "example.org", "--Dkim:KeyEncryptionKey=c2hvcnQ=", .. cloud]);
        Assert.Equal(78, bad.ExitCode);
        Assert.Contains("Dkim:KeyEncryptionKey: must be 32 random bytes in base64", bad.StdErr, StringComparison.Ordinal);

        var added = await HostProcess.AdminOkAsync(_data.Path, ["dkim", "add", "example.org", $"--Dkim:KeyEncryptionKey={kek}", .. cloud]);
        var records = Records(added.StdOut);
        Assert.Equal(2, records.Count);
        Assert.False(Directory.Exists(Path.Combine(_data.Path, "dkim")));

        await using var azure = AzureAdapters.Create(new AzureStorageOptions { ConnectionString = azurite.ConnectionString, StateTable = stateTable });
        await foreach (var row in azure.StateStore.ListAsync("secret"))
            Assert.StartsWith("v1:", row.Value, StringComparison.Ordinal);
        var settings = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Dkim:KeyEncryptionKey"] = kek }).Build();
        var signer = Assert.IsType<DkimMessageSigner>(
            DkimSettings.BuildSigner(DkimSettings.BuildKeyStore(settings, azure.StateStore, DkimSettings.SealedSecrets(settings, azure.StateStore), new MailDirectory(azure.StateStore))));
        const string message = "From: alice@example.org\r\nTo: bob@example.net\r\nSubject: from the cloud\r\n\r\nHello.\r\n";
        var signed = await signer.SignAsync(new MemoryStream(Encoding.UTF8.GetBytes(message)), default) + message;

        var tool = Path.Combine(AppContext.BaseDirectory, "Tools", "dkimtool.py");
        var env = new Dictionary<string, string> { ["DKIMTOOL_TXT"] = string.Join('|', records.Select(kv => kv.Key + "=" + kv.Value)) };
        var verdicts = await ExternalProcess.RunAsync("/usr/bin/python3", [tool, "verify"], signed, TimeSpan.FromSeconds(60), env);
        Assert.True(verdicts.ExitCode == 0, verdicts.StdErr);
        var lines = verdicts.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.EndsWith(" pass", l.Trim(), StringComparison.Ordinal));
    }

    private static Dictionary<string, string> Records(string output) =>
        output.Split('\n', StringSplitOptions.TrimEntries).Where(l => l.Contains(". IN TXT ", StringComparison.Ordinal) && !l.StartsWith(';'))
            .ToDictionary(l => l[..l.IndexOf(". IN TXT ", StringComparison.Ordinal)], l => string.Concat(Quoted().Matches(l).Select(m => m.Groups[1].Value)));

    [GeneratedRegex("\"([^\"]*)\"")]
    private static partial Regex Quoted();
}
