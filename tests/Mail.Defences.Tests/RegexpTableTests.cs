using Mail.Defences.RegexpTables;

namespace Mail.Defences.Tests;

public class RegexpTableTests
{
    [Fact]
    public void First_matching_rule_wins_and_matching_is_case_insensitive_by_default()
    {
        var t = RegexpTable.Parse("""
            # comment
            /^Subject:.*viagra/     REJECT no pills
            /^Subject:.*/           WARN any subject
            """);
        Assert.Equal(2, t.RuleCount);
        var m = t.Match("Subject: Buy VIAGRA now");
        Assert.NotNull(m);
        Assert.Equal(TableActionKind.Reject, m.Action.Kind);
        Assert.Equal("no pills", m.Action.Text);
        Assert.Equal(2, m.Line);
        Assert.Equal(TableActionKind.Warn, t.Match("Subject: hello")!.Action.Kind);
        Assert.Null(t.Match("From: a@b"));
    }

    [Fact]
    public void Flag_i_makes_the_pattern_case_sensitive()
    {
        var t = RegexpTable.Parse("/^X-Secret: ABC/i DISCARD");
        Assert.NotNull(t.Match("X-Secret: ABC"));
        Assert.Null(t.Match("x-secret: abc"));
    }

    [Fact]
    public void Negation_matches_when_the_pattern_does_not()
    {
        var t = RegexpTable.Parse("!/^Date: / HOLD no date here");
        Assert.Equal(TableActionKind.Hold, t.Match("Subject: x")!.Action.Kind);
        Assert.Null(t.Match("Date: today"));
    }

    [Fact]
    public void Nested_if_endif_blocks_limit_inner_rules()
    {
        var t = RegexpTable.Parse("""
            if /^Subject:/
            if !/urgent/
            /money/ JUNK money talk
            endif
            /urgent/ PREPEND X-Urgent: yes
            endif
            /money/ WARN money elsewhere
            """);
        Assert.Equal(TableActionKind.Junk, t.Match("Subject: money money")!.Action.Kind);
        Assert.Equal(TableActionKind.Prepend, t.Match("Subject: urgent money")!.Action.Kind);
        Assert.Equal("X-Urgent: yes", t.Match("Subject: urgent money")!.Action.Text);
        Assert.Equal(TableActionKind.Warn, t.Match("X-Note: money")!.Action.Kind);
    }

    [Fact]
    public void Continuation_lines_join_the_logical_line_and_line_numbers_point_at_its_start()
    {
        var t = RegexpTable.Parse("\n/^Subject: (.*) offer/ REJECT\n   your $1 offer\n\t is refused\n");
        var m = t.Match("Subject: great offer")!;
        Assert.Equal("your great offer is refused", m.Action.Text);
        Assert.Equal(2, m.Line);
    }

    [Fact]
    public void Substitutions_dollar_n_braces_and_double_dollar()
    {
        var t = RegexpTable.Parse("/^From: (\\S+)@(\\S+)/ REDIRECT ${1}-copy@$2 $$");
        Assert.Equal("a-copy@b.example $", t.Match("From: a@b.example")!.Action.Text);
    }

    [Fact]
    public void Other_delimiters_and_escaped_delimiters_work()
    {
        var t = RegexpTable.Parse("""
            %^Received: from .*\%x% DISCARD
            /a\/b/ IGNORE
            """);
        Assert.Equal(TableActionKind.Ignore, t.Match("path a/b")!.Action.Kind);
        Assert.Equal(TableActionKind.Discard, t.Match("Received: from host %x")!.Action.Kind);
    }

    [Fact]
    public void Flag_x_reads_posix_basic_syntax()
    {
        var t = RegexpTable.Parse(@"/^a\(b\)\{2\}+$/x REJECT");
        Assert.NotNull(t.Match("abb+"));
        Assert.Null(t.Match("abb"));
    }

    [Fact]
    public void Flag_m_is_multiline()
    {
        var t = RegexpTable.Parse("/^second$/m WARN");
        Assert.NotNull(t.Match("first\nsecond"));
        Assert.Null(RegexpTable.Parse("/^second$/ WARN").Match("first\nsecond"));
    }

    [Theory]
    [InlineData("/abc(/ REJECT", 1, "bad pattern")]
    [InlineData("\n\n/ok/ REJECT\n/x/ EXPLODE now", 4, "unknown action 'EXPLODE'")]
    [InlineData("/x/q REJECT", 1, "unknown flag 'q'")]
    [InlineData("/x/", 1, "missing action")]
    [InlineData("/x REJECT", 1, "no closing '/'")]
    [InlineData("/x/ PREPEND", 1, "PREPEND needs an argument")]
    [InlineData("/x/ REDIRECT nobody", 1, "REDIRECT needs user@domain")]
    [InlineData("if /a/\n/b/ WARN", 1, "'if' without 'endif'")]
    [InlineData("/b/ WARN\nendif", 2, "'endif' without 'if'")]
    [InlineData("abc REJECT", 1, "expected /pattern/")]
    [InlineData("!/(a)/ REJECT $1", 1, "negated pattern")]
    public void Bad_tables_name_the_file_and_line(string text, int line, string problem)
    {
        var e = Assert.Throws<RegexpTableException>(() => RegexpTable.Parse(text, "/etc/mail/header_checks"));
        Assert.Equal(line, e.Line);
        Assert.Contains(problem, e.Problem, StringComparison.Ordinal);
        Assert.StartsWith($"/etc/mail/header_checks, line {line}:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_reads_a_file_and_errors_carry_its_path()
    {
        var path = Path.Combine(Path.GetTempPath(), $"hc-{Guid.NewGuid():N}");
        try
        {
            File.WriteAllText(path, "/ok/ WARN\n/[unclosed/ REJECT\n");
            var e = Assert.Throws<RegexpTableException>(() => RegexpTable.Load(path));
            Assert.Contains(path, e.Message, StringComparison.Ordinal);
            Assert.Equal(2, e.Line);
            File.WriteAllText(path, "/ok/ WARN\n");
            Assert.Equal(1, RegexpTable.Load(path).RuleCount);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Catastrophic_backtracking_times_out_and_counts_as_no_match()
    {
        var t = RegexpTable.Parse("/^(a+)+$/ REJECT\n/b/ WARN", matchTimeout: TimeSpan.FromMilliseconds(50));
        var timedOut = new List<int>();
        t.MatchTimedOut += (_, line) => timedOut.Add(line);
        var evil = new string('a', 40) + "!b";
        var m = t.Match(evil);
        Assert.Equal(TableActionKind.Warn, m!.Action.Kind);
        Assert.Equal([1], timedOut);
    }
}
