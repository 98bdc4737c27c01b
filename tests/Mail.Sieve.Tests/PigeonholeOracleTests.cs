using System.Text;
using Mail.Sieve;
using Mail.Testing;
using MimeKit;

namespace Mail.Sieve.Tests;

/// <summary>
/// The corpus (corpus/*.sieve, each naming its message with "# msg:" and envelope with "# from:"/"# to:") runs
/// through Pigeonhole's <c>sieve-test</c> (Debian dovecot-sieve; ./test.sh installs it) and through our interpreter;
/// both action lists, brought to one form, must be equal. Pigeonhole is the oracle.
/// </summary>
public sealed class PigeonholeOracleTests
{
    private const string SieveTest = "/usr/bin/sieve-test";
    private static readonly string Corpus = Path.Combine(AppContext.BaseDirectory, "corpus");

    public static TheoryData<string> Scripts()
    {
        var data = new TheoryData<string>();
        foreach (var f in Directory.GetFiles(Corpus, "*.sieve").Order(StringComparer.Ordinal)) data.Add(Path.GetFileName(f));
        return data;
    }

    [Fact]
    public void The_corpus_has_at_least_forty_scripts() => Assert.True(Scripts().Count >= 40);

    [Theory]
    [MemberData(nameof(Scripts))]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Our_actions_are_Pigeonholes(string name)
    {
        Assert.True(File.Exists(SieveTest), "sieve-test is not installed (Debian package dovecot-sieve; ./test.sh installs it)");
        var scriptText = await File.ReadAllTextAsync(Path.Combine(Corpus, name));
        var (msgFile, from, to) = Envelope(scriptText);

        var expected = await RunPigeonhole(name, msgFile, from, to);
        var actual = RunOurs(scriptText, msgFile, from, to);
        Assert.Equal(string.Join("\n", expected), string.Join("\n", actual));
    }

