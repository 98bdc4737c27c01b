namespace Mail.ManageSieve.Protocol;

/// <summary>What a token of a command line is (RFC 5804 section 4): the command name or another atom, a number, or a
/// string (quoted or literal; RFC 5804 makes no difference between the two).</summary>
internal enum TokenKind { Atom, Number, String }

internal readonly record struct Token(TokenKind Kind, string Text, long Octets = 0);

/// <summary>One command as read: its name (upper case) and its arguments.</summary>
internal sealed record ManageSieveCommand(string Name, IReadOnlyList<Token> Arguments);
