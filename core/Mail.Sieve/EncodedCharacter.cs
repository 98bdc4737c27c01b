using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Mail.Sieve;

/// <summary>RFC 5228 2.4.2.4 "encoded-character": in a script that requires it, <c>${hex:48 49}</c> and
/// <c>${unicode:263a}</c> in any string stand for the octets (UTF-8) or code points they name; a sequence that is not
/// well formed stays as written.</summary>
internal static partial class EncodedCharacter
{
    [GeneratedRegex(@"\$\{(?<kind>hex|unicode):(?<seq>[\s0-9a-fA-F]*)\}", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Sequence();

    public static string Decode(string s, int line) => !s.Contains("${", StringComparison.Ordinal) ? s : Sequence().Replace(s, m =>
    {
        var items = m.Groups["seq"].Value.Split([' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries);
        if (items.Length == 0) return "";
        if (m.Groups["kind"].Value.Equals("hex", StringComparison.OrdinalIgnoreCase))
        {
            if (items.Any(i => i.Length != 2)) return m.Value;
            var bytes = items.Select(i => byte.Parse(i, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToArray();
            return Encoding.UTF8.GetString(bytes);
        }
        var sb = new StringBuilder();
        foreach (var i in items)
        {
            if (i.Length > 6) return m.Value;
            var cp = int.Parse(i, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (cp > 0x10FFFF || cp is >= 0xD800 and <= 0xDFFF) throw new SieveCompileException(line, $"invalid unicode character {i} in encoded character");
            sb.Append(char.ConvertFromUtf32(cp));
        }
        return sb.ToString();
    });

    public static IReadOnlyList<SieveCommand> Apply(IReadOnlyList<SieveCommand> commands) =>
        [.. commands.Select(c => c with { Arguments = Args(c.Arguments), Tests = Tests(c.Tests), Block = c.Block is null ? null : Apply(c.Block) })];

    private static IReadOnlyList<SieveTest> Tests(IReadOnlyList<SieveTest> tests) =>
        [.. tests.Select(t => t with { Arguments = Args(t.Arguments), Tests = Tests(t.Tests) })];

    private static IReadOnlyList<SieveArgument> Args(IReadOnlyList<SieveArgument> args) =>
        [.. args.Select(a => a is StringListArgument s ? s with { Values = [.. s.Values.Select(v => Decode(v, s.Line))] } : a)];
}
