using System.Globalization;
using System.Text;
using MimeKit;
using MimeKit.Utils;

namespace Mail.Sieve;

/// <summary>Runs a compiled script over one message: a tree walk over a loop-free language (RFC 5228 has no loops),
/// with <see cref="SieveLimits"/> bounding the actions and variables. Returns the actions with the implicit keep;
/// throws <see cref="SieveRuntimeException"/> when the script fails, and the caller keeps the message.</summary>
public sealed class SieveInterpreter(SieveLimits? limits = null)
{
    private readonly SieveLimits _limits = limits ?? SieveLimits.Default;

    public SieveResult Run(SieveScript script, SieveMessage message) => new Run(script, message, _limits).Execute();
}

internal sealed class Run(SieveScript script, SieveMessage message, SieveLimits limits)
{
    private readonly List<SieveAction> _actions = [];
    private readonly Dictionary<string, string> _variables = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<string> _matchValues = [];
    private readonly bool _variablesOn = script.Extensions.Contains("variables");
    private List<string> _flags = [];
    private bool _implicitKeep = true;
    private bool _stopped;
    private int _redirects;

    public SieveResult Execute()
    {
        Block(script.Commands);
        return new SieveResult(_actions, _implicitKeep, _flags);
    }

    private void Block(List<Node> commands)
    {
        foreach (var c in commands)
        {
            if (_stopped) return;
            Command(c);
        }
    }

    private void Command(Node c)
    {
        switch (c.Name)
        {
            case "if":
                for (Node? branch = c; branch is not null; branch = branch.Else)
                    if (branch.Name == "else" || Test(branch.Tests[0]))
                    {
                        Block(branch.Block!);
                        return;
                    }
                return;
            case "stop": _stopped = true; return;
            case "keep":
                Store(c, "INBOX", FlagsFor(c), create: false, copy: false, isKeep: true);
                return;
            case "fileinto":
                var mailbox = Expand(Str(c, 0));
                if (mailbox.Length == 0 || mailbox.Any(char.IsControl)) throw new SieveRuntimeException(c.Line, $"fileinto: invalid mailbox name '{mailbox}'");
                Store(c, mailbox, FlagsFor(c), c.Has(":create"), c.Has(":copy"), isKeep: false);
                return;
            case "discard":
                _implicitKeep = false;
                if (!_actions.OfType<DiscardAction>().Any()) Add(c, new DiscardAction());
                return;
            case "redirect":
                Redirect(c);
                return;
            case "reject":
            case "ereject":
                if (_actions.OfType<RejectAction>().Any()) throw new SieveRuntimeException(c.Line, "duplicate reject/ereject action not allowed");
                _implicitKeep = false;
                Add(c, new RejectAction(Expand(Str(c, 0)), c.Name == "ereject"));
                return;
            case "vacation":
                Vacation(c);
                return;
            case "set":
                SetVariable(c, Expand(Str(c, 0)), Modify(c, Expand(Str(c, 1))));
                return;
            case "setflag":
            case "addflag":
            case "removeflag":
                Flags(c);
                return;
        }
        throw new SieveRuntimeException(c.Line, $"command '{c.Name}' is not implemented");
    }

    private void Add(Node c, SieveAction action)
    {
        if (_actions.Count >= limits.MaxActions) throw new SieveRuntimeException(c.Line, $"total number of actions exceeds policy limit ({limits.MaxActions})");
        _actions.Add(action);
    }

    /// <summary>Two stores into one mailbox are one store (Pigeonhole merges them, the later flags win).</summary>
    private void Store(Node c, string mailbox, List<string> flags, bool create, bool copy, bool isKeep)
    {
        if (!copy) _implicitKeep = false;
        var canonical = mailbox.Equals("INBOX", StringComparison.OrdinalIgnoreCase) ? "INBOX" : mailbox;
        for (var i = 0; i < _actions.Count; i++)
            if (_actions[i] is StoreAction s && s.Mailbox == canonical)
            {
                _actions[i] = s with { Flags = flags, Create = s.Create || create, Copy = s.Copy && copy };
                return;
            }
        Add(c, new StoreAction(canonical, flags, create, copy, isKeep));
    }

