using System.Text;
using System.Text.RegularExpressions;
using Mail.Core.Text;

namespace Mail.Defences.RegexpTables;

/// <summary>
/// A Postfix regexp_table(5): ordered "/pattern/flags ACTION text" rules, "!/pattern/" negation,
/// "if /pattern/" ... "endif" blocks (nested), '#' comments, and continuation lines that start with
/// whitespace. The first rule that matches wins. Flags toggle Postfix's defaults: <c>i</c> case
/// sensitivity (default: case-insensitive), <c>m</c> multi-line mode (default off), <c>x</c> extended
/// syntax (default on; toggled off, the pattern is read as a POSIX basic regular expression).
/// Every regex runs with a match timeout so a hostile message cannot stall the pipeline (ReDoS);
/// a timed-out rule counts as not matching and is reported through <see cref="MatchTimedOut"/>.
/// </summary>
public sealed class RegexpTable
{
    public static readonly TimeSpan DefaultMatchTimeout = TimeSpan.FromMilliseconds(250);

    private readonly IReadOnlyList<Node> _nodes;

    private RegexpTable(string source, IReadOnlyList<Node> nodes, int ruleCount, string fingerprint)
    {
        Source = source;
        _nodes = nodes;
        RuleCount = ruleCount;
        Fingerprint = fingerprint;
    }

    /// <summary>File name (or a label) the table was read from; used in messages.</summary>
    public string Source { get; }

    /// <summary>Number of "/pattern/ ACTION" rules (not counting if/endif).</summary>
    public int RuleCount { get; }

    /// <summary>Hex SHA-256 of what decides this table's matches (its text, source label, kind and match timeout): two
    /// tables with the same fingerprint answer every input alike, so a verdict recorded under it still holds.</summary>
    public string Fingerprint { get; }

    /// <summary>Raised (synchronously) when a rule's regex exceeded the match timeout; the rule is treated as not matching.</summary>
    public event Action<RegexpTable, int>? MatchTimedOut;

    public static RegexpTable Load(string path, TimeSpan? matchTimeout = null) =>
        Parse(File.ReadAllText(path), path, matchTimeout);

    /// <summary>Parses table text. Throws <see cref="RegexpTableException"/> naming <paramref name="source"/> and the line.</summary>
    public static RegexpTable Parse(string text, string source = "(inline)", TimeSpan? matchTimeout = null) =>
        Parse(text, source, matchTimeout, validateActions: true);

    /// <summary>A regexp table whose results are access(5) actions (OK, REJECT, 4NN text, restriction names, ...):
    /// the result is kept as text and judged by the caller; use <see cref="MatchResult"/>.</summary>
    public static RegexpTable ParseAccess(string text, string source, TimeSpan? matchTimeout = null) =>
        Parse(text, source, matchTimeout, validateActions: false);

    private static RegexpTable Parse(string text, string source, TimeSpan? matchTimeout, bool validateActions)
    {
        var timeout = matchTimeout ?? DefaultMatchTimeout;
        var root = new List<Node>();
        var stack = new Stack<(IfNode Node, int Line)>();
        var rules = 0;
        foreach (var (lineNo, line) in LogicalLines(text))
        {
            var current = stack.Count == 0 ? root : stack.Peek().Node.Children;
            if (IsKeyword(line, "endif"))
            {
                if (line.Trim().Length != 5) throw new RegexpTableException(source, lineNo, "text after 'endif'");
                if (stack.Count == 0) throw new RegexpTableException(source, lineNo, "'endif' without 'if'");
                stack.Pop();
                continue;
            }
            if (IsKeyword(line, "if"))
            {
                var rest = line[2..].TrimStart();
                var (regex, negate, after) = ParsePattern(rest, source, lineNo, timeout);
                if (after.Trim().Length != 0) throw new RegexpTableException(source, lineNo, "text after the 'if' pattern");
                var node = new IfNode(regex, negate, lineNo);
                current.Add(node);
                stack.Push((node, lineNo));
                continue;
            }
            var (re, neg, result) = ParsePattern(line, source, lineNo, timeout);
            result = result.Trim();
            TableAction? action = null;
            if (validateActions && !TableAction.TryParse(result, out action, out var error))
                throw new RegexpTableException(source, lineNo, error!);
            if (!validateActions && result.Length == 0)
                throw new RegexpTableException(source, lineNo, "missing result");
            if (neg && HasGroupReference(result))
                throw new RegexpTableException(source, lineNo, "$number in the result of a negated pattern (nothing was captured)");
            current.Add(new RuleNode(re, neg, action, result, lineNo));
            rules++;
        }
        if (stack.Count > 0)
            throw new RegexpTableException(source, stack.Peek().Line, "'if' without 'endif'");
        var fingerprint = Sha256Hex.Of($"{source}\n{validateActions}\n{timeout.Ticks}\n{text}");
        return new RegexpTable(source, root, rules, fingerprint);
    }

