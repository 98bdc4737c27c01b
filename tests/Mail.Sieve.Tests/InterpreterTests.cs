using Mail.Sieve;
using MimeKit;

namespace Mail.Sieve.Tests;

/// <summary>What the oracle corpus cannot show: the bounds that keep a hostile script harmless, and tests that need
/// our side's state (mailboxes, the clock).</summary>
public sealed class InterpreterTests
{
    private static SieveMessage Message(string headers = "From: bob@example.net\r\nTo: alice@example.org\r\nSubject: hi\r\n") =>
        new(MimeMessage.Load(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(headers + "\r\nbody\r\n"))), 100, "bob@example.net", "alice+x@example.org");

    private static SieveResult Run(string script, SieveMessage? message = null) => new SieveInterpreter().Run(SieveScript.Compile(script), message ?? Message());

    [Fact]
    public void More_actions_than_the_limit_fail_the_run()
    {
        var script = "require \"fileinto\";\n" + string.Concat(Enumerable.Range(0, 40).Select(i => $"fileinto \"box{i}\";\n"));
        var e = Assert.Throws<SieveRuntimeException>(() => Run(script));
        Assert.Contains("total number of actions exceeds policy limit (32)", e.Message, StringComparison.Ordinal);
        Assert.Equal(34, e.Line);
    }

    [Fact]
    public void More_redirects_than_the_limit_fail_the_run() =>
        Assert.Contains("redirect actions exceeds policy limit (4)",
            Assert.Throws<SieveRuntimeException>(() => Run(string.Concat(Enumerable.Range(0, 5).Select(i => $"redirect \"u{i}@example.com\";\n")))).Message, StringComparison.Ordinal);

    [Fact]
    public void Variables_are_bounded_in_length()
    {
        var script = "require [\"variables\", \"fileinto\"];\nset \"a\" \"0123456789\";\n" +
                     string.Concat(Enumerable.Range(0, 12).Select(_ => "set \"a\" \"${a}${a}\";\n")) + "set :length \"n\" \"${a}\";\nfileinto \"${n}\";";
        Assert.Equal("4096", Assert.IsType<StoreAction>(Assert.Single(Run(script).Actions)).Mailbox);
    }

    [Fact]
    public void A_pathological_match_pattern_runs_in_linear_time()
    {
        var value = new string('a', 20000);
        var pattern = string.Concat(Enumerable.Repeat("*a", 50)) + "b";
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var result = Run($"require \"fileinto\";\nif header :matches \"subject\" \"{pattern}\" {{ fileinto \"hit\"; }}", Message($"Subject: {value}\r\n"));
        Assert.True(result.ImplicitKeep);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
    }

    [Fact]
    public void Deep_nesting_is_refused_at_compile_time()
    {
        var script = string.Concat(Enumerable.Repeat("if true {\n", 40)) + "keep;\n" + new string('}', 40);
        Assert.Contains("nested deeper than 32", Assert.Throws<SieveCompileException>(() => SieveScript.Compile(script)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Mailboxexists_asks_the_store_and_currentdate_reads_the_clock()
    {
        var message = new SieveMessage(Message().Message, 100, "", "alice@example.org")
        {
            MailboxExists = m => m == "Projects",
            Now = new DateTimeOffset(2030, 2, 3, 4, 5, 6, TimeSpan.Zero),
            LocalOffset = TimeSpan.Zero,
        };
        var result = Run("""
            require ["mailbox", "fileinto", "date", "variables", "envelope"];
            if mailboxexists "Projects" { fileinto "yes"; }
            if mailboxexists ["Projects", "Other"] { fileinto "never"; }
            if currentdate :matches "date" "*" { fileinto "${1}"; }
            if envelope :is "from" "" { fileinto "null-sender"; }
            """, message);
        Assert.Equal(["yes", "2030-02-03", "null-sender"], result.Actions.OfType<StoreAction>().Select(s => s.Mailbox));
    }

    [Fact]
    public void Vacation_days_are_clamped_and_default_to_seven()
    {
        Assert.Equal(TimeSpan.FromDays(60), Assert.IsType<VacationAction>(Assert.Single(Run("require \"vacation\";\nvacation :days 365 \"x\";").Actions)).Period);
        Assert.Equal(TimeSpan.FromDays(1), Assert.IsType<VacationAction>(Assert.Single(Run("require \"vacation\";\nvacation :days 0 \"x\";").Actions)).Period);
        Assert.Equal(TimeSpan.FromDays(7), Assert.IsType<VacationAction>(Assert.Single(Run("require \"vacation\";\nvacation \"x\";").Actions)).Period);
    }
}
