using Mail.Sieve;
using Mail.Testing;

namespace Mail.Sieve.Tests;

/// <summary>Scripts that must not compile: the error names the line, and that line is the one Pigeonhole's sieve-test
/// names for the same script.</summary>
public sealed class CompileErrorTests
{
    public static TheoryData<string, string, int> Broken() => new()
    {
        { "iff true { keep; }", "unknown command 'iff'", 1 },
        { "keep;\nfileinto \"x\";", "unknown command 'fileinto' (missing require \"fileinto\")", 2 },
        { "require \"nonsense\";", "unknown Sieve capability `nonsense'", 1 },
        { "keep;\nrequire \"fileinto\";", "require commands can only be placed at top level", 2 },
        { "if true {\n keep;\n", "expected '}', found end of script", 3 },
        { "keep\ndiscard;", "missing semicolon ';' after keep command", 1 },
        { "keep;\ndiscard", "expected ';' or '{', found end of script", 2 },
        { "if header :frobnicate \"a\" \"b\" { keep; }", "unknown tagged argument ':frobnicate'", 1 },
        { "\n\nif header :is \"subject\" { keep; }", "expects 2 positional argument(s), found 1", 3 },
        { "else { keep; }", "else command must follow an if or elsif command", 1 },
        { "if size 10 { keep; }", "the size test requires :over or :under", 1 },
        { "if header :value \"gt\" \"x\" \"1\" { keep; }", "unknown tagged argument ':value' for the header test (missing require \"relational\")", 1 },
        { "require \"vacation\";\nvacation :days \"x\" \"away\";", "the ':days' tag of the vacation command expects a number", 2 },
        { "require \"variables\";\nset \"1bad\" \"v\";", "invalid variable name '1bad'", 2 },
        { "if header :is :comparator \"i;bogus\" \"a\" \"b\" { keep; }", "unknown comparator 'i;bogus'", 1 },
        { "keep;\n/* open comment", "unterminated comment", 2 },
        { "require \"vacation\";\nvacation text:\nno end\n", "end of file before end of multi-line string", 4 },
        { "if allof () { keep; }", "expected a test, found ')'", 1 },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void The_error_names_the_line(string script, string error, int line)
    {
        var e = Assert.Throws<SieveCompileException>(() => SieveScript.Compile(script));
        Assert.Contains(error, e.Message, StringComparison.Ordinal);
        Assert.Equal(line, e.Line);
        Assert.StartsWith($"line {line}: error: ", e.Message, StringComparison.Ordinal);
        Assert.Same(e.GetType(), SieveScript.Check(script)?.GetType());
    }

    [Theory]
    [MemberData(nameof(Broken))]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Pigeonhole_names_the_same_line(string script, string error, int line)
    {
        _ = error;
        Assert.True(File.Exists("/usr/bin/sieve-test"), "sieve-test is not installed (Debian package dovecot-sieve; ./test.sh installs it)");
        var dir = Directory.CreateTempSubdirectory("sieve-error-");
        try
        {
            var path = Path.Combine(dir.FullName, "s.sieve");
            await File.WriteAllTextAsync(path, script);
            var msg = Path.Combine(dir.FullName, "m.eml");
            await File.WriteAllTextAsync(msg, "From: a@example.net\nSubject: x\n\nbody\n");
            dir.UnixFileMode |= UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
            List<string> args = Environment.UserName == "root" ? ["-o", "mail_uid=65534", "-o", "mail_gid=65534"] : [];
            var result = await ExternalProcess.RunAsync("/usr/bin/sieve-test", [.. args, path, msg]);
            Assert.NotEqual(0, result.ExitCode);
            Assert.Contains($"s: line {line}: error", result.StdOut + result.StdErr, StringComparison.Ordinal);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_good_script_checks_clean() => Assert.Null(SieveScript.Check("require [\"fileinto\"];\nif true { fileinto \"A\"; }"));

    [Fact]
    public void An_oversized_script_is_refused() =>
        Assert.Contains("larger than", Assert.Throws<SieveCompileException>(() => SieveScript.Compile(new string('#', SieveScript.MaxScriptSize + 1))).Message, StringComparison.Ordinal);
}