    /// <summary>The first matching rule for <paramref name="input"/>, or null. DUNNO matches are returned too (callers treat them as "stop, do nothing").</summary>
    public TableMatch? Match(string input) => Match(input, null);

    /// <param name="timedOut">Receives the line of every rule whose regex timed out on this input (treated as no match).</param>
    public TableMatch? Match(string input, ICollection<int>? timedOut)
    {
        var m = Find(_nodes, input, timedOut);
        if (m is null) return null;
        var action = m.Value.Rule.Action ?? throw new InvalidOperationException($"{Source} was read as an access table; use MatchResult");
        return new TableMatch(action with { Text = m.Value.Rule.Negate ? action.Text : Substitute(action.Text, m.Value.Match) }, Source, m.Value.Rule.Line);
    }

    /// <summary>The first matching rule's result text ($n substituted) and its line, or null.</summary>
    public (string Result, int Line)? MatchResult(string input)
    {
        var m = Find(_nodes, input, null);
        if (m is null) return null;
        return (m.Value.Rule.Negate ? m.Value.Rule.Result : Substitute(m.Value.Rule.Result, m.Value.Match), m.Value.Rule.Line);
    }

    private (RuleNode Rule, System.Text.RegularExpressions.Match Match)? Find(IReadOnlyList<Node> nodes, string input, ICollection<int>? timedOut)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case IfNode block:
                    var m = SafeMatch(block.Regex, input, block.Line, timedOut);
                    var taken = block.Negate ? m is { Success: false } : m is { Success: true };
                    if (taken && Find(block.Children, input, timedOut) is { } inner) return inner;
                    break;
                case RuleNode rule:
                    var rm = SafeMatch(rule.Regex, input, rule.Line, timedOut);
                    if (rm is null) break;
                    if (rule.Negate ? !rm.Success : rm.Success) return (rule, rm);
                    break;
            }
        }
        return null;
    }

    private System.Text.RegularExpressions.Match? SafeMatch(Regex regex, string input, int line, ICollection<int>? timedOut)
    {
        try
        {
            return regex.Match(input);
        }
        catch (RegexMatchTimeoutException)
        {
            timedOut?.Add(line);
            MatchTimedOut?.Invoke(this, line);
            return null;
        }
    }

    /// <summary>$1..$9, ${n} and $$ as in Postfix; a group that did not participate gives "".</summary>
    private static string Substitute(string text, System.Text.RegularExpressions.Match m)
    {
        if (!text.Contains('$', StringComparison.Ordinal)) return text;
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c != '$' || i + 1 >= text.Length)
            {
                sb.Append(c);
                continue;
            }
            var n = text[i + 1];
            if (n == '$')
            {
                sb.Append('$');
                i++;
            }
            else if (char.IsAsciiDigit(n))
            {
                sb.Append(m.Groups[n - '0'].Value);
                i++;
            }
            else if (n == '{')
            {
                var close = text.IndexOf('}', i + 2);
                if (close > 0 && int.TryParse(text.AsSpan(i + 2, close - i - 2), out var g))
                {
                    sb.Append(m.Groups[g].Value);
                    i = close;
                }
                else sb.Append(c);
            }
            else sb.Append(c);
        }
        return sb.ToString();
    }

    private static bool HasGroupReference(string text) => Regex.IsMatch(text, @"(?<!\$)\$(\d|\{\d+\})");

    private static bool IsKeyword(string line, string word) =>
        line.StartsWith(word, StringComparison.OrdinalIgnoreCase) &&
        (line.Length == word.Length || char.IsWhiteSpace(line[word.Length]) || (word == "if" && line[word.Length] is '/' or '!'));

    /// <summary>Reads "[!]DpatternDflags rest" where D is any delimiter (usually '/'). Backslash escapes the delimiter.</summary>
    private static (Regex Regex, bool Negate, string After) ParsePattern(string line, string source, int lineNo, TimeSpan timeout)
    {
        var p = 0;
        var negate = false;
        while (p < line.Length && line[p] == '!')
        {
            negate = !negate;
            p++;
            while (p < line.Length && char.IsWhiteSpace(line[p])) p++;
        }
        if (p >= line.Length) throw new RegexpTableException(source, lineNo, "missing pattern");
        var delim = line[p];
        if (char.IsLetterOrDigit(delim) || char.IsWhiteSpace(delim) || delim == '\\')
            throw new RegexpTableException(source, lineNo, $"expected /pattern/ but found '{Preview(line)}'");
        var start = ++p;
        var end = -1;
        for (; p < line.Length; p++)
        {
            if (line[p] == '\\' && p + 1 < line.Length) { p++; continue; }
            if (line[p] == delim) { end = p; break; }
        }
        if (end < 0) throw new RegexpTableException(source, lineNo, $"no closing '{delim}' for the pattern");
        var pattern = line[start..end];
        if (delim != '/') pattern = pattern.Replace("\\" + delim, delim.ToString(), StringComparison.Ordinal);
        p = end + 1;
        bool ignoreCase = true, multiLine = false, extended = true;
        for (; p < line.Length && !char.IsWhiteSpace(line[p]); p++)
        {
            switch (line[p])
            {
                case 'i': ignoreCase = !ignoreCase; break;
                case 'm': multiLine = !multiLine; break;
                case 'x': extended = !extended; break;
                default: throw new RegexpTableException(source, lineNo, $"unknown flag '{line[p]}' (known: i, m, x)");
            }
        }
        if (pattern.Length == 0) throw new RegexpTableException(source, lineNo, "empty pattern");
        if (!extended) pattern = BasicToExtended(pattern);
        var options = RegexOptions.CultureInvariant;
        if (ignoreCase) options |= RegexOptions.IgnoreCase;
        if (multiLine) options |= RegexOptions.Multiline;
        Regex regex;
        try
        {
            regex = new Regex(pattern, options, timeout);
        }
        catch (ArgumentException e)
        {
            throw new RegexpTableException(source, lineNo, $"bad pattern /{pattern}/: {e.Message}");
        }
        return (regex, negate, line[p..]);
    }

    /// <summary>POSIX BRE to .NET: \( \) \{ \} \| become operators, bare ( ) { } + ? | become literals. Bracket expressions pass through.</summary>
    internal static string BasicToExtended(string bre)
    {
        var sb = new StringBuilder(bre.Length + 8);
        var inBracket = false;
        for (var i = 0; i < bre.Length; i++)
        {
            var c = bre[i];
            if (inBracket)
            {
                sb.Append(c);
                if (c == ']' && bre[i - 1] != '[' && !(bre[i - 1] == '^' && bre[i - 2] == '[')) inBracket = false;
                continue;
            }
            if (c == '[') { inBracket = true; sb.Append(c); continue; }
            if (c == '\\' && i + 1 < bre.Length)
            {
                var n = bre[++i];
                sb.Append(n is '(' or ')' or '{' or '}' or '|' or '+' or '?' ? n.ToString() : "\\" + n);
                continue;
            }
            sb.Append(c is '(' or ')' or '{' or '}' or '+' or '?' or '|' ? "\\" + c : c.ToString());
        }
        return sb.ToString();
    }

    private static string Preview(string s) => s.Length > 40 ? s[..40] + "..." : s;

    /// <summary>Joins continuation lines (starting with whitespace) to the line before; drops blank and '#' lines.</summary>
    private static IEnumerable<(int Line, string Text)> LogicalLines(string text)
    {
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        StringBuilder? current = null;
        var startLine = 0;
        for (var i = 0; i < lines.Length; i++)
        {
            var raw = lines[i];
            var trimmed = raw.TrimStart();
            if (trimmed.Length == 0 || trimmed[0] == '#') continue;
            if (char.IsWhiteSpace(raw[0]) && current is not null)
            {
                current.Append(' ').Append(trimmed.TrimEnd());
                continue;
            }
            if (current is not null) yield return (startLine, current.ToString());
            current = new StringBuilder(trimmed.TrimEnd());
            startLine = i + 1;
        }
        if (current is not null) yield return (startLine, current.ToString());
    }

    private abstract record Node(int Line);
    private sealed record RuleNode(Regex Regex, bool Negate, TableAction? Action, string Result, int Line) : Node(Line);
    private sealed record IfNode(Regex Regex, bool Negate, int Line) : Node(Line)
    {
        public List<Node> Children { get; } = [];
    }
}

/// <summary>The rule that matched: its action (text substituted) and where it was written.</summary>
public sealed record TableMatch(TableAction Action, string Source, int Line)
{
    public override string ToString() => $"{Action} ({Source}:{Line})";
}