    private void Redirect(Node c)
    {
        var address = Expand(Str(c, 0)).Trim();
        if (!MailboxAddress.TryParse(ParserOptions.Default, address, out var parsed) || !parsed.Address.Contains('@', StringComparison.Ordinal))
            throw new SieveRuntimeException(c.Line, $"redirect: invalid address '{address}'");
        if (!c.Has(":copy")) _implicitKeep = false;
        // The local part is case-sensitive (RFC 5321 2.4), the domain is not: one copy per address so written.
        var at = parsed.Address.LastIndexOf('@');
        var target = parsed.Address[..at] + "@" + parsed.Address[(at + 1)..].ToLowerInvariant();
        if (_actions.OfType<RedirectAction>().Any(r => r.Address == target)) return;
        if (++_redirects > limits.MaxRedirects) throw new SieveRuntimeException(c.Line, $"number of redirect actions exceeds policy limit ({limits.MaxRedirects})");
        Add(c, new RedirectAction(target, c.Has(":copy")));
    }

    private void Vacation(Node c)
    {
        if (_actions.OfType<VacationAction>().Any()) throw new SieveRuntimeException(c.Line, "duplicate vacation action not allowed");
        var period = c.Tags.GetValueOrDefault(":days") is NumberArgument days ? TimeSpan.FromDays(days.Value) : limits.VacationDefaultPeriod;
        if (period < limits.VacationMinPeriod) period = limits.VacationMinPeriod;
        if (period > limits.VacationMaxPeriod) period = limits.VacationMaxPeriod;
        string? Opt(string tag) => c.TagString(tag) is { } s ? Expand(s) : null;
        Add(c, new VacationAction(Expand(Str(c, 0)), period, Opt(":subject"), Opt(":from"),
            [.. (c.TagList(":addresses") ?? []).Select(Expand)], c.Has(":mime"), Opt(":handle")));
    }

    // ---- variables (RFC 5229) ----

    private static readonly (string Tag, int Precedence)[] Modifiers =
        [(":lower", 40), (":upper", 40), (":lowerfirst", 30), (":upperfirst", 30), (":quotewildcard", 20), (":length", 10)];

    private static string Modify(Node c, string value)
    {
        foreach (var (tag, _) in Modifiers.Where(m => c.Has(m.Tag)).OrderByDescending(m => m.Precedence))
            value = tag switch
            {
                ":lower" => value.ToLowerInvariant(),
                ":upper" => value.ToUpperInvariant(),
                ":lowerfirst" => value.Length == 0 ? value : char.ToLowerInvariant(value[0]) + value[1..],
                ":upperfirst" => value.Length == 0 ? value : char.ToUpperInvariant(value[0]) + value[1..],
                ":quotewildcard" => value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("*", "\\*", StringComparison.Ordinal).Replace("?", "\\?", StringComparison.Ordinal),
                _ => new StringInfo(value).LengthInTextElements.ToString(CultureInfo.InvariantCulture),
            };
        return value;
    }

    private void SetVariable(Node c, string name, string value)
    {
        if (!_variables.ContainsKey(name) && _variables.Count >= limits.MaxVariables)
            throw new SieveRuntimeException(c.Line, $"more than {limits.MaxVariables} variables");
        _variables[name] = value.Length > limits.MaxVariableLength ? value[..limits.MaxVariableLength] : value;
    }