    internal static (string Message, string From, string To) Envelope(string script)
    {
        string Header(string key, string fallback) =>
            script.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith($"# {key}: ", StringComparison.Ordinal))?[(key.Length + 4)..] ?? fallback;
        return (Header("msg", "plain.eml"), Header("from", "bob@example.net"), Header("to", "alice+work@example.org"));
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static async Task<List<string>> RunPigeonhole(string script, string msgFile, string from, string to)
    {
        // sieve-test drops root privileges to mail_uid; a scratch copy readable by that user.
        var dir = Directory.CreateTempSubdirectory("sieve-oracle-");
        try
        {
            File.Copy(Path.Combine(Corpus, script), Path.Combine(dir.FullName, script));
            File.Copy(Path.Combine(Corpus, msgFile), Path.Combine(dir.FullName, msgFile));
            foreach (var f in dir.GetFiles()) f.UnixFileMode |= UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
            dir.UnixFileMode |= UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
            var args = new List<string>();
            if (Environment.UserName == "root") args.AddRange(["-o", "mail_uid=65534", "-o", "mail_gid=65534"]);
            args.AddRange(["-f", from, "-a", to, "-r", to, Path.Combine(dir.FullName, script), Path.Combine(dir.FullName, msgFile)]);
            var result = await ExternalProcess.RunAsync(SieveTest, args);
            Assert.True(result.ExitCode == 0, $"sieve-test failed: {result.StdOut}{result.StdErr}");
            return NormalisePigeonhole(result.StdOut);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>sieve-test's "Performed actions" and "Implicit keep" sections as one list of lines.</summary>
    internal static List<string> NormalisePigeonhole(string output)
    {
        var lines = output.Replace("\r", "", StringComparison.Ordinal).Split('\n');
        var result = new List<string>();
        var section = "";
        StringBuilder? body = null;
        foreach (var line in lines)
        {
            if (body is not null)
            {
                if (line == "END MESSAGE")
                {
                    result.Add("  reason " + body.ToString().Trim());
                    body = null;
                }
                else body.Append(line).Append('\n');
                continue;
            }
            if (line.StartsWith("Performed actions:", StringComparison.Ordinal)) { section = "action"; continue; }
            if (line.StartsWith("Implicit keep:", StringComparison.Ordinal)) { section = "implicit"; continue; }
            if (section == "" || line.Trim().Length == 0 || line.Trim() == "(none)") continue;
            if (line == "START MESSAGE") { body = new StringBuilder(); continue; }
            var t = line.Trim();
            if (t.StartsWith("* ", StringComparison.Ordinal))
            {
                t = t[2..];
                var prefix = section == "implicit" ? "implicit " : "";
                if (t.StartsWith("store message in folder: ", StringComparison.Ordinal)) result.Add(prefix + "store " + t["store message in folder: ".Length..]);
                else if (t.StartsWith("redirect message to: ", StringComparison.Ordinal)) result.Add("redirect " + t["redirect message to: ".Length..].Trim('<', '>'));
                else if (t.StartsWith("reject message with reason: ", StringComparison.Ordinal)) result.Add("reject " + t["reject message with reason: ".Length..]);
                else if (t == "discard") result.Add("discard");
                else if (t == "send vacation message:") result.Add("vacation");
                else result.Add("unknown " + t);
            }
            else if (t.StartsWith("+ ", StringComparison.Ordinal))
            {
                t = t[2..];
                if (t == "create mailbox if it does not exist") result.Add("  create");
                else if (t == "preserve implicit keep") result.Add("  copy");
                else if (t.StartsWith("add IMAP flags: ", StringComparison.Ordinal)) result.Add("  flags " + Flags(t["add IMAP flags: ".Length..].Split(' ')));
                else result.Add("  unknown " + t);
            }
            else if (t.StartsWith("=> ", StringComparison.Ordinal))
            {
                var colon = t.IndexOf(':', StringComparison.Ordinal);
                var key = t[3..colon].Trim();
                if (key != "handle") result.Add($"  {key} {t[(colon + 1)..].Trim()}");
            }
            else if (section != "" && result.Count > 0 && result[^1] == "vacation") { /* continuation of a multi-line handle */ }
        }
        return result;
    }

    internal static List<string> RunOurs(string scriptText, string msgFile, string from, string to)
    {
        var raw = File.ReadAllBytes(Path.Combine(Corpus, msgFile));
        var text = Encoding.UTF8.GetString(raw);
        var split = text.IndexOf("\n\n", StringComparison.Ordinal);
        var message = MimeMessage.Load(new MemoryStream(raw));
        var input = new SieveMessage(message, raw.Length, from, to) { RawBody = split < 0 ? "" : text[(split + 2)..] };
        var result = new SieveInterpreter().Run(SieveScript.Compile(scriptText), input);
        return Render(result);
    }

    internal static List<string> Render(SieveResult result)
    {
        var lines = new List<string>();
        foreach (var a in result.Actions)
            switch (a)
            {
                case StoreAction s:
                    lines.Add("store " + s.Mailbox);
                    if (s.Create) lines.Add("  create");
                    if (s.Copy) lines.Add("  copy");
                    if (s.Flags.Count > 0) lines.Add("  flags " + Flags(s.Flags));
                    break;
                case RedirectAction r:
                    lines.Add("redirect " + r.Address);
                    if (r.Copy) lines.Add("  copy");
                    break;
                case RejectAction j: lines.Add((j.Extended ? "ereject " : "reject ") + j.Reason); break;
                case DiscardAction: lines.Add("discard"); break;
                case VacationAction v:
                    lines.Add("vacation");
                    lines.Add($"  seconds {(long)v.Period.TotalSeconds}");
                    if (v.Subject is not null) lines.Add("  subject " + v.Subject);
                    if (v.From is not null) lines.Add("  from " + v.From);
                    lines.Add("  reason " + v.Reason.Replace("\r\n", "\n", StringComparison.Ordinal).Trim());
                    break;
            }
        if (result.ImplicitKeep)
        {
            lines.Add("implicit store INBOX");
            if (result.ImplicitKeepFlags.Count > 0) lines.Add("  flags " + Flags(result.ImplicitKeepFlags));
        }
        return lines;
    }

    /// <summary>Flags compared as a set, case-insensitively (Pigeonhole prints system flags in lower case, in its own order).</summary>
    private static string Flags(IEnumerable<string> flags) =>
        string.Join(' ', flags.Where(f => f.Length > 0).Select(f => f.ToLowerInvariant()).Order(StringComparer.Ordinal));
}
