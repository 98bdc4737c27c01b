namespace Mail.Sieve;

/// <summary>RFC 5228 section 8.2's grammar over the lexer's tokens. Nesting is bounded so a hostile script cannot
/// exhaust the stack.</summary>
internal sealed class Parser(List<Token> tokens)
{
    private const int MaxNesting = 32;
    private int _pos;

    public static List<SieveCommand> Parse(string source) => new Parser(new Lexer(source).Tokenize()).Commands(0, topLevel: true);

    private Token Peek => tokens[_pos];

    private Token Take() => tokens[_pos++];

    private List<SieveCommand> Commands(int depth, bool topLevel)
    {
        var list = new List<SieveCommand>();
        while (Peek.Kind != TokenKind.End && (topLevel || Peek.Kind != TokenKind.RightBrace)) list.Add(Command(depth));
        return list;
    }

    private SieveCommand Command(int depth)
    {
        var name = Take();
        if (name.Kind != TokenKind.Identifier) throw Unexpected(name, "a command");
        var args = Arguments();
        var tests = new List<SieveTest>();
        if (Peek.Kind == TokenKind.LeftParen) tests.AddRange(TestList(depth));
        else if (Peek.Kind == TokenKind.Identifier) tests.Add(Test(depth));
        if (Peek.Kind == TokenKind.Semicolon)
        {
            Take();
            return new SieveCommand(name.Text, args, tests, null, name.Line);
        }
        if (Peek.Kind == TokenKind.LeftBrace)
        {
            if (depth >= MaxNesting) throw new SieveCompileException(Peek.Line, $"blocks nested deeper than {MaxNesting}");
            Take();
            var block = Commands(depth + 1, topLevel: false);
            var close = Take();
            if (close.Kind != TokenKind.RightBrace) throw Unexpected(close, "'}'");
            return new SieveCommand(name.Text, args, tests, block, name.Line);
        }
        throw Unexpected(Peek, "';' or '{'");
    }

    private List<SieveArgument> Arguments()
    {
        var args = new List<SieveArgument>();
        while (true)
        {
            var t = Peek;
            switch (t.Kind)
            {
                case TokenKind.Tag: Take(); args.Add(new TagArgument(t.Text, t.Line)); break;
                case TokenKind.Number: Take(); args.Add(new NumberArgument(t.Number, t.Line)); break;
                case TokenKind.String: Take(); args.Add(new StringListArgument([t.Text], false, t.Line)); break;
                case TokenKind.LeftBracket: args.Add(StringList()); break;
                default: return args;
            }
        }
    }

    private StringListArgument StringList()
    {
        var open = Take();
        var values = new List<string>();
        while (true)
        {
            var s = Take();
            if (s.Kind != TokenKind.String) throw Unexpected(s, "a string");
            values.Add(s.Text);
            var next = Take();
            if (next.Kind == TokenKind.RightBracket) return new StringListArgument(values, true, open.Line);
            if (next.Kind != TokenKind.Comma) throw Unexpected(next, "',' or ']'");
        }
    }

    private List<SieveTest> TestList(int depth)
    {
        Take();
        var tests = new List<SieveTest>();
        while (true)
        {
            tests.Add(Test(depth));
            var next = Take();
            if (next.Kind == TokenKind.RightParen) return tests;
            if (next.Kind != TokenKind.Comma) throw Unexpected(next, "',' or ')'");
        }
    }

    private SieveTest Test(int depth)
    {
        if (depth >= MaxNesting) throw new SieveCompileException(Peek.Line, $"tests nested deeper than {MaxNesting}");
        var name = Take();
        if (name.Kind != TokenKind.Identifier) throw Unexpected(name, "a test");
        var args = Arguments();
        var tests = new List<SieveTest>();
        if (Peek.Kind == TokenKind.LeftParen) tests.AddRange(TestList(depth + 1));
        else if (Peek.Kind == TokenKind.Identifier) tests.Add(Test(depth + 1));
        return new SieveTest(name.Text, args, tests, name.Line);
    }

    private static SieveCompileException Unexpected(Token t, string expected) =>
        new(t.Line, $"expected {expected}, found {(t.Kind == TokenKind.End ? "end of script" : $"'{t.Text}'")}");
}