    /// <summary>Replaces ${name} and ${N} (RFC 5229 3): unknown names become empty; a reference that is not
    /// well formed stays as written.</summary>
    private string Expand(string s)
    {
        if (!_variablesOn || !s.Contains("${", StringComparison.Ordinal)) return s;
        var sb = new StringBuilder();
        var i = 0;
        while (i < s.Length)
        {
            var open = s.IndexOf("${", i, StringComparison.Ordinal);
            if (open < 0) break;
            var close = s.IndexOf('}', open + 2);
            if (close < 0) break;
            var name = s[(open + 2)..close];
            sb.Append(s, i, open - i);
            if (name.Length > 0 && name.All(char.IsAsciiDigit))
            {
                var n = int.Parse(name, CultureInfo.InvariantCulture);
                if (n < _matchValues.Count) sb.Append(_matchValues[n]);
            }
            else if (Validator.IsVariableName(name)) sb.Append(_variables.GetValueOrDefault(name, ""));
            else
            {
                sb.Append("${");
                i = open + 2;
                continue;
            }
            i = close + 1;
            if (sb.Length > limits.MaxVariableLength * 4) break;
        }
        sb.Append(s, i, s.Length - i);
        return sb.ToString();
    }

    // ---- imap4flags (RFC 5232) ----

    private void Flags(Node c)
    {
        var hasVariable = c.Positional.Count == 2;
        var given = SplitFlags(List(c, hasVariable ? 1 : 0).Select(Expand));
        var current = hasVariable ? SplitFlags([_variables.GetValueOrDefault(Expand(Str(c, 0)), "")]) : _flags;
        var next = c.Name switch
        {
            "setflag" => given,
            "addflag" => [.. current, .. given.Where(g => !current.Contains(g, StringComparer.OrdinalIgnoreCase))],
            _ => current.Where(f => !given.Contains(f, StringComparer.OrdinalIgnoreCase)).ToList(),
        };
        if (hasVariable) SetVariable(c, Expand(Str(c, 0)), string.Join(' ', next));
        else _flags = next;
    }

    private static List<string> SplitFlags(IEnumerable<string> values)
    {
        var list = new List<string>();
        foreach (var v in values)
            foreach (var f in v.Split([' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries))
                if (!list.Contains(f, StringComparer.OrdinalIgnoreCase)) list.Add(f);
        return list;
    }

    private List<string> FlagsFor(Node c) => c.TagList(":flags") is { } given ? SplitFlags(given.Select(Expand)) : [.. _flags];

    // ---- tests ----

    private bool Test(Node t)
    {
        switch (t.Name)
        {
            case "true": return true;
            case "false": return false;
            case "not": return !Test(t.Tests[0]);
            case "allof": return t.Tests.All(Test);
            case "anyof": return t.Tests.Any(Test);
            case "exists":
                return List(t, 0).Select(Expand).All(h => message.Message.Headers.Contains(h));
            case "size":
                var limit = ((NumberArgument)t.Positional[0]).Value;
                return t.Has(":over") ? message.Size > limit : message.Size < limit;
            case "header":
                return Match(t, HeaderValues(List(t, 0)), List(t, 1));
            case "address":
                return Match(t, AddressValues(t, List(t, 0)), List(t, 1));
            case "envelope":
                return Match(t, EnvelopeValues(t, List(t, 0)), List(t, 1));
            case "string":
                return Match(t, [.. List(t, 0).Select(Expand)], List(t, 1), countEmpty: false);
            case "body":
                return Match(t, BodyValues(t), List(t, 0));
            case "date":
                return Match(t, DateValues(t, Expand(Str(t, 0)), Expand(Str(t, 1))), List(t, 2));
            case "currentdate":
                return Match(t, [DatePart(Zone(t, message.Now), Expand(Str(t, 0)))], List(t, 1));
            case "hasflag":
                var flags = t.Positional.Count == 2
                    ? SplitFlags(List(t, 0).Select(n => _variables.GetValueOrDefault(Expand(n), "")))
                    : _flags;
                return Match(t, flags, List(t, t.Positional.Count - 1));
            case "mailboxexists":
                return List(t, 0).Select(Expand).All(message.MailboxExists);
        }
        throw new SieveRuntimeException(t.Line, $"test '{t.Name}' is not implemented");
    }

    /// <summary>Any value against any key with the test's comparator and match type; :count compares the number
    /// of values. A successful :matches sets the match variables.</summary>
    private bool Match(Node t, List<string> values, IReadOnlyList<string> rawKeys, bool countEmpty = true)
    {
        var cmp = Comparators.Get(t.TagString(":comparator") ?? "i;ascii-casemap")!;
        var keys = rawKeys.Select(Expand).ToList();
        if (t.TagString(":count") is { } countRelation)
        {
            var count = countEmpty ? values.Count : values.Count(v => v.Length > 0);
            return keys.Any(k => Matcher.Relation(countRelation, cmp.Compare(Comparators.Format(count), k)));
        }
        var relation = t.TagString(":value");
        var captures = _variablesOn && t.Has(":matches") ? new List<string>() : null;
        foreach (var v in values)
            foreach (var k in keys)
            {
                var ok = relation is not null ? Matcher.Relation(relation, cmp.Compare(v, k))
                    : t.Has(":contains") ? cmp.IndexOf(v, k) >= 0
                    : t.Has(":matches") ? Matcher.Matches(v, k, cmp, captures)
                    : cmp.Equal(v, k);
                if (!ok) continue;
                if (captures is not null)
                {
                    _matchValues.Clear();
                    _matchValues.AddRange(captures);
                }
                return true;
            }
        return false;
    }

    private List<string> HeaderValues(IReadOnlyList<string> names)
    {
        var values = new List<string>();
        foreach (var name in names.Select(Expand))
            foreach (var h in message.Message.Headers)
                if (h.Field.Equals(name, StringComparison.OrdinalIgnoreCase)) values.Add(h.Value.Trim());
        return values;
    }

    private List<string> AddressValues(Node t, IReadOnlyList<string> names)
    {
        var values = new List<string>();
        foreach (var name in names.Select(Expand))
            foreach (var h in message.Message.Headers)
            {
                if (!h.Field.Equals(name, StringComparison.OrdinalIgnoreCase)) continue;
                if (!InternetAddressList.TryParse(ParserOptions.Default, h.RawValue, out var list))
                {
                    values.Add(h.Value.Trim());
                    continue;
                }
                foreach (var m in list.Mailboxes)
                    if (AddressPart(t, m.Address) is { } part) values.Add(part);
            }
        return values;
    }

    private List<string> EnvelopeValues(Node t, IReadOnlyList<string> parts)
    {
        var values = new List<string>();
        foreach (var part in parts.Select(p => Expand(p).ToLowerInvariant()))
        {
            var address = part switch { "from" => message.EnvelopeFrom, "to" => message.EnvelopeTo, _ => null };
            if (address is null) continue;
            if (address.Length == 0)
            {
                // The null reverse-path: only :all sees it, as "" (RFC 5228 5.4).
                if (!t.Has(":localpart") && !t.Has(":domain") && !t.Has(":user") && !t.Has(":detail")) values.Add("");
                continue;
            }
            if (AddressPart(t, address) is { } v) values.Add(v);
        }
        return values;
    }

    /// <summary>The address part a test asks for; :user and :detail split at the first subaddress delimiter
    /// (RFC 5233); :detail of an address without one is nothing, so it matches no key.</summary>
    private string? AddressPart(Node t, string address)
    {
        var at = address.LastIndexOf('@');
        var local = at < 0 ? address : address[..at];
        var domain = at < 0 ? "" : address[(at + 1)..];
        if (t.Has(":localpart")) return local;
        if (t.Has(":domain")) return domain;
        if (t.Has(":user") || t.Has(":detail"))
        {
            var i = message.Delimiters.Length == 0 ? -1 : local.IndexOfAny(message.Delimiters.ToCharArray());
            if (t.Has(":user")) return i < 0 ? local : local[..i];
            return i < 0 ? null : local[(i + 1)..];
        }
        return address;
    }

    private List<string> BodyValues(Node t)
    {
        if (t.Has(":raw"))
        {
            if (message.RawBody is { } raw) return [raw];
            using var stream = new MemoryStream();
            message.Message.Body?.WriteTo(FormatOptions.Default, stream, contentOnly: true);
            return [Encoding.UTF8.GetString(stream.ToArray())];
        }
        var types = t.TagList(":content")?.Select(Expand).ToList() ?? ["text"];
        var values = new List<string>();
        foreach (var part in message.Message.BodyParts)
        {
            if (part is not MimePart leaf) continue;
            var type = leaf.ContentType;
            if (!types.Any(k => k.Length == 0
                    || (k.Contains('/') ? k.Equals(type.MimeType, StringComparison.OrdinalIgnoreCase) : k.Equals(type.MediaType, StringComparison.OrdinalIgnoreCase))))
                continue;
            if (leaf is TextPart text) values.Add(text.Text);
            else if (leaf.Content is not null)
            {
                using var stream = new MemoryStream();
                leaf.Content.DecodeTo(stream);
                values.Add(Encoding.UTF8.GetString(stream.ToArray()));
            }
        }
        return values;
    }

    // ---- date (RFC 5260) ----

    private List<string> DateValues(Node t, string header, string part)
    {
        var values = new List<string>();
        foreach (var h in message.Message.Headers)
        {
            if (!h.Field.Equals(header, StringComparison.OrdinalIgnoreCase)) continue;
            var value = h.Value;
            // received: the date follows the last ';'
            var semi = value.LastIndexOf(';');
            if (semi >= 0 && header.Equals("received", StringComparison.OrdinalIgnoreCase)) value = value[(semi + 1)..];
            if (!DateUtils.TryParse(value.Trim(), out var date)) continue;
            values.Add(DatePart(t.Has(":originalzone") ? date : Zone(t, date), part));
            break;
        }
        return values;
    }

    private DateTimeOffset Zone(Node t, DateTimeOffset date)
    {
        var zone = t.TagString(":zone") is { } z ? ParseZone(Expand(z)) ?? message.LocalOffset : message.LocalOffset;
        return date.ToOffset(zone);
    }

    private static TimeSpan? ParseZone(string z)
    {
        if (z.Length != 5 || z[0] is not ('+' or '-') || !int.TryParse(z.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var hhmm)) return null;
        var offset = new TimeSpan(hhmm / 100, hhmm % 100, 0);
        return z[0] == '-' ? -offset : offset;
    }

    private static string DatePart(DateTimeOffset d, string part)
    {
        var inv = CultureInfo.InvariantCulture;
        var zone = (d.Offset < TimeSpan.Zero ? "-" : "+") + d.Offset.Duration().ToString("hhmm", inv);
        return part.ToLowerInvariant() switch
        {
            "year" => d.ToString("yyyy", inv),
            "month" => d.ToString("MM", inv),
            "day" => d.ToString("dd", inv),
            "date" => d.ToString("yyyy-MM-dd", inv),
            "julian" => ((long)(d.Date - new DateTime(1858, 11, 17)).TotalDays).ToString(inv),
            "hour" => d.ToString("HH", inv),
            "minute" => d.ToString("mm", inv),
            "second" => d.ToString("ss", inv),
            "time" => d.ToString("HH:mm:ss", inv),
            "iso8601" => d.ToString("yyyy-MM-dd'T'HH:mm:ss", inv) + zone[..3] + ":" + zone[3..],
            "std11" => d.ToString("ddd, dd MMM yyyy HH:mm:ss ", inv) + zone,
            "zone" => zone,
            "weekday" => ((int)d.DayOfWeek).ToString(inv),
            _ => "",
        };
    }

    // ---- argument access ----

    private static string Str(Node n, int i) => ((StringListArgument)n.Positional[i]).Values[0];

    private static IReadOnlyList<string> List(Node n, int i) => ((StringListArgument)n.Positional[i]).Values;
}
